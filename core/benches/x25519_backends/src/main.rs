//! X25519 cost per operation, candidates side by side in one process (interleaved
//! rounds in rotating order; best and 25th-percentile round), for the handshake work in
//! docs/performance.md. Run from this directory: `cargo run --release`; for the
//! curve25519-dalek backends, `RUSTFLAGS='--cfg curve25519_dalek_backend="serial"'
//! cargo run --release --no-default-features` (or `"fiat"`, `"simd"`).
//!
//! ring is driven through its deprecated test RNG to inject a private key, which is
//! fine for a measurement and is why ring cannot be used for static keys in ferrowg.
#![allow(deprecated)]

use std::hint::black_box;
use std::time::Instant;

#[cfg(feature = "aws-lc")]
use aws_lc_rs::agreement as aws;
use curve25519_dalek::edwards::EdwardsBasepointTable;
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::traits::BasepointTable;
use curve25519_dalek::{EdwardsPoint, Scalar};

type Op = Box<dyn FnMut() -> u8>;

#[cfg(feature = "aws-lc")]
fn aws_agree(private: &aws::PrivateKey, public: &[u8; 32]) -> [u8; 32] {
    let peer = aws::UnparsedPublicKey::new(&aws::X25519, public);
    aws::agree(private, peer, (), |s| {
        let mut o = [0u8; 32];
        o.copy_from_slice(s);
        Ok(o)
    })
    .expect("agree")
}

#[cfg(feature = "ring")]
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
    let edwards = MontgomeryPoint(p).to_edwards(0).expect("on curve");
    let table = EdwardsBasepointTable::create(&edwards);
    // The clamped scalar is a multiple of 8: [k]P = [k/8]([8]P), and k/8 < l is canonical.
    let clamped = curve25519_dalek::scalar::clamp_integer(k);
    let mut eighth = [0u8; 32];
    for (i, e) in eighth.iter_mut().enumerate() {
        *e = (clamped[i] >> 3) | clamped.get(i + 1).map_or(0, |n| n << 5);
    }
    let eighth = Scalar::from_bytes_mod_order(eighth);
    // Every candidate computes the same shared secret.
    assert_eq!(table.mul_base_clamped(k).to_montgomery().to_bytes(), expect);
    assert_eq!((edwards.mul_by_cofactor() * eighth).to_montgomery().to_bytes(), expect);

    let mut ops: Vec<(&str, Op)> = vec![
        (
            "dh: x25519-dalek ladder",
            Box::new(move || secret.diffie_hellman(black_box(&public)).as_bytes()[0]),
        ),
        (
            "dh: dalek fixed-point table",
            Box::new(move || table.mul_base_clamped(black_box(k)).to_montgomery().0[0]),
        ),
        (
            "dh: dalek Edwards variable-base",
            Box::new(move || {
                let e = MontgomeryPoint(black_box(p)).to_edwards(0).expect("on curve");
                (e.mul_by_cofactor() * eighth).to_montgomery().0[0]
            }),
        ),
        (
            "part: Montgomery->Edwards",
            Box::new(move || {
                MontgomeryPoint(black_box(p)).to_edwards(0).expect("on curve").compress().0[0]
            }),
        ),
        (
            "part: Edwards variable-base mul",
            Box::new(move || (black_box(edwards).mul_by_cofactor() * eighth).compress().0[0]),
        ),
        ("part: Edwards->Montgomery", Box::new(move || black_box(edwards).to_montgomery().0[0])),
        (
            "public: x25519-dalek (fixed base)",
            Box::new(move || EdwardsPoint::mul_base_clamped(black_box(k)).to_montgomery().0[0]),
        ),
        (
            "table build: dalek",
            Box::new(move || {
                let e = MontgomeryPoint(black_box(p)).to_edwards(0).expect("on curve");
                EdwardsBasepointTable::create(&e).basepoint().compress().0[0]
            }),
        ),
    ];
    #[cfg(feature = "aws-lc")]
    {
        let key = aws::PrivateKey::from_private_key(&aws::X25519, &k).expect("key");
        assert_eq!(aws_agree(&key, &p), expect);
        ops.push(("dh: aws-lc-rs agree", Box::new(move || aws_agree(&key, black_box(&p))[0])));
        ops.push((
            "public: aws-lc-rs",
            Box::new(move || {
                let key =
                    aws::PrivateKey::from_private_key(&aws::X25519, black_box(&k)).expect("key");
                key.compute_public_key().expect("public").as_ref()[0]
            }),
        ));
    }
    #[cfg(feature = "ring")]
    {
        assert_eq!(ring_agree(&k, &p), expect);
        ops.push(("dh: ring agree_ephemeral", Box::new(move || ring_agree(&k, black_box(&p))[0])));
    }
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
