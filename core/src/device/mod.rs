//! The engine: threads, batching and live configuration over the traits in [crate::io].
//!
//! [`Device::start`] takes a [`DeviceConfig`], a virtual NIC ([`Tun`]), a way to open UDP
//! transports ([`Bind`]) and a [`Clock`], and runs the tunnel on its own threads until
//! [`Device::stop`] (or drop). It is a driver: every protocol decision (routing,
//! index lookup, MACs and cookies, the rate limiter, the source check, timers,
//! roaming, counters) is made by the sans-IO [`crate::interface::Interface`] it owns,
//! the same code the deterministic simulator runs. The threads call its three batch
//! stages — classify/route (read-only snapshot), crypto (pure, any thread), accept
//! (under each peer's lock, once per run of packets of one peer).
//!
//! Files: `records` (leaf: limits, batch records, engine counters) ← `workers` ←
//! `state` (shared state, output) ← `suspend` ← `reconfigure`, `stats`, `tx` ← `txqueue`, `rx` ←
//! `io_loop` ← `threads` (spawn, control loop); no file imports one that imports it.
//!
//! The TX and RX "threads" below are the two directions of the data path. With
//! [`IoThreads::Shared`] (the default where the NIC is a file descriptor) one thread runs
//! both, a batch of each per turn, sleeping on the NIC and the sockets at once, and hands
//! the TX direction to a helper only while the tunnel is saturated (see `io_loop`);
//! with [`IoThreads::PerDirection`] (wintun, host packet I/O, the in-memory test NIC)
//! each has a thread of its own.
//!
//! - **TX thread**: NIC batch → allowed-IPs lookup of the destination → per-peer run:
//!   staged behind a handshake when there is no usable keypair (the initiation is only
//!   marked wanted, and the control thread creates it), else counters taken in order
//!   under the lock → seal
//!   in place (inline, or fanned out to the crypto workers) → one UDP batch in the
//!   original order. With [`DeviceOptions::codel`] the packets first wait in per-peer
//!   CoDel queues (see `txqueue`).
//! - **RX thread**: UDP batch → message type; handshake messages are copied into a
//!   bounded queue for the control thread (so a flood can only fill that queue, never
//!   stall data) → receiver-index lookup → decrypt in place (inline, or fanned out to
//!   the crypto workers) → then in arrival order: replay window → inner source address
//!   checked against the peer's allowed IPs → one NIC batch; per run of one peer, its
//!   receive hooks (timers, roaming, confirming a responder's keypair).
//! - **Control thread**: handshake messages (MAC1; under load MAC2, cookie replies and
//!   the per-source rate limiter; then the Noise responder or initiator step), every
//!   peer's timers, driven by `clock.now()` (a lock-free scan of per-peer deadlines),
//!   and the initiations the data path asked for (staged packet without a session,
//!   rekey on send or receive: the two X25519 operations never run on the TX or RX
//!   thread; a wanted initiation shows as a deadline that is due at once).
//! - **Crypto workers** (see [`WorkerMode`]): a TX or RX batch at least
//!   [`DeviceOptions::fanout_threshold`] long is handed out packet by packet through a
//!   `queue::Ring` and re-joined (the submitting thread helps meanwhile)
//!   before anything leaves, so order is kept per peer.
//!
//! Buffers are allocated once per thread; the steady-state data path allocates nothing
//! per packet. Configuration changes build a new immutable snapshot (peers, allowed-IPs
//! trie, identity) and publish it with one pointer swap, so the data path sees either
//! the old or the new configuration, never a mix.

mod io_loop;
pub mod memory;
mod reconfigure;
mod records;
mod rx;
mod state;
mod stats;
mod suspend;
mod threads;
mod tx;
mod txqueue;
mod workers;

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

use crate::aqm::CodelParams;
use crate::config::uapi::{self, UapiError};
use crate::config::DeviceConfig;
use crate::io::{Bind, Clock, Tun};
use crate::keys::PublicKey;
use crate::sched::{CpuTopology, LogicalCpu};

pub use crate::interface::{DropStats, PeerStatus};
use state::Inner;

/// How the engine spreads encryption over threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkerMode {
    /// Size the pool from the topology (`sched::plan`: one NUMA node, P-cores
    /// first, no SMT siblings, minus the two I/O threads) and use as many of them as the
    /// measured crypto load justifies (`sched::Scaler`, with hysteresis): inline
    /// on the TX thread at low rates, fanning batches of at least `fanout_threshold`
    /// packets out as load rises, back in as it falls.
    #[default]
    Auto,
    /// Always fan batches out to this many workers (0 behaves like `Inline`).
    Fixed(usize),
    /// Never use workers: the I/O threads do all crypto.
    Inline,
}

/// Which bounded ring carries work between engine stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RingKind {
    /// `queue::LockedRing` (a mutex around a deque).
    Locked,
    /// `queue::LockFreeRing` (Vyukov's bounded MPMC array).
    #[default]
    LockFree,
}

/// Which engine thread is starting (see [`ThreadHook`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThreadRole {
    /// Reads the NIC, encrypts, sends UDP.
    Tx,
    /// Receives UDP, decrypts, writes the NIC.
    Rx,
    /// Handshakes and timers.
    Control,
    /// Crypto worker number `n`.
    Crypto(usize),
}

/// Lets the host place the engine's threads (core makes no OS calls itself): called on
/// each new thread before it does any work, with the CPU that `sched::plan`
/// chose for it from [`DeviceOptions::topology`] (`None`: no preference). The TX thread
/// gets the plan's I/O CPU, the RX thread the first worker CPU, crypto workers the
/// following ones; the control thread is left to the OS. The platform crate's
/// `ferrowg_platform::cpu::PinningHook` pins each thread to that CPU.
pub trait ThreadHook: Send + Sync {
    /// Runs on the starting thread.
    fn on_thread_start(&self, role: ThreadRole, cpu: Option<LogicalCpu>);

    /// Runs on a packet thread when the tunnel becomes saturated (`true`) and when it
    /// no longer is (`false`). The shared I/O thread ([`IoThreads::Shared`]) and its NIC
    /// helper call it at the hand-over of the NIC direction (work found on
    /// [`DeviceOptions::io_split_after`] turns in a row), and when the hand-over has
    /// been over for `SATURATION_HOLD` (200 ms: a brief lull does not end it). One
    /// thread per direction has no such signal and reports `true` once, as it starts.
    /// The platform crate's `PriorityHook::when_saturated` raises the thread's priority
    /// for that time. Default: nothing.
    fn on_saturation(&self, role: ThreadRole, saturated: bool) {
        let _ = (role, saturated);
    }
}

/// Engine tuning. `Default` suits a desktop client.
#[derive(Clone)]
pub struct DeviceOptions {
    /// Seed for the engine's CSPRNG (ephemeral keys, indices, cookies, jitter): 32 bytes
    /// from the OS CSPRNG (`ferrowg_platform::random_seed()`); tests pass a fixed seed.
    /// Required: core makes no OS call, so with `None` the device refuses to start
    /// ([`DeviceError::NoRngSeed`]) rather than seed itself from something weaker.
    pub rng_seed: Option<[u8; 32]>,
    /// Crypto fan-out.
    pub workers: WorkerMode,
    /// The CPUs the engine may use (sizes the worker pool in [`WorkerMode::Auto`]).
    pub topology: CpuTopology,
    /// Packets per NIC or UDP batch (capped at 128).
    pub batch_size: usize,
    /// Queue outgoing packets per peer inside the engine (draining the NIC eagerly, byte
    /// limit from DQL) and run CoDel (RFC 8289: 5 ms target, 100 ms interval) on those
    /// queues. Implies `tx_queue`.
    pub codel: bool,
    /// CoDel's target and interval when `codel` is on (RFC 8289 defaults; `max_packet` is
    /// replaced by the interface MTU).
    pub codel_params: CodelParams,
    /// Queue outgoing packets per peer inside the engine (as with `codel`) but never drop
    /// from the queues: the CoDel-off baseline for comparisons.
    pub tx_queue: bool,
    /// CoDel on the receive side: the standing queue of a saturated tunnel forms in the
    /// UDP socket's receive buffer, which the engine cannot dequeue from; where the
    /// transport gives kernel receive timestamps, each data message's wait there is its
    /// sojourn time, and CoDel drops (before decrypting) large data messages of a queue
    /// standing above `target` for an `interval` (see `aqm::Codel::judge`).
    /// Messages shorter than [`RX_CODEL_MIN_LEN`] (ACKs, pings, DNS: the sparse flows
    /// fq_codel would protect) are never dropped. `None`: off.
    pub rx_codel: Option<CodelParams>,
    /// The ring between the TX thread and the crypto workers.
    pub ring: RingKind,
    /// In [`WorkerMode::Auto`], batches at least this long go to the workers.
    pub fanout_threshold: usize,
    /// Capacity of the incoming handshake queue; the device is "under load" (cookie
    /// replies, rate limiting) while it is at least 1/8 full.
    pub handshake_queue: usize,
    /// Called on every engine thread as it starts (CPU pinning by the platform layer).
    pub thread_hook: Option<Arc<dyn ThreadHook>>,
    /// One I/O thread per direction, or one for both (see [`IoThreads`]).
    pub io_threads: IoThreads,
    /// With [`IoThreads::Shared`]: the turns in a row that found work after which the
    /// shared thread hands the NIC direction to its helper (a saturated tunnel); 0:
    /// never, one thread at any load. Default [`IO_SPLIT_AFTER`].
    pub io_split_after: u32,
}

impl fmt::Debug for DeviceOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceOptions")
            .field("rng_seed", &self.rng_seed.map(|_| "<seed>"))
            .field("workers", &self.workers)
            .field("topology", &self.topology)
            .field("batch_size", &self.batch_size)
            .field("codel", &self.codel)
            .field("codel_params", &self.codel_params)
            .field("tx_queue", &self.tx_queue)
            .field("rx_codel", &self.rx_codel)
            .field("ring", &self.ring)
            .field("fanout_threshold", &self.fanout_threshold)
            .field("handshake_queue", &self.handshake_queue)
            .field("thread_hook", &self.thread_hook.is_some())
            .finish()
    }
}

impl Default for DeviceOptions {
    fn default() -> Self {
        Self {
            rng_seed: None,
            workers: WorkerMode::Auto,
            topology: CpuTopology::uniform(1),
            batch_size: 64,
            codel: false,
            codel_params: CodelParams::default(),
            tx_queue: false,
            rx_codel: None,
            ring: RingKind::LockFree,
            fanout_threshold: 16,
            handshake_queue: 4096,
            thread_hook: None,
            io_threads: IoThreads::Shared,
            io_split_after: IO_SPLIT_AFTER,
        }
    }
}

/// The default [`DeviceOptions::io_split_after`]: 32 busy turns in a row.
pub const IO_SPLIT_AFTER: u32 = 32;

/// How the engine's packet I/O is spread over threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IoThreads {
    /// A TX thread (NIC → UDP) and an RX thread (UDP → NIC), each blocking on its own
    /// input.
    PerDirection,
    /// One thread serves both directions, waiting on the NIC and the sockets at once
    /// (`poll` on both). A packet written to the NIC that makes the OS answer at once
    /// (a TCP ACK, new data released by an ACK) is read back without a thread
    /// switch: fewer wake-ups per round trip. Needs [`crate::io::Tun::wait_fd`] and
    /// [`crate::io::Transport::wait_with`] (Linux, macOS, an adopted Unix fd); elsewhere
    /// the engine uses [`IoThreads::PerDirection`]. Only with the direct TX path (no
    /// `tx_queue`/`codel`). While the tunnel is saturated a helper thread takes the NIC
    /// direction (one thread is one core and one scheduler share), and gives it back
    /// when the load drops. The default: less CPU per byte, more throughput and lower
    /// latency under load than two threads in the netns benchmark
    /// (docs/performance.md).
    #[default]
    Shared,
}

/// Data messages shorter than this (outer UDP payload) are never dropped by the
/// receive-side CoDel ([`DeviceOptions::rx_codel`]): a 576-byte inner packet sealed.
pub const RX_CODEL_MIN_LEN: usize = 576 + 32;

/// The receive-side CoDel parameters hosts use when it is simply turned on
/// (`--rx-codel=on`, the FFI's `rx_codel` without values): target 1 ms, interval 10 ms —
/// a standing queue above a millisecond for ten is what the netns rig shows under one
/// saturating stream (docs/performance.md).
pub const RX_CODEL_ON: CodelParams = CodelParams {
    target: std::time::Duration::from_millis(1),
    interval: std::time::Duration::from_millis(10),
    max_packet: 1500,
};

/// Why the device could not start or apply a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// The UDP transport could not be opened (port in use, no permission, ...).
    #[error("cannot open UDP port {port}: {source}")]
    Bind {
        /// The port asked for (0: any).
        port: u16,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The fwmark could not be put on the UDP sockets (refused where the OS or the
    /// transport has no such mark, or no permission).
    #[error("cannot set fwmark on the UDP sockets: {0}")]
    Fwmark(#[source] io::Error),
    /// A peer's endpoint is still a hostname: the host resolves names before the config
    /// reaches the engine (`ferrowg_platform::resolve`); core makes no OS call.
    #[error("{0}: resolve hostnames before applying the config")]
    UnresolvedEndpoint(#[from] crate::config::uapi::UnresolvedEndpoint),
    /// The configuration is inconsistent (for example the same peer twice).
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A thread could not be spawned.
    #[error("cannot spawn engine thread: {0}")]
    Spawn(#[source] io::Error),
    /// [`DeviceOptions::rng_seed`] was not given.
    #[error("no RNG seed: pass 32 bytes from the OS CSPRNG in DeviceOptions::rng_seed")]
    NoRngSeed,
}

/// Something that happened to the tunnel, for the host's UI.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceEvent {
    /// A handshake with the peer completed (a new session is in use).
    HandshakeComplete {
        /// The peer.
        peer: PublicKey,
    },
    /// The peer's keys were erased after a long time without a new handshake.
    SessionExpired {
        /// The peer.
        peer: PublicKey,
    },
    /// The peer roamed: authenticated packets now come from a new address.
    EndpointChanged {
        /// The peer.
        peer: PublicKey,
        /// Its new address.
        endpoint: SocketAddr,
    },
    /// Handshake retries were exhausted (about 90 s without an answer).
    PeerUnreachable {
        /// The peer.
        peer: PublicKey,
    },
    /// An I/O error on the NIC or the UDP transport.
    Error {
        /// What failed.
        message: String,
    },
}

/// Receives the engine's typed events (for the host's UI) from its threads. Log lines
/// are not events: the engine emits them as `tracing` events (see [`crate::logging`]).
/// Calls must return quickly and must not call back into [`Device::set_observer`] or
/// stop the device (both wait for the engine's threads, one of which is the caller).
pub trait DeviceObserver: Send + Sync {
    /// An event happened.
    fn on_event(&self, event: &DeviceEvent);
}

/// Device-wide counters plus every peer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStats {
    /// The UDP port in use.
    pub listen_port: u16,
    /// Drops not attributed to a peer (and, summed in, every peer's), by reason.
    pub drops: DropStats,
    /// Incoming handshake messages waiting for the control thread.
    pub handshake_queue_len: usize,
    /// Handshake messages refused because that queue was full.
    pub handshake_queue_overflows: u64,
    /// Handshake messages processed by the control thread.
    pub handshakes_processed: u64,
    /// Cookie replies sent (the device was under load).
    pub cookie_replies_sent: u64,
    /// Whether the device is under load now.
    pub under_load: bool,
    /// TX batches encrypted by the workers instead of inline.
    pub fanout_batches: u64,
    /// TX batches encrypted inline.
    pub inline_batches: u64,
    /// Packets CoDel dropped: from the per-peer TX queues and, with `rx_codel`, on receive.
    pub codel_drops: u64,
    /// Packets waiting in the per-peer TX queues (queued TX path only).
    pub tx_queued_packets: u64,
    /// Times the shared I/O thread ([`IoThreads::Shared`]) handed the NIC direction to
    /// its helper thread because the tunnel was saturated.
    pub io_handovers: u64,
    /// Crypto worker threads running.
    pub workers: usize,
    /// Workers in use now (auto mode scales this with the load).
    pub active_workers: usize,
    /// Per-peer counters, in configuration order.
    pub peers: Vec<PeerStatus>,
}

/// A running WireGuard device. `Send + Sync`: share it by reference or `Arc`.
pub struct Device {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Device {
    /// Opens the UDP transport, applies `config` and starts the engine's threads.
    pub fn start(
        config: DeviceConfig,
        tun: Arc<dyn Tun>,
        bind: Arc<dyn Bind>,
        clock: Arc<dyn Clock>,
        opts: DeviceOptions,
    ) -> Result<Device, DeviceError> {
        let inner = Arc::new(Inner::new(tun, bind, clock, opts)?);
        inner.set_config(&config)?;
        let device = Device { inner: inner.clone(), threads: Mutex::new(Vec::new()) };
        let spawned = threads::spawn_threads(&inner);
        match spawned {
            Ok(handles) => {
                *device.threads.lock() = handles;
                inner.interface_up();
                tracing::info!(target: "ferrowg::device", port = inner.listen_port(), "device up");
                Ok(device)
            }
            Err(e) => Err(DeviceError::Spawn(e)),
        }
    }

    /// Replaces the whole configuration atomically: either everything applies or
    /// nothing does. Peers that stay keep their sessions and counters.
    pub fn set_config(&self, config: &DeviceConfig) -> Result<(), DeviceError> {
        let r = self.inner.set_config(config);
        match &r {
            Ok(()) => tracing::debug!(
                target: "ferrowg::device",
                peers = config.peers.len(),
                "configuration applied"
            ),
            Err(e) => {
                tracing::warn!(target: "ferrowg::device", error = %e, "configuration refused")
            }
        }
        r
    }

    /// Applies a UAPI `set=1` body (the lines after `set=1`) to the running config.
    pub fn uapi_set(&self, body: &str) -> Result<(), UapiError> {
        let ops = uapi::parse_set(body)?;
        self.inner.uapi_set(&ops)
    }

    /// The full `get=1` response: configuration, counters, `errno=0`.
    pub fn uapi_get(&self) -> String {
        self.inner.uapi_get()
    }

    /// The current configuration (endpoints as the peers roamed).
    pub fn config(&self) -> DeviceConfig {
        self.inner.iface.live_config()
    }

    /// Device and per-peer counters.
    pub fn stats(&self) -> DeviceStats {
        self.inner.stats()
    }

    /// Installs (or with `None` removes) the observer. After this returns the previous
    /// observer is never called again.
    pub fn set_observer(&self, observer: Option<Arc<dyn DeviceObserver>>) {
        *self.inner.observer.write() = observer;
    }

    /// The network changed: closes the UDP transport and opens a new one on the same
    /// port (or a new OS-chosen port if none was configured and the old one is taken).
    pub fn rebind(&self) -> Result<(), DeviceError> {
        let r = self.inner.rebind();
        match &r {
            Ok(()) => {
                tracing::info!(target: "ferrowg::device", port = self.listen_port(), "UDP rebound")
            }
            Err(e) => tracing::error!(target: "ferrowg::device", error = %e, "rebind failed"),
        }
        r
    }

    /// The host is about to sleep or the process to be stopped (SIGTSTP): closes the UDP
    /// socket (its port is kept for [`Device::resume`]), stops every timer and drops
    /// handshake messages already queued, so nothing fires late and nothing goes out
    /// while asleep. Packets read from the NIC meanwhile wait behind a handshake or are
    /// dropped. Idempotent; undone only by [`Device::resume`].
    pub fn suspend(&self) {
        if self.inner.suspend() {
            tracing::info!(target: "ferrowg::device", "suspended: UDP socket closed, timers stopped");
        }
    }

    /// Whether the device is suspended ([`Device::suspend`] without a resume since).
    pub fn is_suspended(&self) -> bool {
        self.inner.is_suspended()
    }

    /// The host woke from sleep or the process was continued (SIGCONT): ends a
    /// [`Device::suspend`], rebinds the UDP socket, treats every session as suspect (each peer's `resume`: keys older
    /// than REJECT_AFTER_TIME by the wall clock are dropped, no earlier handshake
    /// rate-limits the next one) and handshakes at once where packets wait or persistent
    /// keepalive is on. A failed rebind is returned after the peers were resumed.
    pub fn resume(&self) -> Result<(), DeviceError> {
        let rebound = self.inner.unsuspend_and_rebind();
        match &rebound {
            Ok(()) => {
                tracing::info!(target: "ferrowg::device", port = self.inner.listen_port(), "UDP rebound")
            }
            Err(e) => tracing::error!(target: "ferrowg::device", error = %e, "rebind failed"),
        }
        let (now, wall) = (self.inner.clock.now(), self.inner.clock.wall());
        let mut scratch = vec![0u8; 65_536 + 64];
        let mut out = self.inner.output();
        self.inner.iface.resume(now, wall, &mut scratch, &mut out);
        drop(out);
        self.inner.wake_control();
        tracing::info!(target: "ferrowg::device", "resumed: sessions re-checked");
        rebound
    }

    /// The UDP port in use.
    pub fn listen_port(&self) -> u16 {
        self.inner.listen_port()
    }

    /// The options the device was started with.
    pub fn options(&self) -> &DeviceOptions {
        &self.inner.opts
    }

    /// Stops every thread and waits for them. Also done on drop.
    pub fn stop(self) {
        // Drop does the work.
    }

    fn shutdown(&self) {
        tracing::info!(target: "ferrowg::device", "device stopping");
        self.inner.begin_shutdown();
        let handles = std::mem::take(&mut *self.threads.lock());
        for h in handles {
            let _ = h.join();
        }
        self.inner.finish_shutdown();
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device").field("listen_port", &self.listen_port()).finish_non_exhaustive()
    }
}
