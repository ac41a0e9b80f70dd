//! Arbitrary bytes into the datagram path of a whole multi-peer `Interface` (the state
//! machine the engine runs): every message parser, then classify → handshake dispatch
//! or open → accept on a hub with several peers whose sessions are established (state
//! carries over between inputs), under load or not, and on a fresh hub. Any panic is a
//! bug; every bad input must come back as a drop.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use ferrowg_core::config::{AllowedIp, DeviceConfig, Endpoint, PeerConfig};
use ferrowg_core::interface::{Incoming, Interface, Output};
use ferrowg_core::keys::{PrivateKey, PublicKey};
use ferrowg_core::messages::{CookieReply, Data, Initiation, Message, Response, DATA_HEADER_LEN};
use ferrowg_core::peer::PeerEvent;
use libfuzzer_sys::fuzz_target;

const CLIENTS: usize = 3;

/// Collects what an interface sends.
#[derive(Default)]
struct Out(Vec<(SocketAddr, Vec<u8>)>);

impl Output for Out {
    fn transmit(&mut self, dst: SocketAddr, datagram: &[u8]) -> bool {
        self.0.push((dst, datagram.to_vec()));
        true
    }
    fn event(&mut self, _peer: &PublicKey, _event: PeerEvent) {}
}

struct State {
    hub: Interface,
    hub_cfg: DeviceConfig,
    now: Instant,
    /// Valid datagrams captured while establishing the sessions (initiations,
    /// responses, data), used as templates so mutations get past MAC1 and the index.
    samples: Vec<Vec<u8>>,
    scratch: Vec<u8>,
}

fn wall(now: Instant, base: Instant) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000) + (now - base)
}

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 40_000 + i as u16))
}

fn iface(seed: u8, cfg: DeviceConfig, now: Instant) -> Interface {
    let i = Interface::new([seed; 32], now);
    i.apply_config(cfg, now).unwrap();
    i.interface_up(now);
    i
}

/// Feeds one datagram through the interface's stages the way the engine does.
fn feed(
    i: &Interface,
    bytes: &[u8],
    src: SocketAddr,
    now: Instant,
    wall: SystemTime,
    scratch: &mut [u8],
) -> Out {
    let mut out = Out::default();
    match i.classify(bytes, src, 0, now) {
        Incoming::Dropped => {}
        Incoming::Handshake => {
            let _ = i.handle_handshake(bytes, src, now, wall, scratch, &mut out);
        }
        Incoming::Data(mut rec) => {
            let mut bufs = vec![bytes.to_vec()];
            rec.open(&mut bufs[0]);
            let mut deliver = Vec::new();
            i.accept(&mut vec![rec], &bufs, now, wall, scratch, &mut out, &mut deliver);
            for (slot, len) in deliver {
                assert!(DATA_HEADER_LEN + len <= bufs[slot].len());
            }
        }
    }
    let _ = i.handle_timeouts(now, wall, scratch, &mut out);
    out
}

#[allow(clippy::disallowed_methods)] // the fuzz harness needs a base instant
fn state() -> &'static Mutex<State> {
    static STATE: OnceLock<Mutex<State>> = OnceLock::new();
    STATE.get_or_init(|| {
        let now = Instant::now();
        let w = wall(now, now);
        let keys: Vec<PrivateKey> =
            (0..=CLIENTS).map(|i| PrivateKey::from_bytes([i as u8 + 1; 32])).collect();
        let hub_cfg = DeviceConfig {
            private_key: Some(keys[0].clone()),
            peers: (1..=CLIENTS)
                .map(|c| {
                    let mut p = PeerConfig::new(keys[c].public_key());
                    p.allowed_ips.push(AllowedIp::parse(&format!("10.0.0.{c}/32")).unwrap());
                    p
                })
                .collect(),
            ..DeviceConfig::default()
        };
        let hub = iface(0, hub_cfg.clone(), now);
        let mut scratch = vec![0u8; 4096];
        let mut samples = Vec::new();
        for c in 1..=CLIENTS {
            let mut p = PeerConfig::new(keys[0].public_key());
            p.allowed_ips.push(AllowedIp::parse("10.0.0.0/24").unwrap());
            p.endpoint = Some(Endpoint::Addr(addr(0)));
            let cfg = DeviceConfig {
                private_key: Some(keys[c].clone()),
                peers: vec![p],
                ..DeviceConfig::default()
            };
            let client = iface(c as u8, cfg, now);
            // A packet to the hub starts the handshake (staged until it completes).
            let pkt = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, c as u8, 10, 0, 0, 100];
            let mut bufs = vec![vec![0u8; 2048]];
            bufs[0][DATA_HEADER_LEN..DATA_HEADER_LEN + pkt.len()].copy_from_slice(&pkt);
            let mut targets = Vec::new();
            let mut recs = Vec::new();
            let mut out = Out::default();
            client.route_batch(&bufs, &[pkt.len()], 1, &mut targets);
            client.prepare_tx(
                &bufs,
                &[pkt.len()],
                1,
                &targets,
                1420,
                now,
                w,
                &mut scratch,
                &mut out,
                &mut recs,
            );
            let _ = client.handle_timeouts(now, w, &mut scratch, &mut out);
            let mut to_hub = out.0;
            for _ in 0..4 {
                let mut to_client = Vec::new();
                for (_, d) in to_hub.drain(..) {
                    samples.push(d.clone());
                    to_client.extend(feed(&hub, &d, addr(c), now, w, &mut scratch).0);
                }
                for (_, d) in to_client {
                    samples.push(d.clone());
                    to_hub.extend(feed(&client, &d, addr(0), now, w, &mut scratch).0);
                }
            }
        }
        Mutex::new(State { hub, hub_cfg, now, samples, scratch })
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = Message::parse(data);
    let _ = Initiation::parse(data);
    let _ = Response::parse(data);
    let _ = CookieReply::parse(data);
    let _ = Data::parse(data);
    let mut guard = state().lock().unwrap();
    let st = &mut *guard;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    // Bit 1: XOR the rest into a captured valid message instead of using it raw.
    let input = if mode & 2 == 2 && !st.samples.is_empty() {
        let mut m = st.samples[usize::from(mode >> 3) % st.samples.len()].clone();
        for (b, x) in m.iter_mut().zip(rest) {
            *b ^= x;
        }
        m
    } else {
        rest.to_vec()
    };
    let src = addr(1 + usize::from(mode >> 5) % (CLIENTS + 1));
    let w = wall(st.now, st.now);
    if mode & 1 == 1 {
        let fresh = iface(9, st.hub_cfg.clone(), st.now);
        if mode & 4 == 4 {
            fresh.note_handshake_backlog(8, 8, st.now);
        }
        let _ = feed(&fresh, &input, src, st.now, w, &mut st.scratch);
    } else {
        // (Never under load: `now` stands still here, so it would stay so.)
        let _ = feed(&st.hub, &input, src, st.now, w, &mut st.scratch);
    }
});
