//! One address family's path-compressed binary trie, stored in an index arena.
//!
//! The layout follows the kernel's `allowedips.c` (2021 rewrite): a node holds a masked
//! key, its prefix length and two children; a node without a peer always has two
//! children, so removing a prefix splices out at most two nodes. Children and parents are
//! `u32` indices into `nodes` rather than pointers, so a snapshot is cloned with one copy
//! and a lookup touches one compact array. Rarely used fields (parent, per-peer list
//! links) live in the parallel `links` array, off the lookup's cache lines.

use super::key::Key;

mod index;

use index::Jump;

/// "No node" / "no peer" marker for indices.
pub(crate) const NONE: u32 = u32::MAX;

/// Node indices stay below this, so the top bit of a [`NodeRef`] can carry the family.
const MAX_NODES: usize = 1 << 31;

/// A node in either trie: the index, with the top bit set for the IPv6 trie.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct NodeRef(pub(crate) u32);

impl NodeRef {
    pub(crate) const NONE: NodeRef = NodeRef(NONE);
    const V6: u32 = 1 << 31;

    pub(crate) fn v4(index: u32) -> Self {
        NodeRef(index)
    }
    pub(crate) fn v6(index: u32) -> Self {
        NodeRef(index | Self::V6)
    }
    pub(crate) fn is_none(self) -> bool {
        self.0 == NONE
    }
    pub(crate) fn is_v6(self) -> bool {
        self.0 & Self::V6 != 0
    }
    pub(crate) fn index(self) -> u32 {
        self.0 & !Self::V6
    }
}

/// Peer slots stay below this: the slot shares a `u32` with the prefix length.
pub(crate) const MAX_PEERS: u32 = (1 << 24) - 1;

/// The part of a node a lookup reads: 16 bytes for IPv4, 32 for IPv6, so a node never
/// straddles a cache line and an index becomes an address with one shift.
#[derive(Clone, Copy)]
pub(crate) struct Node<K> {
    /// The prefix, masked to `cidr` bits.
    pub(crate) key: K,
    /// Child indices by the bit at position `cidr`.
    children: [u32; 2],
    /// Peer slot in the high 24 bits (all ones for a branching node), prefix length low.
    meta: u32,
}

impl<K> Node<K> {
    fn new(key: K, cidr: u8, peer: u32) -> Self {
        Node { key, children: [NONE; 2], meta: (peer << 8) | u32::from(cidr) }
    }

    /// Prefix length.
    #[inline(always)]
    pub(crate) fn cidr(&self) -> u8 {
        self.meta as u8
    }

    /// Peer slot, or [`NONE`] for a branching node.
    #[inline(always)]
    pub(crate) fn peer(&self) -> u32 {
        match self.meta >> 8 {
            MAX_PEERS => NONE,
            slot => slot,
        }
    }

    fn set_peer(&mut self, peer: u32) {
        self.meta = (peer << 8) | (self.meta & 0xff);
    }

    /// The two children, if present.
    pub(crate) fn children(&self) -> [Option<u32>; 2] {
        self.children.map(|c| (c != NONE).then_some(c))
    }
}

/// The part of a node only updates read.
#[derive(Clone, Copy)]
pub(crate) struct Link {
    parent: u32,
    /// Previous entry in the owning peer's list.
    pub(crate) prev: NodeRef,
    /// Next entry in the owning peer's list.
    pub(crate) next: NodeRef,
}

const EMPTY_LINK: Link = Link { parent: NONE, prev: NodeRef::NONE, next: NodeRef::NONE };

/// Where an insert put its prefix.
pub(crate) struct Placed {
    /// The node now holding the prefix.
    pub(crate) node: u32,
    /// The peer slot the prefix had before, or [`NONE`] if it is new.
    pub(crate) old_peer: u32,
}

/// Returned when the arena has no index left.
pub(crate) struct Full;

/// A trie for one address family.
///
/// The optional top-level index (`jump`, built by [`Trie::reindex`]) is a direct table on
/// the `jump_bits` address bits that follow the root's prefix (which every stored prefix
/// below the root shares), so a lookup skips the trie's top levels: LC-trie style level
/// compression on top of the kernel's layout. Inserts and removes rewrite only the slots
/// under the changed prefix; when the root moves, or rewrites since the last rebuild
/// exceed the index's size (a bulk load), they drop it instead, and lookups start at the
/// root until the next [`Trie::reindex`].
#[derive(Clone)]
pub(crate) struct Trie<K> {
    nodes: Vec<Node<K>>,
    links: Vec<Link>,
    free: Vec<u32>,
    root: u32,
    prefixes: usize,
    jump: Vec<Jump>,
    jump_bits: u8,
    /// The root's index, prefix length and key, copied here when the index is built.
    jump_root_index: u32,
    jump_skip: u8,
    jump_root: K,
    /// Slot rewrites left before an update drops the index rather than patch it.
    jump_budget: usize,
}

impl<K: Key> Trie<K> {
    pub(crate) fn new() -> Self {
        Trie {
            nodes: Vec::new(),
            links: Vec::new(),
            free: Vec::new(),
            root: NONE,
            prefixes: 0,
            jump: Vec::new(),
            jump_bits: 0,
            jump_root_index: NONE,
            jump_skip: 0,
            jump_root: K::ZERO,
            jump_budget: 0,
        }
    }

    /// Number of stored prefixes.
    pub(crate) fn len(&self) -> usize {
        self.prefixes
    }

    /// Longest-prefix match: the peer slot of the most specific prefix holding `key`.
    #[inline]
    pub(crate) fn lookup(&self, key: K) -> u32 {
        let (mut index, mut found) = match self.jump.get(key.bits(self.jump_skip, self.jump_bits)) {
            Some(jump) => {
                if !self.jump_root.prefix_matches(key, self.jump_skip) {
                    return NONE;
                }
                (jump.start, jump.best)
            }
            None => (self.root, NONE),
        };
        while let Some(node) = self.nodes.get(index as usize) {
            if !node.key.prefix_matches(key, node.cidr()) {
                break;
            }
            if node.peer() != NONE {
                found = node.peer();
            }
            // A full-length node has no children, so the arbitrary bit ends the walk.
            index = node.children[key.bit(node.cidr()) & 1];
        }
        found
    }

    /// The node holding exactly `key/cidr` (`key` already masked), if any.
    pub(crate) fn find_exact(&self, key: K, cidr: u8) -> Option<u32> {
        let mut index = self.root;
        while let Some(node) = self.nodes.get(index as usize) {
            if node.cidr() > cidr || !node.key.prefix_matches(key, node.cidr()) {
                return None;
            }
            if node.cidr() == cidr {
                return (node.peer() != NONE).then_some(index);
            }
            index = node.children[key.bit(node.cidr()) & 1];
        }
        None
    }

    /// Stores `key/cidr` (`key` already masked) for `peer`, replacing any previous peer.
    pub(crate) fn insert(&mut self, key: K, cidr: u8, peer: u32) -> Result<Placed, Full> {
        let placed = self.place(key, cidr, peer)?;
        self.refresh(key, cidr);
        Ok(placed)
    }

    /// Clears the prefix at `index` and splices out nodes left without a purpose.
    /// The caller has already unlinked it from its peer's list.
    pub(crate) fn remove(&mut self, index: u32) {
        let Some(&node) = self.nodes.get(index as usize) else { return };
        if node.peer() == NONE {
            return;
        }
        self.unplace(index);
        self.refresh(node.key, node.cidr());
    }

    fn place(&mut self, key: K, cidr: u8, peer: u32) -> Result<Placed, Full> {
        let mut parent = NONE;
        let mut index = self.root;
        while let Some(node) = self.nodes.get_mut(index as usize) {
            if node.cidr() > cidr || !node.key.prefix_matches(key, node.cidr()) {
                break;
            }
            if node.cidr() == cidr {
                let old_peer = node.peer();
                node.set_peer(peer);
                if old_peer == NONE {
                    self.prefixes += 1;
                }
                return Ok(Placed { node: index, old_peer });
            }
            parent = index;
            index = node.children[key.bit(node.cidr()) & 1];
        }
        if self.free.len() + MAX_NODES.saturating_sub(self.nodes.len()) < 2 {
            return Err(Full);
        }
        let new = self.alloc(Node::new(key, cidr, peer));
        self.prefixes += 1;
        // `index` is the subtree now occupying the new node's place, if any.
        let Some(down) = self.nodes.get(index as usize).map(|n| n.key) else {
            self.attach(parent, new, key);
            return Ok(Placed { node: new, old_peer: NONE });
        };
        let common = cidr.min(down.common_bits(key));
        if common == cidr {
            self.attach(new, index, down);
            self.attach(parent, new, key);
        } else {
            let branch = key.masked(common);
            let fork = self.alloc(Node::new(branch, common, NONE));
            self.attach(fork, index, down);
            self.attach(fork, new, key);
            self.attach(parent, fork, branch);
        }
        Ok(Placed { node: new, old_peer: NONE })
    }

    fn unplace(&mut self, index: u32) {
        let Some(node) = self.nodes.get_mut(index as usize) else { return };
        if node.peer() == NONE {
            return;
        }
        node.set_peer(NONE);
        self.prefixes -= 1;
        let [left, right] = node.children;
        if left != NONE && right != NONE {
            return;
        }
        let child = if left != NONE { left } else { right };
        let parent = self.parent(index);
        self.replace_child(parent, index, child);
        self.release(index);
        // A peerless parent had two children; if this was a leaf it now has one.
        let Some(up) = self.nodes.get(parent as usize) else { return };
        if child != NONE || up.peer() != NONE {
            return;
        }
        let sibling = if up.children[0] != NONE { up.children[0] } else { up.children[1] };
        let grandparent = self.parent(parent);
        self.replace_child(grandparent, parent, sibling);
        self.release(parent);
    }

    /// The per-peer list links of a live node.
    pub(crate) fn link_mut(&mut self, index: u32) -> Option<&mut Link> {
        self.links.get_mut(index as usize)
    }

    /// The per-peer list links of a live node.
    pub(crate) fn link(&self, index: u32) -> Option<&Link> {
        self.links.get(index as usize)
    }

    /// A live node.
    pub(crate) fn node(&self, index: u32) -> Option<&Node<K>> {
        self.nodes.get(index as usize)
    }

    /// Live nodes in depth-first order (for the Graphviz dump).
    pub(crate) fn walk(&self) -> Vec<(u32, Node<K>)> {
        let mut out = Vec::new();
        let mut stack = vec![self.root];
        while let Some(index) = stack.pop() {
            let Some(&node) = self.nodes.get(index as usize) else { continue };
            out.push((index, node));
            stack.extend(node.children.iter().rev().filter(|&&c| c != NONE));
        }
        out
    }

    /// Bytes held by this trie's arrays (capacity, not just length).
    pub(crate) fn memory_bytes(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node<K>>()
            + self.links.capacity() * std::mem::size_of::<Link>()
            + self.free.capacity() * std::mem::size_of::<u32>()
            + self.jump.capacity() * std::mem::size_of::<Jump>()
    }

    /// Number of live nodes (stored prefixes plus branching nodes).
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len() - self.free.len()
    }

    /// Rebuilds the arena in depth-first preorder, so a lookup's next node is often on
    /// the cache line it already loaded, and drops free slots. Returns the old-to-new
    /// index map; per-peer list links (`prev`/`next`) are left for the caller to remap.
    pub(crate) fn compact(&mut self) -> Vec<u32> {
        let mut map = vec![NONE; self.nodes.len()];
        let mut nodes = Vec::with_capacity(self.node_count());
        let mut links = Vec::with_capacity(self.node_count());
        let mut stack = vec![self.root];
        while let Some(old) = stack.pop() {
            let (Some(&node), Some(&link)) =
                (self.nodes.get(old as usize), self.links.get(old as usize))
            else {
                continue;
            };
            if let Some(slot) = map.get_mut(old as usize) {
                *slot = nodes.len() as u32;
            }
            nodes.push(node);
            links.push(link);
            stack.extend([node.children[1], node.children[0]]);
        }
        let remap = |i: u32| map.get(i as usize).copied().unwrap_or(NONE);
        for node in &mut nodes {
            node.children = node.children.map(remap);
        }
        for link in &mut links {
            link.parent = remap(link.parent);
        }
        self.root = remap(self.root);
        self.nodes = nodes;
        self.links = links;
        self.free = Vec::new();
        self.reindex();
        map
    }

    /// Every live node's per-peer list links, for remapping after [`Trie::compact`].
    pub(crate) fn links_mut(&mut self) -> impl Iterator<Item = &mut Link> {
        self.links.iter_mut()
    }

    /// Checks the structural invariants; `Err` names the first one broken.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.parent(self.root) != NONE {
            return Err("root has a parent".into());
        }
        let (mut seen, mut with_peer) = (0usize, 0usize);
        let mut stack = vec![self.root];
        while let Some(index) = stack.pop() {
            let Some(node) = self.nodes.get(index as usize) else { continue };
            seen += 1;
            if seen > self.nodes.len() {
                return Err("cycle".into());
            }
            if node.cidr() > K::BITS || node.key != node.key.masked(node.cidr()) {
                return Err(format!("node {index}: bad cidr or unmasked key"));
            }
            if node.peer() != NONE {
                with_peer += 1;
            } else if node.children.contains(&NONE) {
                return Err(format!("node {index}: peerless with fewer than two children"));
            }
            for (bit, &child) in node.children.iter().enumerate() {
                let Some(c) = self.nodes.get(child as usize) else { continue };
                let ok = self.parent(child) == index
                    && c.cidr() > node.cidr()
                    && node.key.prefix_matches(c.key, node.cidr())
                    && c.key.bit(node.cidr()) == bit;
                if !ok {
                    return Err(format!("node {index}: bad child {child} at bit {bit}"));
                }
                stack.push(child);
            }
        }
        self.check_index()?;
        if with_peer != self.prefixes || seen != self.node_count() {
            return Err(format!(
                "counted {with_peer} prefixes / {seen} nodes, expected {} / {}",
                self.prefixes,
                self.node_count()
            ));
        }
        Ok(())
    }

    fn alloc(&mut self, node: Node<K>) -> u32 {
        match self.free.pop() {
            Some(index) => {
                if let Some(slot) = self.nodes.get_mut(index as usize) {
                    *slot = node;
                }
                index
            }
            None => {
                self.nodes.push(node);
                self.links.push(EMPTY_LINK);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    fn release(&mut self, index: u32) {
        if let Some(node) = self.nodes.get_mut(index as usize) {
            node.children = [NONE; 2];
            node.set_peer(NONE);
        }
        if let Some(link) = self.links.get_mut(index as usize) {
            *link = EMPTY_LINK;
        }
        if index as usize + 1 == self.nodes.len() {
            self.nodes.pop();
            self.links.pop();
        } else {
            self.free.push(index);
        }
    }

    fn parent(&self, index: u32) -> u32 {
        self.links.get(index as usize).map_or(NONE, |l| l.parent)
    }

    /// Makes `child` (keyed `child_key`) a child of `parent`, or the root if `parent` is NONE.
    fn attach(&mut self, parent: u32, child: u32, child_key: K) {
        match self.nodes.get_mut(parent as usize) {
            Some(up) => {
                let bit = child_key.bit(up.cidr()) & 1;
                up.children[bit] = child;
            }
            None => self.root = child,
        }
        if let Some(link) = self.links.get_mut(child as usize) {
            link.parent = parent;
        }
    }

    /// Points `parent`'s edge to `old` (or the root) at `new` instead; `new` may be NONE.
    fn replace_child(&mut self, parent: u32, old: u32, new: u32) {
        match self.nodes.get_mut(parent as usize) {
            Some(up) => {
                for child in &mut up.children {
                    if *child == old {
                        *child = new;
                    }
                }
            }
            None => self.root = new,
        }
        if let Some(link) = self.links.get_mut(new as usize) {
            link.parent = parent;
        }
    }
}
