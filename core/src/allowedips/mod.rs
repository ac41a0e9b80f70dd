//! Allowed-IPs: a native-endian, path-compressed binary trie mapping prefixes to peers.
//!
//! [`Table`] is the trie itself: longest-prefix lookup by [`IpAddr`] or by the raw
//! destination/source bytes of a packet header ([`Table::lookup_v4`],
//! [`Table::lookup_v6`]), insert (replacing a prefix's peer), remove one prefix, remove
//! every prefix of a peer through per-peer lists (no trie walk), and a peer's prefix list
//! for `wg show`. Keys are held in native byte order (`u32` / `u128`), so a lookup
//! converts the packet's big-endian address once instead of once per edge; the seed
//! report's experiment, measured in `docs/performance.md`.
//!
//! Two additions to the kernel's design, both measured there: a top-level index (a
//! direct table on the ~log2(nodes) address bits below the root's common prefix, at most
//! 2^16 slots) that lets a lookup skip the top of the trie, rebuilt by
//! [`Table::reindex`]; and [`Table::compact`], which lays the nodes out depth-first.
//! Inserts and removes patch the index (only the slots under the changed prefix); after
//! a bulk change, or when the trie's root moves, they drop it instead, lookups walk from
//! the root (correct, slower) until the next rebuild, and [`AllowedIps::update`] rebuilds
//! it at the end of such a batch.
//!
//! [`AllowedIps`] shares a table between the data path and the control path: lookups
//! load an immutable snapshot through `arc-swap` (no lock, no reader-side write), and
//! [`AllowedIps::update`] applies a batch of changes to a private copy and publishes it
//! with one pointer swap. The copy is recycled: the writer keeps the previous snapshot
//! and, once no reader holds it any more, replays the last batch on it instead of cloning,
//! so a small update costs O(batch × (depth + patched index slots)); a big batch (more
//! than 8 prefixes touched and more than nodes / 256) or a reader still holding the old snapshot makes the next
//! update copy the table instead, O(table). Memory is two tables.
//!
//! Peers are identified through [`PeerHandle`]: a cheap clone plus an ordered identity
//! key. It is implemented for integer peer ids and for `Arc<P>` (identity = pointer), the
//! two handles the engine uses.

mod dot;
mod key;
mod prefix;
mod table;
mod trie;

#[cfg(feature = "bench-big-endian-trie")]
pub mod big_endian;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use parking_lot::Mutex;

pub use prefix::Prefix;

use table::Inner;

/// A peer handle stored in the table: cheap to clone, with an identity to compare by.
///
/// An ordered identity (rather than `PartialEq` on the handle) lets the table find a
/// peer's slot in O(log peers) without hashing, which would need a seeded hasher.
pub trait PeerHandle: Clone {
    /// What makes two handles the same peer.
    type Id: Ord + Copy;
    /// This handle's identity.
    fn id(&self) -> Self::Id;
}

impl PeerHandle for u32 {
    type Id = u32;
    fn id(&self) -> u32 {
        *self
    }
}

impl PeerHandle for u64 {
    type Id = u64;
    fn id(&self) -> u64 {
        *self
    }
}

impl PeerHandle for usize {
    type Id = usize;
    fn id(&self) -> usize {
        *self
    }
}

/// Identity is the allocation's address. It is stable and unique while the table holds a
/// clone of the `Arc`, which it does for as long as the peer has a prefix.
impl<P: ?Sized> PeerHandle for Arc<P> {
    type Id = usize;
    fn id(&self) -> usize {
        Arc::as_ptr(self).cast::<()>() as usize
    }
}

/// Errors from building prefixes or updating the table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AllowedIpsError {
    /// The prefix length is longer than the address.
    #[error("prefix length /{cidr} exceeds /{max}")]
    InvalidCidr {
        /// The prefix length given.
        cidr: u8,
        /// The address length in bits (32 or 128).
        max: u8,
    },
    /// The text is not `address/length` or a bare address.
    #[error("invalid prefix {0:?}")]
    Parse(String),
    /// One family's trie reached 2^31 nodes, or the table 2^24 - 1 peers.
    #[error("allowed-IPs table is full")]
    Full,
}

/// The allowed-IPs trie for both families (single-threaded; see [`AllowedIps`] to share).
#[derive(Clone)]
pub struct Table<T: PeerHandle> {
    inner: Inner<T, u32, u128>,
}

impl<T: PeerHandle> Default for Table<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: PeerHandle> Table<T> {
    /// An empty table.
    pub fn new() -> Self {
        Table { inner: Inner::new() }
    }

    /// Maps `prefix` to `peer`, replacing the peer it had. The prefix moves to the end of
    /// `peer`'s list, as in the kernel. Patches or drops the top-level index.
    pub fn insert(&mut self, prefix: Prefix, peer: T) -> Result<(), AllowedIpsError> {
        self.inner.insert(prefix, peer)
    }

    /// Removes `prefix` if it is mapped to `peer`; returns whether it was. Patches or
    /// drops the top-level index.
    pub fn remove(&mut self, prefix: Prefix, peer: &T) -> bool {
        self.inner.remove(prefix, peer)
    }

    /// Removes every prefix of `peer` by walking its own list; returns how many.
    pub fn remove_peer(&mut self, peer: &T) -> usize {
        self.inner.remove_peer(peer)
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.inner.clear();
    }

    /// The peer whose most specific prefix contains `addr`.
    pub fn lookup(&self, addr: IpAddr) -> Option<&T> {
        self.inner.lookup(addr)
    }

    /// Lookup by an IPv4 address as it appears in a packet header (network byte order).
    #[inline]
    pub fn lookup_v4(&self, addr: &[u8; 4]) -> Option<&T> {
        self.inner.lookup_v4(addr)
    }

    /// Lookup by an IPv6 address as it appears in a packet header (network byte order).
    #[inline]
    pub fn lookup_v6(&self, addr: &[u8; 16]) -> Option<&T> {
        self.inner.lookup_v6(addr)
    }

    /// `peer`'s prefixes in canonical form, in the order `wg show` lists them: insertion
    /// order across both families, a re-inserted prefix moving to the end.
    pub fn prefixes<'a>(&'a self, peer: &T) -> impl Iterator<Item = Prefix> + 'a {
        self.inner.prefixes(peer)
    }

    /// Number of prefixes mapped to `peer`.
    pub fn peer_prefix_count(&self, peer: &T) -> usize {
        self.inner.peer_prefix_count(peer)
    }

    /// Number of stored prefixes, both families.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether no prefix is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of peers with at least one prefix.
    pub fn peer_count(&self) -> usize {
        self.inner.peer_count()
    }

    /// Number of trie nodes: stored prefixes plus branching nodes (at most one per prefix).
    pub fn node_count(&self) -> usize {
        self.inner.node_count()
    }

    /// Heap bytes held by the table's arrays (by capacity), for memory-per-prefix reports.
    pub fn memory_bytes(&self) -> usize {
        self.inner.memory_bytes()
    }

    /// Rebuilds the top-level index (a direct table on the first ~log2(nodes) address
    /// bits, at most 2^16 slots of 8 bytes) that lets lookups skip the trie's top levels.
    /// A new table has none; inserts and removes keep an existing one current or drop it
    /// after a bulk change. Lookups are correct without it, only slower on big tables.
    /// See [`Table::reindex_if_stale`] for the conditional form.
    pub fn reindex(&mut self) {
        self.inner.reindex();
    }

    /// Rebuilds the index only if it was dropped (after a bulk change or a root move) or is
    /// sized for a table 4x smaller or larger; otherwise free. Call after a batch of
    /// changes; [`AllowedIps::update`] does.
    pub fn reindex_if_stale(&mut self) {
        self.inner.reindex_if_stale();
    }

    /// Lays the nodes out in depth-first order, drops free space and rebuilds the index
    /// (O(nodes)). Lookups on large tables touch fewer cache lines afterwards.
    pub fn compact(&mut self) {
        self.inner.compact();
    }

    /// Checks the trie and per-peer list invariants (for tests and fuzzing).
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        self.inner.check()
    }

    /// A Graphviz `digraph` of both tries: one node line per trie node (address in human
    /// byte order, `/cidr`, and the peer's slot number; branching nodes dashed).
    pub fn to_dot(&self) -> String {
        self.inner.to_dot()
    }
}

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
