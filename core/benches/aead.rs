//! AEAD backends side by side: ring vs RustCrypto ChaCha20-Poly1305, in-place seal and
//! open of 64 / 1420 / 8192-byte payloads (WireGuard nonce layout).
//!
//! `cargo bench -p ferrowg-core --bench aead -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs)] // criterion's macros generate undocumented public functions

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
#[cfg(feature = "ring")]
use ferrowg_core::crypto::aead::RingAead;
use ferrowg_core::crypto::aead::{Aead, RustCryptoAead};
use std::hint::black_box;

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

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
