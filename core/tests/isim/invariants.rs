//! The invariants of the interface simulation, checked as things happen and after
//! every step. A violation panics with the seed that replays it.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use ferrowg_core::error::DropReason;
use ferrowg_core::interface::{OpenRec, SealRec};
use ferrowg_core::keys::PublicKey;
use ferrowg_core::peer::PeerEvent;

use super::net::Network;
use super::{traffic, Node};

// The protocol's constants as the whitepaper and the kernel define them, written out
// here rather than imported, so that a wrong constant in the crate is caught.
const REKEY_AFTER_TIME: Duration = Duration::from_secs(120);
const REJECT_AFTER_TIME: Duration = Duration::from_secs(180);
const REKEY_TIMEOUT: Duration = Duration::from_secs(5);
const REKEY_TIMEOUT_JITTER_MAX: Duration = Duration::from_millis(333);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_TIMER_HANDSHAKES: u32 = 18;

/// Initiations the kernel sends before giving up (the first plus MAX_TIMER_HANDSHAKES + 1
/// retries).
const ATTEMPTS: usize = MAX_TIMER_HANDSHAKES as usize + 2;

/// What one node knows about one of its peers.
#[derive(Default)]
struct Pair {
    /// Last completed handshake (time, we initiated).
    session: Option<(Duration, bool)>,
    /// Initiations sent since the last completion, response or give-up.
    inits: Vec<Duration>,
    /// The attempt count may have been reset by a new request during `inits`.
    tainted: bool,
    last_init: Option<Duration>,
    /// Last handshake response sent (a handshake in progress the other way; it also
    /// rate-limits initiations).
    last_resp: Option<Duration>,
    /// Last data message sent to / received from the peer (they arm the timers that
    /// request a new handshake, resetting the attempt count).
    last_tx: Option<Duration>,
    last_rx: Option<Duration>,
}

impl Pair {
    /// Whether something may have reset the attempt count during `inits`: an app
    /// packet, data received (keepalive timer), or data sent just before the first
    /// initiation (the new-handshake timer, KEEPALIVE_TIMEOUT + REKEY_TIMEOUT later).
    fn reset_possible(&self) -> bool {
        let Some(&first) = self.inits.first() else { return self.tainted };
        let slack = KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX;
        self.tainted
            || self.last_tx.is_some_and(|t| t + slack >= first)
            || self.last_rx.is_some_and(|t| t + slack >= first)
    }
}

/// The invariants and their bookkeeping.
pub struct Checker {
    seed: u64,
    pairs: HashMap<(usize, usize), Pair>,
    sleeps: Vec<Vec<(Duration, Duration)>>,
    delivered: HashSet<(usize, u64)>,
    opened: HashSet<(usize, u32, u64)>,
    tx: HashMap<(usize, usize), u64>,
    rx: HashMap<(usize, usize), u64>,
    replays: HashMap<(usize, usize), u64>,
    pending_rekey: Vec<(usize, usize, Duration, Duration)>,
    /// App packets sent (not counting spoofed ones).
    pub app_sent: u64,
    /// App packets delivered intact.
    pub app_delivered: u64,
    /// Handshakes completed (events at either side).
    pub handshakes: u64,
    /// Give-ups (Unreachable events).
    pub give_ups: u64,
    /// Endpoint changes seen (roaming).
    pub roams: u64,
    /// NAT rebindings done.
    pub rebinds: u64,
    /// Cookie replies sent.
    pub cookie_replies: u64,
    /// Initiations the hub answered with a DH while under load (all cookie-bearing).
    pub dh_under_load: u64,
    /// Initiations refused under load without a DH.
    pub refused_under_load: u64,
    /// Steps checked.
    pub steps: u64,
}

impl Checker {
    /// Bookkeeping for `nodes` nodes.
    pub fn new(seed: u64, nodes: usize) -> Self {
        Self {
            seed,
            pairs: HashMap::new(),
            sleeps: vec![Vec::new(); nodes],
            delivered: HashSet::new(),
            opened: HashSet::new(),
            tx: HashMap::new(),
            rx: HashMap::new(),
            replays: HashMap::new(),
            pending_rekey: Vec::new(),
            app_sent: 0,
            app_delivered: 0,
            handshakes: 0,
            give_ups: 0,
            roams: 0,
            rebinds: 0,
            cookie_replies: 0,
            dh_under_load: 0,
            refused_under_load: 0,
            steps: 0,
        }
    }

    #[track_caller]
    fn fail(&self, t: Duration, msg: String) -> ! {
        panic!("FERROWG_SIM_SEED={} at {:.3} s: {msg}", self.seed, t.as_secs_f64());
    }

    fn pair(&mut self, node: usize, peer: usize) -> &mut Pair {
        self.pairs.entry((node, peer)).or_default()
    }

    /// `node` sleeps from `from` to `until`.
    pub fn slept(&mut self, node: usize, from: Duration, until: Duration) {
        self.sleeps[node].push((from, until));
    }

    fn slept_between(&self, node: usize, a: Duration, b: Duration) -> bool {
        self.sleeps[node].iter().any(|&(s, e)| s < b && e > a)
    }

    /// The application at `node` sent a packet to `peer`.
    pub fn app_sent(&mut self, node: usize, peer: usize, _t: Duration) {
        self.app_sent += 1;
        let p = self.pair(node, peer);
        if !p.inits.is_empty() {
            p.tainted = true;
        }
    }

    /// An interface event.
    pub fn event(&mut self, node: usize, peer: usize, ev: PeerEvent, t: Duration) {
        match ev {
            PeerEvent::HandshakeComplete { initiator } => {
                self.handshakes += 1;
                let p = self.pair(node, peer);
                p.session = Some((t, initiator));
                p.inits.clear();
                p.tainted = false;
            }
            PeerEvent::Unreachable => {
                self.give_ups += 1;
                let (inits, tainted) = {
                    let p = self.pair(node, peer);
                    let tainted = p.reset_possible();
                    p.tainted = false;
                    (std::mem::take(&mut p.inits), tainted)
                };
                if inits.len() < ATTEMPTS || (!tainted && inits.len() != ATTEMPTS) {
                    let n = inits.len();
                    self.fail(
                        t,
                        format!("{node}->{peer} gave up after {n} initiations, not {ATTEMPTS}"),
                    );
                }
                let last = inits[inits.len() - 1];
                let gap = t - last;
                let late = gap >= REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX;
                if gap < REKEY_TIMEOUT || (late && !self.slept_between(node, last, t)) {
                    self.fail(
                        t,
                        format!("{node}->{peer} gave up {gap:?} after its last initiation"),
                    );
                }
            }
            PeerEvent::EndpointChanged(_) => self.roams += 1,
            PeerEvent::SessionExpired => self.pair(node, peer).session = None,
        }
    }

    /// `node` transmitted a datagram the protocol made (toward `peer`, if known).
    pub fn transmitted(&mut self, node: usize, peer: Option<usize>, bytes: &[u8], t: Duration) {
        match (bytes.first(), peer) {
            (Some(1), Some(peer)) => self.initiation(node, peer, t),
            (Some(2), Some(peer)) => {
                let p = self.pair(node, peer);
                p.inits.clear();
                p.last_resp = Some(t);
            }
            (Some(3), _) => self.cookie_replies += 1,
            (Some(4), Some(peer)) => {
                self.session_valid(node, peer, t, "data");
                *self.tx.entry((node, peer)).or_default() += 1;
                self.pair(node, peer).last_tx = Some(t);
            }
            (Some(4), None) => self.fail(t, format!("{node} sent data to an unknown address")),
            _ => {}
        }
    }

    fn initiation(&mut self, node: usize, peer: usize, t: Duration) {
        let (last, n, tainted) = {
            let p = self.pair(node, peer);
            (p.inits.last().copied(), p.inits.len(), p.reset_possible())
        };
        if let Some(l) = last {
            let gap = t - l;
            let late = gap >= REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX;
            if gap < REKEY_TIMEOUT || (late && !self.slept_between(node, l, t)) {
                self.fail(t, format!("{node}->{peer}: initiation {gap:?} after the previous one"));
            }
        }
        if !tainted && n >= ATTEMPTS {
            let p = &self.pairs[&(node, peer)];
            let (inits, session) = (&p.inits, p.session);
            let sleeps = &self.sleeps[node];
            self.fail(t, format!("{node}->{peer}: initiation {} beyond the kernel's limit: {inits:?} {session:?} {sleeps:?}", n + 1));
        }
        let p = self.pair(node, peer);
        p.inits.push(t);
        p.last_init = Some(t);
    }

    fn session_valid(
        &mut self,
        node: usize,
        peer: usize,
        t: Duration,
        what: &str,
    ) -> Option<(Duration, bool)> {
        match self.pair(node, peer).session {
            Some((h, i)) if t - h < REJECT_AFTER_TIME => Some((h, i)),
            s => {
                self.fail(t, format!("{node}->{peer}: {what} left without a valid session ({s:?})"))
            }
        }
    }

    /// `node` sealed an application packet.
    pub fn sealed(
        &mut self,
        node: usize,
        peer: Option<usize>,
        rec: &SealRec,
        now: Instant,
        t: Duration,
    ) {
        let Some(peer) = peer else {
            self.fail(t, format!("{node} sealed for an unknown address"))
        };
        if rec.keypair.is_expired(now) {
            self.fail(t, format!("{node}->{peer}: sealed under an expired keypair"));
        }
        let (h, initiator) = self.session_valid(node, peer, t, "sealed data").unwrap_or_default();
        *self.tx.entry((node, peer)).or_default() += 1;
        self.pair(node, peer).last_tx = Some(t);
        if initiator && t - h >= REKEY_AFTER_TIME {
            self.pending_rekey.push((node, peer, h, t));
        }
    }

    /// A handshake message was handled at `node`; `consumed`: initiations that reached
    /// the Diffie-Hellman step.
    pub fn handshake_handled(
        &mut self,
        node: usize,
        bytes: &[u8],
        under_load: bool,
        consumed: u64,
        t: Duration,
    ) {
        if bytes.first() != Some(&1) || bytes.len() != 148 || !under_load {
            return;
        }
        let has_cookie = bytes[132..148].iter().any(|&b| b != 0);
        if !has_cookie && consumed != 0 {
            self.fail(t, format!("{node}: an initiation without a cookie cost a DH under load"));
        }
        if consumed == 0 {
            self.refused_under_load += 1;
        }
        self.dh_under_load += consumed;
    }

    /// A data message from node `from` was opened at `node`.
    pub fn opened(&mut self, node: usize, from: usize, rec: &OpenRec, t: Duration) {
        let Ok((counter, _)) = &rec.result else { return };
        if self.opened.insert((node, rec.keypair.local_index(), *counter)) {
            *self.rx.entry((node, from)).or_default() += 1;
            self.pair(node, from).last_rx = Some(t);
        } else {
            *self.replays.entry((node, from)).or_default() += 1;
        }
    }

    /// `node` delivered `pkt` (sent by node `from`) to its NIC; returns the origin.
    pub fn delivered(
        &mut self,
        node: usize,
        from: usize,
        pkt: &[u8],
        t: Duration,
    ) -> Option<usize> {
        let Some((src, origin, dest, seq)) = traffic::parse(pkt) else {
            self.fail(t, format!("{node} delivered a corrupt packet from {from}"));
        };
        if dest != node {
            self.fail(t, format!("{node} delivered a packet for {dest}"));
        }
        if origin != from || src != super::tunnel_ip(from) {
            self.fail(
                t,
                format!("{node} delivered a packet from {from} claiming to be {origin} ({src:?})"),
            );
        }
        if !self.delivered.insert((origin, seq)) {
            self.fail(t, format!("{node} delivered packet {origin}/{seq} twice"));
        }
        self.app_delivered += 1;
        Some(origin)
    }

    /// After every step: every rekey that became due was started.
    pub fn after_step(&mut self, t: Duration, _nodes: &[Node]) {
        self.steps += 1;
        for (node, peer, h, at) in std::mem::take(&mut self.pending_rekey) {
            let p = self.pair(node, peer);
            let started = p.last_init.is_some_and(|l| l > h)
                || p.last_resp.is_some_and(|r| r > h)
                || p.session.is_some_and(|(s, _)| s > h);
            if !started {
                let age = at - h;
                let (li, lr) = (p.last_init, p.last_resp);
                let sl = &self.sleeps[node];
                self.fail(
                    t,
                    format!(
                        "{node}->{peer}: sent at session age {age:?} without starting a rekey \
                         (session {h:?}, last initiation {li:?}, last response {lr:?}, sleeps {sl:?})"
                    ),
                );
            }
        }
    }

    /// The interfaces' counters equal what the simulation saw.
    pub fn counters(&self, t: Duration, nodes: &[Node], by_key: &HashMap<PublicKey, usize>) {
        for (node, n) in nodes.iter().enumerate() {
            for st in n.iface.peer_statuses() {
                let peer = by_key[&st.public_key];
                let want =
                    |m: &HashMap<(usize, usize), u64>| m.get(&(node, peer)).copied().unwrap_or(0);
                let got = (st.tx_packets, st.rx_packets, st.drops.get(DropReason::Replay));
                let exp = (want(&self.tx), want(&self.rx), want(&self.replays));
                if got != exp {
                    self.fail(t, format!("{node}->{peer}: counters (tx, rx, replays) {got:?}, simulation saw {exp:?}"));
                }
            }
        }
    }

    /// End of run: the scenario really exercised what it claims to.
    pub fn finish(&self, t: Duration, nodes: &[Node], net: &Network) {
        let spoofed =
            nodes[super::HUB].iface.peer_statuses()[0].drops.get(DropReason::DisallowedSource);
        println!(
            "seed {}: {:.1} virtual h, {} steps, {} peers; app packets sent {}, delivered {}; \
             handshakes {}, give-ups {}, roams {} (rebinds {}), cookie replies {}, \
             DH under load {} (refused {}), spoofs dropped {}, network lost {} duplicated {}",
            self.seed,
            t.as_secs_f64() / 3600.0,
            self.steps,
            nodes.len() - 1,
            self.app_sent,
            self.app_delivered,
            self.handshakes,
            self.give_ups,
            self.roams,
            self.rebinds,
            self.cookie_replies,
            self.dh_under_load,
            self.refused_under_load,
            spoofed,
            net.lost,
            net.duplicated,
        );
        let replays: u64 = self.replays.values().sum();
        let checks = [
            (self.app_delivered * 2 > self.app_sent, "most packets delivered"),
            (self.handshakes > 0, "handshakes"),
            (self.roams > 0, "roaming"),
            (self.cookie_replies > 0 && self.refused_under_load > 0, "cookie replies under load"),
            (replays > 0, "duplicates rejected as replays"),
            (spoofed > 0, "spoofed sources dropped"),
        ];
        for (ok, what) in checks {
            if !ok {
                self.fail(t, format!("the scenario did not exercise {what}"));
            }
        }
    }
}
