//! Criterion benchmark: allowed-IPs lookup, native-endian trie vs the same trie with
//! big-endian keys (feature `bench-big-endian-trie`) vs `ip_network_table` as boringtun
//! uses it, plus shared-access overhead (arc-swap vs RwLock) and batch update cost.
//!
//! Run: `cargo bench -p ferrowg-core --features bench-big-endian-trie --bench allowedips
//!       -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ferrowg_core::allowedips::{AllowedIps, Prefix, Table};
use ip_network::IpNetwork;
use ip_network_table::IpNetworkTable;
use parking_lot::RwLock;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Addresses looked up per scenario, cycled through by the measured loop.
const QUERIES: usize = 4096;

/// A scenario: `peers` peers with `per_peer` random prefixes each.
struct Scenario {
    name: &'static str,
    peers: u32,
    per_peer: u32,
}

const SCENARIOS: [Scenario; 3] = [
    Scenario { name: "10x10", peers: 10, per_peer: 10 },
    Scenario { name: "100x1000", peers: 100, per_peer: 1000 },
    Scenario { name: "1000x1000", peers: 1000, per_peer: 1000 },
];

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
    (0..s.peers * s.per_peer)
        .map(|i| {
            let addr = to_addr(v6, random_bits(&mut rng, v6));
            (Prefix::new(addr, rng.gen_range(1..=width)).unwrap(), i % s.peers)
        })
        .collect()
}

/// Half the queries fall inside a stored prefix (random host bits), half are random.
fn queries(routes: &[(Prefix, u32)], v6: bool, seed: u64) -> Vec<IpAddr> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..QUERIES)
        .map(|i| {
            let random = random_bits(&mut rng, v6);
            if i % 2 == 1 {
                return to_addr(v6, random);
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
        line += &format!(
            " {name} {best:.1}/{median:.1} ns (x{:.2})",
            median / stats[0].1
        );
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

fn lookups(c: &mut Criterion) {
    for s in &SCENARIOS {
        for v6 in [false, true] {
            let family = if v6 { "v6" } else { "v4" };
            let rs = routes(s, v6, 0xa110_7ed1 + u64::from(v6));
            let qs = queries(&rs, v6, 0x9e7 + u64::from(v6));
            let q4: Vec<[u8; 4]> = qs.iter().map(octets4).collect();
            let q6: Vec<[u8; 16]> = qs.iter().map(octets6).collect();

            let mut native = Table::new();
            let mut network_table = IpNetworkTable::new();
            for &(p, peer) in &rs {
                native.insert(p, peer).unwrap();
                network_table.insert(IpNetwork::new_truncate(p.addr(), p.cidr()).unwrap(), peer);
            }
            // A published snapshot is a clone: arrays exactly as long as needed.
            let native = native.clone();
            println!(
                "memory {family} {}: {} prefixes, {} nodes, {:.1} bytes/prefix",
                s.name,
                native.len(),
                native.node_count(),
                native.memory_bytes() as f64 / native.len() as f64
            );
            // Every implementation must agree before its speed means anything.
            for q in &qs {
                assert_eq!(native.lookup(*q), network_table.longest_match(*q).map(|(_, p)| p));
            }

            #[cfg(feature = "bench-big-endian-trie")]
            let be = {
                let mut be = ferrowg_core::allowedips::big_endian::BigEndianTable::new();
                for &(p, peer) in &rs {
                    be.insert(p, peer).unwrap();
                }
                let be = be.clone();
                for q in &qs {
                    assert_eq!(be.lookup(*q), native.lookup(*q));
                }
                be
            };

            let sum = |found: Option<&u32>| u64::from(found.copied().unwrap_or(0));
            let mut native_pass = || -> u64 {
                if v6 {
                    q6.iter().map(|q| sum(native.lookup_v6(black_box(q)))).sum()
                } else {
                    q4.iter().map(|q| sum(native.lookup_v4(black_box(q)))).sum()
                }
            };
            #[cfg(feature = "bench-big-endian-trie")]
            let mut be_pass = || -> u64 {
                if v6 {
                    q6.iter().map(|q| sum(be.lookup_v6(black_box(q)))).sum()
                } else {
                    q4.iter().map(|q| sum(be.lookup_v4(black_box(q)))).sum()
                }
            };
            let mut table_pass = || -> u64 {
                if v6 {
                    let m = |q: &[u8; 16]| network_table.longest_match(IpAddr::from(*q));
                    q6.iter().map(|q| sum(m(black_box(q)).map(|(_, p)| p))).sum()
                } else {
                    let m = |q: &[u8; 4]| network_table.longest_match(IpAddr::from(*q));
                    q4.iter().map(|q| sum(m(black_box(q)).map(|(_, p)| p))).sum()
                }
            };
            interleaved(
                &format!("{family} {}", s.name),
                &mut [
                    ("native", &mut native_pass),
                    #[cfg(feature = "bench-big-endian-trie")]
                    ("big_endian", &mut be_pass),
                    ("ip_network_table", &mut table_pass),
                ],
            );

            let mut g = c.benchmark_group(format!("allowedips_lookup/{family}/{}", s.name));
            let mut i = 0usize;
            if v6 {
                g.bench_function("native", |b| {
                    b.iter(|| {
                        i = (i + 1) % QUERIES;
                        black_box(native.lookup_v6(black_box(&q6[i])))
                    })
                });
            } else {
                g.bench_function("native", |b| {
                    b.iter(|| {
                        i = (i + 1) % QUERIES;
                        black_box(native.lookup_v4(black_box(&q4[i])))
                    })
                });
            }
            #[cfg(feature = "bench-big-endian-trie")]
            {
                if v6 {
                    g.bench_function("big_endian", |b| {
                        b.iter(|| {
                            i = (i + 1) % QUERIES;
                            black_box(be.lookup_v6(black_box(&q6[i])))
                        })
                    });
                } else {
                    g.bench_function("big_endian", |b| {
                        b.iter(|| {
                            i = (i + 1) % QUERIES;
                            black_box(be.lookup_v4(black_box(&q4[i])))
                        })
                    });
                }
            }
            // boringtun builds an IpAddr from the header and calls longest_match.
            if v6 {
                g.bench_function("ip_network_table", |b| {
                    b.iter(|| {
                        i = (i + 1) % QUERIES;
                        let addr = IpAddr::from(*black_box(&q6[i]));
                        black_box(network_table.longest_match(addr).map(|(_, p)| p))
                    })
                });
            } else {
                g.bench_function("ip_network_table", |b| {
                    b.iter(|| {
                        i = (i + 1) % QUERIES;
                        let addr = IpAddr::from(*black_box(&q4[i]));
                        black_box(network_table.longest_match(addr).map(|(_, p)| p))
                    })
                });
            }
            g.finish();
        }
    }
}

/// The cost of reaching the table from the data path while it is shared: a bare table
/// (the floor), an arc-swap snapshot load (the chosen design), a parking_lot read lock.
fn shared_access(c: &mut Criterion) {
    let s = &SCENARIOS[1];
    let rs = routes(s, false, 0xa110_7ed1);
    let qs: Vec<[u8; 4]> = queries(&rs, false, 0x9e7).iter().map(octets4).collect();
    let mut bare = Table::new();
    let shared = AllowedIps::new();
    shared.update(|w| {
        for &(p, peer) in &rs {
            bare.insert(p, peer).unwrap();
            w.insert(p, peer).unwrap();
        }
    });
    let locked = RwLock::new(bare.clone());

    let mut g = c.benchmark_group("allowedips_shared/v4/100x1000");
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
/// of the 100x1000 table. Linear in `n` means 10,000 costs about 10x 1,000.
fn batch_updates(c: &mut Criterion) {
    let base = routes(&SCENARIOS[1], false, 0xa110_7ed1);
    let mut g = c.benchmark_group("allowedips_update/v4/100x1000");
    g.sample_size(20);
    for n in [1_000u32, 10_000] {
        let extra = routes(&Scenario { name: "", peers: 1, per_peer: n }, false, 0x00da_7a00);
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

        let mut plain = Table::new();
        base.iter().for_each(|&(p, id)| plain.insert(p, id).unwrap());
        let locked = RwLock::new(plain);
        g.bench_function(BenchmarkId::new("rwlock_in_place", n), |b| {
            b.iter(|| {
                let mut t = locked.write();
                extra.iter().for_each(|&(p, _)| t.insert(p, peer).unwrap());
                drop(t);
                locked.write().remove_peer(&peer);
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
