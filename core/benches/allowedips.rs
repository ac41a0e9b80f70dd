//! Criterion benchmark: allowed-IPs lookup, native-endian trie vs the same trie with
//! big-endian keys (feature `bench-big-endian-trie`) vs `ip_network_table` as boringtun
//! uses it, plus shared-access overhead (arc-swap vs RwLock) and batch update cost.
//!
//! Run: `cargo bench -p ferrowg-core --features bench-big-endian-trie --bench allowedips
//!       -- --warm-up-time 1 --measurement-time 3`

#[allow(dead_code)] // the bench uses part of its API
mod allowedips_shared;

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use allowedips_shared::AllowedIps;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ferrowg_core::allowedips::{Prefix, Table};
use ip_network::IpNetwork;
use ip_network_table::IpNetworkTable;
use parking_lot::RwLock;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Addresses looked up per scenario, cycled through by the measured loop.
const QUERIES: usize = 4096;

/// A scenario: `prefixes` random prefixes spread round-robin over `peers` peers. With
/// `cluster`, every prefix is a host route inside 10.7.0.0/16 (fd19::/64), the layout of
/// a server giving each client one tunnel address, and queries stay inside that range.
struct Scenario {
    name: &'static str,
    peers: u32,
    prefixes: u32,
    cluster: bool,
}

/// `p10_n10` and `p100_n1k` are wireguard-go's `BenchmarkTrieIPv4Peers10Addresses10` and
/// `...Peers100Addresses1000` (addresses counted in total); `p10_n100` and `p100_n100k`
/// read "10 × 10" and "100 × 1000" as prefixes per peer; `p1k_n1M` is the 1 M case.
const SCENARIOS: [Scenario; 6] = [
    Scenario { name: "p10_n10", peers: 10, prefixes: 10, cluster: false },
    Scenario { name: "p10_n100", peers: 10, prefixes: 100, cluster: false },
    Scenario { name: "p100_n1k", peers: 100, prefixes: 1_000, cluster: false },
    Scenario { name: "hosts_p1k", peers: 1_000, prefixes: 1_000, cluster: true },
    Scenario { name: "p100_n100k", peers: 100, prefixes: 100_000, cluster: false },
    Scenario { name: "p1k_n1M", peers: 1_000, prefixes: 1_000_000, cluster: false },
];

/// The cluster range of a `cluster` scenario: (base, prefix length).
fn cluster(v6: bool) -> (u128, u8) {
    if v6 {
        (0xfd19_u128 << 112, 64)
    } else {
        (0x0a07_0000, 16)
    }
}

/// `bits` moved inside the cluster range.
fn in_cluster(v6: bool, bits: u128) -> u128 {
    let (base, len) = cluster(v6);
    let width = if v6 { 128 } else { 32 };
    base | (bits & (u128::MAX >> (128 - width + u32::from(len))))
}

fn to_addr(v6: bool, bits: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(bits))
    } else {
        IpAddr::V4(Ipv4Addr::from(bits as u32))
    }
}

fn random_bits(rng: &mut ChaCha8Rng, v6: bool) -> u128 {
    if v6 {
        rng.gen()
    } else {
        u128::from(rng.gen::<u32>())
    }
}

/// Random prefixes with a uniform length in 1..=width (the kernel selftest's choice),
/// each assigned round-robin to a peer.
fn routes(s: &Scenario, v6: bool, seed: u64) -> Vec<(Prefix, u32)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let width = if v6 { 128 } else { 32 };
    (0..s.prefixes)
        .map(|i| {
            let (bits, cidr) = if s.cluster {
                (in_cluster(v6, random_bits(&mut rng, v6)), width)
            } else {
                (random_bits(&mut rng, v6), rng.gen_range(1..=width))
            };
            (Prefix::new(to_addr(v6, bits), cidr).unwrap(), i % s.peers)
        })
        .collect()
}

/// Half the queries fall inside a stored prefix (random host bits), half are random.
fn queries(s: &Scenario, routes: &[(Prefix, u32)], v6: bool, seed: u64) -> Vec<IpAddr> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..QUERIES)
        .map(|i| {
            let random = random_bits(&mut rng, v6);
            if i % 2 == 1 {
                return to_addr(v6, if s.cluster { in_cluster(v6, random) } else { random });
            }
            let (p, _) = routes[rng.gen_range(0..routes.len())];
            let (base, width) = match p.addr() {
                IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
                IpAddr::V6(a) => (u128::from(a), 128),
            };
            let host = random & (u128::MAX >> (128 - width + u32::from(p.cidr())));
            to_addr(v6, base | host)
        })
        .collect()
}

/// Whether `group` should run: all by default, or those named in `ALLOWEDIPS_BENCH`
/// (comma-separated: lookup, shared, update), to skip the slow 1 M setups.
#[allow(clippy::disallowed_methods)] // a benchmark reads its selection from the environment
fn enabled(group: &str) -> bool {
    std::env::var("ALLOWEDIPS_BENCH").map_or(true, |v| v.split(',').any(|g| g == group))
}

/// Nanoseconds per lookup of one pass over `passes` x the query set.
#[allow(clippy::disallowed_methods)] // a benchmark reads the clock; core code never does
fn time_pass(passes: usize, queries: usize, mut pass: impl FnMut() -> u64) -> f64 {
    let start = std::time::Instant::now();
    let mut sum = 0u64;
    for _ in 0..passes {
        sum = sum.wrapping_add(pass());
    }
    black_box(sum);
    start.elapsed().as_nanos() as f64 / (passes * queries) as f64
}

/// Runs the contenders in alternation, round after round, and prints each one's best and
/// median ns per lookup and its ratio to the first, so machine noise hits all alike.
fn interleaved(label: &str, contenders: &mut [(&str, &mut dyn FnMut() -> u64)]) {
    const ROUNDS: usize = 31;
    let mut samples = vec![Vec::with_capacity(ROUNDS); contenders.len()];
    for _ in 0..ROUNDS {
        for (n, (_, pass)) in contenders.iter_mut().enumerate() {
            black_box(pass()); // warm this contender's cache lines first
            samples[n].push(time_pass(4, QUERIES, &mut **pass));
        }
    }
    let stats: Vec<(f64, f64)> = samples
        .iter_mut()
        .map(|s| {
            s.sort_by(f64::total_cmp);
            (s[0], s[ROUNDS / 2])
        })
        .collect();
    let mut line = format!("interleaved {label}:");
    for ((name, _), &(best, median)) in contenders.iter().zip(&stats) {
        line += &format!(" {name} {best:.1}/{median:.1} ns (x{:.2})", median / stats[0].1);
    }
    println!("{line}  [best/median, ratio of medians to first]");
}

fn octets4(a: &IpAddr) -> [u8; 4] {
    match a {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(_) => [0; 4],
    }
}

fn octets6(a: &IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(_) => [0; 16],
    }
}

/// One lookup implementation under test, generic so each is monomorphized (no dyn call).
fn bench_lookup<Q, F: FnMut(&Q) -> Option<u32>>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    queries: &[Q],
    mut lookup: F,
) {
    let mut i = 0usize;
    g.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) % QUERIES;
            black_box(lookup(black_box(&queries[i])))
        })
    });
}

/// A whole pass over the query set, summing the peers found (for the interleaved timer).
fn pass<'a, Q, F: FnMut(&Q) -> Option<u32> + 'a>(
    queries: &'a [Q],
    mut lookup: F,
) -> impl FnMut() -> u64 + 'a {
    move || queries.iter().map(|q| u64::from(lookup(black_box(q)).unwrap_or(0))).sum()
}

/// Like [`pass`], but each query's position depends on the previous answer, so lookups
/// cannot overlap: the latency of one lookup rather than the throughput of a batch.
fn chase<'a, Q, F: FnMut(&Q) -> Option<u32> + 'a>(
    queries: &'a [Q],
    mut lookup: F,
) -> impl FnMut() -> u64 + 'a {
    // A mask, not `%`: a division on the dependency chain would dominate small lookups.
    let mask = queries.len() - 1;
    assert!(queries.len().is_power_of_two());
    move || {
        let (mut i, mut sum) = (0usize, 0u64);
        for _ in 0..queries.len() {
            let found = lookup(&queries[i]).unwrap_or(0);
            sum += u64::from(found);
            i = (i + 1 + (found as usize & 1)) & mask;
        }
        sum
    }
}

fn lookups(c: &mut Criterion) {
    if !enabled("lookup") {
        return;
    }
    for s in &SCENARIOS {
        for v6 in [false, true] {
            let family = if v6 { "v6" } else { "v4" };
            let rs = routes(s, v6, 0xa110_7ed1 + u64::from(v6));
            let qs = queries(s, &rs, v6, 0x9e7 + u64::from(v6));
            let q4: Vec<[u8; 4]> = qs.iter().map(octets4).collect();
            let q6: Vec<[u8; 16]> = qs.iter().map(octets6).collect();

            // `plain` is the kernel's trie as inserted; `native` is what gets published
            // after compact(): depth-first layout plus the top-level index.
            let mut plain = Table::new();
            let mut network_table = IpNetworkTable::new();
            for &(p, peer) in &rs {
                plain.insert(p, peer).unwrap();
                network_table.insert(IpNetwork::new_truncate(p.addr(), p.cidr()).unwrap(), peer);
            }
            let mut native = plain.clone();
            native.compact();
            println!(
                "memory {family} {}: {} prefixes, {} nodes, {:.1} bytes/prefix indexed, \
                 {:.1} plain",
                s.name,
                native.len(),
                native.node_count(),
                native.memory_bytes() as f64 / native.len() as f64,
                plain.clone().memory_bytes() as f64 / native.len() as f64,
            );
            // Every implementation must agree before its speed means anything.
            for q in &qs {
                let want = network_table.longest_match(*q).map(|(_, p)| p);
                assert_eq!(native.lookup(*q), want);
                assert_eq!(plain.lookup(*q), want);
            }
            #[cfg(feature = "bench-big-endian-trie")]
            let (be_plain, be) = {
                let mut be = ferrowg_core::allowedips::big_endian::BigEndianTable::new();
                for &(p, peer) in &rs {
                    be.insert(p, peer).unwrap();
                }
                let plain = be.clone();
                be.compact();
                for q in &qs {
                    assert_eq!(be.lookup(*q), native.lookup(*q));
                    assert_eq!(plain.lookup(*q), native.lookup(*q));
                }
                (plain, be)
            };

            let label = format!("{family} {}", s.name);
            let mut g = c.benchmark_group(format!("allowedips_lookup/{family}/{}", s.name));
            // boringtun builds an IpAddr from the header and calls longest_match.
            let table_v4 =
                |q: &[u8; 4]| network_table.longest_match(IpAddr::from(*q)).map(|(_, p)| *p);
            let table_v6 =
                |q: &[u8; 16]| network_table.longest_match(IpAddr::from(*q)).map(|(_, p)| *p);
            if v6 {
                interleaved(
                    &label,
                    &mut [
                        ("native", &mut pass(&q6, |q| native.lookup_v6(q).copied())),
                        ("native_plain", &mut pass(&q6, |q| plain.lookup_v6(q).copied())),
                        #[cfg(feature = "bench-big-endian-trie")]
                        ("big_endian", &mut pass(&q6, |q| be.lookup_v6(q).copied())),
                        #[cfg(feature = "bench-big-endian-trie")]
                        ("big_endian_plain", &mut pass(&q6, |q| be_plain.lookup_v6(q).copied())),
                        ("ip_network_table", &mut pass(&q6, table_v6)),
                    ],
                );
                interleaved(
                    &format!("latency {label}"),
                    &mut [
                        ("native", &mut chase(&q6, |q| native.lookup_v6(q).copied())),
                        ("native_plain", &mut chase(&q6, |q| plain.lookup_v6(q).copied())),
                        ("ip_network_table", &mut chase(&q6, table_v6)),
                    ],
                );
                bench_lookup(&mut g, "native", &q6, |q| native.lookup_v6(q).copied());
                bench_lookup(&mut g, "native_plain", &q6, |q| plain.lookup_v6(q).copied());
                #[cfg(feature = "bench-big-endian-trie")]
                bench_lookup(&mut g, "big_endian_plain", &q6, |q| be_plain.lookup_v6(q).copied());
                bench_lookup(&mut g, "ip_network_table", &q6, table_v6);
            } else {
                interleaved(
                    &label,
                    &mut [
                        ("native", &mut pass(&q4, |q| native.lookup_v4(q).copied())),
                        ("native_plain", &mut pass(&q4, |q| plain.lookup_v4(q).copied())),
                        #[cfg(feature = "bench-big-endian-trie")]
                        ("big_endian", &mut pass(&q4, |q| be.lookup_v4(q).copied())),
                        #[cfg(feature = "bench-big-endian-trie")]
                        ("big_endian_plain", &mut pass(&q4, |q| be_plain.lookup_v4(q).copied())),
                        ("ip_network_table", &mut pass(&q4, table_v4)),
                    ],
                );
                interleaved(
                    &format!("latency {label}"),
                    &mut [
                        ("native", &mut chase(&q4, |q| native.lookup_v4(q).copied())),
                        ("native_plain", &mut chase(&q4, |q| plain.lookup_v4(q).copied())),
                        ("ip_network_table", &mut chase(&q4, table_v4)),
                    ],
                );
                bench_lookup(&mut g, "native", &q4, |q| native.lookup_v4(q).copied());
                bench_lookup(&mut g, "native_plain", &q4, |q| plain.lookup_v4(q).copied());
                #[cfg(feature = "bench-big-endian-trie")]
                bench_lookup(&mut g, "big_endian_plain", &q4, |q| be_plain.lookup_v4(q).copied());
                bench_lookup(&mut g, "ip_network_table", &q4, table_v4);
            }
            g.finish();
        }
    }
}

/// The cost of reaching the table from the data path while it is shared: a bare table
/// (the floor), an arc-swap snapshot load (the chosen design), a parking_lot read lock.
fn shared_access(c: &mut Criterion) {
    if !enabled("shared") {
        return;
    }
    let s = &SCENARIOS[2];
    let rs = routes(s, false, 0xa110_7ed1);
    let qs: Vec<[u8; 4]> = queries(s, &rs, false, 0x9e7).iter().map(octets4).collect();
    let shared = AllowedIps::new();
    shared.update(|w| rs.iter().for_each(|&(p, peer)| w.insert(p, peer).unwrap()));
    let bare = Table::clone(&shared.load());
    let locked = RwLock::new(bare.clone());
    interleaved(
        "shared v4 p100_n1k",
        &mut [
            ("bare_table", &mut pass(&qs, |q| bare.lookup_v4(q).copied())),
            ("arc_swap_load_per_lookup", &mut pass(&qs, |q| shared.lookup_v4(q))),
            ("arc_swap_load_per_pass", &mut || {
                let snap = shared.load();
                qs.iter()
                    .map(|q| u64::from(snap.lookup_v4(black_box(q)).copied().unwrap_or(0)))
                    .sum()
            }),
            ("parking_lot_rwlock", &mut pass(&qs, |q| locked.read().lookup_v4(q).copied())),
        ],
    );

    let mut g = c.benchmark_group("allowedips_shared/v4/p100_n1k");
    let mut i = 0usize;
    g.bench_function("bare_table", |b| {
        b.iter(|| {
            i = (i + 1) % QUERIES;
            black_box(bare.lookup_v4(black_box(&qs[i])).copied())
        })
    });
    g.bench_function("arc_swap_load", |b| {
        b.iter(|| {
            i = (i + 1) % QUERIES;
            black_box(shared.lookup_v4(black_box(&qs[i])))
        })
    });
    g.bench_function("parking_lot_rwlock", |b| {
        b.iter(|| {
            i = (i + 1) % QUERIES;
            black_box(locked.read().lookup_v4(black_box(&qs[i])).copied())
        })
    });
    g.finish();
}

/// One peer gets `n` new prefixes in one batch, then loses them in a second batch, on top
/// of the p100_n100k table. Linear in `n` means 10,000 costs about 10x 1,000. Every
/// variant leaves the top-level index current after each batch, as readers need it.
fn batch_updates(c: &mut Criterion) {
    if !enabled("update") {
        return;
    }
    let base = routes(&SCENARIOS[4], false, 0xa110_7ed1);
    let mut g = c.benchmark_group("allowedips_update/v4/p100_n100k");
    g.sample_size(20);
    let mut table = Table::new();
    base.iter().for_each(|&(p, id)| table.insert(p, id).unwrap());
    g.bench_function("reindex_only", |b| b.iter(|| table.reindex()));
    g.bench_function("clone_only", |b| b.iter(|| black_box(table.clone())));
    for n in [1u32, 1_000, 10_000] {
        let one = Scenario { name: "", peers: 1, prefixes: n, cluster: false };
        let extra = routes(&one, false, 0x00da_7a00);
        let peer = 1_000_000u32;

        let shared = AllowedIps::new();
        shared.update(|w| base.iter().for_each(|&(p, id)| w.insert(p, id).unwrap()));
        g.bench_function(BenchmarkId::new("arc_swap_batch_recycled", n), |b| {
            b.iter(|| {
                shared.update(|w| extra.iter().for_each(|&(p, _)| w.insert(p, peer).unwrap()));
                shared.update(|w| w.remove_peer(&peer));
            })
        });
        g.bench_function(BenchmarkId::new("arc_swap_batch_reader_holds_old", n), |b| {
            b.iter(|| {
                let _held = shared.snapshot();
                shared.update(|w| extra.iter().for_each(|&(p, _)| w.insert(p, peer).unwrap()));
                let _held = shared.snapshot();
                shared.update(|w| w.remove_peer(&peer));
            })
        });

        let locked = RwLock::new(Table::clone(&shared.load()));
        g.bench_function(BenchmarkId::new("rwlock_in_place", n), |b| {
            b.iter(|| {
                let mut t = locked.write();
                extra.iter().for_each(|&(p, _)| t.insert(p, peer).unwrap());
                t.reindex_if_stale();
                drop(t);
                let mut t = locked.write();
                t.remove_peer(&peer);
                t.reindex_if_stale();
            })
        });
    }
    g.finish();
}

/// Private so the undocumented `pub fn` criterion generates is not public API.
mod groups {
    use super::*;
    criterion_group!(benches, lookups, shared_access, batch_updates);
}
criterion_main!(groups::benches);
