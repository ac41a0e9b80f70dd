//! Interop with an independent implementation, in process: boringtun's `Tunn` (0.7) is
//! the other peer. Datagrams move through in-memory queues; nothing touches a socket.
//!
//! Packet sizes: 0 is a keepalive; "1" is an IPv4 packet with a 1-byte payload (21 bytes,
//! since both sides check the inner IP header); 1420 is a full-MTU packet.
#![cfg(target_os = "linux")]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{Tunn, TunnResult};
use boringtun::x25519;
use ferrowg_core::error::DropReason;
use ferrowg_core::keys::{PresharedKey, PrivateKey, PublicKey};
use ferrowg_core::messages::REKEY_AFTER_TIME;
use ferrowg_core::peer::{Identity, Peer, PeerConfig, PeerEvent, RandomIndices, Received};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

const FW_ADDR: &str = "127.0.0.1:40001";
const BT_ADDR: &str = "127.0.0.1:40002";

fn ipv4_packet(total: usize, fill: u8) -> Vec<u8> {
    let mut p = vec![fill; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    // Source and destination addresses inside the tunnel range 198.19.0.0/24.
    p[12..16].copy_from_slice(&[198, 19, 0, 1]);
    p[16..20].copy_from_slice(&[198, 19, 0, 2]);
    p
}

struct World {
    fw: Peer,
    bt: Tunn,
    fw_addr: SocketAddr,
    bt_addr: SocketAddr,
    now: Instant,
    t0: Instant,
    to_fw: VecDeque<Vec<u8>>,
    to_bt: VecDeque<Vec<u8>>,
    fw_nic: Vec<Vec<u8>>,
    bt_nic: Vec<Vec<u8>>,
    fw_keepalives: usize,
    fw_drops: Vec<DropReason>,
    fw_events: Vec<PeerEvent>,
}

#[allow(clippy::disallowed_methods)] // an arbitrary base instant; boringtun reads its own clock anyway
fn base() -> Instant {
    Instant::now()
}

impl World {
    fn new(psk: Option<[u8; 32]>, fw_is_initiator: bool, bt_limit: Option<u64>) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(42);
        let fw_key = PrivateKey::generate(&mut rng);
        let bt_secret = x25519::StaticSecret::from([0x5a; 32]);
        let bt_public = x25519::PublicKey::from(&bt_secret);
        let identity = Arc::new(Identity::new(&fw_key));
        let (fw_addr, bt_addr) = (FW_ADDR.parse().unwrap(), BT_ADDR.parse().unwrap());
        let mut cfg = PeerConfig::new(PublicKey(bt_public.to_bytes()));
        cfg.preshared_key = psk.map(PresharedKey::from_bytes);
        cfg.endpoint = fw_is_initiator.then_some(bt_addr);
        let fw = Peer::new(
            identity.clone(),
            cfg,
            Arc::new(RandomIndices),
            Box::new(ChaCha20Rng::seed_from_u64(7)),
        );
        let limiter = bt_limit.map(|l| Arc::new(RateLimiter::new(&bt_public, l)));
        let fw_public = x25519::PublicKey::from(identity.public_key().0);
        let bt = Tunn::new(bt_secret, fw_public, psk, None, 1, limiter);
        let t0 = base();
        World {
            fw,
            bt,
            fw_addr,
            bt_addr,
            now: t0,
            t0,
            to_fw: VecDeque::new(),
            to_bt: VecDeque::new(),
            fw_nic: vec![],
            bt_nic: vec![],
            fw_keepalives: 0,
            fw_drops: vec![],
            fw_events: vec![],
        }
    }

    fn wall(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_750_000_000) + (self.now - self.t0)
    }

    fn flush_fw(&mut self) {
        let mut buf = vec![0u8; 2048];
        while let Some(t) = self.fw.poll_transmit(self.now, &mut buf) {
            assert_eq!(t.dst, self.bt_addr);
            self.to_bt.push_back(buf[..t.len].to_vec());
        }
        while let Some(e) = self.fw.poll_event() {
            self.fw_events.push(e);
        }
    }

    fn fw_send(&mut self, packet: &[u8]) {
        let mut out = vec![0u8; 2048];
        let (now, wall) = (self.now, self.wall());
        if let Some(t) = self.fw.encapsulate(packet, &mut out, now, wall).unwrap() {
            self.to_bt.push_back(out[..t.len].to_vec());
        }
        self.flush_fw();
        self.run();
    }

    fn bt_send(&mut self, packet: &[u8]) {
        let mut out = vec![0u8; 2048];
        match self.bt.encapsulate(packet, &mut out) {
            TunnResult::WriteToNetwork(d) => self.to_fw.push_back(d.to_vec()),
            TunnResult::Done => {}
            other => panic!("boringtun encapsulate: {other:?}"),
        }
        self.run();
    }

    fn bt_receive(&mut self, datagram: &[u8]) {
        let mut input = datagram.to_vec();
        // boringtun: after a network write, repeat with an empty datagram until Done.
        for _ in 0..300 {
            let mut out = vec![0u8; 2048];
            let src = (!input.is_empty()).then_some(self.fw_addr.ip());
            let more = match self.bt.decapsulate(src, &input, &mut out) {
                TunnResult::WriteToNetwork(d) => {
                    self.to_fw.push_back(d.to_vec());
                    true
                }
                TunnResult::WriteToTunnelV4(p, _) => {
                    self.bt_nic.push(p.to_vec());
                    false
                }
                TunnResult::Done => false,
                other => panic!("boringtun decapsulate: {other:?}"),
            };
            if !more {
                return;
            }
            input.clear();
        }
        panic!("boringtun did not settle");
    }

    fn fw_receive(&mut self, mut datagram: Vec<u8>) {
        let (now, wall) = (self.now, self.wall());
        match self.fw.handle_datagram(&mut datagram, self.bt_addr, now, wall) {
            Ok(Received::Packet(r)) => self.fw_nic.push(datagram[r].to_vec()),
            Ok(Received::Keepalive) => self.fw_keepalives += 1,
            Ok(Received::Handshake) => {}
            Err(reason) => self.fw_drops.push(reason),
        }
        self.flush_fw();
    }

    fn run(&mut self) {
        for _ in 0..1000 {
            if let Some(d) = self.to_bt.pop_front() {
                self.bt_receive(&d);
            } else if let Some(d) = self.to_fw.pop_front() {
                self.fw_receive(d);
            } else {
                return;
            }
        }
        panic!("exchange did not settle");
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        let (now, wall) = (self.now, self.wall());
        self.fw.handle_timeout(now, wall);
        self.flush_fw();
        self.run();
    }

    /// Data of every size both ways over the established session.
    fn exchange_all_sizes(&mut self, tag: u8) {
        for size in [0usize, 21, 1420] {
            let (kf, kb) = (self.fw_keepalives, self.bt_nic.len());
            let pkt = if size == 0 { vec![] } else { ipv4_packet(size, tag) };
            self.fw_send(&pkt);
            if size > 0 {
                assert_eq!(self.bt_nic.last(), Some(&pkt), "ferrowg -> boringtun, {size} B");
            } else {
                assert_eq!(self.bt_nic.len(), kb, "a keepalive is not delivered");
            }
            let pkt = if size == 0 { vec![] } else { ipv4_packet(size, tag ^ 0xff) };
            self.bt_send(&pkt);
            if size > 0 {
                assert_eq!(self.fw_nic.last(), Some(&pkt), "boringtun -> ferrowg, {size} B");
            } else {
                assert_eq!(self.fw_keepalives, kf + 1, "boringtun keepalive authenticated");
            }
        }
    }
}

#[test]
fn ferrowg_initiator_with_and_without_psk() {
    for psk in [None, Some([0x33; 32])] {
        let mut w = World::new(psk, true, None);
        let first = ipv4_packet(84, 1);
        w.fw_send(&first);
        assert_eq!(w.bt_nic, vec![first], "staged packet delivered after the handshake");
        assert!(w.fw_events.contains(&PeerEvent::HandshakeComplete { initiator: true }));
        w.exchange_all_sizes(2);
        assert!(w.fw_drops.is_empty(), "{:?}", w.fw_drops);
    }
}

#[test]
fn ferrowg_responder_with_and_without_psk() {
    for psk in [None, Some([0x44; 32])] {
        let mut w = World::new(psk, false, None);
        let first = ipv4_packet(84, 1);
        w.bt_send(&first);
        assert_eq!(w.fw_nic, vec![first], "boringtun's queued packet arrives");
        assert!(w.fw_events.contains(&PeerEvent::HandshakeComplete { initiator: false }));
        assert_eq!(w.fw.endpoint(), Some(w.bt_addr));
        w.exchange_all_sizes(3);
        assert!(w.fw_drops.is_empty(), "{:?}", w.fw_drops);
    }
}

#[test]
fn rekey_after_simulated_rekey_after_time() {
    let mut w = World::new(Some([0x55; 32]), true, None);
    w.fw_send(&ipv4_packet(60, 1));
    let first = w.fw.current_keypair().unwrap().local_index();
    // Only ferrowg's clock moves: as initiator it must rekey on the next send.
    w.advance(REKEY_AFTER_TIME + Duration::from_secs(1));
    w.fw_send(&ipv4_packet(60, 2));
    let second = w.fw.current_keypair().unwrap().local_index();
    assert_ne!(first, second, "a new session after REKEY_AFTER_TIME");
    let handshakes = w
        .fw_events
        .iter()
        .filter(|e| matches!(e, PeerEvent::HandshakeComplete { initiator: true }))
        .count();
    assert_eq!(handshakes, 2);
    w.exchange_all_sizes(4);
    // boringtun answers under the new session too.
    w.bt_send(&ipv4_packet(100, 5));
    assert_eq!(w.fw_nic.last(), Some(&ipv4_packet(100, 5)));
    assert!(w.fw_drops.is_empty(), "{:?}", w.fw_drops);
}

#[test]
fn cookie_round_trip_with_ferrowg_responder_under_load() {
    let mut w = World::new(None, false, None);
    w.fw.set_under_load(true);
    let first = ipv4_packet(84, 1);
    w.bt_send(&first);
    // The initiation was answered with a cookie reply, not a response.
    assert_eq!(w.fw_drops, vec![DropReason::CookieRequired]);
    assert!(w.fw_nic.is_empty());
    // boringtun retries (as its retransmit timer would) with MAC2 from the cookie.
    let mut out = vec![0u8; 2048];
    match w.bt.format_handshake_initiation(&mut out, true) {
        TunnResult::WriteToNetwork(d) => w.to_fw.push_back(d.to_vec()),
        other => panic!("{other:?}"),
    }
    w.run();
    assert_eq!(w.fw_drops, vec![DropReason::CookieRequired], "the retry passed MAC2");
    assert_eq!(w.fw_nic, vec![first]);
    w.exchange_all_sizes(6);
}

#[test]
fn cookie_round_trip_with_boringtun_responder_under_load() {
    // A limit of 0 puts boringtun's rate limiter permanently under load.
    let mut w = World::new(None, true, Some(0));
    let first = ipv4_packet(84, 1);
    w.fw_send(&first);
    assert!(w.bt_nic.is_empty(), "boringtun answered with a cookie reply");
    assert!(w.fw.current_keypair().is_none());
    // ferrowg's retransmit timer fires after REKEY_TIMEOUT + jitter; MAC2 is set now.
    w.advance(Duration::from_millis(5400));
    assert_eq!(w.bt_nic, vec![first]);
    assert!(w.fw.current_keypair().is_some());
    assert!(w.fw_drops.is_empty(), "{:?}", w.fw_drops);
}
