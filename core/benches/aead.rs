//! AEAD backends side by side: ring vs RustCrypto ChaCha20-Poly1305, in-place seal and
//! open of 64 / 1420 / 8192-byte payloads (WireGuard nonce layout).
//!
//! `cargo bench -p ferrowg-core --bench aead -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs)] // criterion's macros generate undocumented public functions

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
#[cfg(feature = "ring")]
use ferrowg_core::crypto::aead::RingAead;
use ferrowg_core::crypto::aead::{Aead, RustCryptoAead};
use std::hint::black_box;

/// One benchmarked operation per call.
type Step = Box<dyn FnMut()>;

fn seal_open<A: Aead>(c: &mut Criterion) {
    let key = A::new(&[7; 32]);
    let mut group = c.benchmark_group(format!("aead/{}", A::NAME));
    for size in [64usize, 1420, 8192] {
        group.throughput(Throughput::Bytes(size as u64));
        let mut buf = vec![0x5au8; size];
        let mut counter = 0u64;
        group.bench_with_input(BenchmarkId::new("seal", size), &size, |b, _| {
            b.iter(|| {
                counter += 1;
                black_box(key.seal_in_place(counter, &[], black_box(&mut buf)).unwrap())
            })
        });
        let mut sealed = vec![0x5au8; size];
        let tag = key.seal_in_place(1, &[], &mut sealed).unwrap();
        let mut work = sealed.clone();
        group.bench_with_input(BenchmarkId::new("open", size), &size, |b, _| {
            b.iter(|| {
                work.copy_from_slice(&sealed);
                key.open_in_place(1, &[], black_box(&mut work), &tag).unwrap()
            })
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    #[cfg(feature = "ring")]
    seal_open::<RingAead>(c);
    seal_open::<RustCryptoAead>(c);
}

/// One seal (or one open) of `size` bytes per call.
fn step<A: Aead + 'static>(size: usize, open: bool) -> Step {
    let key = A::new(&[7; 32]);
    let mut sealed = vec![0x5au8; size];
    let tag = key.seal_in_place(1, &[], &mut sealed).unwrap();
    let mut work = sealed.clone();
    let mut counter = 1u64;
    Box::new(move || {
        if open {
            work.copy_from_slice(&sealed);
            key.open_in_place(1, &[], black_box(&mut work), &tag).unwrap();
        } else {
            counter += 1;
            black_box(key.seal_in_place(counter, &[], black_box(&mut work)).unwrap());
        }
    })
}

/// Interleaved side-by-side timing (rounds in rotating order; best and median round).
#[allow(clippy::disallowed_methods)] // a benchmark has to read the clock
fn interleaved_report() {
    const ROUNDS: usize = 30;
    for size in [64usize, 1420, 8192] {
        for open in [false, true] {
            let batch = 200_000 / size.max(200);
            let mut variants: Vec<(&str, Step)> = vec![
                #[cfg(feature = "ring")]
                ("ring", step::<RingAead>(size, open)),
                ("rustcrypto", step::<RustCryptoAead>(size, open)),
            ];
            let mut samples = vec![Vec::new(); variants.len()];
            for round in 0..ROUNDS {
                for k in 0..variants.len() {
                    let i = (round + k) % variants.len();
                    let f = &mut variants[i].1;
                    let t = std::time::Instant::now();
                    for _ in 0..batch {
                        f();
                    }
                    samples[i].push(t.elapsed().as_nanos() as f64 / batch as f64);
                }
            }
            let best: Vec<f64> = samples
                .iter_mut()
                .map(|s| {
                    s.sort_by(f64::total_cmp);
                    s[0]
                })
                .collect();
            for ((name, _), b) in variants.iter().zip(&best) {
                println!(
                    "interleaved {:<4} {size:>5} B {name:<10} best {b:>8.0} ns  {:>7.0} MB/s  x{:.2} of first",
                    if open { "open" } else { "seal" },
                    size as f64 * 1e3 / b,
                    b / best[0]
                );
            }
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}

fn main() {
    interleaved_report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
