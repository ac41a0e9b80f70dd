//! X25519 cost per operation, candidates side by side in one process (interleaved
//! rounds in rotating order; best and 25th-percentile round), for the handshake work in
//! docs/performance.md. Run from this directory: `cargo run --release`.
//!
//! ring is driven through its deprecated test RNG to inject a private key, which is
//! fine for a measurement and is why ring cannot be used for static keys in ferrowg.
#![allow(deprecated)]

use std::hint::black_box;
use std::time::Instant;

use aws_lc_rs::agreement as aws;
use curve25519_dalek::edwards::EdwardsBasepointTable;
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::traits::BasepointTable;
use curve25519_dalek::EdwardsPoint;

type Op = Box<dyn FnMut() -> u8>;

fn aws_agree(private: &aws::PrivateKey, public: &[u8; 32]) -> [u8; 32] {
    let peer = aws::UnparsedPublicKey::new(&aws::X25519, public);
    aws::agree(private, peer, (), |s| {
        let mut o = [0u8; 32];
        o.copy_from_slice(s);
        Ok(o)
    })
    .expect("agree")
}

fn ring_agree(private: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
    let rng = ring::test::rand::FixedSliceRandom { bytes: private };
    let key = ring::agreement::EphemeralPrivateKey::generate(&ring::agreement::X25519, &rng)
        .expect("generate");
    let peer = ring::agreement::UnparsedPublicKey::new(&ring::agreement::X25519, public);
    ring::agreement::agree_ephemeral(key, &peer, |s| {
        let mut o = [0u8; 32];
        o.copy_from_slice(s);
        o
    })
    .expect("agree")
}

fn main() {
    let k = [7u8; 32];
    let public = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([9u8; 32]));
    let p = *public.as_bytes();
    let secret = x25519_dalek::StaticSecret::from(k);
    let expect = secret.diffie_hellman(&public).to_bytes();
    let table = EdwardsBasepointTable::create(&MontgomeryPoint(p).to_edwards(0).expect("on curve"));
    let aws_key = aws::PrivateKey::from_private_key(&aws::X25519, &k).expect("key");
    // Every candidate computes the same shared secret.
    assert_eq!(table.mul_base_clamped(k).to_montgomery().to_bytes(), expect);
    assert_eq!(aws_agree(&aws_key, &p), expect);
    assert_eq!(ring_agree(&k, &p), expect);

    let mut ops: Vec<(&str, Op)> = vec![
        (
            "dh: x25519-dalek ladder",
            Box::new(move || secret.diffie_hellman(black_box(&public)).as_bytes()[0]),
        ),
        (
            "dh: dalek fixed-point table",
            Box::new(move || table.mul_base_clamped(black_box(k)).to_montgomery().0[0]),
        ),
        ("dh: aws-lc-rs agree", Box::new(move || aws_agree(&aws_key, black_box(&p))[0])),
        ("dh: ring agree_ephemeral", Box::new(move || ring_agree(&k, black_box(&p))[0])),
        (
            "public: x25519-dalek (fixed base)",
            Box::new(move || EdwardsPoint::mul_base_clamped(black_box(k)).to_montgomery().0[0]),
        ),
        (
            "public: aws-lc-rs",
            Box::new(move || {
                let key =
                    aws::PrivateKey::from_private_key(&aws::X25519, black_box(&k)).expect("key");
                key.compute_public_key().expect("public").as_ref()[0]
            }),
        ),
        (
            "table build: dalek",
            Box::new(move || {
                let e = MontgomeryPoint(black_box(p)).to_edwards(0).expect("on curve");
                EdwardsBasepointTable::create(&e).basepoint().compress().0[0]
            }),
        ),
    ];
    const ROUNDS: usize = 100;
    const BATCH: usize = 20;
    let mut samples = vec![Vec::new(); ops.len()];
    for round in 0..ROUNDS {
        for j in 0..ops.len() {
            let i = (round + j) % ops.len();
            let n = if ops[i].0.starts_with("table") { 1 } else { BATCH };
            let t = Instant::now();
            let mut acc = 0u8;
            for _ in 0..n {
                acc ^= (ops[i].1)();
            }
            black_box(acc);
            samples[i].push(t.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    for ((name, _), s) in ops.iter().zip(samples.iter_mut()) {
        s.sort_by(f64::total_cmp);
        println!("{name:<36} best {:>8.2} us  p25 {:>8.2} us", s[0] / 1e3, s[s.len() / 4] / 1e3);
    }
}
