//! CoDel, as the pseudo-code of RFC 8289 section 5 (with its Linux-style count reuse).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// CoDel's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodelParams {
    /// Acceptable standing queue delay (RFC 8289: 5 ms).
    pub target: Duration,
    /// Sliding window over which the minimum delay is judged (RFC 8289: 100 ms).
    pub interval: Duration,
    /// Never drop while the queue holds at most this many bytes (the interface MTU).
    pub max_packet: usize,
}

impl Default for CodelParams {
    fn default() -> Self {
        Self {
            target: Duration::from_millis(5),
            interval: Duration::from_millis(100),
            max_packet: 1500,
        }
    }
}

/// The queue CoDel controls: a FIFO that remembers when each item was enqueued.
pub trait CodelQueue {
    /// What the queue holds.
    type Item;

    /// Removes the oldest item and returns it with its enqueue time.
    fn dequeue(&mut self) -> Option<(Self::Item, Instant)>;

    /// Bytes still queued.
    fn bytes(&self) -> usize;
}

/// CoDel's state for one queue.
#[derive(Debug, Clone)]
pub struct Codel {
    params: CodelParams,
    first_above_time: Option<Instant>,
    drop_next: Option<Instant>,
    count: u32,
    last_count: u32,
    dropping: bool,
    dropped: u64,
}

impl Codel {
    /// A controller in its initial (not dropping) state.
    pub fn new(params: CodelParams) -> Self {
        Self {
            params,
            first_above_time: None,
            drop_next: None,
            count: 0,
            last_count: 0,
            dropping: false,
            dropped: 0,
        }
    }

    /// Dequeues the next packet to send, handing each packet CoDel drops to `drop`
    /// (so the caller can recycle its buffer). `None` once the queue is empty.
    pub fn dequeue<Q: CodelQueue>(
        &mut self,
        now: Instant,
        queue: &mut Q,
        mut drop: impl FnMut(Q::Item),
    ) -> Option<Q::Item> {
        let (mut item, mut ok_to_drop) = self.do_dequeue(now, queue);
        let Some(mut packet) = item.take() else {
            // An empty queue takes us out of the dropping state.
            self.dropping = false;
            return None;
        };
        if self.dropping {
            if !ok_to_drop {
                self.dropping = false;
            }
            // A large backlog can make the next drop due already, hence the loop.
            while self.dropping && self.drop_next.is_some_and(|t| now >= t) {
                drop(packet);
                self.dropped += 1;
                self.count = self.count.saturating_add(1);
                (item, ok_to_drop) = self.do_dequeue(now, queue);
                let Some(next) = item.take() else {
                    self.dropping = false;
                    return None;
                };
                packet = next;
                if ok_to_drop {
                    self.drop_next = self.drop_next.map(|t| self.control_law(t));
                } else {
                    self.dropping = false;
                }
            }
        } else if ok_to_drop {
            drop(packet);
            self.dropped += 1;
            (item, _) = self.do_dequeue(now, queue);
            self.enter_dropping(now);
            return item;
        }
        Some(packet)
    }

    /// CoDel for a queue the caller cannot dequeue from itself (a kernel socket buffer):
    /// judges one packet just taken from it, which waited `sojourn` (measured from a
    /// kernel receive timestamp). `more` says whether packets are still queued behind it
    /// (a last packet never counts as a standing queue, like the one-MTU rule of
    /// [`Self::dequeue`]). True if the packet should be dropped. The same state machine
    /// as [`Self::dequeue`], one call per packet: in the dropping state the packets
    /// that arrive after each `drop_next` are dropped, at `interval / sqrt(count)`.
    pub fn judge(&mut self, now: Instant, sojourn: Duration, more: bool) -> bool {
        let ok_to_drop = self.standing(now, sojourn, more);
        if self.dropping {
            if !ok_to_drop {
                self.dropping = false;
                return false;
            }
            if self.drop_next.is_some_and(|t| now >= t) {
                self.count = self.count.saturating_add(1);
                self.drop_next = self.drop_next.map(|t| self.control_law(t));
                self.dropped += 1;
                return true;
            }
            return false;
        }
        if !ok_to_drop {
            return false;
        }
        self.dropped += 1;
        self.enter_dropping(now);
        true
    }

    /// RFC 8289's `ok_to_drop` for one packet that waited `sojourn`: whether the delay has
    /// stayed above target for at least an interval. `more`: whether more than about one
    /// MTU is still queued behind it (a slow link's serialization time is not a standing
    /// queue).
    fn standing(&mut self, now: Instant, sojourn: Duration, more: bool) -> bool {
        if sojourn < self.params.target || !more {
            self.first_above_time = None;
            return false;
        }
        match self.first_above_time {
            None => {
                self.first_above_time = Some(now + self.params.interval);
                false
            }
            Some(t) => now >= t,
        }
    }

    /// Enters the dropping state after its first drop; if it was left only recently,
    /// resumes near the drop rate that controlled the queue last time (the Linux variant
    /// the RFC adopts).
    fn enter_dropping(&mut self, now: Instant) {
        self.dropping = true;
        let delta = self.count.wrapping_sub(self.last_count);
        let recent = self
            .drop_next
            .is_some_and(|t| now.saturating_duration_since(t) < self.params.interval * 16);
        self.count = if delta > 1 && recent { delta } else { 1 };
        self.drop_next = Some(self.control_law(now));
        self.last_count = self.count;
    }

    /// Packets dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether the controller is in its dropping state.
    pub fn dropping(&self) -> bool {
        self.dropping
    }

    /// Drops in the current dropping cycle (sets the drop rate: `interval / sqrt(count)`).
    pub fn count(&self) -> u32 {
        self.count
    }

    /// When the next drop is due while in the dropping state.
    pub fn drop_next(&self) -> Option<Instant> {
        self.drop_next
    }

    /// The parameters in use.
    pub fn params(&self) -> CodelParams {
        self.params
    }

    /// RFC 8289 `dodequeue`: takes one packet and says whether the sojourn time has
    /// stayed above target for at least an interval.
    fn do_dequeue<Q: CodelQueue>(
        &mut self,
        now: Instant,
        queue: &mut Q,
    ) -> (Option<Q::Item>, bool) {
        let Some((packet, enqueued)) = queue.dequeue() else {
            self.first_above_time = None;
            return (None, false);
        };
        let sojourn = now.saturating_duration_since(enqueued);
        let ok_to_drop = self.standing(now, sojourn, queue.bytes() > self.params.max_packet);
        (Some(packet), ok_to_drop)
    }

    /// `t + interval / sqrt(count)`.
    fn control_law(&self, t: Instant) -> Instant {
        let count = f64::from(self.count.max(1));
        t + self.params.interval.div_f64(count.sqrt())
    }
}

/// A simple CoDel-managed FIFO of `(item, size)` pairs stamped at enqueue.
#[derive(Debug, Clone, Default)]
pub struct VecCodelQueue<T> {
    items: VecDeque<(T, usize, Instant)>,
    bytes: usize,
}

impl<T> VecCodelQueue<T> {
    /// An empty queue.
    pub fn new() -> Self {
        Self { items: VecDeque::new(), bytes: 0 }
    }

    /// Appends `item` of `size` bytes, stamped `now`.
    pub fn enqueue(&mut self, item: T, size: usize, now: Instant) {
        self.bytes += size;
        self.items.push_back((item, size, now));
    }

    /// Items queued.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the queue is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

impl<T> CodelQueue for VecCodelQueue<T> {
    type Item = T;

    fn dequeue(&mut self) -> Option<(T, Instant)> {
        let (item, size, stamp) = self.items.pop_front()?;
        self.bytes -= size;
        Some((item, stamp))
    }

    fn bytes(&self) -> usize {
        self.bytes
    }
}
