//! SipHash-keyed resizable tables: public key to peer, receiver index to keypair.
//!
//! [`PubkeyTable`] finds a peer from the static public key in a handshake initiation;
//! [`IndexTable`] finds the session (handshake or keypair) from the receiver index in every
//! handshake response, cookie reply and transport packet. Both hash with SipHash-2-4 under
//! a 128-bit key drawn from the injected RNG, so nobody outside can predict which keys
//! share a probe sequence (the kernel's defence against hashtable poisoning). Receiver indices are
//! drawn at random by [`IndexTable::insert_new`], retried on collision.
//!
//! # Layout and sizing
//! A table is [`DEFAULT_SHARDS`] shards, each behind its own `parking_lot::RwLock` on its own
//! cache lines; the top bits of the hash pick the shard, the low bits the home slot. A
//! shard is an open-addressing table with Robin Hood linear probing, entries stored inline
//! with their hash, sized by its number of entries:
//! - grows (doubles its slots) before an insert would make it more than 3/4 full;
//! - shrinks (halves its slots) when a removal leaves it less than 1/4 full, down to 8
//!   slots; an emptied shard frees its array.
//!
//! So an empty table costs only its shard array (2 KiB) and a full one keeps probes short.
//! Resizing moves the shard's entries under its write lock using the stored hashes (no
//! SipHash recomputation); readers of the other shards are not blocked.
//!
//! # Concurrency
//! Every method takes `&self`. Lookups take one shard's read lock, so data-path threads run
//! in parallel with each other and only wait for a control-path writer touching the same
//! shard. The choice of sharded read-write locks over one lock, and the shard count, are
//! measured in `docs/performance.md` ("SipHash peer tables"). Closures passed to `with`,
//! `retain`, `for_each` and `insert_new_with` run under a shard lock and must not call
//! back into the same table.

mod raw;
#[cfg(test)]
mod tests;

use parking_lot::RwLock;
use rand_core::{CryptoRng, RngCore};
use siphasher::sip::SipHasher24;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::keys::PublicKey;
use raw::RawTable;

/// Shards in a table built by `new` (rounded to a power of two when given explicitly).
pub const DEFAULT_SHARDS: usize = 16;

/// Draws [`IndexTable::insert_new`] makes before giving up. With the table less than half
/// full of the 2^32 indices, all of them colliding has probability below 2^-64.
pub const MAX_INDEX_DRAWS: usize = 64;

/// Why an insert was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// Every random receiver index drawn was already in use.
    #[error("no free receiver index after {MAX_INDEX_DRAWS} draws")]
    NoFreeIndex,
}

/// A 128-bit SipHash-2-4 key; zeroized on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct HashKey {
    k0: u64,
    k1: u64,
}

/// Size and shape of a table, for diagnostics, tests and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableStats {
    /// Entries stored.
    pub entries: usize,
    /// Slots over all shards.
    pub slots: usize,
    /// Number of shards.
    pub shards: usize,
    /// Slots examined by the longest successful lookup (1 = every entry in its home slot).
    pub max_probe: usize,
    /// Bytes held: the shard array plus every shard's allocated capacity.
    pub heap_bytes: usize,
}

/// Public key → value (the engine stores its peer handle). Safe to share between threads.
pub struct PubkeyTable<V> {
    table: Table<PublicKey, V>,
}

/// Receiver index → value (the engine stores peer and keypair handles). Safe to share
/// between threads.
pub struct IndexTable<V> {
    table: Table<u32, V>,
}

impl HashKey {
    /// Draws a fresh secret key from `rng`.
    pub fn random<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self { k0: rng.next_u64(), k1: rng.next_u64() }
    }

    /// A key from fixed bytes. Production code uses [`HashKey::random`]; a known key is for
    /// tests and benchmarks (and is exactly what makes a table poisonable).
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        let mut k0 = [0u8; 8];
        let mut k1 = [0u8; 8];
        k0.copy_from_slice(&bytes[..8]);
        k1.copy_from_slice(&bytes[8..]);
        Self { k0: u64::from_le_bytes(k0), k1: u64::from_le_bytes(k1) }
    }

    /// SipHash-2-4 of `bytes` under this key.
    pub fn hash(&self, bytes: &[u8]) -> u64 {
        SipHasher24::new_with_keys(self.k0, self.k1).hash(bytes)
    }
}

/// Lets std and hashbrown maps hash with this key (the rate limiter's table does).
impl std::hash::BuildHasher for HashKey {
    type Hasher = SipHasher24;

    fn build_hasher(&self) -> SipHasher24 {
        SipHasher24::new_with_keys(self.k0, self.k1)
    }
}

impl std::fmt::Debug for HashKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashKey(<redacted>)")
    }
}

impl<V> PubkeyTable<V> {
    /// An empty table with [`DEFAULT_SHARDS`] shards and a secret key drawn from `rng`.
    pub fn new<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::with_key(HashKey::random(rng), DEFAULT_SHARDS)
    }

    /// An empty table with the given key and shard count (rounded up to a power of two).
    pub fn with_key(key: HashKey, shards: usize) -> Self {
        Self { table: Table::new(key, shards) }
    }

    /// Inserts or replaces the value for `key`; returns the previous value.
    pub fn insert(&self, key: PublicKey, value: V) -> Option<V> {
        self.table.insert(key, value)
    }

    /// A clone of the value for `key`.
    pub fn get(&self, key: &PublicKey) -> Option<V>
    where
        V: Clone,
    {
        self.table.with(key, V::clone)
    }

    /// Runs `f` on the value for `key` under the shard's read lock.
    pub fn with<R>(&self, key: &PublicKey, f: impl FnOnce(&V) -> R) -> Option<R> {
        self.table.with(key, f)
    }

    /// True when `key` is present.
    pub fn contains_key(&self, key: &PublicKey) -> bool {
        self.table.with(key, |_| ()).is_some()
    }

    /// Removes `key`; returns its value.
    pub fn remove(&self, key: &PublicKey) -> Option<V> {
        self.table.remove(key)
    }

    /// Keeps only the entries for which `keep` returns true (one shard locked at a time).
    pub fn retain(&self, keep: impl FnMut(&PublicKey, &mut V) -> bool) {
        self.table.retain(keep)
    }

    /// Calls `f` on every entry, one shard read-locked at a time, in no particular order.
    pub fn for_each(&self, f: impl FnMut(&PublicKey, &V)) {
        self.table.for_each(f)
    }

    /// Number of entries (a snapshot: shards are counted one after another).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when the table holds no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size and probe statistics; walks every slot, so not for the data path.
    pub fn stats(&self) -> TableStats {
        self.table.stats()
    }
}

impl<V> IndexTable<V> {
    /// An empty table with [`DEFAULT_SHARDS`] shards and a secret key drawn from `rng`.
    pub fn new<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::with_key(HashKey::random(rng), DEFAULT_SHARDS)
    }

    /// An empty table with the given key and shard count (rounded up to a power of two).
    pub fn with_key(key: HashKey, shards: usize) -> Self {
        Self { table: Table::new(key, shards) }
    }

    /// Stores `value` under a fresh random index drawn from `rng`; returns the index.
    pub fn insert_new<R: RngCore + CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        value: V,
    ) -> Result<u32, TableError> {
        self.insert_new_with(rng, |_| value)
    }

    /// Like [`IndexTable::insert_new`], for values that record their own index: `make` gets
    /// the chosen index and runs under the shard's write lock.
    pub fn insert_new_with<R: RngCore + CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        make: impl FnOnce(u32) -> V,
    ) -> Result<u32, TableError> {
        for _ in 0..MAX_INDEX_DRAWS {
            let index = rng.next_u32();
            let hash = self.table.hash(&index);
            let mut shard = self.table.shard(hash).write();
            if shard.get(hash, &index).is_some() {
                continue;
            }
            shard.insert_unique(hash, index, make(index));
            return Ok(index);
        }
        Err(TableError::NoFreeIndex)
    }

    /// Replaces the value under an index still in use and returns the old one; gives
    /// `value` back when the index is gone (e.g. the session was removed meanwhile).
    pub fn replace(&self, index: u32, value: V) -> Result<V, V> {
        let hash = self.table.hash(&index);
        let mut shard = self.table.shard(hash).write();
        match shard.get_mut(hash, &index) {
            Some(slot) => Ok(std::mem::replace(slot, value)),
            None => Err(value),
        }
    }

    /// A clone of the value for `index`.
    pub fn get(&self, index: u32) -> Option<V>
    where
        V: Clone,
    {
        self.table.with(&index, V::clone)
    }

    /// Runs `f` on the value for `index` under the shard's read lock.
    pub fn with<R>(&self, index: u32, f: impl FnOnce(&V) -> R) -> Option<R> {
        self.table.with(&index, f)
    }

    /// True when `index` is in use.
    pub fn contains(&self, index: u32) -> bool {
        self.table.with(&index, |_| ()).is_some()
    }

    /// Frees `index`; returns its value.
    pub fn remove(&self, index: u32) -> Option<V> {
        self.table.remove(&index)
    }

    /// Keeps only the entries for which `keep` returns true (one shard locked at a time).
    pub fn retain(&self, keep: impl FnMut(&u32, &mut V) -> bool) {
        self.table.retain(keep)
    }

    /// Calls `f` on every entry, one shard read-locked at a time, in no particular order.
    pub fn for_each(&self, f: impl FnMut(&u32, &V)) {
        self.table.for_each(f)
    }

    /// Number of entries (a snapshot: shards are counted one after another).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when the table holds no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size and probe statistics; walks every slot, so not for the data path.
    pub fn stats(&self) -> TableStats {
        self.table.stats()
    }
}

impl<V> std::fmt::Debug for PubkeyTable<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubkeyTable").field("len", &self.len()).finish_non_exhaustive()
    }
}

impl<V> std::fmt::Debug for IndexTable<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexTable").field("len", &self.len()).finish_non_exhaustive()
    }
}

/// Keys the tables can hash.
trait TableKey: Eq {
    fn hash_with(&self, key: &HashKey) -> u64;
}

impl TableKey for PublicKey {
    fn hash_with(&self, key: &HashKey) -> u64 {
        key.hash(self.as_bytes())
    }
}

impl TableKey for u32 {
    fn hash_with(&self, key: &HashKey) -> u64 {
        key.hash(&self.to_le_bytes())
    }
}

/// Keeps each shard's lock on its own cache lines (128 bytes: adjacent-line prefetch).
#[repr(align(128))]
struct Padded<T>(T);

/// One shard: its own lock, on its own cache lines.
type Shard<K, V> = Padded<RwLock<RawTable<K, V>>>;

/// The shared implementation behind both public tables.
struct Table<K, V> {
    key: HashKey,
    shard_shift: u32,
    shard_mask: usize,
    shards: Box<[Shard<K, V>]>,
}

impl<K: TableKey, V> Table<K, V> {
    fn new(key: HashKey, shards: usize) -> Self {
        let n = shards.clamp(1, 1 << 16).next_power_of_two();
        let shards = (0..n).map(|_| Padded(RwLock::new(RawTable::new()))).collect();
        Self { key, shard_shift: 64 - n.trailing_zeros(), shard_mask: n - 1, shards }
    }

    fn hash(&self, k: &K) -> u64 {
        k.hash_with(&self.key)
    }

    fn shard(&self, hash: u64) -> &RwLock<RawTable<K, V>> {
        // Top bits pick the shard, low bits the slot, so the two never overlap.
        let i = hash.checked_shr(self.shard_shift).unwrap_or(0) as usize & self.shard_mask;
        &self.shards[i].0
    }

    fn insert(&self, k: K, v: V) -> Option<V> {
        let hash = self.hash(&k);
        self.shard(hash).write().insert(hash, k, v)
    }

    fn with<R>(&self, k: &K, f: impl FnOnce(&V) -> R) -> Option<R> {
        let hash = self.hash(k);
        self.shard(hash).read().get(hash, k).map(f)
    }

    fn remove(&self, k: &K) -> Option<V> {
        let hash = self.hash(k);
        self.shard(hash).write().remove(hash, k)
    }

    fn retain(&self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        for s in self.shards.iter() {
            s.0.write().retain(&mut keep);
        }
    }

    fn for_each(&self, mut f: impl FnMut(&K, &V)) {
        for s in self.shards.iter() {
            for (k, v) in s.0.read().iter() {
                f(k, v);
            }
        }
    }

    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.0.read().len()).sum()
    }

    fn stats(&self) -> TableStats {
        let mut st = TableStats {
            entries: 0,
            slots: 0,
            shards: self.shards.len(),
            max_probe: 0,
            heap_bytes: self.shards.len() * std::mem::size_of::<Shard<K, V>>(),
        };
        for s in self.shards.iter() {
            let s = s.0.read();
            st.entries += s.len();
            st.slots += s.slot_count();
            st.max_probe = st.max_probe.max(s.max_probe());
            st.heap_bytes += s.heap_bytes();
        }
        st
    }
}
