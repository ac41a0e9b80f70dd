//! Criterion benchmark: SipHash peer tables and the handshake rate limiter.
//!
//! Lookup (hit) and insert+remove at 10, 10k and 1M entries, for the ferrowg tables (16
//! shards, and 1 shard) side by side with `std::collections::HashMap` (default hasher,
//! SipHash-1-3 with a random key) and `hashbrown` with SipHash-2-4 under a fixed key. The
//! std and hashbrown maps are used bare, without any lock, so the difference includes the
//! ferrowg tables' read lock. A concurrent group runs lookups on two threads while a third
//! inserts and removes, for the sharded table vs one lock.
//!
//! Run: `cargo bench -p ferrowg-core --bench peer_lookup -- --warm-up-time 1 --measurement-time 3`
//! Interleaved (robust ratios on a noisy machine):
//! `FERROWG_BENCH_INTERLEAVED=1 cargo bench -p ferrowg-core --bench peer_lookup`
#![allow(missing_docs)]
// A benchmark measures wall time; the sans-IO rule is for the library.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, BenchmarkId, Criterion};
use ferrowg_core::keys::PublicKey;
use ferrowg_core::peer_lookup::{HashKey, IndexTable, PubkeyTable};
use ferrowg_core::ratelimiter::RateLimiter;
use parking_lot::{Mutex, RwLock};
use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use siphasher::sip::SipHasher24;

#[path = "peer_lookup_alt/chained.rs"]
mod chained;

#[path = "peer_lookup_alt/interleaved.rs"]
mod interleaved;

use chained::ChainedTable;

type FixedSip = BuildHasherDefault<SipHasher24>;
type Brown<K> = hashbrown::HashMap<K, u64, FixedSip>;

const SIZES: [usize; 3] = [10, 10_000, 1_000_000];

fn keys(rng: &mut ChaCha8Rng, n: usize) -> Vec<PublicKey> {
    (0..n)
        .map(|_| {
            let mut k = [0u8; 32];
            rng.fill_bytes(&mut k);
            PublicKey(k)
        })
        .collect()
}

/// Existing keys in a random order, so big tables pay their cache misses.
fn probe_order<K: Copy>(rng: &mut ChaCha8Rng, keys: &[K]) -> Vec<K> {
    let mut p: Vec<K> = (0..keys.len().max(4096)).map(|i| keys[i % keys.len()]).collect();
    p.shuffle(rng);
    p
}

fn pubkey_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("pubkey_lookup");
    for n in SIZES {
        let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
        let ks = keys(&mut rng, n);
        let probes = probe_order(&mut rng, &ks);
        let sharded = PubkeyTable::new(&mut rng);
        let single = PubkeyTable::with_key(HashKey::random(&mut rng), 1);
        let chained = ChainedTable::new(HashKey::random(&mut rng));
        let mut std_map = HashMap::new();
        let mut brown = Brown::default();
        for (i, k) in ks.iter().enumerate() {
            sharded.insert(*k, i as u64);
            single.insert(*k, i as u64);
            chained.insert(*k, i as u64);
            std_map.insert(*k, i as u64);
            brown.insert(*k, i as u64);
        }
        let mut j = 0usize;
        let mut next = || {
            j = (j + 1) % probes.len();
            &probes[j]
        };
        g.bench_function(BenchmarkId::new("ferrowg_16_shards", n), |b| {
            b.iter(|| sharded.with(next(), |v| *v))
        });
        g.bench_function(BenchmarkId::new("ferrowg_1_shard", n), |b| {
            b.iter(|| single.with(next(), |v| *v))
        });
        g.bench_function(BenchmarkId::new("chained_16_shards", n), |b| {
            b.iter(|| chained.with(next(), |v| *v))
        });
        g.bench_function(BenchmarkId::new("std_hashmap", n), |b| {
            b.iter(|| std_map.get(next()).copied())
        });
        g.bench_function(BenchmarkId::new("hashbrown_sip24_fixed", n), |b| {
            b.iter(|| brown.get(next()).copied())
        });
    }
    g.finish();
}

fn index_lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("index_lookup");
    for n in SIZES {
        let mut rng = ChaCha8Rng::seed_from_u64(n as u64 + 1);
        let table = IndexTable::new(&mut rng);
        let mut idx = Vec::with_capacity(n);
        for v in 0..n as u64 {
            idx.push(table.insert_new(&mut rng, v).unwrap());
        }
        let probes = probe_order(&mut rng, &idx);
        let chained = ChainedTable::new(HashKey::random(&mut rng));
        for &i in &idx {
            chained.insert(i, 0u64);
        }
        let std_map: HashMap<u32, u64> = idx.iter().map(|&i| (i, 0)).collect();
        let brown: Brown<u32> = idx.iter().map(|&i| (i, 0)).collect();
        let mut j = 0usize;
        let mut next = || {
            j = (j + 1) % probes.len();
            probes[j]
        };
        g.bench_function(BenchmarkId::new("ferrowg_16_shards", n), |b| {
            b.iter(|| table.with(next(), |v| *v))
        });
        g.bench_function(BenchmarkId::new("chained_16_shards", n), |b| {
            b.iter(|| chained.with(&next(), |v| *v))
        });
        g.bench_function(BenchmarkId::new("std_hashmap", n), |b| {
            b.iter(|| std_map.get(&next()).copied())
        });
        g.bench_function(BenchmarkId::new("hashbrown_sip24_fixed", n), |b| {
            b.iter(|| brown.get(&next()).copied())
        });
    }
    g.finish();
}

/// Insert of a key not in the table followed by its removal, at a steady size `n`.
fn pubkey_insert(c: &mut Criterion) {
    let mut g = c.benchmark_group("pubkey_insert_remove");
    for n in SIZES {
        let mut rng = ChaCha8Rng::seed_from_u64(n as u64 + 2);
        let ks = keys(&mut rng, n);
        let fresh = keys(&mut rng, 4096);
        let sharded = PubkeyTable::new(&mut rng);
        let chained = ChainedTable::new(HashKey::random(&mut rng));
        let mut std_map = HashMap::new();
        let mut brown = Brown::default();
        for (i, k) in ks.iter().enumerate() {
            sharded.insert(*k, i as u64);
            chained.insert(*k, i as u64);
            std_map.insert(*k, i as u64);
            brown.insert(*k, i as u64);
        }
        let mut j = 0usize;
        let mut next = || {
            j = (j + 1) % fresh.len();
            fresh[j]
        };
        g.bench_function(BenchmarkId::new("ferrowg_16_shards", n), |b| {
            b.iter(|| {
                let k = next();
                sharded.insert(k, 1);
                sharded.remove(&k)
            })
        });
        g.bench_function(BenchmarkId::new("chained_16_shards", n), |b| {
            b.iter(|| {
                let k = next();
                chained.insert(k, 1);
                chained.remove(&k)
            })
        });
        g.bench_function(BenchmarkId::new("std_hashmap", n), |b| {
            b.iter(|| {
                let k = next();
                std_map.insert(k, 1);
                std_map.remove(&k)
            })
        });
        g.bench_function(BenchmarkId::new("hashbrown_sip24_fixed", n), |b| {
            b.iter(|| {
                let k = next();
                brown.insert(k, 1);
                brown.remove(&k)
            })
        });
    }
    g.finish();
}

/// Something two reader threads can look keys up in while a writer churns.
trait Shared: Send + Sync + 'static {
    fn lookup(&self, k: &PublicKey) -> Option<u64>;
    fn insert(&self, k: PublicKey, v: u64);
    fn remove(&self, k: &PublicKey);
}

impl Shared for PubkeyTable<u64> {
    fn lookup(&self, k: &PublicKey) -> Option<u64> {
        self.with(k, |v| *v)
    }
    fn insert(&self, k: PublicKey, v: u64) {
        PubkeyTable::insert(self, k, v);
    }
    fn remove(&self, k: &PublicKey) {
        PubkeyTable::remove(self, k);
    }
}

impl Shared for RwLock<Brown<PublicKey>> {
    fn lookup(&self, k: &PublicKey) -> Option<u64> {
        self.read().get(k).copied()
    }
    fn insert(&self, k: PublicKey, v: u64) {
        self.write().insert(k, v);
    }
    fn remove(&self, k: &PublicKey) {
        self.write().remove(k);
    }
}

impl Shared for Mutex<Brown<PublicKey>> {
    fn lookup(&self, k: &PublicKey) -> Option<u64> {
        self.lock().get(k).copied()
    }
    fn insert(&self, k: PublicKey, v: u64) {
        self.lock().insert(k, v);
    }
    fn remove(&self, k: &PublicKey) {
        self.lock().remove(k);
    }
}

/// ns per lookup with 2 reader threads and a writer doing insert+remove pairs.
fn concurrent(c: &mut Criterion) {
    const N: usize = 10_000;
    const READERS: usize = 2;
    let mut g = c.benchmark_group("pubkey_lookup_2_readers_1_writer");
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    let ks = Arc::new(keys(&mut rng, N));
    let fresh = Arc::new(keys(&mut rng, 1024));
    let probes = Arc::new(probe_order(&mut rng, &ks));
    let variants: Vec<(&str, Arc<dyn Shared>)> = vec![
        ("ferrowg_16_shards", Arc::new(PubkeyTable::<u64>::new(&mut rng))),
        ("ferrowg_1_shard", Arc::new(PubkeyTable::<u64>::with_key(HashKey::random(&mut rng), 1))),
        ("rwlock_hashbrown", Arc::new(RwLock::new(Brown::default()))),
        ("mutex_hashbrown", Arc::new(Mutex::new(Brown::default()))),
    ];
    for (name, table) in variants {
        for (i, k) in ks.iter().enumerate() {
            table.insert(*k, i as u64);
        }
        g.bench_function(BenchmarkId::new(name, N), |b| {
            b.iter_custom(|iters| {
                let stop = Arc::new(AtomicBool::new(false));
                let writer = {
                    let (t, f, stop) = (table.clone(), fresh.clone(), stop.clone());
                    std::thread::spawn(move || {
                        let mut i = 0usize;
                        while !stop.load(Ordering::Relaxed) {
                            let k = f[i % f.len()];
                            t.insert(k, 1);
                            t.remove(&k);
                            i += 1;
                            // Control-path pace: a handshake-sized pause between updates.
                            std::thread::sleep(Duration::from_micros(20));
                        }
                    })
                };
                let start = Instant::now();
                let readers: Vec<_> = (0..READERS)
                    .map(|r| {
                        let (t, p) = (table.clone(), probes.clone());
                        std::thread::spawn(move || {
                            for i in 0..iters as usize {
                                black_box(t.lookup(&p[(i * 7 + r * 13) % p.len()]));
                            }
                        })
                    })
                    .collect();
                for r in readers {
                    r.join().unwrap();
                }
                let elapsed = start.elapsed();
                stop.store(true, Ordering::Relaxed);
                writer.join().unwrap();
                elapsed
            })
        });
    }
    g.finish();
}

/// One `allow` call: a source within its rate, and a table of many sources.
fn ratelimiter(c: &mut Criterion) {
    let mut g = c.benchmark_group("ratelimiter");
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let rl = RateLimiter::new(&mut rng);
    let t0 = Instant::now();
    let sources: Vec<IpAddr> =
        (0..10_000).map(|_| IpAddr::V4(Ipv4Addr::from(rng.gen::<u32>()))).collect();
    let mut now = t0;
    let mut j = 0usize;
    g.bench_function("allow_10k_sources", |b| {
        b.iter(|| {
            j = (j + 1) % sources.len();
            now += Duration::from_micros(5);
            rl.allow(sources[j], now)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = pubkey_lookup, index_lookup, pubkey_insert, concurrent, ratelimiter
}

fn main() {
    if let Some(mode) = std::env::var_os("FERROWG_BENCH_INTERLEAVED") {
        interleaved::run(mode == "threads");
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
