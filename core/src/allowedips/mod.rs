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
//! a bulk change, or when the trie's root moves, they drop it instead, and lookups walk
//! from the root (correct, slower) until the next [`Table::reindex_if_stale`].
//!
//! The engine shares a table by building a new one per configuration snapshot and
//! publishing the snapshot with one pointer swap (`interface`). The arc-swap shared table
//! with replayed batches that `docs/performance.md` measures lives in the `allowedips`
//! bench (`core/benches/allowedips_shared/`).
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

/// The allowed-IPs trie for both families (single-threaded: share it as an immutable
/// snapshot).
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
    /// changes.
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
