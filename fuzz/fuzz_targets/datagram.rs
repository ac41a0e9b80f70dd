//! Arbitrary bytes into the datagram handler: every message parser, a fresh peer, and a
//! peer with an established session (whose state carries over between inputs). Any
//! panic is a bug; every bad input must come back as a `DropReason`.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use ferrowg_core::keys::PrivateKey;
use ferrowg_core::messages::{CookieReply, Data, Initiation, Message, Response};
use ferrowg_core::peer::{Identity, Peer, PeerConfig, RandomIndices, Received};
use libfuzzer_sys::fuzz_target;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

struct State {
    ids: (Arc<Identity>, Arc<Identity>),
    established: Peer,
    now: Instant,
    /// Valid datagrams captured while establishing the session (initiation, response,
    /// data), used as templates so mutations get past MAC1 and into the handshake.
    samples: Vec<Vec<u8>>,
}

fn wall() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn peer(local: &Arc<Identity>, remote: &Identity, endpoint: Option<SocketAddr>, seed: u64) -> Peer {
    let mut cfg = PeerConfig::new(*remote.public_key());
    cfg.endpoint = endpoint;
    Peer::new(
        local.clone(),
        cfg,
        Arc::new(RandomIndices),
        Box::new(ChaCha20Rng::seed_from_u64(seed)),
    )
}

#[allow(clippy::disallowed_methods)] // the fuzz harness needs a base instant
fn state() -> &'static Mutex<State> {
    static STATE: OnceLock<Mutex<State>> = OnceLock::new();
    STATE.get_or_init(|| {
        let a_id = Arc::new(Identity::new(&PrivateKey::from_bytes([1; 32])));
        let b_id = Arc::new(Identity::new(&PrivateKey::from_bytes([2; 32])));
        let (addr_a, addr_b): (SocketAddr, SocketAddr) =
            ("127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap());
        let mut a = peer(&a_id, &b_id, Some(addr_b), 1);
        let mut b = peer(&b_id, &a_id, None, 2);
        let now = Instant::now();
        let mut buf = vec![0u8; 2048];
        let mut samples = Vec::new();
        let _ = a.encapsulate(
            &[0x45, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &mut buf,
            now,
            wall(),
        );
        for _ in 0..4 {
            while let Some(t) = a.poll_transmit(now, &mut buf) {
                samples.push(buf[..t.len].to_vec());
                let _ = b.handle_datagram(&mut buf[..t.len], addr_a, now, wall());
            }
            while let Some(t) = b.poll_transmit(now, &mut buf) {
                samples.push(buf[..t.len].to_vec());
                let _ = a.handle_datagram(&mut buf[..t.len], addr_b, now, wall());
            }
        }
        Mutex::new(State { ids: (a_id, b_id), established: b, now, samples })
    })
}

fn feed(p: &mut Peer, bytes: &[u8], now: Instant) {
    let mut buf = bytes.to_vec();
    let src: SocketAddr = "127.0.0.1:9".parse().unwrap();
    if let Ok(Received::Packet(r)) = p.handle_datagram(&mut buf, src, now, wall()) {
        assert!(r.end <= buf.len());
    }
    let mut out = vec![0u8; 2048];
    for _ in 0..16 {
        if p.poll_transmit(now, &mut out).is_none() {
            break;
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = Message::parse(data);
    let _ = Initiation::parse(data);
    let _ = Response::parse(data);
    let _ = CookieReply::parse(data);
    let _ = Data::parse(data);
    let mut st = state().lock().unwrap();
    let now = st.now;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    // Bit 1: XOR the rest into a captured valid message instead of using it raw.
    let input = if mode & 2 == 2 && !st.samples.is_empty() {
        let mut m = st.samples[usize::from(mode >> 2) % st.samples.len()].clone();
        for (b, x) in m.iter_mut().zip(rest) {
            *b ^= x;
        }
        m
    } else {
        rest.to_vec()
    };
    if mode & 1 == 1 {
        let mut fresh = peer(&st.ids.1, &st.ids.0, None, 3);
        fresh.set_under_load(data.len() % 3 == 0);
        feed(&mut fresh, &input, now);
    } else {
        feed(&mut st.established, &input, now);
    }
});
