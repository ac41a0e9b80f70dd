//! The multi-peer sans-IO state machine of one WireGuard interface.
//!
//! [`Interface`] is to `peer::Peer` what quinn-proto's `Endpoint` is to its
//! `Connection`: it owns many peers and everything an interface decides on their
//! behalf — routing by allowed IPs, the receiver-index table, handshake dispatch,
//! MAC1/MAC2, cookie replies and the under-load decision, the per-source rate limiter,
//! the source-address check after decryption, every peer's timers, roaming, counters
//! and drop reasons. It never reads a clock, opens a socket or spawns a thread: `now`
//! and the wall time are arguments, randomness comes from the seed given to
//! [`Interface::new`], datagrams and events leave through the caller's [`Output`] and
//! packets stay in the caller's buffers.
//!
//! The threaded engine ([`crate::device`]) and the deterministic simulator
//! (`core/tests/sim_interface.rs`) drive this same code. Every method takes `&self`, so
//! the engine's threads can share one interface:
//!
//! ```text
//! NIC batch   → route_batch (read-only snapshot) → prepare_tx (per peer run, under its
//!               lock: counters or staging) → SealRec::seal (any thread) → send
//! UDP batch   → classify (read-only: type, index, keypair) → OpenRec::open (any thread)
//!               → accept (in arrival order: replay, source check, timers, roaming)
//! handshakes  → handle_handshake (MACs, cookies, rate limit, Noise, dispatch)
//! deadlines   → handle_timeouts (every due peer's timers and wanted initiations)
//! ```

mod batch;
mod handshake;
mod output;
mod reconfigure;
mod rx;
mod slot;
mod stats;
#[cfg(test)]
mod tests;
mod timers;
mod tx;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use parking_lot::Mutex;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

use crate::allowedips::Table;
use crate::config::DeviceConfig;
use crate::error::DropReason;
use crate::peer::{Identity, Peer as ProtoPeer};
use crate::peer_lookup::{IndexTable, PubkeyTable};
use crate::ratelimiter::RateLimiter;

pub use batch::{padded_len, seal, tx_stride, OpenRec, SealRec};
pub use handshake::HandshakeCounters;
pub use output::Output;
pub use reconfigure::{ConfigError, Prepared};
pub use rx::Incoming;
use slot::IndexEntry;
pub use slot::PeerSlot;
pub use stats::{DropStats, PeerStatus};

/// How long the interface stays "under load" after the handshake backlog was last long.
pub const UNDER_LOAD_HOLD: Duration = Duration::from_secs(1);

/// One immutable configuration generation, swapped in whole.
pub(crate) struct Snapshot {
    /// The configuration as applied (endpoints resolved).
    pub(crate) config: DeviceConfig,
    /// The interface's key pair and cookie checker (`None`: no private key).
    pub(crate) identity: Option<Arc<Identity>>,
    /// Peers in configuration order.
    pub(crate) peers: Vec<Arc<PeerSlot>>,
    /// Allowed IPs → peer.
    pub(crate) routes: Table<Arc<PeerSlot>>,
}

/// Interface-wide counters.
#[derive(Default)]
struct Counters {
    drops: [AtomicU64; DropReason::COUNT],
    handshakes_processed: AtomicU64,
    cookie_replies: AtomicU64,
    /// Handshake initiations that reached the Diffie-Hellman step.
    initiations_consumed: AtomicU64,
}

/// A wake-up for whoever waits on [`Interface::next_deadline`] (the engine's control
/// thread), called when a deadline earlier than the previous minimum is published.
pub type Waker = Box<dyn Fn() + Send + Sync>;

/// The multi-peer sans-IO state machine (see the module docs).
pub struct Interface {
    /// Reference point for the peers' atomic timer deadlines.
    base: Instant,
    /// Set once the interface is up (peers added later get their interface-up timers).
    started: AtomicBool,
    snapshot: ArcSwap<Snapshot>,
    by_key: PubkeyTable<Arc<PeerSlot>>,
    indices: Arc<IndexTable<IndexEntry>>,
    rng: Mutex<ChaCha20Rng>,
    ratelimiter: RateLimiter,
    /// The earliest timer deadline of any peer (ticks; may be stale-early, never late).
    min_deadline: AtomicU64,
    /// Ticks after `base` until which the interface counts as under load.
    under_load_until: AtomicU64,
    /// Ticks of the last rate-limiter garbage collection.
    last_gc: AtomicU64,
    counters: Counters,
    waker: Option<Waker>,
}

impl std::fmt::Debug for Interface {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interface")
            .field("peers", &self.snapshot.load().peers.len())
            .finish_non_exhaustive()
    }
}

impl Drop for Interface {
    /// Index entries hold their peer, and a peer's index allocator holds the table: the
    /// entries are taken out (and dropped outside the table's locks) so that cycle cannot
    /// outlive the interface. Found by the `datagram` fuzz target's leak check.
    fn drop(&mut self) {
        let mut indices = Vec::new();
        self.indices.for_each(|i, _| indices.push(*i));
        let entries: Vec<_> = indices.into_iter().filter_map(|i| self.indices.remove(i)).collect();
        drop(entries);
    }
}

impl Interface {
    /// An interface with no key and no peers. `seed` feeds every random choice (index
    /// tables, cookie secrets, each peer's RNG); `now` is the base of its timers.
    pub fn new(seed: [u8; 32], now: Instant) -> Self {
        let mut rng = ChaCha20Rng::from_seed(seed);
        Self {
            base: now,
            started: AtomicBool::new(false),
            by_key: PubkeyTable::new(&mut rng),
            indices: Arc::new(IndexTable::new(&mut rng)),
            ratelimiter: RateLimiter::new(&mut rng),
            rng: Mutex::new(rng),
            snapshot: ArcSwap::from_pointee(Snapshot {
                config: DeviceConfig::default(),
                identity: None,
                peers: Vec::new(),
                routes: Table::new(),
            }),
            min_deadline: AtomicU64::new(u64::MAX),
            under_load_until: AtomicU64::new(0),
            last_gc: AtomicU64::new(0),
            counters: Counters::default(),
            waker: None,
        }
    }

    /// Calls `waker` whenever a peer's timer deadline moves earlier than the earliest one
    /// known (the engine unparks its control thread).
    pub fn with_waker(mut self, waker: Waker) -> Self {
        self.waker = Some(waker);
        self
    }

    /// Nanoseconds from `base` to `now`.
    fn ticks(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// Counts a drop not charged to a peer.
    pub fn count_drop(&self, reason: DropReason) {
        if let Some(c) = self.counters.drops.get(reason.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The earliest timer deadline of any peer (`None`: nothing scheduled). May be
    /// early (a deadline that moved later), never late.
    pub fn next_deadline(&self) -> Option<Instant> {
        let at = self.min_deadline.load(Ordering::Acquire);
        (at != u64::MAX).then(|| self.base + Duration::from_nanos(at))
    }

    /// The number of configured peers.
    pub fn peer_count(&self) -> usize {
        self.snapshot.load().peers.len()
    }

    /// Publishes a peer's earliest timer deadline and lowers the interface-wide minimum.
    fn publish_deadline(&self, peer: &PeerSlot, proto: Option<&ProtoPeer>) {
        let at = peer.publish_deadline(proto, self.base);
        if self.min_deadline.fetch_min(at, Ordering::AcqRel) > at {
            if let Some(w) = &self.waker {
                w();
            }
        }
    }

    /// Runs `f` on the peer's protocol state under its lock; then sends what it queued,
    /// republishes its timer deadline and reports its events (after unlocking).
    fn with_peer<R>(
        &self,
        peer: &Arc<PeerSlot>,
        now: Instant,
        scratch: &mut [u8],
        out: &mut dyn Output,
        f: impl FnOnce(&mut ProtoPeer) -> R,
    ) -> Option<R> {
        let mut events = Vec::new();
        let r = {
            let mut guard = peer.proto.lock();
            let p = guard.as_mut()?;
            let r = f(p);
            output::flush(peer, p, now, scratch, out, &mut events);
            self.publish_deadline(peer, Some(p));
            r
        };
        for e in events {
            output::log_event(&peer.public_key, &e, now);
            out.event(&peer.public_key, e);
        }
        Some(r)
    }

    /// [`Interface::with_peer`] off the data path: also creates the handshake
    /// initiation a data-path hook asked for (the two X25519 operations never run in
    /// the classify/accept stages).
    fn control_peer<R>(
        &self,
        peer: &Arc<PeerSlot>,
        now: Instant,
        wall: std::time::SystemTime,
        scratch: &mut [u8],
        out: &mut dyn Output,
        f: impl FnOnce(&mut ProtoPeer) -> R,
    ) -> Option<R> {
        self.with_peer(peer, now, scratch, out, |p| {
            let r = f(p);
            if p.wants_initiation() {
                p.send_wanted_initiation(now, wall);
            }
            r
        })
    }
}
