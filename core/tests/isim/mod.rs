//! Deterministic simulation of whole [`Interface`]s — the state machine the threaded
//! engine runs — on a virtual clock and a virtual network.
//!
//! A hub interface with `clients` peers, and one single-peer interface per client (all
//! the same code). The world is event driven: each step jumps to the next datagram
//! arrival, application send, or interface timer deadline, so hours of virtual time
//! cost only the work done in them. Randomness comes from one seed; a failing run
//! prints `FERROWG_SIM_SEED=<seed>` and replays from it. [`invariants`] are checked
//! after every step.

#![allow(dead_code)]

pub mod invariants;
pub mod net;
pub mod traffic;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use ferrowg_core::config::{AllowedIp, DeviceConfig, Endpoint, PeerConfig};
use ferrowg_core::interface::{Incoming, Interface, OpenRec, Output, PeerSlot, SealRec};
use ferrowg_core::keys::{PrivateKey, PublicKey};
use ferrowg_core::messages::DATA_HEADER_LEN;
use ferrowg_core::peer::PeerEvent;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use std::sync::Arc;

pub use invariants::Checker;
pub use net::{Datagram, Impairment, Network};

/// The hub's node number.
pub const HUB: usize = 0;
/// Tunnel MTU.
const MTU: usize = 1420;
/// Wall time at virtual zero (TAI64N timestamps only).
const WALL_BASE_SECS: u64 = 1_764_000_000;

/// What a run looks like.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Seeds everything.
    pub seed: u64,
    /// Peers of the hub (one interface each).
    pub clients: usize,
    /// Virtual duration.
    pub duration: Duration,
    /// The network.
    pub impairment: Impairment,
    /// Mean time between a client's sends while it is active.
    pub send_interval: Duration,
    /// Per client and hour: chance of a partition (1–10 min), a NAT rebinding and a
    /// suspend (5 min – 2 h).
    pub partition_per_hour: f64,
    /// See `partition_per_hour`.
    pub rebind_per_hour: f64,
    /// See `partition_per_hour`.
    pub suspend_per_hour: f64,
    /// Whole-world suspends (every node asleep: a clock jump of 20 min – 3 h).
    pub world_suspends: usize,
    /// Handshake floods at the hub (20 s each: the hub is under load).
    pub floods: usize,
}

impl Scenario {
    /// The CI scenario: 50 peers, 6 virtual hours.
    pub fn ci(seed: u64) -> Self {
        Self {
            seed,
            clients: 50,
            duration: Duration::from_secs(6 * 3600),
            impairment: Impairment {
                loss: 0.02,
                duplicate: 0.01,
                reorder: 0.03,
                delay: (Duration::from_millis(5), Duration::from_millis(40)),
                reorder_delay: Duration::from_millis(60),
            },
            send_interval: Duration::from_secs(40),
            partition_per_hour: 0.3,
            rebind_per_hour: 0.5,
            suspend_per_hour: 0.15,
            world_suspends: 1,
            floods: 3,
        }
    }
}

/// Something scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    /// A node's application sends a packet to `to` (a node).
    App { from: usize, to: usize },
    /// A client moves to a new NAT port.
    Rebind(usize),
    /// A client's link goes down until the given time (seconds).
    Partition(usize, u64),
    /// A node sleeps until the given time (milliseconds).
    Sleep(usize, u64),
    /// An attacker floods the hub for 20 s.
    Flood,
    /// One flood datagram.
    FloodPacket,
}

/// One simulated host.
pub struct Node {
    /// The state machine under test.
    pub iface: Interface,
    /// Its public key.
    pub public: PublicKey,
    /// The address others see (changes on NAT rebinding).
    pub addr: SocketAddr,
    /// Asleep until (virtual time).
    pub asleep_until: Duration,
    /// Link down until (virtual time).
    pub partitioned_until: Duration,
    next_seq: u64,
}

/// The caller's buffers for one interface call.
#[derive(Default)]
pub struct Out {
    sends: Vec<(SocketAddr, Vec<u8>)>,
    events: Vec<(PublicKey, PeerEvent)>,
}

impl Output for Out {
    fn transmit(&mut self, dst: SocketAddr, datagram: &[u8]) -> bool {
        self.sends.push((dst, datagram.to_vec()));
        true
    }
    fn event(&mut self, peer: &PublicKey, event: PeerEvent) {
        self.events.push((*peer, event));
    }
}

/// The simulation.
pub struct World {
    /// The scenario.
    pub sc: Scenario,
    base: Instant,
    /// Virtual time.
    pub t: Duration,
    rng: ChaCha20Rng,
    /// Hosts; [`HUB`] first.
    pub nodes: Vec<Node>,
    /// The network.
    pub net: Network,
    events: BinaryHeap<Reverse<(Duration, u64, Ev)>>,
    order: u64,
    /// Every address any node ever had.
    pub addr_owner: HashMap<SocketAddr, usize>,
    by_key: HashMap<PublicKey, usize>,
    /// The invariants and their bookkeeping.
    pub check: Checker,
    flood_until: Duration,
    flood_sample: Option<Vec<u8>>,
    scratch: Vec<u8>,
}

fn tunnel_ip(node: usize) -> [u8; 4] {
    if node == HUB {
        [10, 77, 0, 1]
    } else {
        [10, 77, 1 + (node / 250) as u8, (node % 250) as u8]
    }
}

fn client_addr(node: usize, port: u16) -> SocketAddr {
    SocketAddr::from(([198, 18, 1 + (node / 250) as u8, (node % 250) as u8], port))
}

impl World {
    /// Builds the hub and its clients and schedules the scenario's events.
    #[allow(clippy::disallowed_methods)] // an arbitrary base instant; only offsets matter
    pub fn new(sc: Scenario) -> Self {
        let base = Instant::now();
        let mut rng = ChaCha20Rng::seed_from_u64(sc.seed);
        let n = sc.clients + 1;
        let keys: Vec<PrivateKey> = (0..n).map(|_| PrivateKey::generate(&mut rng)).collect();
        let publics: Vec<PublicKey> = keys.iter().map(PrivateKey::public_key).collect();
        let hub_addr = SocketAddr::from(([198, 18, 0, 1], 51820));
        let mut nodes = Vec::with_capacity(n);
        for (i, key) in keys.iter().enumerate() {
            let peers = if i == HUB {
                (1..n)
                    .map(|c| {
                        let mut p = PeerConfig::new(publics[c]);
                        let ip = tunnel_ip(c);
                        let s = format!("{}.{}.{}.{}/32", ip[0], ip[1], ip[2], ip[3]);
                        p.allowed_ips.push(AllowedIp::parse(&s).unwrap());
                        p
                    })
                    .collect()
            } else {
                let mut p = PeerConfig::new(publics[HUB]);
                p.allowed_ips.push(AllowedIp::parse("10.77.0.0/16").unwrap());
                p.endpoint = Some(Endpoint::Addr(hub_addr));
                vec![p]
            };
            let cfg = DeviceConfig {
                private_key: Some(key.clone()),
                listen_port: None,
                fwmark: None,
                peers,
            };
            let mut seed = [0u8; 32];
            rng.fill(&mut seed);
            let iface = Interface::new(seed, base);
            iface.apply_config(cfg, base).expect("valid config");
            iface.interface_up(base);
            let addr = if i == HUB { hub_addr } else { client_addr(i, 40_000) };
            nodes.push(Node {
                iface,
                public: publics[i],
                addr,
                asleep_until: Duration::ZERO,
                partitioned_until: Duration::ZERO,
                next_seq: 0,
            });
        }
        let mut w = Self {
            base,
            t: Duration::ZERO,
            net: Network::new(sc.impairment),
            rng,
            addr_owner: nodes.iter().enumerate().map(|(i, n)| (n.addr, i)).collect(),
            by_key: publics.iter().enumerate().map(|(i, k)| (*k, i)).collect(),
            check: Checker::new(sc.seed, n),
            nodes,
            events: BinaryHeap::new(),
            order: 0,
            flood_until: Duration::ZERO,
            flood_sample: None,
            scratch: vec![0u8; 4096],
            sc,
        };
        w.schedule_scenario();
        w
    }

    fn at(&mut self, t: Duration, ev: Ev) {
        self.order += 1;
        self.events.push(Reverse((t, self.order, ev)));
    }

    fn exp(&mut self, mean: Duration) -> Duration {
        let u: f64 = self.rng.gen_range(1e-9..1.0);
        mean.mul_f64(-u.ln())
    }

    fn schedule_scenario(&mut self) {
        let hours = self.sc.duration.as_secs_f64() / 3600.0;
        let end = self.sc.duration;
        for c in 1..=self.sc.clients {
            let first = self.exp(self.sc.send_interval);
            self.at(first, Ev::App { from: c, to: HUB });
            let per = |p: f64| (p * hours).round() as usize;
            for _ in 0..per(self.sc.partition_per_hour) {
                let t = end.mul_f64(self.rng.gen());
                let len = self.rng.gen_range(60..600);
                self.at(t, Ev::Partition(c, t.as_secs() + len));
            }
            for _ in 0..per(self.sc.rebind_per_hour) {
                let t = end.mul_f64(self.rng.gen());
                self.at(t, Ev::Rebind(c));
            }
            for _ in 0..per(self.sc.suspend_per_hour) {
                let t = end.mul_f64(self.rng.gen());
                let len = self.rng.gen_range(300_000..7_200_000);
                self.at(t, Ev::Sleep(c, t.as_millis() as u64 + len));
            }
        }
        for _ in 0..self.sc.world_suspends {
            let t = end.mul_f64(self.rng.gen_range(0.2..0.6));
            let len = self.rng.gen_range(1_200_000..10_800_000);
            for node in 0..self.nodes.len() {
                self.at(t, Ev::Sleep(node, t.as_millis() as u64 + len));
            }
        }
        for _ in 0..self.sc.floods {
            let t = end.mul_f64(self.rng.gen_range(0.0..0.9));
            self.at(t, Ev::Flood);
        }
    }

    fn now(&self) -> Instant {
        self.base + self.t
    }

    fn wall(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(WALL_BASE_SECS) + self.t
    }

    fn awake(&self, node: usize) -> bool {
        self.nodes[node].asleep_until <= self.t
    }

    /// Runs the whole scenario, checking the invariants after every step.
    pub fn run(&mut self) {
        let end = self.sc.duration;
        let mut steps = 0u64;
        loop {
            let mut next = self.net.next_arrival();
            if let Some(Reverse((t, _, _))) = self.events.peek() {
                next = Some(next.map_or(*t, |n| n.min(*t)));
            }
            for (i, n) in self.nodes.iter().enumerate() {
                let wake = n.asleep_until;
                if let Some(at) = n.iface.next_deadline() {
                    let d = at.saturating_duration_since(self.base).max(wake);
                    next = Some(next.map_or(d, |n| n.min(d)));
                }
                let _ = i;
            }
            let Some(t) = next.filter(|&t| t <= end) else { break };
            self.t = self.t.max(t);
            steps += 1;
            while let Some(d) = self.net.pop_due(self.t) {
                self.arrive(d);
            }
            while let Some(Reverse((t, _, _))) = self.events.peek() {
                if *t > self.t {
                    break;
                }
                let Some(Reverse((_, _, ev))) = self.events.pop() else { break };
                self.event(ev);
            }
            for node in 0..self.nodes.len() {
                let due = self.nodes[node].iface.next_deadline().is_some_and(|at| at <= self.now());
                if due && self.awake(node) {
                    let mut out = Out::default();
                    let (now, wall) = (self.now(), self.wall());
                    self.nodes[node].iface.handle_timeouts(now, wall, &mut self.scratch, &mut out);
                    self.drain(node, out);
                }
            }
            self.check.after_step(self.t, &self.nodes);
            if steps % 20_000 == 0 {
                self.check.counters(self.t, &self.nodes, &self.by_key);
            }
        }
        self.check.counters(self.t, &self.nodes, &self.by_key);
        self.check.finish(self.t, &self.nodes, &self.net);
    }

    fn event(&mut self, ev: Ev) {
        match ev {
            Ev::App { from, to } => {
                if from != HUB {
                    let next = self.t + self.exp(self.sc.send_interval);
                    self.at(next, Ev::App { from, to });
                }
                if self.awake(from) {
                    self.app_send(from, to, false);
                    // Client 1 is malicious: it also claims client 2's tunnel address.
                    if from == 1 && self.sc.clients >= 2 && self.rng.gen_bool(0.2) {
                        self.app_send(from, to, true);
                    }
                }
            }
            Ev::Rebind(c) => {
                let port = self.nodes[c].addr.port() + 1;
                let addr = client_addr(c, port);
                self.nodes[c].addr = addr;
                self.addr_owner.insert(addr, c);
                self.check.rebinds += 1;
            }
            Ev::Partition(c, until) => {
                let until = Duration::from_secs(until);
                self.nodes[c].partitioned_until = self.nodes[c].partitioned_until.max(until);
            }
            Ev::Sleep(node, until) => {
                let until = Duration::from_millis(until);
                let n = &mut self.nodes[node];
                n.asleep_until = n.asleep_until.max(until);
                self.check.slept(node, self.t, until);
            }
            Ev::Flood => {
                // Only while the hub is awake and a captured initiation is at hand.
                if !self.awake(HUB) || self.flood_sample.is_none() {
                    let later = self.nodes[HUB].asleep_until.max(self.t) + Duration::from_secs(60);
                    self.at(later, Ev::Flood);
                    return;
                }
                self.flood_until = self.t + Duration::from_secs(20);
                self.at(self.t, Ev::FloodPacket);
            }
            Ev::FloodPacket => {
                if self.t < self.flood_until {
                    if let Some(bytes) = self.flood_sample.clone() {
                        let src = SocketAddr::from(([203, 0, 113, 66], 6666));
                        let hub = self.nodes[HUB].addr;
                        let d = Datagram { src, dst: hub, bytes, from: usize::MAX };
                        self.net.send(&mut self.rng, self.t, d);
                    }
                    self.at(self.t + Duration::from_millis(50), Ev::FloodPacket);
                }
            }
        }
    }

    /// The application at `from` sends one packet to node `to` through its interface.
    fn app_send(&mut self, from: usize, to: usize, spoof: bool) {
        let seq = self.nodes[from].next_seq;
        self.nodes[from].next_seq += 1;
        let extra = self.rng.gen_range(0..200);
        let (origin, seq) = if spoof { (2, seq | 1 << 62) } else { (from, seq) };
        let pkt = traffic::packet(tunnel_ip(origin), tunnel_ip(to), origin, to, seq, extra);
        self.check.app_sent(from, to, self.t);
        let mut bufs = vec![vec![0u8; 2048]];
        bufs[0][DATA_HEADER_LEN..DATA_HEADER_LEN + pkt.len()].copy_from_slice(&pkt);
        let sizes = [pkt.len()];
        let mut targets: Vec<Option<Arc<PeerSlot>>> = Vec::new();
        let mut recs: Vec<SealRec> = Vec::new();
        let mut out = Out::default();
        let (now, wall) = (self.now(), self.wall());
        let iface = &self.nodes[from].iface;
        iface.route_batch(&bufs, &sizes, 1, &mut targets);
        iface.prepare_tx(
            &bufs,
            &sizes,
            1,
            &targets,
            MTU,
            now,
            wall,
            &mut self.scratch,
            &mut out,
            &mut recs,
        );
        self.drain(from, out);
        for mut rec in recs {
            rec.seal(&mut bufs[rec.slot], MTU);
            let peer = self.addr_owner.get(&rec.dst).copied();
            self.check.sealed(from, peer, &rec, now, self.t);
            let bytes = bufs[rec.slot][..rec.out_len].to_vec();
            self.send(from, rec.dst, bytes);
        }
    }

    /// Hands a node's interface output to the checker (events first) and the network.
    fn drain(&mut self, node: usize, out: Out) {
        for (key, ev) in out.events {
            let peer = self.by_key[&key];
            self.check.event(node, peer, ev, self.t);
        }
        for (dst, bytes) in out.sends {
            let peer = self.addr_owner.get(&dst).copied();
            self.check.transmitted(node, peer, &bytes, self.t);
            if node != HUB && bytes.first() == Some(&1) && self.flood_sample.is_none() {
                self.flood_sample = Some(bytes.clone());
            }
            self.send(node, dst, bytes);
        }
    }

    fn send(&mut self, from: usize, dst: SocketAddr, bytes: Vec<u8>) {
        if self.nodes[from].partitioned_until > self.t {
            return;
        }
        let src = self.nodes[from].addr;
        self.net.send(&mut self.rng, self.t, Datagram { src, dst, bytes, from });
    }

    fn arrive(&mut self, d: Datagram) {
        // NAT: a datagram to an address the client no longer has goes nowhere.
        let Some(&to) = self.addr_owner.get(&d.dst) else { return };
        if self.nodes[to].addr != d.dst
            || !self.awake(to)
            || self.nodes[to].partitioned_until > self.t
        {
            return;
        }
        let (now, wall) = (self.now(), self.wall());
        let mut out = Out::default();
        let iface = &self.nodes[to].iface;
        match iface.classify(&d.bytes, d.src, 0, now) {
            Incoming::Dropped => {}
            Incoming::Handshake => {
                if to == HUB && self.t < self.flood_until + Duration::from_secs(1) {
                    // The engine's handshake queue would be full: the hub is under load.
                    iface.note_handshake_backlog(64, 64, now);
                }
                let under_load = iface.under_load(now);
                let before = iface.handshake_counters().initiations_consumed;
                let _ =
                    iface.handle_handshake(&d.bytes, d.src, now, wall, &mut self.scratch, &mut out);
                let after = iface.handshake_counters().initiations_consumed;
                self.check.handshake_handled(to, &d.bytes, under_load, after - before, self.t);
            }
            Incoming::Data(mut rec) => {
                let mut bufs = vec![d.bytes.clone()];
                rec.open(&mut bufs[0]);
                self.check.opened(to, d.from, &rec, self.t);
                let mut recs: Vec<OpenRec> = vec![rec];
                let mut deliver = Vec::new();
                let scratch = &mut self.scratch;
                iface.accept(&mut recs, &bufs, now, wall, scratch, &mut out, &mut deliver);
                for (slot, len) in deliver {
                    let pkt = &bufs[slot][DATA_HEADER_LEN..DATA_HEADER_LEN + len];
                    let origin = self.check.delivered(to, d.from, pkt, self.t);
                    if to == HUB && self.rng.gen_bool(0.7) {
                        if let Some(o) = origin {
                            self.at(
                                self.t + Duration::from_millis(1),
                                Ev::App { from: HUB, to: o },
                            );
                        }
                    }
                }
            }
        }
        self.drain(to, out);
    }
}

/// Runs `sc`; on failure prints how to replay it.
pub fn run(sc: Scenario) -> World {
    let seed = sc.seed;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut w = World::new(sc);
        w.run();
        w
    }));
    match result {
        Ok(w) => w,
        Err(e) => {
            eprintln!("simulation failed; replay with FERROWG_SIM_SEED={seed}");
            std::panic::resume_unwind(e)
        }
    }
}
