//! Bounded MPMC rings (locked and lock-free) and ordered parallel crypto.
//!
//! [`Ring`] is the one interface the engine programs against; [`LockedRing`] (a
//! `parking_lot` mutex around a fixed-capacity deque, the kernel's ptr_ring in spirit) and
//! [`LockFreeRing`] (Dmitry Vyukov's bounded MPMC array queue, with batched claims) both
//! implement it. `docs/performance.md` has the side-by-side numbers.
//!
//! [`Ordered`] is the kernel's "serial queue + parallel queue" design: jobs of one
//! [`Flow`] (a peer) are processed by any number of workers but leave strictly in
//! submission order.
//!
//! ```
//! use std::sync::Arc;
//! use ferrowg_core::queue::{Dispatch, Flow, Ordered};
//!
//! // Device-wide: the parallel queue and the step workers run (sealing, in the engine).
//! let ordered = Arc::new(Ordered::new(1024, |job: &mut Vec<u8>| job.reverse()));
//! // Per peer: its serial queue.
//! let peer = Flow::new(7, 1024);
//! ordered.submit(&peer, vec![1, 2, 3], Dispatch::Parallel).unwrap();
//! ordered.submit(&peer, vec![4, 5], Dispatch::Inline).unwrap();
//! assert_eq!(peer.pop_ready(), None); // the first job still waits for a worker
//! let woken = ordered.work().unwrap(); // on a worker thread
//! assert_eq!(woken.id(), 7); // tells the engine whose consumer to wake
//! assert_eq!(peer.pop_ready(), Some(vec![3, 2, 1]));
//! assert_eq!(peer.pop_ready(), Some(vec![5, 4]));
//! ```
//!
//! This is the one core module allowed to use `unsafe`, and only in `lockfree`, where
//! every block carries a `// SAFETY:` line and a loom model test covers the protocol.

mod locked;
#[allow(unsafe_code)]
mod lockfree;
#[cfg(all(test, loom))]
mod loom;
mod ordered;
mod sync;

pub use locked::LockedRing;
pub use lockfree::LockFreeRing;
pub use ordered::{Dispatch, Flow, FlowFull, Ordered, Ticket};

/// A bounded multi-producer multi-consumer FIFO queue.
///
/// Items pushed by one producer are popped in the order that producer pushed them; a
/// batch is claimed as one contiguous run, so it stays contiguous and in order.
pub trait Ring<T>: Send + Sync {
    /// Appends `item`, or hands it back when the ring is full.
    fn push(&self, item: T) -> Result<(), T>;

    /// Removes the oldest item, or `None` when the ring is empty.
    fn pop(&self) -> Option<T>;

    /// Moves as many items as fit from the front of `items` into the ring, in order, and
    /// removes them from `items`. Returns how many were moved (0 when full).
    fn push_batch(&self, items: &mut Vec<T>) -> usize;

    /// Appends up to `max` of the oldest items to `out`, in order. Returns how many.
    fn pop_batch(&self, out: &mut Vec<T>, max: usize) -> usize;

    /// The number of items the ring holds when full.
    fn capacity(&self) -> usize;

    /// The number of items in the ring (a snapshot; other threads may change it at once).
    fn len(&self) -> usize;

    /// Whether the ring held no items at the moment of the call.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
