//! Bench-only: the first ferrowg shard design (commit c0abd11), kept to compare against
//! the Robin Hood table in the same run. A separately chained hash table over a dense
//! entry vector.
//!
//! Buckets hold the index of the first entry of their chain; entries sit in one `Vec` and
//! link to the next entry of the same bucket. Removal swaps the last entry into the hole,
//! so the vector stays dense and memory follows the number of entries. The caller supplies
//! the 64-bit hash; this type never hashes.

#![allow(dead_code)]

use std::mem::size_of;

use ferrowg_core::keys::PublicKey;
use ferrowg_core::peer_lookup::HashKey;
use parking_lot::RwLock;

/// End of a chain.
const NIL: u32 = u32::MAX;

/// Smallest non-empty bucket array.
pub(crate) const MIN_BUCKETS: usize = 4;

/// Most entries one shard holds (links are `u32`, `NIL` is reserved).
pub(crate) const MAX_SHARD_ENTRIES: usize = (u32::MAX - 1) as usize;

struct Entry<K, V> {
    hash: u64,
    next: u32,
    key: K,
    value: V,
}

/// A chained hash table that grows at load factor 1 and shrinks below 1/4.
pub(crate) struct RawTable<K, V> {
    heads: Vec<u32>,
    entries: Vec<Entry<K, V>>,
}

/// Why an insert into a shard failed.
pub(crate) struct Full;

impl<K: Eq, V> RawTable<K, V> {
    pub(crate) const fn new() -> Self {
        Self { heads: Vec::new(), entries: Vec::new() }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn bucket_count(&self) -> usize {
        self.heads.len()
    }

    pub(crate) fn get(&self, hash: u64, key: &K) -> Option<&V> {
        let i = self.find(hash, key)?.1;
        self.entries.get(i as usize).map(|e| &e.value)
    }

    pub(crate) fn get_mut(&mut self, hash: u64, key: &K) -> Option<&mut V> {
        let i = self.find(hash, key)?.1;
        self.entries.get_mut(i as usize).map(|e| &mut e.value)
    }

    /// Inserts or replaces; returns the previous value.
    pub(crate) fn insert(&mut self, hash: u64, key: K, value: V) -> Result<Option<V>, Full> {
        if let Some(old) = self.get_mut(hash, &key) {
            return Ok(Some(std::mem::replace(old, value)));
        }
        self.insert_unique(hash, key, value)?;
        Ok(None)
    }

    /// Inserts a key the caller knows is absent.
    pub(crate) fn insert_unique(&mut self, hash: u64, key: K, value: V) -> Result<(), Full> {
        if self.entries.len() >= MAX_SHARD_ENTRIES {
            return Err(Full);
        }
        if self.entries.len() >= self.heads.len() {
            self.resize((self.heads.len() * 2).max(MIN_BUCKETS));
        }
        let i = self.entries.len() as u32;
        let b = self.bucket(hash);
        let Some(head) = self.heads.get_mut(b) else { return Err(Full) };
        let next = std::mem::replace(head, i);
        self.entries.push(Entry { hash, next, key, value });
        Ok(())
    }

    pub(crate) fn remove(&mut self, hash: u64, key: &K) -> Option<V> {
        let (prev, i) = self.find(hash, key)?;
        let next = self.entries.get(i as usize)?.next;
        self.set_link(prev, next);
        let last = (self.entries.len() - 1) as u32;
        if i != last {
            // The last entry moves into slot `i`: repoint whoever links to it.
            let last_hash = self.entries.get(last as usize)?.hash;
            let link = self.find_link(last_hash, last);
            self.set_link(link, i);
        }
        let removed = self.entries.swap_remove(i as usize);
        self.maybe_shrink();
        Some(removed.value)
    }

    /// Keeps only the entries for which `keep` returns true.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        let before = self.entries.len();
        self.entries.retain_mut(|e| keep(&e.key, &mut e.value));
        if self.entries.len() != before {
            let buckets = self.heads.len();
            self.resize(buckets);
            self.maybe_shrink();
        }
    }

    /// Longest chain, in entries. O(buckets + entries); for diagnostics and tests.
    pub(crate) fn max_chain(&self) -> usize {
        let mut longest = 0;
        for &head in &self.heads {
            let mut n = 0;
            let mut i = head;
            while let Some(e) = self.entries.get(i as usize) {
                n += 1;
                i = e.next;
            }
            longest = longest.max(n);
        }
        longest
    }

    /// Heap bytes held by this shard (allocated capacity, not just what is in use).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.heads.capacity() * size_of::<u32>()
            + self.entries.capacity() * size_of::<Entry<K, V>>()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|e| (&e.key, &e.value))
    }

    fn bucket(&self, hash: u64) -> usize {
        (hash as usize) & self.heads.len().wrapping_sub(1)
    }

    /// Finds `key`: returns (the link that points at it, its index).
    fn find(&self, hash: u64, key: &K) -> Option<(Link, u32)> {
        let b = self.bucket(hash);
        let mut link = Link::Head(b);
        let mut i = *self.heads.get(b)?;
        while let Some(e) = self.entries.get(i as usize) {
            if e.hash == hash && e.key == *key {
                return Some((link, i));
            }
            link = Link::Entry(i);
            i = e.next;
        }
        None
    }

    /// The link that points at entry `target`, which must be in the chain of `hash`.
    fn find_link(&self, hash: u64, target: u32) -> Link {
        let b = self.bucket(hash);
        let mut link = Link::Head(b);
        let mut i = self.heads.get(b).copied().unwrap_or(NIL);
        while i != target {
            let Some(e) = self.entries.get(i as usize) else { break };
            link = Link::Entry(i);
            i = e.next;
        }
        link
    }

    fn set_link(&mut self, link: Link, to: u32) {
        let slot = match link {
            Link::Head(b) => self.heads.get_mut(b),
            Link::Entry(i) => self.entries.get_mut(i as usize).map(|e| &mut e.next),
        };
        if let Some(slot) = slot {
            *slot = to;
        }
    }

    fn maybe_shrink(&mut self) {
        let n = self.entries.len();
        if n == 0 {
            self.heads = Vec::new();
            self.entries = Vec::new();
            return;
        }
        if n < self.heads.len() / 4 && self.heads.len() > MIN_BUCKETS {
            self.resize((self.heads.len() / 2).max(MIN_BUCKETS));
        }
        if n < self.entries.capacity() / 4 {
            self.entries.shrink_to(n * 2);
        }
    }

    /// Rebuilds every chain for `buckets` buckets (a power of two) from the stored hashes.
    fn resize(&mut self, buckets: usize) {
        self.heads.clear();
        self.heads.shrink_to(buckets);
        self.heads.resize(buckets, NIL);
        let mask = buckets.wrapping_sub(1);
        for (i, e) in self.entries.iter_mut().enumerate() {
            if let Some(head) = self.heads.get_mut((e.hash as usize) & mask) {
                e.next = std::mem::replace(head, i as u32);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Link {
    Head(usize),
    Entry(u32),
}

#[repr(align(128))]
struct Padded<T>(T);

/// 16 shards of the chained table behind read-write locks, SipHash-2-4 keyed.
pub(crate) struct ChainedTable<K, V> {
    key: HashKey,
    shards: Vec<Padded<RwLock<RawTable<K, V>>>>,
}

/// How the bench hashes its keys.
pub(crate) trait BenchKey: Eq {
    fn hash_with(&self, key: &HashKey) -> u64;
}

impl BenchKey for PublicKey {
    fn hash_with(&self, key: &HashKey) -> u64 {
        key.hash(&self.0)
    }
}

impl BenchKey for u32 {
    fn hash_with(&self, key: &HashKey) -> u64 {
        key.hash(&self.to_le_bytes())
    }
}

impl<K: BenchKey, V> ChainedTable<K, V> {
    pub(crate) fn new(key: HashKey) -> Self {
        Self { key, shards: (0..16).map(|_| Padded(RwLock::new(RawTable::new()))).collect() }
    }

    fn shard(&self, hash: u64) -> &RwLock<RawTable<K, V>> {
        &self.shards[(hash >> 60) as usize].0
    }

    pub(crate) fn insert(&self, k: K, v: V) {
        let h = k.hash_with(&self.key);
        let _ = self.shard(h).write().insert(h, k, v);
    }

    pub(crate) fn with<R>(&self, k: &K, f: impl FnOnce(&V) -> R) -> Option<R> {
        let h = k.hash_with(&self.key);
        self.shard(h).read().get(h, k).map(f)
    }

    pub(crate) fn remove(&self, k: &K) -> Option<V> {
        let h = k.hash_with(&self.key);
        self.shard(h).write().remove(h, k)
    }
}
