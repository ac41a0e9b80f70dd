//! Interleaved side-by-side runs: every variant is timed in turn, round after round, and
//! the median per variant is reported with its ratio to the first. On a shared, noisy
//! machine this keeps load swings from landing on one variant only (criterion measures
//! one function after another). Run with `FERROWG_BENCH_INTERLEAVED=1`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrowg_core::keys::PublicKey;
use ferrowg_core::peer_lookup::{HashKey, IndexTable, PubkeyTable};
use ferrowg_core::ratelimiter::RateLimiter;
use parking_lot::{Mutex, RwLock};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::chained::ChainedTable;
use super::{keys, probe_order, Brown, Shared, SIZES};

const ROUNDS: usize = 31;

type Op<'a> = Box<dyn FnMut(usize) + 'a>;

/// Times `ops` operations of each variant per round, rotating the order every round.
fn race(title: &str, ops: usize, variants: &mut [(&str, Op<'_>)]) {
    let mut samples = vec![Vec::with_capacity(ROUNDS); variants.len()];
    for round in 0..ROUNDS {
        for k in 0..variants.len() {
            let v = (k + round) % variants.len();
            let start = Instant::now();
            (variants[v].1)(ops);
            samples[v].push(start.elapsed().as_nanos() as f64 / ops as f64);
        }
    }
    println!("{title}  (median of {ROUNDS} interleaved rounds x {ops} ops; min)");
    let mut base = None;
    for ((name, _), s) in variants.iter().zip(samples.iter_mut()) {
        s.sort_by(f64::total_cmp);
        let median = s[s.len() / 2];
        let base = *base.get_or_insert(median);
        println!("  {name:<24} {median:>9.1} ns  (min {:>8.1})  x{:.2}", s[0], median / base);
    }
}

fn ops_for(n: usize) -> usize {
    if n >= 1_000_000 {
        20_000
    } else {
        100_000
    }
}

fn pubkey_lookup(n: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
    let ks = keys(&mut rng, n);
    let probes = probe_order(&mut rng, &ks);
    let sharded = PubkeyTable::new(&mut rng);
    let single = PubkeyTable::with_key(HashKey::random(&mut rng), 1);
    let chained = ChainedTable::new(HashKey::random(&mut rng));
    let mut std_map = std::collections::HashMap::new();
    let mut brown = Brown::default();
    for (i, k) in ks.iter().enumerate() {
        sharded.insert(*k, i as u64);
        single.insert(*k, i as u64);
        chained.insert(*k, i as u64);
        std_map.insert(*k, i as u64);
        brown.insert(*k, i as u64);
    }
    let p = &probes;
    let mut variants: Vec<(&str, Op<'_>)> = vec![
        ("ferrowg_16_shards", lookups(p, |k| sharded.with(k, |v| *v))),
        ("ferrowg_1_shard", lookups(p, |k| single.with(k, |v| *v))),
        ("chained_16_shards", lookups(p, |k| chained.with(k, |v| *v))),
        ("std_hashmap", lookups(p, |k| std_map.get(k).copied())),
        ("hashbrown_sip24_fixed", lookups(p, |k| brown.get(k).copied())),
    ];
    race(&format!("pubkey lookup, {n} entries"), ops_for(n), &mut variants);
}

fn index_lookup(n: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(n as u64 + 1);
    let table = IndexTable::new(&mut rng);
    let idx: Vec<u32> = (0..n as u64).map(|v| table.insert_new(&mut rng, v).unwrap()).collect();
    let probes = probe_order(&mut rng, &idx);
    let chained = ChainedTable::new(HashKey::random(&mut rng));
    for &i in &idx {
        chained.insert(i, 0u64);
    }
    let std_map: std::collections::HashMap<u32, u64> = idx.iter().map(|&i| (i, 0)).collect();
    let brown: Brown<u32> = idx.iter().map(|&i| (i, 0)).collect();
    let p = &probes;
    let mut variants: Vec<(&str, Op<'_>)> = vec![
        ("ferrowg_16_shards", lookups(p, |k| table.with(*k, |v| *v))),
        ("chained_16_shards", lookups(p, |k| chained.with(k, |v| *v))),
        ("std_hashmap", lookups(p, |k| std_map.get(k).copied())),
        ("hashbrown_sip24_fixed", lookups(p, |k| brown.get(k).copied())),
    ];
    race(&format!("receiver index lookup, {n} entries"), ops_for(n), &mut variants);
}

fn insert_remove(n: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(n as u64 + 2);
    let ks = keys(&mut rng, n);
    let fresh = keys(&mut rng, 4096);
    let sharded = PubkeyTable::new(&mut rng);
    let chained = ChainedTable::new(HashKey::random(&mut rng));
    let mut std_map = std::collections::HashMap::new();
    let mut brown = Brown::default();
    for (i, k) in ks.iter().enumerate() {
        sharded.insert(*k, i as u64);
        chained.insert(*k, i as u64);
        std_map.insert(*k, i as u64);
        brown.insert(*k, i as u64);
    }
    let f = &fresh;
    let mut variants: Vec<(&str, Op<'_>)> = vec![
        (
            "ferrowg_16_shards",
            cycle(f, |k| {
                sharded.insert(*k, 1);
                sharded.remove(k);
            }),
        ),
        (
            "chained_16_shards",
            cycle(f, |k| {
                chained.insert(*k, 1);
                chained.remove(k);
            }),
        ),
        (
            "std_hashmap",
            cycle(f, move |k| {
                std_map.insert(*k, 1);
                std_map.remove(k);
            }),
        ),
        (
            "hashbrown_sip24_fixed",
            cycle(f, move |k| {
                brown.insert(*k, 1);
                brown.remove(k);
            }),
        ),
    ];
    race(&format!("pubkey insert+remove, {n} entries"), ops_for(n.min(10_000)), &mut variants);
}

/// Lookups on two threads while a third thread inserts and removes, pausing `pause`
/// between updates (a control path) or never (a worst case for one big lock).
fn concurrent(pause: Duration) {
    const N: usize = 10_000;
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    let ks = keys(&mut rng, N);
    let fresh = Arc::new(keys(&mut rng, 1024));
    let probes = Arc::new(probe_order(&mut rng, &ks));
    let tables: Vec<(&str, Arc<dyn Shared>)> = vec![
        ("ferrowg_16_shards", Arc::new(PubkeyTable::<u64>::new(&mut rng))),
        ("ferrowg_1_shard", Arc::new(PubkeyTable::<u64>::with_key(HashKey::random(&mut rng), 1))),
        ("rwlock_hashbrown", Arc::new(RwLock::new(Brown::default()))),
        ("mutex_hashbrown", Arc::new(Mutex::new(Brown::default()))),
    ];
    let mut variants: Vec<(&str, Op<'_>)> = Vec::new();
    for (name, t) in tables {
        for (i, k) in ks.iter().enumerate() {
            t.insert(*k, i as u64);
        }
        let (fresh, probes) = (fresh.clone(), probes.clone());
        variants
            .push((name, Box::new(move |ops| contended_round(&t, &fresh, &probes, ops, pause))));
    }
    let title = format!(
        "pubkey lookup, 10000 entries, 2 reader threads + 1 writer pausing {pause:?} per update"
    );
    race(&title, 100_000, &mut variants);
}

fn contended_round(
    t: &Arc<dyn Shared>,
    fresh: &Arc<Vec<PublicKey>>,
    probes: &Arc<Vec<PublicKey>>,
    ops: usize,
    pause: Duration,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (t, f, stop) = (t.clone(), fresh.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let k = f[i % f.len()];
                t.insert(k, 1);
                t.remove(&k);
                i += 1;
                if !pause.is_zero() {
                    std::thread::sleep(pause);
                }
            }
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (t, p) = (t.clone(), probes.clone());
            std::thread::spawn(move || {
                for i in 0..ops {
                    black_box(t.lookup(&p[(i * 7 + r * 13) % p.len()]));
                }
            })
        })
        .collect();
    for r in readers {
        let _ = r.join();
    }
    stop.store(true, Ordering::Relaxed);
    let _ = writer.join();
}

fn lookups<'a, K, R>(probes: &'a [K], mut f: impl FnMut(&K) -> R + 'a) -> Op<'a> {
    let mut j = 0usize;
    Box::new(move |ops| {
        for _ in 0..ops {
            j = (j + 1) % probes.len();
            black_box(f(&probes[j]));
        }
    })
}

fn cycle<'a, K>(keys: &'a [K], mut f: impl FnMut(&K) + 'a) -> Op<'a> {
    let mut j = 0usize;
    Box::new(move |ops| {
        for _ in 0..ops {
            j = (j + 1) % keys.len();
            f(black_box(&keys[j]));
        }
    })
}

/// `RateLimiter::allow` for 10k IPv4 sources and 10k IPv6 /64s, each revisited every
/// 50 ms of virtual time (so mostly allowed), next to a bare mutex-guarded map lookup.
fn ratelimiter() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let rl4 = RateLimiter::new(&mut rng);
    let rl6 = RateLimiter::new(&mut rng);
    let v4: Vec<IpAddr> =
        (0..10_000).map(|_| IpAddr::V4(Ipv4Addr::from(rng.gen::<u32>()))).collect();
    let v6: Vec<IpAddr> =
        (0..10_000).map(|_| IpAddr::V6(Ipv6Addr::from(rng.gen::<u128>()))).collect();
    let floor: Mutex<std::collections::HashMap<IpAddr, u64>> =
        Mutex::new(v4.iter().map(|&a| (a, 0)).collect());
    let t0 = Instant::now();
    let (mut now4, mut now6) = (t0, t0);
    let mut variants: Vec<(&str, Op<'_>)> = vec![
        (
            "ratelimiter_allow_v4",
            cycle(&v4, move |a| {
                now4 += Duration::from_micros(5);
                let _ = black_box(rl4.allow(*a, now4));
            }),
        ),
        (
            "ratelimiter_allow_v6",
            cycle(&v6, move |a| {
                now6 += Duration::from_micros(5);
                let _ = black_box(rl6.allow(*a, now6));
            }),
        ),
        (
            "mutex_std_hashmap_get",
            cycle(&v4, |a| {
                black_box(floor.lock().get(a).copied());
            }),
        ),
    ];
    race("rate limiter, 10000 sources", 100_000, &mut variants);
}

/// Runs every interleaved comparison and prints the tables. `FERROWG_BENCH_INTERLEAVED=threads`
/// runs only the concurrent ones.
pub(crate) fn run(threads_only: bool) {
    for n in SIZES.into_iter().filter(|_| !threads_only) {
        pubkey_lookup(n);
        index_lookup(n);
        insert_remove(n);
    }
    concurrent(Duration::from_micros(20));
    concurrent(Duration::ZERO);
    ratelimiter();
}
