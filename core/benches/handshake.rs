//! Handshakes per second: one full initiation + response + consumed response (both
//! sides' work, 1 round trip), ferrowg's `noise` vs boringtun's `Tunn`, same run.
//!
//! `cargo bench -p ferrowg-core --bench handshake -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs)] // criterion's macros generate undocumented public functions

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use criterion::{criterion_group, criterion_main, Criterion};
use ferrowg_core::keys::{PresharedKey, PrivateKey};
use ferrowg_core::messages::{Initiation, Response, INITIATION_LEN, RESPONSE_LEN};
use ferrowg_core::noise::{consume_initiation, create_initiation, LocalStatic, RemoteStatic};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

#[allow(clippy::disallowed_methods)] // a base for the virtual clock
fn base() -> Instant {
    Instant::now()
}

fn ferrowg(c: &mut Criterion) {
    let psk = PresharedKey::from_bytes([9; 32]);
    let a = LocalStatic::new(&PrivateKey::from_bytes([1; 32]));
    let b = LocalStatic::new(&PrivateKey::from_bytes([2; 32]));
    let a_sees_b = RemoteStatic::new(&a, *b.public_key(), Some(&psk));
    let mut b_sees_a = RemoteStatic::new(&b, *a.public_key(), Some(&psk));
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (mut now, mut wall) = (base(), SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 30));
    c.bench_function("handshake/ferrowg", |bench| {
        bench.iter(|| {
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
            black_box((ka, kb))
        })
    });
}

#[cfg(target_os = "linux")]
fn boringtun(c: &mut Criterion) {
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
    c.bench_function("handshake/boringtun", |bench| {
        bench.iter(|| {
            let TunnResult::WriteToNetwork(init) = a.format_handshake_initiation(&mut b1, true)
            else {
                panic!("no initiation")
            };
            let TunnResult::WriteToNetwork(resp) = b.decapsulate(None, init, &mut b2) else {
                panic!("no response")
            };
            // Consuming the response makes boringtun emit its confirming keepalive.
            let TunnResult::WriteToNetwork(ka) = a.decapsulate(None, resp, &mut b3) else {
                panic!("response not consumed")
            };
            black_box(ka.len())
        })
    });
}

#[cfg(not(target_os = "linux"))]
fn boringtun(_: &mut Criterion) {}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = ferrowg, boringtun
}
criterion_main!(benches);
