//! Handshakes per second, ferrowg's `noise` vs boringtun's `Tunn`, same run, three ways:
//! - `full`: one complete handshake, both sides' work on one core (create the initiation,
//!   consume it, write the response, consume the response);
//! - `responder`: only the responder's share (consume an initiation, write the response),
//!   what a server facing many initiators spends per handshake;
//! - `initiator`: only the initiator's share (create the initiation, consume the response).
//!
//! Each step does a whole handshake and times only its share of it (the other side's
//! work runs untimed), so every initiation is fresh and passes the timestamp checks.
//!
//! `cargo bench -p ferrowg-core --bench handshake -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs)] // criterion's macros generate undocumented public functions
#![allow(clippy::disallowed_methods)] // a benchmark has to read the clock

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use criterion::{criterion_group, Criterion};
use ferrowg_core::keys::{PresharedKey, PrivateKey};
use ferrowg_core::messages::{Initiation, Response, INITIATION_LEN, RESPONSE_LEN};
use ferrowg_core::noise::{consume_initiation, create_initiation, LocalStatic, RemoteStatic};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// One handshake per call; returns the time spent in the measured share.
type Step = Box<dyn FnMut() -> Duration>;

/// Which part of a handshake a step times.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Share {
    Full,
    Initiator,
    Responder,
}

const SHARES: [Share; 3] = [Share::Full, Share::Initiator, Share::Responder];

impl Share {
    fn name(self) -> &'static str {
        match self {
            Share::Full => "full",
            Share::Initiator => "initiator",
            Share::Responder => "responder",
        }
    }
}

/// Accumulates the time of the parts that belong to the measured share.
struct Stopwatch {
    share: Share,
    total: Duration,
}

impl Stopwatch {
    fn part<T>(&mut self, side: Share, f: impl FnOnce() -> T) -> T {
        if self.share == Share::Full || self.share == side {
            let t = Instant::now();
            let out = f();
            self.total += t.elapsed();
            out
        } else {
            f()
        }
    }
}

/// Peers in the many-peers variant: their per-peer state (ferrowg's 30 KiB tables on both
/// sides, ≈ 60 MB) is well beyond this machine's 32 MiB L3, so every handshake finds its
/// peer's state cold, as a busy server would.
const MANY_PEERS: usize = 1000;

/// Private key bytes of initiator `i`.
fn initiator_key(i: usize) -> [u8; 32] {
    let mut key = [1u8; 32];
    key[..8].copy_from_slice(&(i as u64).to_le_bytes());
    key
}

/// One ferrowg initiator and both sides' view of each other.
struct FerrowgPeer {
    a: LocalStatic,
    a_sees_b: RemoteStatic,
    b_sees_a: RemoteStatic,
}

/// One ferrowg handshake per call (with a PSK, as boringtun's); `peers` initiators take
/// turns against one responder.
fn ferrowg_step(share: Share, peers: usize) -> Step {
    let psk = PresharedKey::from_bytes([9; 32]);
    let b = LocalStatic::new(&PrivateKey::from_bytes([2; 32]));
    let mut pairs: Vec<FerrowgPeer> = (0..peers)
        .map(|i| {
            let a = LocalStatic::new(&PrivateKey::from_bytes(initiator_key(i)));
            let a_sees_b = RemoteStatic::new(&a, *b.public_key(), Some(&psk));
            let b_sees_a = RemoteStatic::new(&b, *a.public_key(), Some(&psk));
            FerrowgPeer { a, a_sees_b, b_sees_a }
        })
        .collect();
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (mut now, mut wall) =
        (Instant::now(), SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 30));
    let mut next = 0usize;
    let mut step: Step = Box::new(move || {
        // Virtual time moves on so the timestamp and flood checks pass every time.
        now += Duration::from_millis(21);
        wall += Duration::from_millis(100);
        let FerrowgPeer { a, a_sees_b, b_sees_a } = &mut pairs[next % peers];
        next += 1;
        let mut sw = Stopwatch { share, total: Duration::ZERO };
        let (mut init, mut resp) = ([0u8; INITIATION_LEN], [0u8; RESPONSE_LEN]);
        let sent = sw.part(Share::Initiator, || {
            create_initiation(a, a_sees_b, 1, wall, &mut rng, &mut init).unwrap()
        });
        let kb = sw.part(Share::Responder, || {
            consume_initiation(&b, &Initiation::parse(&init).unwrap())
                .unwrap()
                .finish(b_sees_a, now)
                .unwrap()
                .create_response(b_sees_a, 2, &mut rng, &mut resp)
                .unwrap()
        });
        let ka = sw.part(Share::Initiator, || {
            sent.consume_response(a, a_sees_b, &Response::parse(&resp).unwrap())
                .map_err(|(_, r)| r)
                .unwrap()
        });
        black_box((ka, kb));
        sw.total
    });
    // One untimed handshake per peer first, so that one-time work (the tables built on
    // a peer's first handshake) is not measured.
    for _ in 0..peers {
        step();
    }
    step
}

/// One boringtun handshake per call; `peers` tunnel pairs take turns.
#[cfg(target_os = "linux")]
fn boringtun_step(share: Share, peers: usize) -> Step {
    use boringtun::noise::rate_limiter::RateLimiter;
    use boringtun::noise::{Tunn, TunnResult};
    use boringtun::x25519::{PublicKey, StaticSecret};
    use std::sync::Arc;

    let sb = StaticSecret::from([2; 32]);
    let pb = PublicKey::from(&sb);
    // Unlimited rate limiters: measure the handshake, not the cookie path.
    let lb = Arc::new(RateLimiter::new(&pb, u64::MAX));
    let mut pairs: Vec<(Tunn, Tunn)> = (0..peers)
        .map(|i| {
            let sa = StaticSecret::from(initiator_key(i));
            let pa = PublicKey::from(&sa);
            let la = Arc::new(RateLimiter::new(&pa, u64::MAX));
            let a = Tunn::new(sa, pb, Some([9; 32]), None, 1, Some(la));
            let b = Tunn::new(sb.clone(), pa, Some([9; 32]), None, 2, Some(lb.clone()));
            (a, b)
        })
        .collect();
    let (mut b1, mut b2, mut b3) = (vec![0u8; 256], vec![0u8; 256], vec![0u8; 256]);
    let mut next = 0usize;
    let mut step: Step = Box::new(move || {
        let (a, b) = &mut pairs[next % peers];
        next += 1;
        let mut sw = Stopwatch { share, total: Duration::ZERO };
        let init =
            sw.part(Share::Initiator, || match a.format_handshake_initiation(&mut b1, true) {
                TunnResult::WriteToNetwork(m) => m,
                _ => panic!("no initiation"),
            });
        let resp = sw.part(Share::Responder, || match b.decapsulate(None, init, &mut b2) {
            TunnResult::WriteToNetwork(m) => m,
            _ => panic!("no response"),
        });
        // Consuming the response makes boringtun emit its confirming keepalive.
        let ka = sw.part(Share::Initiator, || match a.decapsulate(None, resp, &mut b3) {
            TunnResult::WriteToNetwork(m) => m.len(),
            _ => panic!("response not consumed"),
        });
        black_box(ka);
        sw.total
    });
    for _ in 0..peers {
        step();
    }
    step
}

/// All variants: (name, share, step).
fn variants() -> Vec<(String, Share, Step)> {
    let mut v: Vec<(String, Share, Step)> = Vec::new();
    for share in SHARES {
        v.push(("ferrowg".into(), share, ferrowg_step(share, 1)));
        #[cfg(target_os = "linux")]
        v.push(("boringtun".into(), share, boringtun_step(share, 1)));
    }
    let many = Share::Responder;
    v.push((format!("ferrowg-{MANY_PEERS}peers"), many, ferrowg_step(many, MANY_PEERS)));
    #[cfg(target_os = "linux")]
    v.push((format!("boringtun-{MANY_PEERS}peers"), many, boringtun_step(many, MANY_PEERS)));
    v
}

/// Interleaved side-by-side timing (rounds in rotating order; best and median round).
fn interleaved_report() {
    const ROUNDS: usize = 120;
    const BATCH: usize = 10;
    let mut variants = variants();
    let mut samples = vec![Vec::new(); variants.len()];
    for round in 0..ROUNDS {
        for k in 0..variants.len() {
            let i = (round + k) % variants.len();
            let f = &mut variants[i].2;
            let spent: Duration = (0..BATCH).map(|_| f()).sum();
            samples[i].push(spent.as_nanos() as f64 / BATCH as f64);
        }
    }
    for ((name, share, _), s) in variants.iter().zip(samples.iter_mut()) {
        s.sort_by(f64::total_cmp);
        let (best, median) = (s[0], s[s.len() / 2]);
        println!(
            "interleaved handshake {:<32} best {:>6.1} us ({:>5.0}/s)  median {:>6.1} us ({:>5.0}/s)",
            format!("{name}/{}", share.name()),
            best / 1e3,
            1e9 / best,
            median / 1e3,
            1e9 / median
        );
    }
}

fn criterion_benches(c: &mut Criterion) {
    for (name, share, mut step) in variants() {
        c.bench_function(&format!("handshake/{name}/{}", share.name()), |bench| {
            bench.iter_custom(|iters| (0..iters).map(|_| step()).sum())
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = criterion_benches
}

fn main() {
    interleaved_report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
