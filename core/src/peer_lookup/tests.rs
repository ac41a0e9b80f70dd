use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::raw::MIN_SLOTS;
use super::*;

fn pk(n: u64) -> PublicKey {
    let mut k = [0x5a; 32];
    k[..8].copy_from_slice(&n.to_le_bytes());
    PublicKey(k)
}

/// Checks the sizing rules on every shard: at most 3/4 full, at least 1/4 full (or at the
/// minimum size), nothing allocated when empty.
fn assert_shape<K: TableKey, V>(t: &Table<K, V>) {
    for s in t.shards.iter() {
        let s = s.0.read();
        let (n, slots) = (s.len(), s.slot_count());
        assert_eq!(s.iter().count(), n);
        if n == 0 {
            assert_eq!(slots, 0, "empty shard keeps {slots} slots");
            continue;
        }
        assert!(slots.is_power_of_two());
        assert!(4 * n <= 3 * slots, "over 3/4 full: {n} entries, {slots} slots");
        assert!(slots == MIN_SLOTS || 4 * n >= slots, "not shrunk: {n} entries, {slots} slots");
    }
}

#[test]
fn pubkey_table_matches_hashmap_model() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x7ab1e);
    let table = PubkeyTable::new(&mut rng);
    let mut model: HashMap<PublicKey, u64> = HashMap::new();
    for step in 0..200_000u64 {
        // A key space a bit larger than the peak size, so inserts replace and removes miss.
        let k = pk(rng.gen_range(0..3000));
        match rng.gen_range(0..10) {
            0..=3 => assert_eq!(table.insert(k, step), model.insert(k, step)),
            4..=6 => assert_eq!(table.remove(&k), model.remove(&k)),
            _ => assert_eq!(table.get(&k), model.get(&k).copied()),
        }
        if step % 10_000 == 0 {
            assert_eq!(table.len(), model.len());
            assert_shape(&table.table);
        }
    }
    let mut seen = HashMap::new();
    table.for_each(|k, v| assert!(seen.insert(*k, *v).is_none()));
    assert_eq!(seen, model);
    for k in model.keys() {
        assert!(table.remove(k).is_some());
    }
    assert!(table.is_empty());
    assert_eq!(table.stats().slots, 0);
}

#[test]
fn tiny_single_shard_matches_hashmap_model() {
    // A few keys in one shard: every step is near a grow/shrink threshold and probe
    // sequences wrap around the end of the 8- and 16-slot arrays.
    for seed in 0..8 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let table = PubkeyTable::with_key(HashKey::random(&mut rng), 1);
        let mut model: HashMap<PublicKey, u64> = HashMap::new();
        for step in 0..3_000u64 {
            let k = pk(rng.gen_range(0..14));
            if rng.gen_bool(0.5) {
                assert_eq!(table.insert(k, step), model.insert(k, step));
            } else {
                assert_eq!(table.remove(&k), model.remove(&k));
            }
            for n in 0..14 {
                assert_eq!(
                    table.get(&pk(n)),
                    model.get(&pk(n)).copied(),
                    "seed {seed} step {step}"
                );
            }
            assert_shape(&table.table);
        }
    }
}

#[test]
fn index_table_matches_hashmap_model() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x1d3);
    let table = IndexTable::new(&mut rng);
    let mut model: HashMap<u32, u64> = HashMap::new();
    let mut live: Vec<u32> = Vec::new();
    for step in 0..100_000u64 {
        match rng.gen_range(0..10) {
            0..=3 => {
                let i = table.insert_new(&mut rng, step).unwrap();
                assert!(model.insert(i, step).is_none(), "index {i} handed out twice");
                live.push(i);
            }
            4..=5 if !live.is_empty() => {
                let i = live.swap_remove(rng.gen_range(0..live.len()));
                assert_eq!(table.remove(i), model.remove(&i));
                assert_eq!(table.remove(i), None);
            }
            6 if !live.is_empty() => {
                let i = live[rng.gen_range(0..live.len())];
                assert_eq!(table.replace(i, step), Ok(model.insert(i, step).unwrap()));
            }
            _ => {
                // Mostly indices nobody holds, as a forged transport packet would carry.
                let i = if rng.gen_bool(0.5) && !live.is_empty() {
                    live[rng.gen_range(0..live.len())]
                } else {
                    rng.gen()
                };
                assert_eq!(table.get(i), model.get(&i).copied());
            }
        }
        if step % 10_000 == 0 {
            assert_eq!(table.len(), model.len());
            assert_shape(&table.table);
        }
    }
}

#[test]
fn retain_drops_exactly_the_rejected_entries() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let table = PubkeyTable::new(&mut rng);
    for n in 0..5000 {
        table.insert(pk(n), n);
    }
    table.retain(|_, v| *v % 3 == 0);
    assert_eq!(table.len(), (0..5000).filter(|n| n % 3 == 0).count());
    for n in 0..5000 {
        assert_eq!(table.get(&pk(n)), (n % 3 == 0).then_some(n));
    }
    assert_shape(&table.table);
}

/// An RNG that replays a script of `u32`s (for forcing index collisions).
struct Script(Vec<u32>);

impl RngCore for Script {
    fn next_u32(&mut self) -> u32 {
        if self.0.len() > 1 {
            self.0.remove(0)
        } else {
            self.0.first().copied().unwrap_or(0)
        }
    }
    fn next_u64(&mut self) -> u64 {
        u64::from(self.next_u32())
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(0)
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        dest.fill(0);
        Ok(())
    }
}
impl CryptoRng for Script {}

#[test]
fn insert_new_retries_on_collision_and_gives_up_when_exhausted() {
    let table = IndexTable::with_key(HashKey::from_bytes([1; 16]), 4);
    assert_eq!(table.insert_new(&mut Script(vec![7]), "a"), Ok(7));
    assert_eq!(
        table.insert_new_with(&mut Script(vec![7, 7, 9]), |i| if i == 9 { "b" } else { "?" }),
        Ok(9)
    );
    assert_eq!(table.get(7), Some("a"));
    assert_eq!(table.get(9), Some("b"));
    assert_eq!(table.insert_new(&mut Script(vec![9]), "c"), Err(TableError::NoFreeIndex));
    assert_eq!(table.len(), 2);
    assert_eq!(table.replace(5, "d"), Err("d"));
    assert_eq!(table.replace(9, "e"), Ok("b"));
}

/// Keys whose hash under `key` has all of `bits` low bits zero, found by brute force.
fn colliding_keys(key: &HashKey, bits: u32, count: usize) -> Vec<PublicKey> {
    let mask = (1u64 << bits) - 1;
    let mut out = Vec::with_capacity(count);
    let mut rng = ChaCha8Rng::seed_from_u64(0xbad);
    let mut base = [0u8; 32];
    rng.fill(&mut base);
    let mut n = 0u64;
    // Expected tries: count << bits; the bound is 4x that.
    while out.len() < count && n < (count as u64) << (bits + 2) {
        base[..8].copy_from_slice(&n.to_le_bytes());
        if key.hash(&base) & mask == 0 {
            out.push(PublicKey(base));
        }
        n += 1;
    }
    assert_eq!(out.len(), count, "brute force ran out of tries");
    out
}

#[test]
fn secret_key_defeats_hashtable_poisoning() {
    // One shard, so 1024 entries sit in 2048 slots: an 11-bit mask. With more shards the
    // attacker needs the shard bits too, which only costs them a constant factor.
    const N: usize = 1024;
    let known = HashKey::from_bytes(*b"everyone-knows!!");
    let keys = colliding_keys(&known, 11, N);

    let poisoned = PubkeyTable::with_key(known.clone(), 1);
    let mut rng = ChaCha8Rng::seed_from_u64(0x5ec);
    let defended = PubkeyTable::with_key(HashKey::random(&mut rng), 1);
    for (i, k) in keys.iter().enumerate() {
        poisoned.insert(*k, i);
        defended.insert(*k, i);
    }
    let (p, d) = (poisoned.stats(), defended.stats());
    println!("known key:  {N} entries, {} slots, longest probe {}", p.slots, p.max_probe);
    println!("secret key: {N} entries, {} slots, longest probe {}", d.slots, d.max_probe);
    assert_eq!(p.slots, 2048);
    assert!(p.max_probe >= 1000, "known-key table did not degrade: {}", p.max_probe);
    assert!(d.max_probe <= 16, "secret-key table has a probe of {}", d.max_probe);
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(poisoned.get(k), Some(i));
        assert_eq!(defended.get(k), Some(i));
    }
    // A miss is short too, since Robin Hood stops once it passes where the key would be.
    let absent = pk(u64::MAX);
    assert_eq!(defended.get(&absent), None);
}

#[test]
fn memory_shrinks_after_mass_removal() {
    const N: u32 = 100_000;
    let mut rng = ChaCha8Rng::seed_from_u64(0x5412);
    let table = IndexTable::new(&mut rng);
    let empty = table.stats().heap_bytes;
    let mut idx = Vec::with_capacity(N as usize);
    for v in 0..N {
        idx.push(table.insert_new(&mut rng, [v; 4]).unwrap());
    }
    let full = table.stats();
    for &i in &idx[..(N as usize - 100)] {
        assert!(table.remove(i).is_some());
    }
    let few = table.stats();
    for &i in &idx[(N as usize - 100)..] {
        assert!(table.remove(i).is_some());
    }
    let none = table.stats();
    println!(
        "empty {empty} B; {} entries: {} B, {} slots",
        full.entries, full.heap_bytes, full.slots
    );
    println!("after removing all but 100: {} B, {} slots", few.heap_bytes, few.slots);
    println!("after removing all: {} B", none.heap_bytes);
    assert!(full.heap_bytes >= N as usize * std::mem::size_of::<(u32, [u32; 4])>());
    assert!(few.heap_bytes * 100 < full.heap_bytes, "100 entries still hold {} B", few.heap_bytes);
    assert_eq!(none.heap_bytes, empty);
    assert_shape(&table.table);
}

#[test]
fn lookups_run_while_the_control_path_writes() {
    let mut rng = ChaCha8Rng::seed_from_u64(0xc0c);
    let table = Arc::new(PubkeyTable::new(&mut rng));
    for n in 0..1000 {
        table.insert(pk(n), n);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (table, stop) = (table.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut rounds = 0u32;
                // The stable keys 0..1000 must always be found, whatever the writer does.
                while !stop.load(Ordering::Relaxed) && rounds < 2000 {
                    for n in (r..1000).step_by(7) {
                        assert_eq!(table.get(&pk(n)), Some(n));
                    }
                    rounds += 1;
                }
            })
        })
        .collect();
    // Churn forces repeated grow/shrink of every shard.
    for round in 0..20u64 {
        for n in 0..5000 {
            table.insert(pk(10_000 + n), round);
        }
        for n in 0..5000 {
            assert_eq!(table.remove(&pk(10_000 + n)), Some(round));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    assert_eq!(table.len(), 1000);
    assert_shape(&table.table);
}

#[test]
fn hash_key_is_secret_and_keyed() {
    let a = HashKey::from_bytes([1; 16]);
    let b = HashKey::from_bytes([2; 16]);
    assert_ne!(a.hash(b"peer"), b.hash(b"peer"));
    assert_eq!(a.hash(b"peer"), a.clone().hash(b"peer"));
    assert_eq!(format!("{a:?}"), "HashKey(<redacted>)");
}
