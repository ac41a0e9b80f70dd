//! Handshakes per second: one full initiation + response + consumed response (both
//! sides' work, 1 round trip), ferrowg's `noise` vs boringtun's `Tunn`, same run; and the
//! responder's share alone (consume an initiation, write the response), which is what a
//! server facing many initiators spends per handshake.
//!
//! `cargo bench -p ferrowg-core --bench handshake -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs)] // criterion's macros generate undocumented public functions

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use criterion::{criterion_group, Criterion};
use ferrowg_core::keys::{PresharedKey, PrivateKey};
use ferrowg_core::messages::{Initiation, Response, INITIATION_LEN, RESPONSE_LEN};
use ferrowg_core::noise::{consume_initiation, create_initiation, LocalStatic, RemoteStatic};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// One benchmarked operation per call.
type Step = Box<dyn FnMut()>;

#[allow(clippy::disallowed_methods)] // a base for the virtual clock
fn base() -> Instant {
    Instant::now()
}

fn ferrowg(c: &mut Criterion) {
    let mut step = ferrowg_step();
    c.bench_function("handshake/ferrowg", |bench| bench.iter(&mut step));
}

/// One complete ferrowg handshake (both sides) per call.
fn ferrowg_step() -> Step {
    let psk = PresharedKey::from_bytes([9; 32]);
    let a = LocalStatic::new(&PrivateKey::from_bytes([1; 32]));
    let b = LocalStatic::new(&PrivateKey::from_bytes([2; 32]));
    let a_sees_b = RemoteStatic::new(&a, *b.public_key(), Some(&psk));
    let mut b_sees_a = RemoteStatic::new(&b, *a.public_key(), Some(&psk));
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (mut now, mut wall) = (base(), SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 30));
    Box::new(move || {
        // Virtual time moves on so the timestamp and flood checks pass every time.
        now += Duration::from_millis(21);
        wall += Duration::from_millis(100);
        let mut init = [0u8; INITIATION_LEN];
        let sent = create_initiation(&a, &a_sees_b, 1, wall, &mut rng, &mut init).unwrap();
        let consumed = consume_initiation(&b, &Initiation::parse(&init).unwrap())
            .unwrap()
            .finish(&mut b_sees_a, now)
            .unwrap();
        let mut resp = [0u8; RESPONSE_LEN];
        let kb = consumed.create_response(&b_sees_a, 2, &mut rng, &mut resp).unwrap();
        let ka = sent
            .consume_response(&a, &a_sees_b, &Response::parse(&resp).unwrap())
            .map_err(|(_, r)| r)
            .unwrap();
        black_box((ka, kb));
    })
}

#[cfg(target_os = "linux")]
fn boringtun(c: &mut Criterion) {
    let mut step = boringtun_step();
    c.bench_function("handshake/boringtun", |bench| bench.iter(&mut step));
}

/// One complete boringtun handshake (both sides) per call.
#[cfg(target_os = "linux")]
fn boringtun_step() -> Step {
    use boringtun::noise::rate_limiter::RateLimiter;
    use boringtun::noise::{Tunn, TunnResult};
    use boringtun::x25519::{PublicKey, StaticSecret};
    use std::sync::Arc;

    let (sa, sb) = (StaticSecret::from([1; 32]), StaticSecret::from([2; 32]));
    let (pa, pb) = (PublicKey::from(&sa), PublicKey::from(&sb));
    // Unlimited rate limiters: measure the handshake, not the cookie path.
    let la = Arc::new(RateLimiter::new(&pa, u64::MAX));
    let lb = Arc::new(RateLimiter::new(&pb, u64::MAX));
    let mut a = Tunn::new(sa, pb, Some([9; 32]), None, 1, Some(la));
    let mut b = Tunn::new(sb, pa, Some([9; 32]), None, 2, Some(lb));
    let (mut b1, mut b2, mut b3) = (vec![0u8; 256], vec![0u8; 256], vec![0u8; 256]);
    Box::new(move || {
        let TunnResult::WriteToNetwork(init) = a.format_handshake_initiation(&mut b1, true) else {
            panic!("no initiation")
        };
        let TunnResult::WriteToNetwork(resp) = b.decapsulate(None, init, &mut b2) else {
            panic!("no response")
        };
        // Consuming the response makes boringtun emit its confirming keepalive.
        let TunnResult::WriteToNetwork(ka) = a.decapsulate(None, resp, &mut b3) else {
            panic!("response not consumed")
        };
        black_box(ka.len());
    })
}

#[cfg(not(target_os = "linux"))]
fn boringtun(_: &mut Criterion) {}

/// Pre-generated initiations for the responder-only variants.
const POOL: usize = 700;

/// ferrowg responder: consume one pre-generated initiation and write the response.
fn ferrowg_responder_step() -> Step {
    let a = LocalStatic::new(&PrivateKey::from_bytes([1; 32]));
    let b = LocalStatic::new(&PrivateKey::from_bytes([2; 32]));
    let a_sees_b = RemoteStatic::new(&a, *b.public_key(), None);
    let mut b_sees_a = RemoteStatic::new(&b, *a.public_key(), None);
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let wall0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 30);
    let pool: Vec<[u8; INITIATION_LEN]> = (0..POOL)
        .map(|i| {
            let mut m = [0u8; INITIATION_LEN];
            let wall = wall0 + Duration::from_millis(100 * i as u64);
            create_initiation(&a, &a_sees_b, 1, wall, &mut rng, &mut m).unwrap();
            m
        })
        .collect();
    let (mut now, mut next) = (base(), 0usize);
    Box::new(move || {
        now += Duration::from_millis(21);
        let init = &pool[next % POOL];
        next += 1;
        let Ok(received) = consume_initiation(&b, &Initiation::parse(init).unwrap()) else {
            panic!("consume")
        };
        // Past the pool's end the timestamps repeat and are refused after the DH work,
        // which costs the same as accepting them minus the response.
        if let Ok(consumed) = received.finish(&mut b_sees_a, now) {
            let mut resp = [0u8; RESPONSE_LEN];
            black_box(consumed.create_response(&b_sees_a, 2, &mut rng, &mut resp).unwrap());
        }
    })
}

/// boringtun responder: decapsulate one pre-generated initiation into a response.
#[cfg(target_os = "linux")]
fn boringtun_responder_step() -> Step {
    use boringtun::noise::rate_limiter::RateLimiter;
    use boringtun::noise::{Tunn, TunnResult};
    use boringtun::x25519::{PublicKey, StaticSecret};
    use std::sync::Arc;

    let (sa, sb) = (StaticSecret::from([1; 32]), StaticSecret::from([2; 32]));
    let (pa, pb) = (PublicKey::from(&sa), PublicKey::from(&sb));
    let lb = Arc::new(RateLimiter::new(&pb, u64::MAX));
    let mut a = Tunn::new(sa, pb, None, None, 1, None);
    let mut b = Tunn::new(sb, pa, None, None, 2, Some(lb));
    let mut buf = vec![0u8; 256];
    let pool: Vec<Vec<u8>> = (0..POOL)
        .map(|_| match a.format_handshake_initiation(&mut buf, true) {
            TunnResult::WriteToNetwork(m) => m.to_vec(),
            _ => panic!("no initiation"),
        })
        .collect();
    let mut next = 0usize;
    Box::new(move || {
        let init = &pool[next % POOL];
        next += 1;
        match b.decapsulate(None, init, &mut buf) {
            TunnResult::WriteToNetwork(r) => black_box(r.len()),
            // Past the pool's end boringtun refuses the repeated timestamps.
            other => {
                if next <= POOL {
                    eprintln!("boringtun refused initiation {next}: {other:?}");
                }
                0
            }
        };
    })
}

/// Interleaved side-by-side timing (rounds in rotating order; best and median round).
#[allow(clippy::disallowed_methods)] // a benchmark has to read the clock
fn interleaved_report() {
    const ROUNDS: usize = 30;
    const BATCH: usize = 20;
    let mut variants: Vec<(&str, Step)> =
        vec![("ferrowg", ferrowg_step()), ("ferrowg-responder", ferrowg_responder_step())];
    #[cfg(target_os = "linux")]
    variants.push(("boringtun", boringtun_step()));
    #[cfg(target_os = "linux")]
    variants.push(("boringtun-responder", boringtun_responder_step()));
    let mut samples = vec![Vec::new(); variants.len()];
    for round in 0..ROUNDS {
        for k in 0..variants.len() {
            let i = (round + k) % variants.len();
            let f = &mut variants[i].1;
            let t = Instant::now();
            for _ in 0..BATCH {
                f();
            }
            samples[i].push(t.elapsed().as_nanos() as f64 / BATCH as f64);
        }
    }
    for ((name, _), s) in variants.iter().zip(samples.iter_mut()) {
        s.sort_by(f64::total_cmp);
        let (best, median) = (s[0], s[s.len() / 2]);
        println!(
            "interleaved handshake {name:<19} best {:>7.1} us ({:>5.0}/s)  median {:>7.1} us ({:>5.0}/s)",
            best / 1e3,
            1e9 / best,
            median / 1e3,
            1e9 / median
        );
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = ferrowg, boringtun
}

fn main() {
    interleaved_report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
