//! The top-level index: a direct table on the address bits below the root's prefix,
//! built in one pass, patched per update, and checked slot by slot against the trie.

use super::{Key, Trie, NONE};

/// One slot of the top-level index: where a lookup for addresses starting with these `k`
/// bits resumes, and the best peer found on the way down to there.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Jump {
    pub(super) start: u32,
    pub(super) best: u32,
}

/// Tries with fewer nodes than this get no top-level index.
const MIN_INDEXED_NODES: usize = 16;
/// The top-level index never exceeds 2^16 slots (512 KiB).
const MAX_INDEX_BITS: u8 = 16;

impl<K: Key> Trie<K> {
    /// Rebuilds the top-level index with about one slot per node (at most 2^16), in
    /// O(slots + nodes above the index depth).
    pub(crate) fn reindex(&mut self) {
        let mut jump = std::mem::take(&mut self.jump);
        jump.clear();
        let bits = self.ideal_index_bits();
        let Some(&root) = self.nodes.get(self.root as usize) else { return };
        if bits == 0 {
            return;
        }
        self.jump_bits = bits;
        self.jump_root_index = self.root;
        self.jump_skip = root.cidr();
        self.jump_root = root.key;
        self.jump_budget = 1 << bits;
        jump.resize(1 << bits, Jump { start: NONE, best: NONE });
        self.fill(&mut jump, self.root, 0, bits, NONE);
        self.jump = jump;
    }

    /// Whether [`Trie::reindex`] would build a different index: none yet (or dropped) on
    /// a trie big enough for one, or one sized for a table 4x smaller or larger.
    pub(crate) fn index_stale(&self) -> bool {
        let ideal = self.ideal_index_bits();
        match self.jump.is_empty() {
            true => ideal > 0,
            false => ideal.abs_diff(self.jump_bits) >= 2,
        }
    }

    fn ideal_index_bits(&self) -> u8 {
        let nodes = self.node_count();
        let Some(root) = self.nodes.get(self.root as usize) else { return 0 };
        if nodes < MIN_INDEXED_NODES {
            return 0;
        }
        (nodes.ilog2() as u8).min(MAX_INDEX_BITS).min(K::BITS - root.cidr())
    }

    /// Brings the index up to date after `key/cidr` changed by refilling only the slots
    /// under that prefix; drops it when that is not possible or not worth it.
    pub(super) fn refresh(&mut self, key: K, cidr: u8) {
        if self.jump.is_empty() {
            return;
        }
        let (skip, k) = (self.jump_skip, self.jump_bits);
        let end = skip + k;
        let width = end.saturating_sub(cidr);
        let cost = 1usize << width;
        let root_moved = self.root != self.jump_root_index
            || !self
                .nodes
                .get(self.root as usize)
                .is_some_and(|r| r.cidr() == skip && r.key == self.jump_root);
        if root_moved || cidr < skip || cost > self.jump_budget {
            self.jump.clear();
            return;
        }
        self.jump_budget -= cost;
        // Walk to where the slots under `key/cidr` split off, collecting the best peer.
        let target = cidr.min(end);
        let (mut index, mut best) = (self.root, NONE);
        while let Some(n) = self.nodes.get(index as usize) {
            if n.cidr() >= target || !n.key.prefix_matches(key, n.cidr()) {
                break;
            }
            if n.peer() != NONE {
                best = n.peer();
            }
            index = n.children[key.bit(n.cidr()) & 1];
        }
        let mut jump = std::mem::take(&mut self.jump);
        self.fill(&mut jump, index, key.bits(skip, k), width, best);
        self.jump = jump;
    }

    /// Fills the index slots `lo .. lo + 2^width`, all of which reach `node`'s position in
    /// the trie with `best` as the best peer so far.
    fn fill(&self, jump: &mut [Jump], node: u32, lo: usize, width: u8, best: u32) {
        let (skip, k) = (self.jump_skip, self.jump_bits);
        let empty = Jump { start: NONE, best };
        let Some(range) = jump.get_mut(lo..lo + (1usize << width)) else { return };
        let Some(n) = self.nodes.get(node as usize) else { return range.fill(empty) };
        let top = n.key.bits(skip, k);
        let Some(offset) = top.checked_sub(lo).filter(|&o| o < range.len()) else {
            // The node's prefix excludes this whole range: the walk stops here.
            return range.fill(empty);
        };
        if n.cidr() >= skip + k {
            range.fill(empty);
            if let Some(slot) = range.get_mut(offset) {
                *slot = Jump { start: node, best };
            }
            return;
        }
        // Only the slots inside the node's prefix continue below it.
        let inside = 1usize << (skip + k - n.cidr());
        if let Some(before) = range.get_mut(..offset) {
            before.fill(empty);
        }
        if let Some(after) = range.get_mut(offset + inside..) {
            after.fill(empty);
        }
        let best = if n.peer() != NONE { n.peer() } else { best };
        let half = skip + k - n.cidr() - 1;
        self.fill(jump, n.children[0], top, half, best);
        self.fill(jump, n.children[1], top + (inside >> 1), half, best);
    }

    /// Checks every index slot against a walk from the root, bit by bit.
    pub(super) fn check_index(&self) -> Result<(), String> {
        let (skip, k) = (self.jump_skip, self.jump_bits);
        let end = skip + k;
        for (v, &slot) in self.jump.iter().enumerate() {
            let (mut index, mut best) = (self.root, NONE);
            let want = loop {
                let Some(n) = self.nodes.get(index as usize) else {
                    break Jump { start: NONE, best };
                };
                if n.cidr() >= end {
                    let start = if n.key.bits(skip, k) == v { index } else { NONE };
                    break Jump { start, best };
                }
                let shift = end - n.cidr();
                if n.key.bits(skip, k) >> shift != v >> shift {
                    break Jump { start: NONE, best };
                }
                if n.peer() != NONE {
                    best = n.peer();
                }
                index = n.children[(v >> (shift - 1)) & 1];
            };
            if slot != want {
                return Err(format!("index slot {v}: {slot:?}, walk gives {want:?}"));
            }
        }
        Ok(())
    }
}
