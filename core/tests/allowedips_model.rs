//! The allowed-IPs trie against a deliberately naive linear-scan model (the kernel
//! selftest's `horrible_allowedips`), with fixed seeds; and the `allowedips` bench's
//! shared table (which the engine does not use) against a plain table.

#[allow(dead_code)] // the bench's code, of which the tests use part
#[path = "../benches/allowedips_shared/mod.rs"]
mod allowedips_shared;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use allowedips_shared::AllowedIps;
use ferrowg_core::allowedips::{Prefix, Table};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, RngSeed};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One route in the model: family, address bits (IPv4 in the low 32), length, peer, and
/// when it was last inserted (for `wg show` order).
#[derive(Clone, Copy)]
struct Route {
    v6: bool,
    bits: u128,
    cidr: u8,
    peer: u32,
    seq: u64,
}

/// The naive model: a flat list per family, every query scans all of it.
#[derive(Default)]
struct Horrible {
    routes: [Vec<Route>; 2],
    seq: u64,
}

fn width(v6: bool) -> u8 {
    if v6 {
        128
    } else {
        32
    }
}

/// `bits` with everything after the first `cidr` of `width` bits cleared, written
/// independently of the trie's own masking.
fn naive_mask(bits: u128, cidr: u8, width: u8) -> u128 {
    let mut out = 0u128;
    for i in 0..cidr {
        let at = width - 1 - i;
        out |= bits & (1u128 << at);
    }
    out
}

impl Horrible {
    fn insert(&mut self, v6: bool, bits: u128, cidr: u8, peer: u32) {
        let bits = naive_mask(bits, cidr, width(v6));
        self.seq += 1;
        let seq = self.seq;
        let family = &mut self.routes[usize::from(v6)];
        match family.iter_mut().find(|r| r.bits == bits && r.cidr == cidr) {
            Some(r) => {
                r.peer = peer;
                r.seq = seq;
            }
            None => family.push(Route { v6, bits, cidr, peer, seq }),
        }
    }

    fn remove(&mut self, v6: bool, bits: u128, cidr: u8, peer: u32) -> bool {
        let bits = naive_mask(bits, cidr, width(v6));
        let family = &mut self.routes[usize::from(v6)];
        let before = family.len();
        family.retain(|r| !(r.bits == bits && r.cidr == cidr && r.peer == peer));
        before != family.len()
    }

    fn remove_peer(&mut self, peer: u32) -> usize {
        let before = self.len();
        for family in &mut self.routes {
            family.retain(|r| r.peer != peer);
        }
        before - self.len()
    }

    fn len(&self) -> usize {
        self.routes[0].len() + self.routes[1].len()
    }

    fn lookup(&self, v6: bool, addr: u128) -> Option<u32> {
        let w = width(v6);
        let mut best: Option<&Route> = None;
        for r in &self.routes[usize::from(v6)] {
            let shift = u32::from(w - r.cidr);
            let hit = r.cidr == 0 || (addr >> shift) == (r.bits >> shift);
            if hit && best.is_none_or(|b| r.cidr > b.cidr) {
                best = Some(r);
            }
        }
        best.map(|r| r.peer)
    }

    fn prefixes(&self, peer: u32) -> Vec<Prefix> {
        let mut mine: Vec<&Route> =
            self.routes.iter().flatten().filter(|r| r.peer == peer).collect();
        mine.sort_by_key(|r| r.seq);
        mine.iter().map(|r| prefix(r.v6, r.bits, r.cidr)).collect()
    }
}

fn addr(v6: bool, bits: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(bits))
    } else {
        IpAddr::V4(Ipv4Addr::from(bits as u32))
    }
}

fn prefix(v6: bool, bits: u128, cidr: u8) -> Prefix {
    Prefix::new(addr(v6, bits), cidr).unwrap()
}

fn random_bits(rng: &mut ChaCha8Rng, v6: bool) -> u128 {
    if v6 {
        rng.gen()
    } else {
        u128::from(rng.gen::<u32>())
    }
}

/// Looks `bits` up in both and panics with context on disagreement.
fn compare(t: &Table<u32>, h: &Horrible, v6: bool, bits: u128, round: usize) {
    let got = if v6 {
        t.lookup_v6(&bits.to_be_bytes())
    } else {
        t.lookup_v4(&(bits as u32).to_be_bytes())
    };
    let want = h.lookup(v6, bits);
    assert_eq!(got.copied(), want, "round {round}: lookup {}", addr(v6, bits));
}

const NUM_PEERS: u32 = 2000;
const NUM_RAND_ROUTES: usize = 150;
const NUM_MUTATED_ROUTES: usize = 10;
const QUERIES_PER_ROUND: usize = 250;

#[test]
fn random_routes_match_naive_model_until_empty() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_a110_7ed1_9500);
    let mut t = Table::new();
    let mut h = Horrible::default();
    let mut single_removals = 0;

    for v6 in [false, true] {
        let w = width(v6);
        for _ in 0..NUM_RAND_ROUTES {
            let base = random_bits(&mut rng, v6);
            let cidr = rng.gen_range(1..=w);
            let peer = rng.gen_range(0..NUM_PEERS);
            t.insert(prefix(v6, base, cidr), peer).unwrap();
            h.insert(v6, base, cidr, peer);
            for _ in 0..NUM_MUTATED_ROUTES {
                // Keep a random-length head of the base route, randomize the rest.
                let keep = rng.gen_range(0..=w);
                let bits = naive_mask(base, keep, w)
                    | (random_bits(&mut rng, v6) & !naive_mask(u128::MAX, keep, w));
                let bits = if v6 { bits } else { bits & u128::from(u32::MAX) };
                let cidr = rng.gen_range(1..=w);
                let peer = rng.gen_range(0..NUM_PEERS);
                t.insert(prefix(v6, bits, cidr), peer).unwrap();
                h.insert(v6, bits, cidr, peer);
                if rng.gen_ratio(1, 8) {
                    let family = &h.routes[usize::from(v6)];
                    let victim = family[rng.gen_range(0..family.len())];
                    let p = prefix(victim.v6, victim.bits, victim.cidr);
                    assert!(t.remove(p, &victim.peer));
                    assert!(h.remove(victim.v6, victim.bits, victim.cidr, victim.peer));
                    assert!(!t.remove(p, &victim.peer), "removed twice");
                    single_removals += 1;
                }
            }
        }
    }
    t.check_invariants().unwrap();
    assert_eq!(t.len(), h.len());
    assert!(single_removals > 100, "removal path exercised {single_removals} times");
    println!(
        "model: {} routes, {} trie nodes, {} peers with routes",
        t.len(),
        t.node_count(),
        t.peer_count()
    );

    let mut lookups = 0usize;
    for round in 0..=NUM_PEERS as usize {
        // Alternate the three lookup paths: from the root, through the index, compacted.
        match round % 3 {
            0 => {}
            1 => t.reindex(),
            _ => t.compact(),
        }
        for i in 0..QUERIES_PER_ROUND {
            for v6 in [false, true] {
                // Half random, half near a stored route so deep prefixes get hit too.
                let bits = match h.routes[usize::from(v6)].get(i) {
                    Some(r) if i % 2 == 0 => {
                        let tail = !naive_mask(u128::MAX, r.cidr, width(v6));
                        let bits = r.bits | (random_bits(&mut rng, v6) & tail);
                        if v6 {
                            bits
                        } else {
                            bits & u128::from(u32::MAX)
                        }
                    }
                    _ => random_bits(&mut rng, v6),
                };
                compare(&t, &h, v6, bits, round);
                lookups += 1;
            }
        }
        let Ok(peer) = u32::try_from(round) else { break };
        if peer == NUM_PEERS {
            break;
        }
        assert_eq!(t.prefixes(&peer).collect::<Vec<_>>(), h.prefixes(peer), "peer {peer}");
        assert_eq!(t.remove_peer(&peer), h.remove_peer(peer), "peer {peer}");
        assert_eq!(t.prefixes(&peer).count(), 0);
        if round % 100 == 1 {
            t.check_invariants().unwrap();
            assert_eq!(t.len(), h.len());
        }
    }
    assert!(lookups >= 1_000_000, "{lookups} lookups");
    assert!(t.is_empty());
    assert_eq!((t.node_count(), t.peer_count()), (0, 0));
    assert_eq!(t.to_dot().lines().count(), 3, "empty dump is just the frame");
}

#[derive(Clone, Debug)]
enum Op {
    Insert { v6: bool, bits: u128, cidr: u8, peer: u32 },
    Remove { v6: bool, bits: u128, cidr: u8, peer: u32 },
    RemovePeer(u32),
    Lookup { v6: bool, bits: u128 },
    Reindex,
    Compact,
}

/// Addresses from a small space (8 significant bits at the top) so operations collide.
fn op() -> impl Strategy<Value = Op> {
    let route =
        (any::<bool>(), any::<u8>(), 0u8..=10, 0u32..6).prop_map(|(v6, top, cidr, peer)| {
            let bits = if v6 { u128::from(top) << 120 } else { u128::from(top) << 24 };
            (v6, bits, cidr, peer)
        });
    prop_oneof![
        4 => route.clone().prop_map(|(v6, bits, cidr, peer)| Op::Insert { v6, bits, cidr, peer }),
        2 => route.prop_map(|(v6, bits, cidr, peer)| Op::Remove { v6, bits, cidr, peer }),
        1 => (0u32..6).prop_map(Op::RemovePeer),
        1 => Just(Op::Reindex),
        1 => Just(Op::Compact),
        4 => (any::<bool>(), any::<u8>()).prop_map(|(v6, top)| {
            let bits = if v6 { u128::from(top) << 120 } else { u128::from(top) << 24 };
            Op::Lookup { v6, bits }
        }),
    ]
}

fn fixed_seed() -> Config {
    Config {
        cases: 256,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(0xa110_7ed1),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(fixed_seed())]

    /// Every operation agrees with the model, and the trie stays well formed.
    #[test]
    fn ops_match_model(ops in proptest::collection::vec(op(), 1..120)) {
        let mut t = Table::new();
        let mut h = Horrible::default();
        for op in ops {
            match op {
                Op::Insert { v6, bits, cidr, peer } => {
                    t.insert(prefix(v6, bits, cidr), peer).unwrap();
                    h.insert(v6, bits, cidr, peer);
                }
                Op::Remove { v6, bits, cidr, peer } => {
                    let removed = t.remove(prefix(v6, bits, cidr), &peer);
                    prop_assert_eq!(removed, h.remove(v6, bits, cidr, peer));
                }
                Op::RemovePeer(peer) => prop_assert_eq!(t.remove_peer(&peer), h.remove_peer(peer)),
                Op::Lookup { v6, bits } => {
                    prop_assert_eq!(t.lookup(addr(v6, bits)).copied(), h.lookup(v6, bits));
                }
                Op::Reindex => t.reindex(),
                Op::Compact => t.compact(),
            }
            prop_assert!(t.check_invariants().is_ok(), "{:?}", t.check_invariants());
        }
        for peer in 0..6 {
            prop_assert_eq!(t.prefixes(&peer).collect::<Vec<_>>(), h.prefixes(peer));
        }
        prop_assert!(t.node_count() <= 2 * t.len());
    }

    /// The shared table, updated in batches (recycling or cloning), ends where a plain
    /// table given the same operations ends.
    #[test]
    fn batched_updates_match_plain_table(
        batches in proptest::collection::vec(proptest::collection::vec(op(), 0..12), 1..25),
        hold in proptest::collection::vec(any::<bool>(), 25),
    ) {
        let shared = AllowedIps::new();
        let mut plain = Table::new();
        let mut held = Vec::new();
        for (n, batch) in batches.into_iter().enumerate() {
            if hold.get(n).copied().unwrap_or(false) {
                held.push(shared.snapshot()); // forces the clone path next time
            } else {
                held.clear();
            }
            shared.update(|w| {
                for op in &batch {
                    match *op {
                        Op::Insert { v6, bits, cidr, peer } => {
                            w.insert(prefix(v6, bits, cidr), peer).unwrap();
                        }
                        Op::Remove { v6, bits, cidr, peer } => {
                            w.remove(prefix(v6, bits, cidr), &peer);
                        }
                        Op::RemovePeer(peer) => {
                            w.remove_peer(&peer);
                        }
                        Op::Compact => w.compact(),
                        Op::Lookup { .. } | Op::Reindex => {}
                    }
                }
            });
            for op in &batch {
                match *op {
                    Op::Insert { v6, bits, cidr, peer } => {
                        plain.insert(prefix(v6, bits, cidr), peer).unwrap();
                    }
                    Op::Remove { v6, bits, cidr, peer } => {
                        plain.remove(prefix(v6, bits, cidr), &peer);
                    }
                    Op::RemovePeer(peer) => {
                        plain.remove_peer(&peer);
                    }
                    Op::Compact => plain.compact(),
                    Op::Lookup { .. } | Op::Reindex => {}
                }
            }
            let now = shared.load();
            prop_assert!(now.check_invariants().is_ok());
            for top in 0..=255u8 {
                for v6 in [false, true] {
                    let bits = if v6 { u128::from(top) << 120 } else { u128::from(top) << 24 };
                    prop_assert_eq!(now.lookup(addr(v6, bits)), plain.lookup(addr(v6, bits)));
                }
            }
            for peer in 0..6 {
                let published: Vec<_> = now.prefixes(&peer).collect();
                prop_assert_eq!(published, plain.prefixes(&peer).collect::<Vec<_>>());
            }
        }
    }
}

/// Readers on other threads never see half a batch: each batch moves all of a block of
/// prefixes from one peer to another, and every snapshot must show one owner for all.
#[test]
fn readers_see_whole_batches() {
    const BLOCK: u8 = 64;
    const UPDATES: u32 = 200;
    const READS_PER_THREAD: usize = 20_000;
    let shared = Arc::new(AllowedIps::<u32>::new());
    let host = |i: u8| Prefix::host(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)));
    shared.update(|w| {
        for i in 0..BLOCK {
            w.insert(host(i), 0).unwrap();
        }
    });
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (shared, done) = (shared.clone(), done.clone());
            std::thread::spawn(move || {
                let mut owners_seen = std::collections::BTreeSet::new();
                for _ in 0..READS_PER_THREAD {
                    let snap = shared.load();
                    let owner = snap.lookup_v4(&[10, 0, 0, 0]).copied();
                    for i in 1..BLOCK {
                        assert_eq!(snap.lookup_v4(&[10, 0, 0, i]).copied(), owner, "torn batch");
                    }
                    owners_seen.insert(owner);
                    if done.load(Ordering::Relaxed) {
                        break;
                    }
                }
                owners_seen.len()
            })
        })
        .collect();
    for generation in 1..=UPDATES {
        shared.update(|w| {
            for i in 0..BLOCK {
                w.insert(host(i), generation).unwrap();
            }
        });
    }
    done.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() >= 1);
    }
    let last = shared.load();
    assert_eq!(last.prefixes(&UPDATES).count(), usize::from(BLOCK));
    assert_eq!(last.peer_count(), 1);
}

/// Prints memory per stored prefix (run with `--nocapture`) and checks the node bound.
#[test]
fn memory_per_prefix() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for v6 in [false, true] {
        let mut t = Table::new();
        for i in 0..100_000u32 {
            let cidr = if v6 { rng.gen_range(16..=128) } else { rng.gen_range(8..=32) };
            t.insert(prefix(v6, random_bits(&mut rng, v6), cidr), i % 1000).unwrap();
        }
        assert!(t.node_count() <= 2 * t.len());
        // A published snapshot is a clone, whose arrays are exactly as long as needed.
        let published = t.clone();
        println!(
            "{}: {} prefixes, {} nodes, {:.1} bytes/prefix as built, {:.1} as published",
            if v6 { "IPv6" } else { "IPv4" },
            t.len(),
            t.node_count(),
            t.memory_bytes() as f64 / t.len() as f64,
            published.memory_bytes() as f64 / t.len() as f64
        );
    }
}

/// The bench-only big-endian variant answers exactly like the native trie.
#[cfg(feature = "bench-big-endian-trie")]
#[test]
fn big_endian_variant_agrees() {
    use ferrowg_core::allowedips::big_endian::BigEndianTable;
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut native = Table::new();
    let mut be = BigEndianTable::new();
    for i in 0..5000u32 {
        let v6 = i % 2 == 1;
        let p = prefix(v6, random_bits(&mut rng, v6), rng.gen_range(0..=width(v6)));
        native.insert(p, i % 97).unwrap();
        be.insert(p, i % 97).unwrap();
    }
    for round in 0..3 {
        for _ in 0..20_000 {
            let v6 = rng.gen();
            let a = addr(v6, random_bits(&mut rng, v6));
            assert_eq!(native.lookup(a), be.lookup(a), "round {round}: {a}");
        }
        native.reindex();
        be.reindex();
        if round == 1 {
            native.compact();
            be.compact();
        }
    }
    for peer in 0..97 {
        assert!(native.prefixes(&peer).eq(be.prefixes(&peer)));
    }
    assert!(native.to_dot().lines().count() == be.to_dot().lines().count());
}

#[test]
fn shared_table_publishes_batches_atomically() {
    let shared = AllowedIps::<u32>::new();
    let pfx = |s: &str| s.parse::<Prefix>().unwrap();
    shared.update(|w| {
        w.insert(pfx("10.0.0.0/8"), 1).unwrap();
        w.insert(pfx("10.1.0.0/16"), 2).unwrap();
    });
    let before = shared.snapshot();
    shared.update(|w| {
        assert_eq!(w.table().lookup(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1))), Some(&2));
        w.remove_peer(&2);
        w.insert(pfx("fd19::/64"), 3).unwrap();
    });
    // The held snapshot is unchanged; the new one has the whole batch.
    assert_eq!(before.lookup(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1))), Some(&2));
    assert_eq!(shared.lookup(IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1))), Some(1));
    assert_eq!(shared.lookup_v6(&Ipv6Addr::new(0xfd19, 0, 0, 0, 0, 0, 0, 1).octets()), Some(3));
    drop(before);
    // This update recycles the old copy by replay; it must match the published state.
    shared.update(|w| w.insert(pfx("10.2.0.0/16"), 4).unwrap());
    let now = shared.load();
    assert_eq!(now.lookup_v4(&[10, 1, 0, 1]), Some(&1));
    assert_eq!(now.lookup_v4(&[10, 2, 0, 1]), Some(&4));
    assert_eq!((now.len(), now.peer_count()), (3, 3));
    now.check_invariants().unwrap();
}
