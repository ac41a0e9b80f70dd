//! The virtual network of the interface simulation: a time-ordered queue of datagrams
//! with seeded loss, duplication, reordering and delay. Partitions, NAT rebinding and
//! sleeping nodes are decided by the world when a datagram is sent or arrives.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha20Rng;

/// How the network treats datagrams.
#[derive(Debug, Clone, Copy)]
pub struct Impairment {
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Probability a datagram arrives twice.
    pub duplicate: f64,
    /// Probability a datagram is held back (so later ones overtake it).
    pub reorder: f64,
    /// Base one-way delay range.
    pub delay: (Duration, Duration),
    /// Extra delay of a held-back datagram.
    pub reorder_delay: Duration,
}

/// One datagram in flight.
#[derive(Debug, Clone)]
pub struct Datagram {
    /// The sender's address as the receiver sees it (after NAT).
    pub src: SocketAddr,
    /// Where it goes.
    pub dst: SocketAddr,
    /// The WireGuard message.
    pub bytes: Vec<u8>,
    /// The node that really sent it (the simulator's ground truth).
    pub from: usize,
}

/// Datagrams in flight, ordered by arrival time (then by send order).
pub struct Network {
    imp: Impairment,
    queue: BinaryHeap<Reverse<(Duration, u64, usize)>>,
    slots: Vec<Option<Datagram>>,
    free: Vec<usize>,
    order: u64,
    /// Datagrams lost on the way (impairment only).
    pub lost: u64,
    /// Extra copies made.
    pub duplicated: u64,
}

impl Network {
    /// An empty network.
    pub fn new(imp: Impairment) -> Self {
        Self {
            imp,
            queue: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            order: 0,
            lost: 0,
            duplicated: 0,
        }
    }

    fn push(&mut self, at: Duration, d: Datagram) {
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s] = Some(d);
                s
            }
            None => {
                self.slots.push(Some(d));
                self.slots.len() - 1
            }
        };
        self.order += 1;
        self.queue.push(Reverse((at, self.order, slot)));
    }

    /// Sends `d` at `now` through the impairments.
    pub fn send(&mut self, rng: &mut ChaCha20Rng, now: Duration, d: Datagram) {
        if rng.gen_bool(self.imp.loss) {
            self.lost += 1;
            return;
        }
        let copies = if rng.gen_bool(self.imp.duplicate) { 2 } else { 1 };
        self.duplicated += copies - 1;
        for _ in 0..copies {
            let (lo, hi) = self.imp.delay;
            let mut delay = lo + (hi - lo).mul_f64(rng.gen::<f64>());
            if rng.gen_bool(self.imp.reorder) {
                delay += self.imp.reorder_delay;
            }
            self.push(now + delay, d.clone());
        }
    }

    /// When the next datagram arrives.
    pub fn next_arrival(&self) -> Option<Duration> {
        self.queue.peek().map(|Reverse((at, _, _))| *at)
    }

    /// The next datagram due at or before `now`.
    pub fn pop_due(&mut self, now: Duration) -> Option<Datagram> {
        let Reverse((at, _, slot)) = *self.queue.peek()?;
        if at > now {
            return None;
        }
        self.queue.pop();
        self.free.push(slot);
        self.slots[slot].take()
    }
}
