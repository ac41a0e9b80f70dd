//! Bench-only: the same trie with keys kept in packet byte order, swapping on every edge
//! the way the kernel did before the 2018 native-endian change. Exists so the benchmark
//! can measure that change; nothing else should use it.

use std::net::IpAddr;

use super::key::{Be128, Be32};
use super::table::Inner;
use super::{AllowedIpsError, PeerHandle, Prefix};

/// [`super::Table`] with big-endian keys (lookup and insert only).
#[derive(Clone)]
pub struct BigEndianTable<T: PeerHandle> {
    inner: Inner<T, Be32, Be128>,
}

impl<T: PeerHandle> Default for BigEndianTable<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: PeerHandle> BigEndianTable<T> {
    /// An empty table.
    pub fn new() -> Self {
        BigEndianTable { inner: Inner::new() }
    }

    /// See [`super::Table::insert`].
    pub fn insert(&mut self, prefix: Prefix, peer: T) -> Result<(), AllowedIpsError> {
        self.inner.insert(prefix, peer)
    }

    /// See [`super::Table::remove_peer`].
    pub fn remove_peer(&mut self, peer: &T) -> usize {
        self.inner.remove_peer(peer)
    }

    /// See [`super::Table::lookup`].
    pub fn lookup(&self, addr: IpAddr) -> Option<&T> {
        self.inner.lookup(addr)
    }

    /// See [`super::Table::lookup_v4`].
    #[inline]
    pub fn lookup_v4(&self, addr: &[u8; 4]) -> Option<&T> {
        self.inner.lookup_v4(addr)
    }

    /// See [`super::Table::lookup_v6`].
    #[inline]
    pub fn lookup_v6(&self, addr: &[u8; 16]) -> Option<&T> {
        self.inner.lookup_v6(addr)
    }

    /// See [`super::Table::prefixes`].
    pub fn prefixes<'a>(&'a self, peer: &T) -> impl Iterator<Item = Prefix> + 'a {
        self.inner.prefixes(peer)
    }

    /// See [`super::Table::reindex`].
    pub fn reindex(&mut self) {
        self.inner.reindex();
    }

    /// See [`super::Table::compact`].
    pub fn compact(&mut self) {
        self.inner.compact();
    }

    /// See [`super::Table::len`].
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// See [`super::Table::is_empty`].
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// See [`super::Table::to_dot`].
    pub fn to_dot(&self) -> String {
        self.inner.to_dot()
    }
}
