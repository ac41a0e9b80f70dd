//! One peer inside the engine: its protocol state behind a mutex, plus the lock-free
//! parts the data path reads per packet (the current send session, the endpoint,
//! counters).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use arc_swap::ArcSwapOption;
use parking_lot::Mutex;

use super::session::Session;
use crate::cookie::CookieGenerator;
use crate::error::DropReason;
use crate::keys::{PresharedKey, PublicKey};
use crate::noise::{InitiationSent, LocalStatic, RemoteStatic};
use crate::timers::Timers;

/// What a receiver index points at: a peer, and the session once one exists (an index
/// with no session is our pending initiation's).
#[derive(Clone)]
pub(crate) struct IndexEntry {
    pub(crate) peer: Arc<Peer>,
    pub(crate) session: Option<Arc<Session>>,
}

/// One configured peer.
pub(crate) struct Peer {
    /// The peer's static public key.
    pub(crate) public_key: PublicKey,
    /// Protocol state: handshake, sessions, timers.
    pub(crate) state: Mutex<PeerState>,
    /// Packets waiting for a session, and the lock that keeps sends in order with them.
    pub(crate) tx: Mutex<TxState>,
    /// The session new data is sent under (the state's `current`, readable without the
    /// state lock).
    pub(crate) send_session: ArcSwapOption<Session>,
    /// Where to send (configured, or learned from the last authenticated packet).
    pub(crate) endpoint: Mutex<Option<SocketAddr>>,
    /// Set while a handshake request is queued for the control thread.
    pub(crate) handshake_queued: AtomicBool,
    /// The earliest timer deadline, in nanoseconds after the device's base instant
    /// (`u64::MAX`: none); lets the control thread scan timers without locking.
    pub(crate) next_deadline: AtomicU64,
    /// Set when the peer was removed from the configuration.
    pub(crate) removed: AtomicBool,
    /// Traffic counters.
    pub(crate) counters: PeerCounters,
}

/// The mutex-protected protocol state of a peer.
pub(crate) struct PeerState {
    /// The peer's static key material under our current private key (`None` while the
    /// device has no private key).
    pub(crate) remote: Option<RemoteStatic>,
    /// The pre-shared key (kept to rebuild `remote` when our private key changes).
    pub(crate) psk: Option<PresharedKey>,
    /// MACs and cookie for the handshake messages we send to this peer.
    pub(crate) cookie: CookieGenerator,
    /// The whitepaper timers.
    pub(crate) timers: Timers,
    /// Our initiation waiting for a response.
    pub(crate) pending: Option<InitiationSent>,
    /// The session data is sent under.
    pub(crate) current: Option<Arc<Session>>,
    /// The session before `current`, still accepted for receiving.
    pub(crate) previous: Option<Arc<Session>>,
    /// As responder: the session derived from our response, confirmed by the first
    /// data packet under it.
    pub(crate) next: Option<Arc<Session>>,
    /// Wall-clock time of the last completed handshake.
    pub(crate) last_handshake: Option<SystemTime>,
}

/// Send-side ordering state.
pub(crate) struct TxState {
    /// Packets that arrived while there was no usable session, oldest first.
    pub(crate) staged: VecDeque<Vec<u8>>,
}

/// Per-peer counters, updated with relaxed atomics on the data path.
#[derive(Default)]
pub(crate) struct PeerCounters {
    pub(crate) rx_bytes: AtomicU64,
    pub(crate) rx_packets: AtomicU64,
    pub(crate) tx_bytes: AtomicU64,
    pub(crate) tx_packets: AtomicU64,
    pub(crate) handshakes: AtomicU64,
    drops: [AtomicU64; DropReason::COUNT],
}

impl PeerCounters {
    pub(crate) fn drop(&self, reason: DropReason) {
        if let Some(c) = self.drops.get(reason.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn drops(&self) -> [u64; DropReason::COUNT] {
        std::array::from_fn(|i| self.drops.get(i).map_or(0, |c| c.load(Ordering::Relaxed)))
    }
}

impl Peer {
    /// A new peer with no session.
    pub(crate) fn new(
        public_key: PublicKey,
        psk: Option<PresharedKey>,
        local: Option<&LocalStatic>,
        endpoint: Option<SocketAddr>,
        keepalive: Option<std::time::Duration>,
    ) -> Self {
        let remote = local.map(|l| RemoteStatic::new(l, public_key, psk.as_ref()));
        Self {
            public_key,
            state: Mutex::new(PeerState {
                remote,
                psk,
                cookie: CookieGenerator::new(&public_key),
                timers: Timers::new(keepalive),
                pending: None,
                current: None,
                previous: None,
                next: None,
                last_handshake: None,
            }),
            tx: Mutex::new(TxState { staged: VecDeque::new() }),
            send_session: ArcSwapOption::empty(),
            endpoint: Mutex::new(endpoint),
            handshake_queued: AtomicBool::new(false),
            next_deadline: AtomicU64::new(u64::MAX),
            removed: AtomicBool::new(false),
            counters: PeerCounters::default(),
        }
    }

    /// The current endpoint.
    pub(crate) fn endpoint(&self) -> Option<SocketAddr> {
        *self.endpoint.lock()
    }

    /// Records the earliest timer deadline for the lock-free scan.
    pub(crate) fn publish_deadline(&self, state: &PeerState, base: Instant) {
        let at = state.timers.poll_timeout().map_or(u64::MAX, |(at, _)| {
            u64::try_from(at.saturating_duration_since(base).as_nanos()).unwrap_or(u64::MAX)
        });
        self.next_deadline.store(at, Ordering::Relaxed);
    }
}
