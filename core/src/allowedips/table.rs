//! Both families' tries plus the peer slots and per-peer prefix lists.
//!
//! Generic over the key types so the bench-only big-endian variant shares every line of
//! the algorithm with the native one.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::key::Key;
use super::trie::{Full, Link, NodeRef, Trie, MAX_PEERS, NONE};
use super::{AllowedIpsError, PeerHandle, Prefix};

/// One peer known to the table, with the ends of its prefix list (insertion order).
#[derive(Clone)]
struct Slot<T> {
    peer: Option<T>,
    head: NodeRef,
    tail: NodeRef,
    len: usize,
}

#[derive(Clone)]
pub(crate) struct Inner<T: PeerHandle, K4, K6> {
    pub(crate) v4: Trie<K4>,
    pub(crate) v6: Trie<K6>,
    slots: Vec<Slot<T>>,
    free_slots: Vec<u32>,
    ids: BTreeMap<T::Id, u32>,
}

impl<T, K4, K6> Inner<T, K4, K6>
where
    T: PeerHandle,
    K4: Key<Addr = Ipv4Addr, Bytes = [u8; 4]>,
    K6: Key<Addr = Ipv6Addr, Bytes = [u8; 16]>,
{
    pub(crate) fn new() -> Self {
        Inner {
            v4: Trie::new(),
            v6: Trie::new(),
            slots: Vec::new(),
            free_slots: Vec::new(),
            ids: BTreeMap::new(),
        }
    }

    pub(crate) fn insert(&mut self, prefix: Prefix, peer: T) -> Result<(), AllowedIpsError> {
        let Some(slot) = self.slot_for(peer) else { return Err(AllowedIpsError::Full) };
        let cidr = prefix.cidr();
        let placed = match prefix.addr() {
            IpAddr::V4(a) => {
                self.v4.insert(K4::from_addr(a), cidr, slot).map(|p| (NodeRef::v4(p.node), p))
            }
            IpAddr::V6(a) => {
                self.v6.insert(K6::from_addr(a), cidr, slot).map(|p| (NodeRef::v6(p.node), p))
            }
        };
        let (node, placed) = match placed {
            Ok(ok) => ok,
            Err(Full) => {
                self.release_if_empty(slot);
                return Err(AllowedIpsError::Full);
            }
        };
        // Like the kernel, a re-inserted prefix moves to the tail of its (new) peer's list.
        if placed.old_peer != NONE {
            self.unlink(placed.old_peer, node);
        }
        self.link_tail(slot, node);
        if placed.old_peer != NONE && placed.old_peer != slot {
            self.release_if_empty(placed.old_peer);
        }
        Ok(())
    }

    pub(crate) fn remove(&mut self, prefix: Prefix, peer: &T) -> bool {
        let Some(&slot) = self.ids.get(&peer.id()) else { return false };
        let cidr = prefix.cidr();
        let node = match prefix.addr() {
            IpAddr::V4(a) => self.v4.find_exact(K4::from_addr(a), cidr).map(NodeRef::v4),
            IpAddr::V6(a) => self.v6.find_exact(K6::from_addr(a), cidr).map(NodeRef::v6),
        };
        let Some(node) = node else { return false };
        if self.peer_slot_of(node) != slot {
            return false;
        }
        self.unlink(slot, node);
        self.trie_remove(node);
        self.release_if_empty(slot);
        true
    }

    pub(crate) fn remove_peer(&mut self, peer: &T) -> usize {
        let Some(&slot) = self.ids.get(&peer.id()) else { return 0 };
        let Some(entry) = self.slots.get_mut(slot as usize) else { return 0 };
        let (mut node, count) = (entry.head, entry.len);
        entry.head = NodeRef::NONE;
        entry.tail = NodeRef::NONE;
        entry.len = 0;
        // Bounded by the list length; trie removal frees only this node and peerless ones.
        for _ in 0..count {
            if node.is_none() {
                break;
            }
            let next = self.link(node).map_or(NodeRef::NONE, |l| l.next);
            self.trie_remove(node);
            node = next;
        }
        self.release_if_empty(slot);
        count
    }

    pub(crate) fn clear(&mut self) {
        *self = Inner::new();
    }

    #[inline]
    pub(crate) fn lookup_v4(&self, bytes: &[u8; 4]) -> Option<&T> {
        self.peer_at(self.v4.lookup(K4::from_bytes(bytes)))
    }

    #[inline]
    pub(crate) fn lookup_v6(&self, bytes: &[u8; 16]) -> Option<&T> {
        self.peer_at(self.v6.lookup(K6::from_bytes(bytes)))
    }

    pub(crate) fn lookup(&self, addr: IpAddr) -> Option<&T> {
        match addr {
            IpAddr::V4(a) => self.lookup_v4(&a.octets()),
            IpAddr::V6(a) => self.lookup_v6(&a.octets()),
        }
    }

    pub(crate) fn prefixes<'a>(&'a self, peer: &T) -> impl Iterator<Item = Prefix> + 'a {
        let slot = self.ids.get(&peer.id()).and_then(|&s| self.slots.get(s as usize));
        let (mut node, count) = slot.map_or((NodeRef::NONE, 0), |s| (s.head, s.len));
        (0..count).map_while(move |_| {
            let prefix = self.prefix_at(node)?;
            node = self.link(node).map_or(NodeRef::NONE, |l| l.next);
            Some(prefix)
        })
    }

    pub(crate) fn peer_prefix_count(&self, peer: &T) -> usize {
        let slot = self.ids.get(&peer.id()).and_then(|&s| self.slots.get(s as usize));
        slot.map_or(0, |s| s.len)
    }

    pub(crate) fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    pub(crate) fn peer_count(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn node_count(&self) -> usize {
        self.v4.node_count() + self.v6.node_count()
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.v4.memory_bytes()
            + self.v6.memory_bytes()
            + self.slots.capacity() * std::mem::size_of::<Slot<T>>()
            + self.free_slots.capacity() * std::mem::size_of::<u32>()
            // BTreeMap internals are private; count the payload only.
            + self.ids.len() * (std::mem::size_of::<T::Id>() + std::mem::size_of::<u32>())
    }

    pub(crate) fn reindex(&mut self) {
        self.v4.reindex();
        self.v6.reindex();
    }

    pub(crate) fn reindex_if_stale(&mut self) {
        if self.v4.index_stale() {
            self.v4.reindex();
        }
        if self.v6.index_stale() {
            self.v6.reindex();
        }
    }

    pub(crate) fn compact(&mut self) {
        let map4 = self.v4.compact();
        let map6 = self.v6.compact();
        let remap = |r: NodeRef| {
            let map = if r.is_v6() { &map6 } else { &map4 };
            match map.get(r.index() as usize) {
                Some(&i) if !r.is_none() && r.is_v6() => NodeRef::v6(i),
                Some(&i) if !r.is_none() => NodeRef::v4(i),
                _ => NodeRef::NONE,
            }
        };
        for link in self.v4.links_mut().chain(self.v6.links_mut()) {
            link.prev = remap(link.prev);
            link.next = remap(link.next);
        }
        for slot in &mut self.slots {
            slot.head = remap(slot.head);
            slot.tail = remap(slot.tail);
        }
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        self.v4.check()?;
        self.v6.check()?;
        let mut total = 0;
        for (slot, entry) in self.slots.iter().enumerate() {
            let Some(peer) = &entry.peer else { continue };
            if self.ids.get(&peer.id()) != Some(&(slot as u32)) || entry.len == 0 {
                return Err(format!("slot {slot}: id index mismatch or empty list"));
            }
            let (mut node, mut prev) = (entry.head, NodeRef::NONE);
            for _ in 0..entry.len {
                let Some(link) = self.link(node) else {
                    return Err(format!("slot {slot}: list shorter than {}", entry.len));
                };
                if link.prev != prev || self.peer_slot_of(node) != slot as u32 {
                    return Err(format!("slot {slot}: broken list at {node:?}"));
                }
                prev = node;
                node = link.next;
            }
            if !node.is_none() || entry.tail != prev {
                return Err(format!("slot {slot}: list longer than {}", entry.len));
            }
            total += entry.len;
        }
        if total != self.len() || self.ids.len() + self.free_slots.len() != self.slots.len() {
            return Err("per-peer lists do not cover the tries".into());
        }
        Ok(())
    }

    /// The peer handle stored in `slot`, for the Graphviz dump and lookups.
    pub(crate) fn peer_at(&self, slot: u32) -> Option<&T> {
        self.slots.get(slot as usize)?.peer.as_ref()
    }

    fn prefix_at(&self, node: NodeRef) -> Option<Prefix> {
        if node.is_v6() {
            let n = self.v6.node(node.index())?;
            Some(Prefix::v6(n.key.to_addr(), n.cidr()))
        } else {
            let n = self.v4.node(node.index())?;
            Some(Prefix::v4(n.key.to_addr(), n.cidr()))
        }
    }

    fn peer_slot_of(&self, node: NodeRef) -> u32 {
        let peer = if node.is_v6() {
            self.v6.node(node.index()).map(|n| n.peer())
        } else {
            self.v4.node(node.index()).map(|n| n.peer())
        };
        peer.unwrap_or(NONE)
    }

    fn trie_remove(&mut self, node: NodeRef) {
        if node.is_v6() {
            self.v6.remove(node.index());
        } else {
            self.v4.remove(node.index());
        }
    }

    fn link(&self, node: NodeRef) -> Option<&Link> {
        if node.is_none() {
            None
        } else if node.is_v6() {
            self.v6.link(node.index())
        } else {
            self.v4.link(node.index())
        }
    }

    fn link_mut(&mut self, node: NodeRef) -> Option<&mut Link> {
        if node.is_none() {
            None
        } else if node.is_v6() {
            self.v6.link_mut(node.index())
        } else {
            self.v4.link_mut(node.index())
        }
    }

    fn slot_for(&mut self, peer: T) -> Option<u32> {
        let id = peer.id();
        if let Some(&slot) = self.ids.get(&id) {
            return Some(slot);
        }
        if self.free_slots.is_empty() && self.slots.len() >= MAX_PEERS as usize {
            return None;
        }
        let entry = Slot { peer: Some(peer), head: NodeRef::NONE, tail: NodeRef::NONE, len: 0 };
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                if let Some(s) = self.slots.get_mut(slot as usize) {
                    *s = entry;
                }
                slot
            }
            None => {
                self.slots.push(entry);
                (self.slots.len() - 1) as u32
            }
        };
        self.ids.insert(id, slot);
        Some(slot)
    }

    fn release_if_empty(&mut self, slot: u32) {
        let Some(entry) = self.slots.get_mut(slot as usize) else { return };
        if entry.len != 0 {
            return;
        }
        if let Some(peer) = entry.peer.take() {
            self.ids.remove(&peer.id());
            self.free_slots.push(slot);
        }
    }

    fn unlink(&mut self, slot: u32, node: NodeRef) {
        let Some(link) = self.link_mut(node) else { return };
        let (prev, next) = (link.prev, link.next);
        link.prev = NodeRef::NONE;
        link.next = NodeRef::NONE;
        match self.link_mut(prev) {
            Some(l) => l.next = next,
            None => {
                if let Some(s) = self.slots.get_mut(slot as usize) {
                    s.head = next;
                }
            }
        }
        match self.link_mut(next) {
            Some(l) => l.prev = prev,
            None => {
                if let Some(s) = self.slots.get_mut(slot as usize) {
                    s.tail = prev;
                }
            }
        }
        if let Some(s) = self.slots.get_mut(slot as usize) {
            s.len -= 1;
        }
    }

    fn link_tail(&mut self, slot: u32, node: NodeRef) {
        let Some(tail) = self.slots.get(slot as usize).map(|s| s.tail) else { return };
        if let Some(link) = self.link_mut(node) {
            link.prev = tail;
            link.next = NodeRef::NONE;
        }
        match self.link_mut(tail) {
            Some(l) => l.next = node,
            None => {
                if let Some(s) = self.slots.get_mut(slot as usize) {
                    s.head = node;
                }
            }
        }
        if let Some(s) = self.slots.get_mut(slot as usize) {
            s.tail = node;
            s.len += 1;
        }
    }
}
