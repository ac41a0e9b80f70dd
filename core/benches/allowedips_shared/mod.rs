//! A [`Table`] shared by lock-free readers and serialized writers: lookups load an
//! immutable snapshot through `arc-swap`, [`AllowedIps::update`] applies a batch of
//! changes to a private copy and publishes it with one pointer swap. The copy is
//! recycled: the writer keeps the previous snapshot and, once no reader holds it any
//! more, replays the last batch on it instead of cloning, so a small update costs
//! O(batch × (depth + patched index slots)). After a big batch (more than 8 prefixes
//! touched and more than nodes / 256), or while a reader still holds the old snapshot,
//! the next update copies the table instead: O(table).
//!
//! An experiment the engine does not use (it builds a new table per configuration
//! snapshot); kept out of `ferrowg-core` for the `allowedips` bench's `shared` and
//! `update` groups (was `core/src/allowedips/mod.rs`), and tested by
//! `core/tests/allowedips_model.rs`.

use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use ferrowg_core::allowedips::{AllowedIpsError, PeerHandle, Prefix, Table};
use parking_lot::Mutex;

/// One change recorded in a batch, kept so the next update can replay it.
enum Op<T> {
    Insert(Prefix, T),
    Remove(Prefix, T),
    RemovePeer(T),
    Clear,
    Compact,
}

/// The write side of [`AllowedIps::update`]: changes apply to a private copy that
/// becomes visible to readers, all at once, when the closure returns.
pub struct Batch<'a, T: PeerHandle> {
    table: &'a mut Table<T>,
    log: &'a mut Vec<Op<T>>,
    /// Prefixes touched so far, the cost of replaying this batch.
    work: &'a mut usize,
}

impl<T: PeerHandle> Batch<'_, T> {
    /// See [`Table::insert`].
    pub fn insert(&mut self, prefix: Prefix, peer: T) -> Result<(), AllowedIpsError> {
        self.log.push(Op::Insert(prefix, peer.clone()));
        self.charge(1);
        self.table.insert(prefix, peer)
    }

    /// See [`Table::remove`].
    pub fn remove(&mut self, prefix: Prefix, peer: &T) -> bool {
        self.log.push(Op::Remove(prefix, peer.clone()));
        self.charge(1);
        self.table.remove(prefix, peer)
    }

    /// See [`Table::remove_peer`].
    pub fn remove_peer(&mut self, peer: &T) -> usize {
        self.log.push(Op::RemovePeer(peer.clone()));
        let removed = self.table.remove_peer(peer);
        self.charge(removed.max(1));
        removed
    }

    /// See [`Table::clear`].
    pub fn clear(&mut self) {
        self.log.push(Op::Clear);
        self.charge(1);
        self.table.clear();
    }

    /// See [`Table::compact`]: O(table), worth it after large changes.
    pub fn compact(&mut self) {
        self.log.push(Op::Compact);
        // Replaying a compaction costs a copy anyway: copy instead.
        self.charge(usize::MAX);
        self.table.compact();
    }

    fn charge(&mut self, prefixes: usize) {
        *self.work = self.work.saturating_add(prefixes);
    }

    /// The table as modified so far in this batch.
    pub fn table(&self) -> &Table<T> {
        self.table
    }
}

/// Writer-side state: the previous snapshot and the batch that turned it into the current.
struct Spare<T: PeerHandle> {
    previous: Option<Arc<Table<T>>>,
    log: Vec<Op<T>>,
    work: usize,
}

/// A [`Table`] shared by lock-free readers and serialized writers.
pub struct AllowedIps<T: PeerHandle> {
    current: ArcSwap<Table<T>>,
    writer: Mutex<Spare<T>>,
}

impl<T: PeerHandle> Default for AllowedIps<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: PeerHandle> AllowedIps<T> {
    /// An empty shared table.
    pub fn new() -> Self {
        AllowedIps {
            current: ArcSwap::from_pointee(Table::new()),
            writer: Mutex::new(Spare { previous: None, log: Vec::new(), work: 0 }),
        }
    }

    /// The current snapshot, cheaply (no reference count touched in the common case).
    /// Hold it for one packet or one batch of packets, not longer.
    #[inline]
    pub fn load(&self) -> Guard<Arc<Table<T>>> {
        self.current.load()
    }

    /// The current snapshot as an owned `Arc`. Holding it past the next update makes
    /// that update clone the table instead of recycling the old copy.
    pub fn snapshot(&self) -> Arc<Table<T>> {
        self.current.load_full()
    }

    /// See [`Table::lookup`]; clones the handle out of the current snapshot.
    pub fn lookup(&self, addr: IpAddr) -> Option<T> {
        self.current.load().lookup(addr).cloned()
    }

    /// See [`Table::lookup_v4`]; clones the handle out of the current snapshot.
    #[inline]
    pub fn lookup_v4(&self, addr: &[u8; 4]) -> Option<T> {
        self.current.load().lookup_v4(addr).cloned()
    }

    /// See [`Table::lookup_v6`]; clones the handle out of the current snapshot.
    #[inline]
    pub fn lookup_v6(&self, addr: &[u8; 16]) -> Option<T> {
        self.current.load().lookup_v6(addr).cloned()
    }

    /// Applies `f`'s changes as one atomic step: readers see all of them or none.
    ///
    /// Put many changes in one call (a whole `wg set` or config reload): each call may
    /// copy the table, so 10,000 single-prefix calls can cost 10,000 copies.
    pub fn update<R>(&self, f: impl FnOnce(&mut Batch<'_, T>) -> R) -> R {
        let mut spare = self.writer.lock();
        let Spare { previous, log, work } = &mut *spare;
        let current = self.current.load();
        let cheap =
            *work <= ALWAYS_REPLAY || work.saturating_mul(REPLAY_COST) <= current.node_count();
        let mut table = match previous.take().map(Arc::try_unwrap) {
            Some(Ok(mut old)) if cheap => {
                replay(&mut old, log);
                old
            }
            // A reader still holds the old snapshot, the last batch was too big to replay,
            // or this is the first update.
            _ => Table::clone(&current),
        };
        drop(current);
        log.clear();
        *work = 0;
        let result = f(&mut Batch { table: &mut table, log, work });
        table.reindex_if_stale();
        *previous = Some(self.current.swap(Arc::new(table)));
        result
    }
}

/// Replaying one change costs about as much as copying this many nodes: a trie walk is a
/// chain of cache misses, a copy streams memory (measured in `docs/performance.md`).
const REPLAY_COST: usize = 256;
/// Batches this small are always replayed: a few walks beat any copy.
const ALWAYS_REPLAY: usize = 8;

/// Brings a copy from the previous snapshot to the current one by repeating the batch.
/// The table's operations are deterministic, so the result equals the current snapshot.
fn replay<T: PeerHandle>(table: &mut Table<T>, log: &mut Vec<Op<T>>) {
    for op in log.drain(..) {
        match op {
            Op::Insert(prefix, peer) => {
                // The same insert failed the same way (Full) when first applied.
                let _ = table.insert(prefix, peer);
            }
            Op::Remove(prefix, peer) => {
                table.remove(prefix, &peer);
            }
            Op::RemovePeer(peer) => {
                table.remove_peer(&peer);
            }
            Op::Clear => table.clear(),
            Op::Compact => table.compact(),
        }
    }
    table.reindex_if_stale();
}
