//! The lock-free ring: Dmitry Vyukov's bounded MPMC array queue.
//!
//! Every slot carries a sequence number that says whose turn it is. For position `p`
//! (slot `p & mask`): `seq == p` means free for the producer of `p`; `seq == p + 1` means
//! holding the item written at `p`; the consumer of `p` then sets `seq = p + capacity`,
//! freeing the slot for the producer one lap later. Producers claim positions with a CAS
//! on `tail`, consumers with a CAS on `head`; the slot hand-off itself is a release store
//! of `seq` paired with an acquire load.
//!
//! Batches claim a whole run of consecutive ready slots with one CAS: a later slot at
//! position `p + k` that already shows `seq == p + k` can only be claimed by whoever moves
//! `tail` from `p`, because positions are claimed in order.

use std::mem::MaybeUninit;

use super::sync::{AtomicUsize, Ordering, UnsafeCell};
use super::Ring;

/// A bounded lock-free MPMC ring. The capacity is rounded up to a power of two.
pub struct LockFreeRing<T> {
    head: CachePadded<AtomicUsize>,
    tail: CachePadded<AtomicUsize>,
    slots: Box<[Slot<T>]>,
    mask: usize,
}

struct Slot<T> {
    seq: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// Keeps `head` and `tail` on separate cache lines (128 bytes covers adjacent-line
/// prefetch on x86 and the 128-byte lines of Apple cores).
#[repr(align(128))]
struct CachePadded<T>(T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

// SAFETY: items move between threads only through the ring (so `T: Send` suffices), and
// each slot's value is accessed only by the one thread that claimed its position.
unsafe impl<T: Send> Send for LockFreeRing<T> {}
// SAFETY: as above; shared access is mediated by the atomic sequence protocol.
unsafe impl<T: Send> Sync for LockFreeRing<T> {}

impl<T> LockFreeRing<T> {
    /// A ring holding at least `capacity` items (rounded up to a power of two, at least 2).
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(2).next_power_of_two();
        let slots = (0..capacity)
            .map(|i| Slot {
                seq: AtomicUsize::new(i),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            })
            .collect();
        Self {
            head: CachePadded(AtomicUsize::new(0)),
            tail: CachePadded(AtomicUsize::new(0)),
            slots,
            mask: capacity - 1,
        }
    }

    fn slot(&self, pos: usize) -> &Slot<T> {
        &self.slots[pos & self.mask]
    }

    /// Claims up to `want` consecutive positions whose slots are in state `ready(pos)`,
    /// moving `cursor` past them. Returns the first claimed position and the count.
    fn claim(
        &self,
        cursor: &AtomicUsize,
        want: usize,
        ready: impl Fn(usize) -> usize,
    ) -> (usize, usize) {
        if want == 0 {
            return (0, 0);
        }
        let mut pos = cursor.load(Ordering::Relaxed);
        loop {
            let first = self.slot(pos).seq.load(Ordering::Acquire);
            let diff = first.wrapping_sub(ready(pos)) as isize;
            if diff < 0 {
                // Full (producer side) or empty (consumer side).
                return (pos, 0);
            }
            if diff > 0 {
                // Another thread claimed `pos` after we read the cursor.
                pos = cursor.load(Ordering::Relaxed);
                continue;
            }
            let mut n = 1;
            while n < want
                && self.slot(pos.wrapping_add(n)).seq.load(Ordering::Acquire)
                    == ready(pos.wrapping_add(n))
            {
                n += 1;
            }
            match cursor.compare_exchange_weak(
                pos,
                pos.wrapping_add(n),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return (pos, n),
                Err(now) => pos = now,
            }
        }
    }

    fn write(&self, pos: usize, item: T) {
        let slot = self.slot(pos);
        // SAFETY: this thread won the CAS for `pos` and the slot showed `seq == pos`, so no
        // other thread reads or writes the value until we publish `seq = pos + 1` below.
        slot.value.with_mut(|v| unsafe { (*v).write(item) });
        slot.seq.store(pos.wrapping_add(1), Ordering::Release);
    }

    fn read(&self, pos: usize) -> T {
        let slot = self.slot(pos);
        // SAFETY: this thread won the CAS for `pos` and the slot showed `seq == pos + 1`
        // (acquire), so the producer's write is complete and visible and the value is
        // initialized; nobody else touches it until we publish `seq = pos + capacity`.
        let item = slot.value.with_mut(|v| unsafe { (*v).assume_init_read() });
        slot.seq.store(pos.wrapping_add(self.mask + 1), Ordering::Release);
        item
    }
}

impl<T: Send> Ring<T> for LockFreeRing<T> {
    fn push(&self, item: T) -> Result<(), T> {
        match self.claim(&self.tail, 1, |p| p) {
            (pos, 1) => {
                self.write(pos, item);
                Ok(())
            }
            _ => Err(item),
        }
    }

    fn pop(&self) -> Option<T> {
        match self.claim(&self.head, 1, |p| p.wrapping_add(1)) {
            (pos, 1) => Some(self.read(pos)),
            _ => None,
        }
    }

    fn push_batch(&self, items: &mut Vec<T>) -> usize {
        let want = items.len().min(self.mask + 1);
        let (pos, n) = self.claim(&self.tail, want, |p| p);
        for (i, item) in items.drain(..n).enumerate() {
            self.write(pos.wrapping_add(i), item);
        }
        n
    }

    fn pop_batch(&self, out: &mut Vec<T>, max: usize) -> usize {
        let (pos, n) = self.claim(&self.head, max.min(self.mask + 1), |p| p.wrapping_add(1));
        out.reserve(n);
        for i in 0..n {
            out.push(self.read(pos.wrapping_add(i)));
        }
        n
    }

    fn capacity(&self) -> usize {
        self.mask + 1
    }

    fn len(&self) -> usize {
        // `head` first: it never passes `tail`, so a later `tail` is never behind it.
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        tail.wrapping_sub(head).min(self.mask + 1)
    }
}

impl<T> Drop for LockFreeRing<T> {
    fn drop(&mut self) {
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Relaxed);
        let mut pos = head;
        while pos != tail {
            let slot = self.slot(pos);
            if slot.seq.load(Ordering::Acquire) == pos.wrapping_add(1) {
                // SAFETY: `&mut self` means no other thread holds the ring; `seq == pos + 1`
                // says the slot holds an initialized item that no consumer took.
                slot.value.with_mut(|v| unsafe { (*v).assume_init_drop() });
            }
            pos = pos.wrapping_add(1);
        }
    }
}

impl<T> std::fmt::Debug for LockFreeRing<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockFreeRing").field("capacity", &(self.mask + 1)).finish_non_exhaustive()
    }
}
