//! The current / previous / next keypair slots and their rotation (kernel `noise.c`:
//! `add_new_keypair`, `wg_noise_received_with_keypair`).

use std::sync::Arc;

use crate::keypair::Keypair;

/// A peer's keypairs. The initiator's new keypair is usable at once and becomes
/// current; the responder's waits in `next` until the first data message under it
/// arrives (proof that the initiator has it too).
#[derive(Debug, Default)]
pub(crate) struct Keypairs {
    pub(crate) current: Option<Arc<Keypair>>,
    pub(crate) previous: Option<Arc<Keypair>>,
    pub(crate) next: Option<Arc<Keypair>>,
}

impl Keypairs {
    /// Installs a freshly derived keypair; returns the keypairs it pushed out.
    pub(crate) fn add(&mut self, new: Arc<Keypair>) -> Vec<Arc<Keypair>> {
        let mut dropped = Vec::new();
        if new.is_initiator() {
            if let Some(next) = self.next.take() {
                // A pending responder keypair was never confirmed; the kernel keeps it
                // as previous (the peer may still use it) and frees the current one.
                dropped.extend(self.previous.replace(next));
                dropped.extend(self.current.take());
            } else {
                dropped.extend(std::mem::replace(&mut self.previous, self.current.take()));
            }
            self.current = Some(new);
        } else {
            dropped.extend(self.next.replace(new));
            dropped.extend(self.previous.take());
        }
        dropped
    }

    /// A data message authenticated under the keypair with local index `index`: if it
    /// is the pending `next` keypair, promotes it to current (returns
    /// `Some(dropped previous)` in that case).
    pub(crate) fn received_with(&mut self, index: u32) -> Option<Option<Arc<Keypair>>> {
        let is_next = self.next.as_ref().is_some_and(|n| n.local_index() == index);
        if !is_next {
            return None;
        }
        let next = self.next.take();
        let dropped = std::mem::replace(&mut self.previous, self.current.take());
        self.current = next;
        Some(dropped)
    }

    /// The keypair whose local index is `index`.
    pub(crate) fn by_index(&self, index: u32) -> Option<&Arc<Keypair>> {
        [&self.current, &self.previous, &self.next]
            .into_iter()
            .flatten()
            .find(|k| k.local_index() == index)
    }

    /// Removes every keypair and returns them.
    pub(crate) fn clear(&mut self) -> Vec<Arc<Keypair>> {
        [self.current.take(), self.previous.take(), self.next.take()]
            .into_iter()
            .flatten()
            .collect()
    }

    /// Local indices of all keypairs held.
    pub(crate) fn indices(&self) -> impl Iterator<Item = u32> + '_ {
        [&self.current, &self.previous, &self.next].into_iter().flatten().map(|k| k.local_index())
    }
}
