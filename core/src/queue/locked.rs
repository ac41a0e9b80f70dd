//! The locked ring: one `parking_lot` mutex around a deque allocated once at its full
//! capacity, so it never reallocates. A batch takes the lock once.

use std::collections::VecDeque;

use parking_lot::Mutex;

use super::Ring;

/// A bounded MPMC ring guarded by a single mutex.
#[derive(Debug)]
pub struct LockedRing<T> {
    items: Mutex<VecDeque<T>>,
    capacity: usize,
}

impl<T> LockedRing<T> {
    /// A ring holding at most `capacity` items (at least 1).
    pub fn with_capacity(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self { items: Mutex::new(VecDeque::with_capacity(capacity)), capacity }
    }
}

impl<T: Send> Ring<T> for LockedRing<T> {
    fn push(&self, item: T) -> Result<(), T> {
        let mut items = self.items.lock();
        if items.len() >= self.capacity {
            return Err(item);
        }
        items.push_back(item);
        Ok(())
    }

    fn pop(&self) -> Option<T> {
        self.items.lock().pop_front()
    }

    fn push_batch(&self, batch: &mut Vec<T>) -> usize {
        let n = {
            let mut items = self.items.lock();
            let n = batch.len().min(self.capacity - items.len());
            items.extend(batch.drain(..n));
            n
        };
        n
    }

    fn pop_batch(&self, out: &mut Vec<T>, max: usize) -> usize {
        let mut items = self.items.lock();
        let n = max.min(items.len());
        out.extend(items.drain(..n));
        n
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn len(&self) -> usize {
        self.items.lock().len()
    }
}
