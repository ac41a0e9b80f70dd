//! A deterministic two-peer simulator: two sans-IO [`Peer`]s, a virtual [`Clock`], a
//! seeded lossy [`Network`] between them and an event [`Log`].
//!
//! The world is event driven: [`World::run_until`] jumps from one network arrival or
//! peer timer deadline to the next, so an hour of simulated time costs only the work
//! done in it. The application side is the test itself: it calls [`World::send`] at
//! the times it chooses. Every packet carries a sequence number and a checkable body;
//! the per-direction [`Ledger`] records what was sent, what the network handed over and
//! what arrived, so "every packet the network did not drop arrives once, intact" is a
//! single assertion. Every datagram a peer emits must parse as a WireGuard message, and
//! data must be padded to 16 bytes.

#![allow(dead_code)] // each test uses a different part of the toolkit

pub mod clock;
pub mod log;
pub mod net;
#[cfg(test)]
mod selftest;
pub mod traffic;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ferrowg_core::error::DropReason;
use ferrowg_core::keys::PrivateKey;
use ferrowg_core::messages::{Message, DATA_MIN_LEN, MESSAGE_PADDING_MULTIPLE, MESSAGE_TYPE_DATA};
use ferrowg_core::peer::{Identity, Peer, PeerConfig, PeerEvent, RandomIndices, Received};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

pub use clock::Clock;
pub use log::{Kind, Log, What};
pub use net::{Datagram, Impairment, Network};
pub use traffic::Ledger;

/// Which of the two peers. `A` is the client (knows B's endpoint), `B` the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeId {
    /// The client.
    A,
    /// The server.
    B,
}

impl NodeId {
    /// 0 or 1.
    pub fn index(self) -> usize {
        self as usize
    }
    /// The other peer.
    pub fn other(self) -> Self {
        match self {
            NodeId::A => NodeId::B,
            NodeId::B => NodeId::A,
        }
    }
}

/// How to set the world up.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Seeds the keys, both peers' RNGs and the network.
    pub seed: u64,
    /// Both directions' impairment at the start.
    pub impairment: Impairment,
    /// Persistent keepalive of A and of B.
    pub persistent_keepalive: [Option<Duration>; 2],
    /// Whether B is configured with A's endpoint (A always knows B's).
    pub b_knows_a: bool,
}

impl Setup {
    /// Clean 10 ms links, no persistent keepalive, B learns A's endpoint by itself.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            impairment: Impairment::clean(),
            persistent_keepalive: [None, None],
            b_knows_a: false,
        }
    }
}

/// One simulated peer and what happened at it.
pub struct Node {
    /// The protocol state under test.
    pub peer: Peer,
    /// The address it sends from and listens on.
    pub addr: SocketAddr,
    /// Sequence numbers of this node's packets the peer staged, oldest first (mirrors
    /// the peer's staging queue so staged datagrams can be labelled when they leave).
    staged: VecDeque<u64>,
    staged_overflow_seen: u64,
    next_seq: u64,
}

/// The simulation.
pub struct World {
    /// Virtual time.
    pub clock: Clock,
    /// The network between the peers.
    pub net: Network,
    /// Everything that happened.
    pub log: Log,
    nodes: [Node; 2],
    ledgers: [Ledger; 2],
    buf: Vec<u8>,
    /// Highest data counter seen per (receiving node, receiver index), to spot reordering.
    highest: HashMap<(NodeId, u32), u64>,
    /// When set, every datagram a peer sends is also copied into [`World::captured`].
    pub capture: bool,
    /// Datagrams copied while [`World::capture`] was set, in send order.
    pub captured: Vec<Datagram>,
    /// A stopped node runs no timers; datagrams for it wait in `held` (its socket buffer).
    paused: [bool; 2],
    held: [Vec<Datagram>; 2],
}

/// Upper bound of simulation steps in one [`World::run_until`] call.
const MAX_STEPS: usize = 5_000_000;

impl World {
    /// Two peers with keys from the seed, A configured with B's endpoint.
    pub fn new(setup: &Setup) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(setup.seed);
        let keys = [PrivateKey::generate(&mut rng), PrivateKey::generate(&mut rng)];
        let ids = keys.each_ref().map(|k| Arc::new(Identity::new(k)));
        let addrs: [SocketAddr; 2] =
            ["127.0.0.1:51001".parse().unwrap(), "127.0.0.1:51002".parse().unwrap()];
        let node = |me: usize| {
            let other = 1 - me;
            let mut cfg = PeerConfig::new(*ids[other].public_key());
            cfg.endpoint = (me == 0 || setup.b_knows_a).then_some(addrs[other]);
            cfg.persistent_keepalive = setup.persistent_keepalive[me];
            let peer_rng = ChaCha20Rng::seed_from_u64(setup.seed.wrapping_mul(31) + me as u64);
            Node {
                peer: Peer::new(ids[me].clone(), cfg, Arc::new(RandomIndices), Box::new(peer_rng)),
                addr: addrs[me],
                staged: VecDeque::new(),
                staged_overflow_seen: 0,
                next_seq: 0,
            }
        };
        Self {
            clock: Clock::new(),
            net: Network::new(setup.seed, setup.impairment),
            log: Log::default(),
            nodes: [node(0), node(1)],
            ledgers: [Ledger::default(), Ledger::default()],
            buf: vec![0u8; 2048],
            highest: HashMap::new(),
            capture: false,
            captured: Vec::new(),
            paused: [false; 2],
            held: [Vec::new(), Vec::new()],
        }
    }

    /// Stops a node as SIGSTOP or a suspend does: no timers run and arriving datagrams
    /// wait in its socket buffer until [`World::wake`].
    pub fn pause(&mut self, id: NodeId) {
        self.paused[id.index()] = true;
    }

    /// The datagrams waiting in a paused node's socket buffer.
    pub fn held(&self, id: NodeId) -> &[Datagram] {
        &self.held[id.index()]
    }

    /// Continues a paused node: it reads its socket buffer first (every held datagram,
    /// in arrival order, now), then runs as before (overdue timers fire at the next step).
    pub fn wake(&mut self, id: NodeId) {
        self.unpause(id);
        self.read_held(id);
    }

    /// Continues a paused node without reading its socket buffer yet (its application
    /// may send first); [`World::read_held`] then reads it. Call both before running the
    /// world on, or held datagrams would be read after newer ones.
    pub fn unpause(&mut self, id: NodeId) {
        self.paused[id.index()] = false;
    }

    /// Reads every datagram waiting in a node's socket buffer, in arrival order, now.
    pub fn read_held(&mut self, id: NodeId) {
        for d in std::mem::take(&mut self.held[id.index()]) {
            let _ = self.deliver(id, d);
        }
    }

    /// A node.
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// A node, mutably (to reconfigure it or move it to a new address).
    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id.index()]
    }

    /// A peer.
    pub fn peer(&self, id: NodeId) -> &Peer {
        &self.nodes[id.index()].peer
    }

    /// The ledger of packets sent by `from`.
    pub fn ledger(&self, from: NodeId) -> &Ledger {
        &self.ledgers[from.index()]
    }

    /// Simulated time.
    pub fn elapsed(&self) -> Duration {
        self.clock.elapsed()
    }

    /// Tells both peers the interface came up (schedules persistent keepalives).
    pub fn interface_up(&mut self) {
        for id in [NodeId::A, NodeId::B] {
            let now = self.clock.now();
            self.nodes[id.index()].peer.on_interface_up(now);
        }
    }

    /// The application at `from` sends its next packet now; returns its sequence number.
    pub fn send(&mut self, from: NodeId) -> u64 {
        let node = &mut self.nodes[from.index()];
        let seq = node.next_seq;
        node.next_seq += 1;
        let packet = traffic::packet(from.index() as u8, seq);
        self.ledgers[from.index()].sent.insert(seq);
        let (now, wall) = (self.clock.now(), self.clock.wall());
        let result = node.peer.encapsulate(&packet, &mut self.buf, now, wall);
        match result {
            Ok(Some(out)) => {
                self.log.push(self.clock.elapsed(), from, What::AppSend(seq, false));
                let bytes = self.buf[..out.len].to_vec();
                self.transmit(from, out.dst, bytes, Some(seq));
            }
            Ok(None) => {
                self.log.push(self.clock.elapsed(), from, What::AppSend(seq, true));
                self.nodes[from.index()].staged.push_back(seq);
            }
            Err(reason) => {
                self.log.push(self.clock.elapsed(), from, What::Rejected(Kind::Data, reason));
                self.ledgers[from.index()].dropped_by_sender.insert(seq);
            }
        }
        self.flush(from);
        seq
    }

    /// Delivers a datagram to `to` now as if it came from `src` (a replay, a spoofed
    /// source, or a copy held back), bypassing the network. `seq` is the packet inside,
    /// if known (it is then counted in the ledger like a network delivery).
    pub fn inject(
        &mut self,
        to: NodeId,
        src: SocketAddr,
        bytes: Vec<u8>,
        seq: Option<u64>,
    ) -> Result<(), DropReason> {
        let dst = self.nodes[to.index()].addr;
        self.deliver(to, Datagram { src, dst, bytes, seq, copy: 0 })
    }

    /// Runs network arrivals and peer timers up to simulated time `t` (inclusive), then
    /// sets the clock to `t`.
    pub fn run_until(&mut self, t: Duration) {
        for _ in 0..MAX_STEPS {
            let next =
                [self.net.next_arrival(), self.deadline(NodeId::A), self.deadline(NodeId::B)]
                    .into_iter()
                    .flatten()
                    .min();
            let Some(next) = next.filter(|&n| n <= t) else {
                self.clock.advance_to(t.max(self.clock.elapsed()));
                return;
            };
            self.clock.advance_to(next.max(self.clock.elapsed()));
            let now = self.clock.elapsed();
            while let Some((from, d)) = self.net.pop_due(now) {
                let Some(to) = self.node_at(d.dst) else {
                    self.log.push(now, from, What::Unroutable(Kind::of(&d.bytes)));
                    continue;
                };
                if self.paused[to.index()] {
                    self.held[to.index()].push(d);
                    continue;
                }
                let _ = self.deliver(to, d);
            }
            for id in [NodeId::A, NodeId::B] {
                if self.deadline(id).is_some_and(|d| d <= now) {
                    let (now, wall) = (self.clock.now(), self.clock.wall());
                    self.nodes[id.index()].peer.handle_timeout(now, wall);
                    self.flush(id);
                }
            }
        }
        panic!("simulation did not settle within {MAX_STEPS} steps before {t:?}");
    }

    /// Runs for `d` more simulated time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(self.clock.elapsed() + d);
    }

    fn deadline(&self, id: NodeId) -> Option<Duration> {
        if self.paused[id.index()] {
            return None;
        }
        self.nodes[id.index()].peer.poll_timeout().map(|(at, _)| self.clock.offset_of(at))
    }

    fn node_at(&self, addr: SocketAddr) -> Option<NodeId> {
        [NodeId::A, NodeId::B].into_iter().find(|id| self.nodes[id.index()].addr == addr)
    }

    /// Hands a datagram to a peer, checks and records the outcome, flushes the peer.
    fn deliver(&mut self, to: NodeId, mut d: Datagram) -> Result<(), DropReason> {
        let at = self.clock.elapsed();
        let kind = Kind::of(&d.bytes);
        let late = self.note_counter(to, &d.bytes);
        self.log.push(at, to, What::Arrived { kind, copy: d.copy, late });
        if let Some(seq) = d.seq {
            *self.ledgers[to.other().index()].handed_over.entry(seq).or_default() += 1;
        }
        let (now, wall) = (self.clock.now(), self.clock.wall());
        let result = self.nodes[to.index()].peer.handle_datagram(&mut d.bytes, d.src, now, wall);
        let mut outcome = Ok(());
        let what = match result {
            Ok(Received::Packet(range)) => {
                let ledger = &mut self.ledgers[to.other().index()];
                match d.bytes.get(range).and_then(traffic::check) {
                    Some((origin, seq))
                        if usize::from(origin) == to.other().index() && d.seq == Some(seq) =>
                    {
                        *ledger.accepted.entry(seq).or_default() += 1;
                        What::Accepted(seq)
                    }
                    _ => {
                        ledger.corrupt += 1;
                        What::Corrupt
                    }
                }
            }
            Ok(Received::Keepalive) => What::AcceptedKeepalive,
            Ok(Received::Handshake) => What::AcceptedHandshake,
            Err(reason) => {
                outcome = Err(reason);
                if let Some(seq) = d.seq {
                    let ledger = &mut self.ledgers[to.other().index()];
                    ledger.rejected.entry(seq).or_default().push(reason);
                }
                What::Rejected(kind, reason)
            }
        };
        self.log.push(at, to, what);
        self.flush(to);
        outcome
    }

    /// True if a data message's counter is below the highest seen under its index.
    fn note_counter(&mut self, to: NodeId, bytes: &[u8]) -> bool {
        let (Some(index), Some(counter)) = (bytes.get(4..8), bytes.get(8..16)) else {
            return false;
        };
        if bytes[0] != MESSAGE_TYPE_DATA {
            return false;
        }
        let index = u32::from_le_bytes(index.try_into().unwrap());
        let counter = u64::from_le_bytes(counter.try_into().unwrap());
        let highest = self.highest.entry((to, index)).or_insert(counter);
        let late = counter < *highest;
        *highest = (*highest).max(counter);
        late
    }

    /// Moves everything the peer wants to send to the network and its events to the log.
    fn flush(&mut self, id: NodeId) {
        let at = self.clock.elapsed();
        let now = self.clock.now();
        let node = &mut self.nodes[id.index()];
        let overflow = node.peer.drop_counters().get(DropReason::StagedQueueFull);
        for _ in node.staged_overflow_seen..overflow {
            if let Some(seq) = node.staged.pop_front() {
                self.ledgers[id.index()].dropped_by_sender.insert(seq);
            }
        }
        node.staged_overflow_seen = overflow;
        loop {
            let node = &mut self.nodes[id.index()];
            let Some(out) = node.peer.poll_transmit(now, &mut self.buf) else { break };
            let bytes = self.buf[..out.len].to_vec();
            let seq = match Kind::of(&bytes) {
                Kind::Data => node.staged.pop_front(),
                _ => None,
            };
            self.transmit(id, out.dst, bytes, seq);
        }
        while let Some(event) = self.nodes[id.index()].peer.poll_event() {
            if event == PeerEvent::Unreachable {
                let dropped: Vec<u64> = self.nodes[id.index()].staged.drain(..).collect();
                self.ledgers[id.index()].dropped_by_sender.extend(dropped);
            }
            self.log.push(at, id, What::Event(event));
        }
    }

    fn transmit(&mut self, from: NodeId, dst: SocketAddr, bytes: Vec<u8>, seq: Option<u64>) {
        let at = self.clock.elapsed();
        let kind = Kind::of(&bytes);
        assert!(Message::parse(&bytes).is_ok(), "{from:?} sent a malformed {kind:?}");
        if matches!(kind, Kind::Data | Kind::Keepalive) {
            let body = bytes.len() - DATA_MIN_LEN;
            assert_eq!(body % MESSAGE_PADDING_MULTIPLE, 0, "{from:?}: data not padded");
        }
        self.log.push(at, from, What::Sent(kind));
        let src = self.nodes[from.index()].addr;
        let datagram = Datagram { src, dst, bytes, seq, copy: 0 };
        if self.capture {
            self.captured.push(datagram.clone());
        }
        self.net.send(from, at, datagram);
    }
}
