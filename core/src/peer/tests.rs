//! Two in-memory peers driven by a virtual clock.

use super::*;
use crate::messages::{
    MAX_STAGED_PACKETS, MESSAGE_TYPE_COOKIE_REPLY, MESSAGE_TYPE_INITIATION, REKEY_AFTER_TIME,
};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

#[allow(clippy::disallowed_methods)] // an arbitrary base instant for tests
fn base() -> Instant {
    Instant::now()
}

pub(crate) fn ipv4_packet(total: usize, fill: u8) -> Vec<u8> {
    let mut p = vec![fill; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p
}

struct Side {
    peer: Peer,
    addr: SocketAddr,
    nic: Vec<Vec<u8>>,
    events: Vec<PeerEvent>,
    drops: Vec<DropReason>,
}

struct Pair {
    a: Side,
    b: Side,
    t0: Instant,
    now: Instant,
}

impl Pair {
    fn new(psk: Option<PresharedKey>, seed: u64) -> Self {
        let ka = PrivateKey::from_bytes([0x10 + seed as u8; 32]);
        let kb = PrivateKey::from_bytes([0x80 + seed as u8; 32]);
        let (ia, ib) = (Arc::new(Identity::new(&ka)), Arc::new(Identity::new(&kb)));
        let addr_a: SocketAddr = "127.0.0.1:1001".parse().unwrap();
        let addr_b: SocketAddr = "127.0.0.1:1002".parse().unwrap();
        let mut ca = PeerConfig::new(*ib.public_key());
        ca.preshared_key = psk.clone();
        ca.endpoint = Some(addr_b);
        let mut cb = PeerConfig::new(*ia.public_key());
        cb.preshared_key = psk;
        let side = |id, cfg, s, addr| Side {
            peer: Peer::new(
                id,
                cfg,
                Arc::new(RandomIndices),
                Box::new(ChaCha20Rng::seed_from_u64(s)),
            ),
            addr,
            nic: vec![],
            events: vec![],
            drops: vec![],
        };
        let t0 = base();
        Pair { a: side(ia, ca, seed, addr_a), b: side(ib, cb, seed + 100, addr_b), t0, now: t0 }
    }

    fn wall(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000) + (self.now - self.t0)
    }

    /// Delivers every queued datagram both ways until both sides are quiet.
    fn pump(&mut self) -> usize {
        let (now, wall) = (self.now, self.wall());
        let mut moved = 0;
        for _ in 0..1000 {
            let mut any = false;
            for dir in [true, false] {
                let (from, to) =
                    if dir { (&mut self.a, &mut self.b) } else { (&mut self.b, &mut self.a) };
                let mut buf = vec![0u8; 2048];
                while let Some(t) = from.peer.poll_transmit(now, &mut buf) {
                    any = true;
                    moved += 1;
                    assert_eq!(t.dst, to.addr);
                    deliver(to, &mut buf[..t.len], from.addr, now, wall);
                }
                while let Some(e) = from.peer.poll_event() {
                    from.events.push(e);
                }
            }
            if !any {
                return moved;
            }
        }
        panic!("pump did not settle");
    }

    fn send_a(&mut self, packet: &[u8]) {
        let (now, wall) = (self.now, self.wall());
        let mut out = vec![0u8; 2048];
        if let Some(t) = self.a.peer.encapsulate(packet, &mut out, now, wall).unwrap() {
            deliver(&mut self.b, &mut out[..t.len], self.a.addr, now, wall);
        }
        self.pump();
    }

    fn send_b(&mut self, packet: &[u8]) {
        let (now, wall) = (self.now, self.wall());
        let mut out = vec![0u8; 2048];
        if let Some(t) = self.b.peer.encapsulate(packet, &mut out, now, wall).unwrap() {
            deliver(&mut self.a, &mut out[..t.len], self.b.addr, now, wall);
        }
        self.pump();
    }

    /// Advances the clock in steps, running timers and delivering on the way.
    fn advance(&mut self, by: Duration, step: Duration) {
        let end = self.now + by;
        while self.now < end {
            self.now = (self.now + step).min(end);
            let wall = self.wall();
            self.a.peer.handle_timeout(self.now, wall);
            self.b.peer.handle_timeout(self.now, wall);
            self.pump();
        }
    }
}

fn deliver(to: &mut Side, datagram: &mut [u8], src: SocketAddr, now: Instant, wall: SystemTime) {
    match to.peer.handle_datagram(datagram, src, now, wall) {
        Ok(Received::Packet(r)) => to.nic.push(datagram[r].to_vec()),
        Ok(_) => {}
        Err(reason) => to.drops.push(reason),
    }
}

#[test]
fn handshake_then_data_both_ways_with_and_without_psk() {
    for psk in [None, Some(PresharedKey::from_bytes([7; 32]))] {
        let mut p = Pair::new(psk, 1);
        let first = ipv4_packet(100, 1);
        p.send_a(&first);
        assert_eq!(p.b.nic, vec![first.clone()], "staged packet delivered after handshake");
        assert!(p.a.events.contains(&PeerEvent::HandshakeComplete { initiator: true }));
        assert!(p.b.events.contains(&PeerEvent::HandshakeComplete { initiator: false }));
        assert!(p.b.events.contains(&PeerEvent::EndpointChanged(p.a.addr)));
        for size in [20, 21, 1420] {
            let pa = ipv4_packet(size, 2);
            let pb = ipv4_packet(size, 3);
            p.send_a(&pa);
            p.send_b(&pb);
            assert_eq!(p.b.nic.last(), Some(&pa));
            assert_eq!(p.a.nic.last(), Some(&pb));
        }
        assert!(p.a.drops.is_empty() && p.b.drops.is_empty(), "{:?} {:?}", p.a.drops, p.b.drops);
        assert!(p.a.peer.stats().tx_bytes > 0 && p.b.peer.stats().rx_bytes > 0);
    }
}

#[test]
fn staged_packets_are_sent_in_order_and_capped() {
    let mut p = Pair::new(None, 2);
    let (now, wall) = (p.now, p.wall());
    let mut out = vec![0u8; 2048];
    // Stage more than the cap before any handshake message is delivered.
    for i in 0..(MAX_STAGED_PACKETS + 5) {
        let r = p.a.peer.encapsulate(&ipv4_packet(40, i as u8), &mut out, now, wall).unwrap();
        assert!(r.is_none());
    }
    assert_eq!(p.a.peer.staged_len(), MAX_STAGED_PACKETS);
    assert_eq!(p.a.peer.drop_counters().get(DropReason::StagedQueueFull), 5);
    p.pump();
    let fills: Vec<u8> = p.b.nic.iter().map(|pkt| pkt[20]).collect();
    let expect: Vec<u8> = (5..MAX_STAGED_PACKETS + 5).map(|i| i as u8).collect();
    assert_eq!(fills, expect);
}

#[test]
fn replayed_data_is_dropped() {
    let mut p = Pair::new(None, 3);
    p.send_a(&ipv4_packet(60, 1));
    let (now, wall) = (p.now, p.wall());
    let mut out = vec![0u8; 2048];
    let t = p.a.peer.encapsulate(&ipv4_packet(60, 9), &mut out, now, wall).unwrap().unwrap();
    let mut copy = out[..t.len].to_vec();
    deliver(&mut p.b, &mut out[..t.len], p.a.addr, now, wall);
    deliver(&mut p.b, &mut copy, p.a.addr, now, wall);
    assert_eq!(p.b.drops, vec![DropReason::Replay]);
}

#[test]
fn initiator_rekeys_after_rekey_after_time_and_keeps_delivering() {
    let mut p = Pair::new(None, 4);
    p.send_a(&ipv4_packet(60, 1));
    let first = p.a.peer.current_keypair().unwrap().local_index();
    p.advance(REKEY_AFTER_TIME + Duration::from_secs(1), Duration::from_secs(1));
    // The next send notices the old key and starts a handshake; data still flows.
    p.send_a(&ipv4_packet(60, 2));
    p.send_a(&ipv4_packet(60, 3));
    let second = p.a.peer.current_keypair().unwrap().local_index();
    assert_ne!(first, second);
    assert_eq!(p.b.nic.last().unwrap()[20], 3);
    // The responder moved to the new keypair on the first data under it.
    assert_eq!(p.b.peer.current_keypair().unwrap().remote_index(), second);
    assert!(p.a.drops.is_empty() && p.b.drops.is_empty(), "{:?} {:?}", p.a.drops, p.b.drops);
}

#[test]
fn endpoint_roams_after_one_authenticated_packet() {
    let mut p = Pair::new(None, 5);
    p.send_a(&ipv4_packet(60, 1));
    assert_eq!(p.b.peer.endpoint(), Some(p.a.addr));
    let new_addr: SocketAddr = "127.0.0.9:4444".parse().unwrap();
    p.a.addr = new_addr;
    let (now, wall) = (p.now, p.wall());
    let mut out = vec![0u8; 2048];
    let t = p.a.peer.encapsulate(&ipv4_packet(60, 2), &mut out, now, wall).unwrap().unwrap();
    deliver(&mut p.b, &mut out[..t.len], new_addr, now, wall);
    assert_eq!(p.b.peer.endpoint(), Some(new_addr));
    p.pump();
    assert!(p.b.events.contains(&PeerEvent::EndpointChanged(new_addr)));
    // A forged datagram from elsewhere does not move it.
    let mut junk = out[..t.len].to_vec();
    junk[30] ^= 1;
    deliver(&mut p.b, &mut junk, "127.0.0.66:1".parse().unwrap(), now, wall);
    assert_eq!(p.b.peer.endpoint(), Some(new_addr));
}

#[test]
fn cookie_round_trip_when_responder_is_under_load() {
    let mut p = Pair::new(None, 6);
    p.b.peer.set_under_load(true);
    let (now, wall) = (p.now, p.wall());
    let mut out = vec![0u8; 2048];
    assert!(p.a.peer.encapsulate(&ipv4_packet(60, 1), &mut out, now, wall).unwrap().is_none());
    // Initiation -> cookie reply instead of a response.
    let t = p.a.peer.poll_transmit(now, &mut out).unwrap();
    assert_eq!(out[0], MESSAGE_TYPE_INITIATION);
    deliver(&mut p.b, &mut out[..t.len], p.a.addr, now, wall);
    assert_eq!(p.b.drops, vec![DropReason::CookieRequired]);
    let t = p.b.peer.poll_transmit(now, &mut out).unwrap();
    assert_eq!(out[0], MESSAGE_TYPE_COOKIE_REPLY);
    assert_eq!(t.dst, p.a.addr);
    deliver(&mut p.a, &mut out[..t.len], p.b.addr, now, wall);
    assert!(p.a.drops.is_empty());
    // The retry (after REKEY_TIMEOUT) carries MAC2 and is answered.
    p.advance(Duration::from_secs(6), Duration::from_millis(500));
    assert_eq!(p.b.nic.len(), 1);
    assert_eq!(p.b.drops, vec![DropReason::CookieRequired]);
}

#[test]
fn gives_up_after_rekey_attempt_time_and_zeroes_keys_later() {
    let mut p = Pair::new(None, 7);
    // b never answers: point a's endpoint at a black hole by dropping b's side.
    p.a.peer.set_endpoint(Some("127.0.0.1:9".parse().unwrap()));
    let (now, wall) = (p.now, p.wall());
    let mut out = vec![0u8; 2048];
    let _ = p.a.peer.encapsulate(&ipv4_packet(60, 1), &mut out, now, wall).unwrap();
    let mut initiations = 0;
    let mut gave_up_at = None;
    for s in 1..=240u64 {
        let now = p.t0 + Duration::from_millis(500 * s);
        p.a.peer.handle_timeout(now, wall);
        while p.a.peer.poll_transmit(now, &mut out).is_some() {
            initiations += 1;
        }
        while let Some(e) = p.a.peer.poll_event() {
            if e == PeerEvent::Unreachable {
                gave_up_at.get_or_insert(now - p.t0);
            }
        }
    }
    let gave_up_at = gave_up_at.expect("gave up");
    assert!(gave_up_at >= Duration::from_secs(90), "{gave_up_at:?}");
    assert!(gave_up_at <= Duration::from_secs(110), "{gave_up_at:?}");
    assert!((18..=21).contains(&initiations), "{initiations}");
    assert_eq!(p.a.peer.staged_len(), 0);
}

#[test]
fn keys_are_zeroed_after_540_s_idle() {
    let mut p = Pair::new(None, 8);
    p.send_a(&ipv4_packet(60, 1));
    assert!(p.a.peer.current_keypair().is_some());
    p.advance(Duration::from_secs(539), Duration::from_secs(1));
    assert!(p.a.peer.current_keypair().is_some());
    p.advance(Duration::from_secs(2), Duration::from_secs(1));
    assert!(p.a.peer.current_keypair().is_none());
    assert!(p.b.peer.current_keypair().is_none());
    assert!(p.a.events.contains(&PeerEvent::SessionExpired));
}

#[test]
fn persistent_keepalive_fires_on_schedule() {
    let mut p = Pair::new(None, 9);
    p.a.peer.set_persistent_keepalive(Some(Duration::from_secs(25)), p.now);
    p.a.peer.handle_timeout(p.now, p.wall());
    p.pump(); // the immediate keepalive starts a handshake
    assert!(p.b.peer.current_keypair().is_some());
    let rx0 = p.b.peer.stats().rx_bytes;
    p.advance(Duration::from_secs(24), Duration::from_secs(1));
    let rx1 = p.b.peer.stats().rx_bytes;
    p.advance(Duration::from_secs(2), Duration::from_secs(1));
    let rx2 = p.b.peer.stats().rx_bytes;
    assert_eq!(rx0, rx1, "nothing before 25 s");
    assert_eq!(rx2 - rx1, 32, "one keepalive (32 bytes) at 25 s");
}

#[test]
fn garbage_is_dropped_by_reason() {
    let mut p = Pair::new(None, 10);
    let (now, wall) = (p.now, p.wall());
    let src = p.a.addr;
    let cases: Vec<(Vec<u8>, DropReason)> = vec![
        (vec![], DropReason::TooShort),
        (vec![9, 0, 0, 0], DropReason::UnknownType),
        (vec![1, 0, 0, 0], DropReason::WrongLength),
        (vec![4, 0, 0, 0, 1, 2, 3, 4], DropReason::WrongLength),
        (vec![4; 40], DropReason::ReservedNonZero),
        ([vec![4, 0, 0, 0], vec![0; 60]].concat(), DropReason::UnknownIndex),
        ([vec![1, 0, 0, 0], vec![0; 144]].concat(), DropReason::InvalidMac1),
    ];
    for (mut bytes, reason) in cases {
        assert_eq!(p.b.peer.handle_datagram(&mut bytes, src, now, wall), Err(reason));
    }
}

#[test]
fn inner_packet_len_checks_headers() {
    assert_eq!(inner_packet_len(&[]), Ok(0));
    assert_eq!(inner_packet_len(&ipv4_packet(20, 0)), Ok(20));
    let mut padded = ipv4_packet(21, 0);
    padded.extend_from_slice(&[0; 11]);
    assert_eq!(inner_packet_len(&padded), Ok(21));
    assert_eq!(inner_packet_len(&ipv4_packet(20, 0)[..19]), Err(DropReason::InvalidInnerPacket));
    let mut v6 = vec![0u8; 48];
    v6[0] = 0x60;
    v6[4..6].copy_from_slice(&8u16.to_be_bytes());
    assert_eq!(inner_packet_len(&v6), Ok(48));
    assert_eq!(inner_packet_len(&[0x50; 32]), Err(DropReason::InvalidInnerPacket));
}

/// Records allocations and releases, like an engine's index table would.
#[derive(Default)]
struct Ledger(std::sync::Mutex<(Vec<u32>, Vec<u32>)>);

impl IndexAllocator for Ledger {
    fn allocate(&self, rng: &mut dyn CryptoRngCore) -> u32 {
        let i = rng.next_u32();
        self.0.lock().unwrap().0.push(i);
        i
    }
    fn release(&self, index: u32) {
        self.0.lock().unwrap().1.push(index);
    }
}

#[test]
fn indices_are_allocated_and_all_released() {
    let ledger = Arc::new(Ledger::default());
    let mut p = Pair::new(None, 11);
    let id = Arc::new(Identity::new(&PrivateKey::from_bytes([0x10 + 11; 32])));
    let mut cfg = PeerConfig::new(*p.b.peer.identity.public_key());
    cfg.endpoint = Some(p.b.addr);
    p.a.peer = Peer::new(id, cfg, ledger.clone(), Box::new(ChaCha20Rng::seed_from_u64(11)));
    p.send_a(&ipv4_packet(60, 1));
    for _ in 0..3 {
        p.advance(REKEY_AFTER_TIME + Duration::from_secs(1), Duration::from_secs(5));
        p.send_a(&ipv4_packet(60, 2));
    }
    let live: Vec<u32> = p.a.peer.local_indices().collect();
    {
        let (allocated, released) = &*ledger.0.lock().unwrap();
        assert!(allocated.len() >= 4, "one index per handshake: {allocated:?}");
        // Exactly the indices still held are unreleased.
        let mut unreleased: Vec<u32> =
            allocated.iter().copied().filter(|i| !released.contains(i)).collect();
        let mut live_sorted = live.clone();
        unreleased.sort_unstable();
        live_sorted.sort_unstable();
        assert_eq!(unreleased, live_sorted);
    }
    drop(p);
    let (allocated, released) = &*ledger.0.lock().unwrap();
    let mut a = allocated.clone();
    let mut r = released.clone();
    a.sort_unstable();
    r.sort_unstable();
    assert_eq!(a, r, "dropping the peer releases the rest");
}

#[test]
fn peer_and_identity_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Peer>();
    check::<Identity>();
}

#[test]
fn changing_the_private_key_drops_sessions_and_rehandshakes() {
    let mut p = Pair::new(None, 12);
    p.send_a(&ipv4_packet(60, 1));
    // b gets a new private key; a learns b's new public key (as a config change would).
    let new_b = Arc::new(Identity::new(&PrivateKey::from_bytes([0x99; 32])));
    p.b.peer.set_identity(new_b.clone());
    assert!(p.b.peer.current_keypair().is_none());
    let id_a = p.a.peer.identity.clone();
    let mut cfg = PeerConfig::new(*new_b.public_key());
    cfg.endpoint = Some(p.b.addr);
    p.a.peer =
        Peer::new(id_a, cfg, Arc::new(RandomIndices), Box::new(ChaCha20Rng::seed_from_u64(5)));
    p.now += Duration::from_secs(6);
    p.send_a(&ipv4_packet(60, 2));
    assert_eq!(p.b.nic.last().unwrap()[20], 2);
}

#[test]
fn rekey_after_messages_and_reject_after_messages() {
    use crate::messages::{REJECT_AFTER_MESSAGES, REKEY_AFTER_MESSAGES};
    let mut p = Pair::new(None, 13);
    p.send_a(&ipv4_packet(60, 1));
    let first = p.a.peer.current_keypair().unwrap().clone();
    // Past REKEY_AFTER_MESSAGES the key still sends, and a new handshake starts.
    first.force_send_counter(REKEY_AFTER_MESSAGES + 1);
    p.now += Duration::from_secs(6); // past the initiation rate limit (REKEY_TIMEOUT)
    p.send_a(&ipv4_packet(60, 2));
    assert_eq!(p.b.nic.last().unwrap()[20], 2);
    let second = p.a.peer.current_keypair().unwrap().clone();
    assert_ne!(first.local_index(), second.local_index(), "rekeyed on message count");
    // At REJECT_AFTER_MESSAGES the key is unusable: the packet waits for a new session.
    second.force_send_counter(REJECT_AFTER_MESSAGES);
    assert!(p.a.peer.sendable_keypair(p.now).is_none());
    p.now += Duration::from_secs(6); // past the initiation rate limit
    p.send_a(&ipv4_packet(60, 3));
    assert_eq!(p.b.nic.last().unwrap()[20], 3);
    assert_ne!(p.a.peer.current_keypair().unwrap().local_index(), second.local_index());
}

#[test]
fn in_flight_packets_under_the_previous_key_are_accepted_after_rotation() {
    let mut p = Pair::new(None, 14);
    p.send_a(&ipv4_packet(60, 1));
    let (now, wall) = (p.now, p.wall());
    // A packet sealed under the old key, held back by the network.
    let mut late = vec![0u8; 2048];
    let t = p.a.peer.encapsulate(&ipv4_packet(60, 7), &mut late, now, wall).unwrap().unwrap();
    late.truncate(t.len);
    p.advance(REKEY_AFTER_TIME + Duration::from_secs(1), Duration::from_secs(10));
    p.send_a(&ipv4_packet(60, 2)); // old key + starts the rekey
    p.send_a(&ipv4_packet(60, 3)); // new key: b rotates next -> current
    assert_ne!(
        p.b.peer.current_keypair().unwrap().local_index(),
        u32::from_le_bytes(late[4..8].try_into().unwrap())
    );
    let (now, wall) = (p.now, p.wall());
    let a_addr = p.a.addr;
    deliver(&mut p.b, &mut late, a_addr, now, wall);
    assert_eq!(p.b.nic.last().unwrap()[20], 7, "previous keypair still decrypts");
    assert!(p.b.drops.is_empty(), "{:?}", p.b.drops);
}

#[test]
fn initiator_under_load_gets_mac2_on_the_next_response() {
    let mut p = Pair::new(None, 15);
    p.a.peer.set_under_load(true);
    let (now, wall) = (p.now, p.wall());
    let mut out = vec![0u8; 2048];
    assert!(p.a.peer.encapsulate(&ipv4_packet(60, 1), &mut out, now, wall).unwrap().is_none());
    // One exchange at a time: initiation -> response -> cookie reply -> consumed by b.
    p.pump();
    assert_eq!(p.a.drops, vec![DropReason::CookieRequired], "response lacked mac2");
    assert!(p.b.drops.is_empty(), "b consumed the cookie reply: {:?}", p.b.drops);
    assert!(p.a.peer.current_keypair().is_none());
    // a retries after REKEY_TIMEOUT; b's response now carries mac2 and is accepted.
    p.advance(Duration::from_secs(6), Duration::from_millis(500));
    assert!(p.a.peer.current_keypair().is_some());
    assert_eq!(p.b.nic.len(), 1);
    assert_eq!(p.a.drops.len(), 1);
}

#[test]
fn resume_after_a_sleep_drops_keys_older_by_the_wall_clock_and_initiates_at_once() {
    let mut p = Pair::new(None, 3);
    p.send_a(&ipv4_packet(60, 1));
    p.send_b(&ipv4_packet(60, 2));
    assert!(p.a.peer.current_keypair().is_some());
    let mut out = vec![0u8; 2048];
    // A short nap: keys stay.
    p.a.peer.resume(p.now, p.wall() + Duration::from_secs(10));
    assert!(p.a.peer.current_keypair().is_some());
    // Suspended 10 minutes: the wall clock moved, the monotonic `now` did not.
    let woke = p.wall() + Duration::from_secs(600);
    p.a.peer.resume(p.now, woke);
    assert!(p.a.peer.current_keypair().is_none(), "keys from before the sleep are dropped");
    assert!(p.a.peer.poll_transmit(p.now, &mut out).is_none(), "nothing waits: no initiation");
    // The next packet starts a handshake at once, although A's last initiation was
    // less than REKEY_TIMEOUT ago by the monotonic clock.
    let sent = p.a.peer.encapsulate(&ipv4_packet(60, 3), &mut out, p.now, woke).unwrap();
    assert!(sent.is_none(), "staged");
    let t = p.a.peer.poll_transmit(p.now, &mut out).expect("an initiation at once");
    assert_eq!((out[0], t.len), (MESSAGE_TYPE_INITIATION, INITIATION_LEN));
}
