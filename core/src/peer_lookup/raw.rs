//! One shard: an open-addressing hash table with Robin Hood linear probing.
//!
//! Entries sit inline in the slot array with their 64-bit hash, so a lookup usually costs
//! one cache miss. Robin Hood insertion (an entry further from its home slot takes the
//! place of one nearer to its own) keeps probe lengths even, lets a lookup for a missing
//! key stop early, and removal shifts the following entries back instead of leaving
//! tombstones. The caller supplies the hash; this type never hashes.

use std::mem::size_of;

/// Smallest non-empty slot array.
pub(super) const MIN_SLOTS: usize = 8;

struct Slot<K, V> {
    hash: u64,
    key: K,
    value: V,
}

/// Grows above 3/4 full, halves below 1/4 full, frees everything when empty.
pub(super) struct RawTable<K, V> {
    slots: Vec<Option<Slot<K, V>>>,
    len: usize,
}

impl<K: Eq, V> RawTable<K, V> {
    pub(super) const fn new() -> Self {
        Self { slots: Vec::new(), len: 0 }
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    pub(super) fn slot_count(&self) -> usize {
        self.slots.len()
    }

    pub(super) fn get(&self, hash: u64, key: &K) -> Option<&V> {
        let pos = self.find(hash, key)?;
        self.slots.get(pos)?.as_ref().map(|s| &s.value)
    }

    pub(super) fn get_mut(&mut self, hash: u64, key: &K) -> Option<&mut V> {
        let pos = self.find(hash, key)?;
        self.slots.get_mut(pos)?.as_mut().map(|s| &mut s.value)
    }

    /// Inserts or replaces; returns the previous value.
    pub(super) fn insert(&mut self, hash: u64, key: K, value: V) -> Option<V> {
        if let Some(old) = self.get_mut(hash, &key) {
            return Some(std::mem::replace(old, value));
        }
        self.insert_unique(hash, key, value);
        None
    }

    /// Inserts a key the caller knows is absent.
    pub(super) fn insert_unique(&mut self, hash: u64, key: K, value: V) {
        if 4 * (self.len + 1) > 3 * self.slots.len() {
            self.resize((2 * self.slots.len()).max(MIN_SLOTS));
        }
        self.place(Slot { hash, key, value });
        self.len += 1;
    }

    pub(super) fn remove(&mut self, hash: u64, key: &K) -> Option<V> {
        let mut pos = self.find(hash, key)?;
        let removed = self.slots.get_mut(pos)?.take()?;
        self.len -= 1;
        // Backward shift: pull each following displaced entry one slot nearer home.
        let mask = self.mask();
        loop {
            let next = (pos + 1) & mask;
            let displaced = match self.slots.get(next) {
                Some(Some(s)) => self.distance(s.hash, next) > 0,
                _ => false,
            };
            if !displaced {
                break;
            }
            self.slots.swap(pos, next);
            pos = next;
        }
        self.maybe_shrink();
        Some(removed.value)
    }

    /// Keeps only the entries for which `keep` returns true.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        let old = std::mem::take(&mut self.slots);
        let kept: Vec<Slot<K, V>> = old
            .into_iter()
            .flatten()
            .filter_map(|mut s| keep(&s.key, &mut s.value).then_some(s))
            .collect();
        self.len = 0;
        if !kept.is_empty() {
            self.resize(Self::slots_for(kept.len()));
        }
        for s in kept {
            self.place(s);
            self.len += 1;
        }
    }

    /// Slots examined by the longest successful lookup. O(slots); for diagnostics and tests.
    pub(super) fn max_probe(&self) -> usize {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(pos, s)| s.as_ref().map(|s| self.distance(s.hash, pos) + 1))
            .max()
            .unwrap_or(0)
    }

    /// Heap bytes held by this shard (allocated capacity, not just what is in use).
    pub(super) fn heap_bytes(&self) -> usize {
        self.slots.capacity() * size_of::<Option<Slot<K, V>>>()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.slots.iter().flatten().map(|s| (&s.key, &s.value))
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// How far the entry with `hash` sitting at `pos` is from its home slot.
    fn distance(&self, hash: u64, pos: usize) -> usize {
        pos.wrapping_sub(hash as usize) & self.mask()
    }

    fn find(&self, hash: u64, key: &K) -> Option<usize> {
        let mask = self.mask();
        let mut pos = (hash as usize) & mask;
        for dist in 0..self.slots.len() {
            let s = self.slots.get(pos)?.as_ref()?;
            if s.hash == hash && s.key == *key {
                return Some(pos);
            }
            // Robin Hood invariant: our key would have displaced this richer entry.
            if self.distance(s.hash, pos) < dist {
                return None;
            }
            pos = (pos + 1) & mask;
        }
        None
    }

    /// Puts an entry known to be absent into a table with at least one free slot.
    fn place(&mut self, mut cur: Slot<K, V>) {
        let mask = self.mask();
        let mut pos = (cur.hash as usize) & mask;
        let mut dist = 0;
        for _ in 0..self.slots.len() {
            let their = match self.slots.get(pos) {
                Some(Some(s)) => self.distance(s.hash, pos),
                Some(None) => {
                    self.slots[pos] = Some(cur);
                    return;
                }
                None => return,
            };
            if their < dist {
                if let Some(Some(s)) = self.slots.get_mut(pos) {
                    std::mem::swap(s, &mut cur);
                }
                dist = their;
            }
            pos = (pos + 1) & mask;
            dist += 1;
        }
    }

    fn maybe_shrink(&mut self) {
        if self.len == 0 {
            self.slots = Vec::new();
        } else if 4 * self.len < self.slots.len() && self.slots.len() > MIN_SLOTS {
            self.resize(self.slots.len() / 2);
        }
    }

    /// The power-of-two slot count that holds `n` entries at most 3/4 full.
    fn slots_for(n: usize) -> usize {
        (n * 4 / 3 + 1).next_power_of_two().max(MIN_SLOTS)
    }

    /// Moves every entry into a fresh array of `slots` slots (a power of two).
    fn resize(&mut self, slots: usize) {
        let old = std::mem::replace(&mut self.slots, Vec::with_capacity(slots));
        self.slots.resize_with(slots, || None);
        for s in old.into_iter().flatten() {
            self.place(s);
        }
    }
}
