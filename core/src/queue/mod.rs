//! Bounded MPMC rings (locked and lock-free).
//!
//! [`Ring`] is the one interface the engine programs against; [`LockedRing`] (a
//! `parking_lot` mutex around a fixed-capacity deque, the kernel's ptr_ring in spirit) and
//! [`LockFreeRing`] (Dmitry Vyukov's bounded MPMC array queue, with batched claims) both
//! implement it. `docs/performance.md` has the side-by-side numbers.
//!
//! This is the one core module allowed to use `unsafe`, and only in `lockfree`, where
//! every block carries a `// SAFETY:` line and a loom model test covers the protocol.

mod locked;
#[allow(unsafe_code)]
mod lockfree;
#[cfg(all(test, loom))]
mod loom;
mod sync;

pub use locked::LockedRing;
pub use lockfree::LockFreeRing;

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
