//! A seeded, lossy datagram network between the simulated peers: per-direction loss,
//! duplication, reordering (extra delay) and latency, decided by one ChaCha RNG so a
//! seed always gives the same run.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::Duration;

use rand::Rng;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::{Kind, NodeId};

/// What a link does to each datagram. Probabilities are per datagram and independent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// One-way delay of every copy.
    pub latency: Duration,
    /// Probability that a copy is lost.
    pub loss: f64,
    /// Probability that a datagram is sent twice (each copy is then lost or delayed
    /// independently).
    pub duplicate: f64,
    /// Probability that a copy is held back by up to `reorder_delay` more.
    pub reorder: f64,
    /// Largest extra delay of a reordered copy.
    pub reorder_delay: Duration,
    /// The link is cut: every datagram is lost.
    pub down: bool,
    /// Every datagram of this kind is lost (a middlebox that eats handshakes, say).
    pub blocked: Option<Kind>,
}

impl Impairment {
    /// A clean 10 ms link.
    pub fn clean() -> Self {
        Self {
            latency: Duration::from_millis(10),
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::ZERO,
            down: false,
            blocked: None,
        }
    }

    /// A clean link that loses `loss` of the datagrams.
    pub fn lossy(loss: f64) -> Self {
        Self { loss, ..Self::clean() }
    }
}

/// A datagram on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Sender's address.
    pub src: SocketAddr,
    /// Destination address.
    pub dst: SocketAddr,
    /// UDP payload.
    pub bytes: Vec<u8>,
    /// Sequence number of the application packet inside, as the simulator tracked it
    /// (checked against the decrypted content on arrival).
    pub seq: Option<u64>,
    /// 0 for the original, 1 for the network's duplicate.
    pub copy: u32,
}

/// Counters of one direction.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LinkStats {
    /// Datagrams given to the network.
    pub sent: u64,
    /// Copies lost (including all copies on a cut link).
    pub lost: u64,
    /// Datagrams duplicated.
    pub duplicated: u64,
    /// Copies held back for reordering.
    pub delayed: u64,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Scheduled {
    at: Duration,
    order: u64,
    from: NodeId,
}

/// The network: one [`Impairment`] per direction and a queue of copies in flight.
#[derive(Debug)]
pub struct Network {
    rng: ChaCha20Rng,
    links: [Impairment; 2],
    stats: [LinkStats; 2],
    queue: BinaryHeap<Reverse<(Scheduled, DatagramSlot)>>,
    order: u64,
}

/// Keeps the heap ordered by time and insertion only.
#[derive(Debug)]
struct DatagramSlot(Datagram);

impl PartialEq for DatagramSlot {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for DatagramSlot {}
impl PartialOrd for DatagramSlot {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for DatagramSlot {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl Network {
    /// A network whose random choices all come from `seed`.
    pub fn new(seed: u64, impairment: Impairment) -> Self {
        Self {
            rng: ChaCha20Rng::seed_from_u64(seed ^ 0x6e65_7477_6f72_6b00),
            links: [impairment; 2],
            stats: [LinkStats::default(); 2],
            queue: BinaryHeap::new(),
            order: 0,
        }
    }

    /// The impairment of datagrams sent by `from`.
    pub fn link_mut(&mut self, from: NodeId) -> &mut Impairment {
        &mut self.links[from.index()]
    }

    /// Sets both directions.
    pub fn set_both(&mut self, impairment: Impairment) {
        self.links = [impairment; 2];
    }

    /// Counters of datagrams sent by `from`.
    pub fn stats(&self, from: NodeId) -> LinkStats {
        self.stats[from.index()]
    }

    /// Takes a datagram sent by `from` at `now`; returns how many copies will arrive.
    pub fn send(&mut self, from: NodeId, now: Duration, datagram: Datagram) -> u32 {
        let mut link = self.links[from.index()];
        link.down |= link.blocked == Some(Kind::of(&datagram.bytes));
        let stats = &mut self.stats[from.index()];
        stats.sent += 1;
        let copies = if !link.down && self.rng.gen_bool(link.duplicate) {
            stats.duplicated += 1;
            2
        } else {
            1
        };
        let mut arriving = 0;
        for copy in 0..copies {
            if link.down || self.rng.gen_bool(link.loss) {
                stats.lost += 1;
                continue;
            }
            let mut delay = link.latency;
            if self.rng.gen_bool(link.reorder) {
                stats.delayed += 1;
                let extra = self.rng.gen_range(0..=link.reorder_delay.as_micros() as u64);
                delay += Duration::from_micros(extra);
            }
            self.order += 1;
            let slot = DatagramSlot(Datagram { copy, ..datagram.clone() });
            self.queue
                .push(Reverse((Scheduled { at: now + delay, order: self.order, from }, slot)));
            arriving += 1;
        }
        arriving
    }

    /// When the next copy arrives.
    pub fn next_arrival(&self) -> Option<Duration> {
        self.queue.peek().map(|Reverse((s, _))| s.at)
    }

    /// The next copy due at or before `now`, with its sender.
    pub fn pop_due(&mut self, now: Duration) -> Option<(NodeId, Datagram)> {
        if self.next_arrival()? > now {
            return None;
        }
        self.queue.pop().map(|Reverse((s, slot))| (s.from, slot.0))
    }

    /// Copies still in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }
}
