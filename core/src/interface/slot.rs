//! The interface's slot for one peer: the sans-IO [`crate::peer::Peer`] behind a mutex,
//! plus what the interface keeps beside it (timer deadline for the lock-free scan,
//! counters the protocol layer does not keep).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use parking_lot::Mutex;
use rand_core::CryptoRngCore;

use crate::error::DropReason;
use crate::keypair::Keypair;
use crate::keys::PublicKey;
use crate::peer::{IndexAllocator, Peer as ProtoPeer};
use crate::peer_lookup::IndexTable;

/// What a receiver index points at: a peer, and its keypair once one exists (an index
/// without a keypair is a pending initiation or response being made).
#[derive(Clone)]
pub(crate) struct IndexEntry {
    pub(crate) peer: Arc<PeerSlot>,
    pub(crate) keypair: Option<Arc<Keypair>>,
}

/// One configured peer (opaque outside the interface: a handle the batch records carry).
pub struct PeerSlot {
    /// The peer's static public key.
    pub(crate) public_key: PublicKey,
    /// The protocol state; `None` while the device has no private key.
    pub(crate) proto: Mutex<Option<ProtoPeer>>,
    /// The earliest timer deadline, in nanoseconds after the device's base instant
    /// (`u64::MAX`: none); lets the control thread scan timers without locking.
    pub(crate) next_deadline: AtomicU64,
    /// Set when the peer was removed from the configuration.
    pub(crate) removed: AtomicBool,
    /// Counters kept by the engine.
    pub(crate) counters: PeerCounters,
}

/// Per-peer counters, updated with relaxed atomics on the data path.
#[derive(Default)]
pub(crate) struct PeerCounters {
    pub(crate) rx_packets: AtomicU64,
    pub(crate) tx_packets: AtomicU64,
    pub(crate) handshakes: AtomicU64,
    drops: [AtomicU64; DropReason::COUNT],
}

impl PeerCounters {
    pub(crate) fn drop(&self, reason: DropReason) {
        if let Some(c) = self.drops.get(reason.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn drops(&self) -> [u64; DropReason::COUNT] {
        std::array::from_fn(|i| self.drops.get(i).map_or(0, |c| c.load(Ordering::Relaxed)))
    }
}

impl PeerSlot {
    /// The peer's static public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// An empty slot; the protocol state is installed by the caller (it needs the
    /// slot's `Weak` for its index allocator).
    pub(crate) fn new(public_key: PublicKey) -> Self {
        Self {
            public_key,
            proto: Mutex::new(None),
            next_deadline: AtomicU64::new(u64::MAX),
            removed: AtomicBool::new(false),
            counters: PeerCounters::default(),
        }
    }

    /// Records the earliest timer deadline (0 while an initiation waits to be created)
    /// for the lock-free scan and returns it (see
    /// `Interface::publish_deadline`, which also lowers the device-wide minimum).
    pub(crate) fn publish_deadline(&self, proto: Option<&ProtoPeer>, base: Instant) -> u64 {
        // A deferred initiation is due at once: the control thread creates it.
        let at = if proto.is_some_and(ProtoPeer::wants_initiation) {
            0
        } else {
            proto.and_then(|p| p.poll_timeout()).map_or(u64::MAX, |(at, _)| {
                u64::try_from(at.saturating_duration_since(base).as_nanos()).unwrap_or(u64::MAX)
            })
        };
        self.next_deadline.store(at, Ordering::Relaxed);
        at
    }
}

/// The engine's [`IndexAllocator`] for one peer: indices live in the device-wide
/// table, pointing back at the peer's slot.
pub(crate) struct SlotIndices {
    pub(crate) table: Arc<IndexTable<IndexEntry>>,
    pub(crate) slot: Weak<PeerSlot>,
}

impl IndexAllocator for SlotIndices {
    fn allocate(&self, rng: &mut dyn CryptoRngCore) -> u32 {
        let Some(peer) = self.slot.upgrade() else {
            // The peer is being torn down; the index will never be looked up.
            return rng.next_u32();
        };
        let entry = IndexEntry { peer, keypair: None };
        match self.table.insert_new(rng, entry) {
            Ok(index) => index,
            // Table full or no free index after many draws: a random index still works
            // for sending; packets to it are just not routed back (dropped, counted).
            Err(_) => rng.next_u32(),
        }
    }

    fn release(&self, index: u32) {
        let ours = self
            .table
            .with(index, |e| std::ptr::eq(e.peer.as_ref(), self.slot.as_ptr()))
            .unwrap_or(false);
        if ours {
            self.table.remove(index);
        }
    }
}
