//! The state every engine thread shares, configuration apply, stats and lifecycle.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use parking_lot::{Mutex, RwLock};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use super::control::HandshakeJob;
use super::peer::{IndexEntry, Peer, SlotIndices};
use super::workers::Workers;
use super::{
    DeviceError, DeviceEvent, DeviceObserver, DeviceOptions, DeviceStats, DropStats, LogLevel,
    PeerStatus, ThreadRole,
};
use crate::allowedips::{Prefix, Table};
use crate::config::uapi::{self, UapiError, UapiErrorKind, UapiOp};
use crate::config::{DeviceConfig, Endpoint, PeerStats};
use crate::error::DropReason;
use crate::io::{Bind, Clock, Transport, Tun};
use crate::keys::PublicKey;
use crate::peer::{Identity, Peer as ProtoPeer, PeerConfig as ProtoPeerConfig};
use crate::peer_lookup::{IndexTable, PubkeyTable};
use crate::queue::{LockedRing, Ring};
use crate::ratelimiter::RateLimiter;
use crate::sched::{plan, Placement, PlacementPolicy};

/// How long a blocking NIC or UDP read waits before re-checking for shutdown.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Largest batch the I/O threads use.
pub(crate) const MAX_BATCH: usize = 128;

/// One immutable configuration generation, swapped in whole.
pub(crate) struct Snapshot {
    /// The configuration as applied (endpoints resolved).
    pub(crate) config: DeviceConfig,
    /// The interface's key pair and cookie checker (`None`: no private key).
    pub(crate) identity: Option<Arc<Identity>>,
    /// Peers in configuration order.
    pub(crate) peers: Vec<Arc<Peer>>,
    /// Allowed IPs → peer.
    pub(crate) routes: Table<Arc<Peer>>,
}

/// The transport currently open (a sized wrapper so it can sit in an `ArcSwap`).
pub(crate) struct TransportSlot(pub(crate) Arc<dyn Transport>);

/// Device-wide counters.
#[derive(Default)]
pub(crate) struct DeviceCounters {
    drops: [AtomicU64; DropReason::COUNT],
    pub(crate) handshake_overflows: AtomicU64,
    pub(crate) handshakes_processed: AtomicU64,
    pub(crate) cookie_replies: AtomicU64,
    pub(crate) fanout_batches: AtomicU64,
    pub(crate) inline_batches: AtomicU64,
    pub(crate) codel_drops: AtomicU64,
    pub(crate) tx_queued: AtomicU64,
}

impl DeviceCounters {
    pub(crate) fn drop(&self, reason: DropReason) {
        if let Some(c) = self.drops.get(reason.index()) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Shared engine state.
pub(crate) struct Inner {
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) tun: Arc<dyn Tun>,
    bind: Arc<dyn Bind>,
    pub(crate) opts: DeviceOptions,
    /// Reference point for the peers' atomic timer deadlines.
    pub(crate) base: Instant,
    pub(crate) running: AtomicBool,
    /// Set once the threads run (peers added later get their interface-up timers).
    started: AtomicBool,
    pub(crate) transport: ArcSwapOption<TransportSlot>,
    pub(crate) snapshot: ArcSwap<Snapshot>,
    config_lock: Mutex<()>,
    pub(crate) by_key: PubkeyTable<Arc<Peer>>,
    pub(crate) indices: Arc<IndexTable<IndexEntry>>,
    pub(crate) rng: Mutex<ChaCha20Rng>,
    pub(crate) handshakes: LockedRing<HandshakeJob>,
    pub(crate) control_thread: Mutex<Option<std::thread::Thread>>,
    pub(crate) observer: RwLock<Option<Arc<dyn DeviceObserver>>>,
    pub(crate) counters: DeviceCounters,
    pub(crate) ratelimiter: RateLimiter,
    /// The earliest timer deadline of any peer (ticks; may be stale-early, never late).
    pub(crate) min_deadline: AtomicU64,
    /// Nanoseconds after `base` until which the device counts as under load.
    pub(crate) under_load_until: AtomicU64,
    pub(crate) workers: Workers,
    /// Where `sched::plan` would put the threads (reported to the thread hook).
    placement: Placement,
}

impl Inner {
    pub(crate) fn new(
        tun: Arc<dyn Tun>,
        bind: Arc<dyn Bind>,
        clock: Arc<dyn Clock>,
        opts: DeviceOptions,
    ) -> Result<Self, DeviceError> {
        let seed = opts.rng_seed.ok_or(DeviceError::NoRngSeed)?;
        let mut rng = ChaCha20Rng::from_seed(seed);
        let base = clock.now();
        let workers = Workers::new(&opts);
        let placement = plan(&opts.topology, PlacementPolicy::default());
        let hs_cap = opts.handshake_queue.max(8);
        Ok(Self {
            by_key: PubkeyTable::new(&mut rng),
            indices: Arc::new(IndexTable::new(&mut rng)),
            ratelimiter: RateLimiter::new(&mut rng),
            rng: Mutex::new(rng),
            clock,
            tun,
            bind,
            opts,
            base,
            running: AtomicBool::new(true),
            started: AtomicBool::new(false),
            transport: ArcSwapOption::empty(),
            snapshot: ArcSwap::from_pointee(Snapshot {
                config: DeviceConfig::default(),
                identity: None,
                peers: Vec::new(),
                routes: Table::new(),
            }),
            config_lock: Mutex::new(()),
            handshakes: LockedRing::with_capacity(hs_cap),
            control_thread: Mutex::new(None),
            observer: RwLock::new(None),
            counters: DeviceCounters::default(),
            under_load_until: AtomicU64::new(0),
            min_deadline: AtomicU64::new(u64::MAX),
            workers,
            placement,
        })
    }

    /// Tells the host's thread hook that a thread of `role` started.
    pub(crate) fn thread_started(&self, role: ThreadRole) {
        let Some(hook) = &self.opts.thread_hook else { return };
        let p = &self.placement;
        let cpu = match role {
            ThreadRole::Tx => p.io_cpu,
            ThreadRole::Rx => p.workers.first().copied(),
            ThreadRole::Crypto(n) => p.workers.get(n + 1).copied(),
            ThreadRole::Control => None,
        };
        hook.on_thread_start(role, cpu);
    }

    /// Publishes a peer's earliest timer deadline and lowers the device-wide minimum, so
    /// the control thread scans the peers only when some deadline may be due.
    pub(crate) fn publish_deadline(&self, peer: &Peer, proto: Option<&ProtoPeer>) {
        let at = peer.publish_deadline(proto, self.base);
        if self.min_deadline.fetch_min(at, Ordering::AcqRel) > at {
            // Earlier than the control thread planned to wake: tell it.
            self.wake_control();
        }
    }

    /// Nanoseconds from `base` to `now`.
    pub(crate) fn ticks(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The open transport, if any (none during a rebind).
    pub(crate) fn transport(&self) -> Option<Arc<TransportSlot>> {
        self.transport.load_full()
    }

    pub(crate) fn emit(&self, event: DeviceEvent) {
        if let Some(obs) = self.observer.read().as_ref() {
            obs.on_event(&event);
        }
    }

    pub(crate) fn log(&self, level: LogLevel, msg: &str) {
        if let Some(obs) = self.observer.read().as_ref() {
            obs.on_log(level, msg);
        }
    }

    pub(crate) fn listen_port(&self) -> u16 {
        self.transport().map_or(0, |t| t.0.local_port())
    }

    /// Wakes the control thread.
    pub(crate) fn wake_control(&self) {
        if let Some(t) = self.control_thread.lock().as_ref() {
            t.unpark();
        }
    }

    /// Applies a full configuration, all or nothing.
    pub(crate) fn set_config(&self, config: &DeviceConfig) -> Result<(), DeviceError> {
        let _guard = self.config_lock.lock();
        self.set_config_locked(config)
    }

    fn set_config_locked(&self, config: &DeviceConfig) -> Result<(), DeviceError> {
        let config = config.resolve_endpoints()?;
        let old = self.snapshot.load_full();
        let now = self.clock.now();

        // Validate and build everything that can fail before touching live state.
        let mut seen = HashMap::with_capacity(config.peers.len());
        for (i, p) in config.peers.iter().enumerate() {
            if seen.insert(p.public_key, i).is_some() {
                return Err(DeviceError::InvalidConfig(format!(
                    "peer {} appears twice",
                    p.public_key.to_base64()
                )));
            }
        }
        let key_changed = old.config.private_key.as_ref().map(|k| k.as_bytes())
            != config.private_key.as_ref().map(|k| k.as_bytes());
        let identity = if key_changed {
            config.private_key.as_ref().map(|k| Arc::new(Identity::new(k)))
        } else {
            old.identity.clone()
        };
        let own_key = identity.as_ref().map(|i| *i.public_key());

        let mut new_transport = None;
        let want_port = config.listen_port.unwrap_or(0);
        let have = self.transport();
        let port_changed = match &have {
            None => true,
            Some(t) => config.listen_port.is_some_and(|p| p != t.0.local_port()),
        };
        if port_changed {
            let t = self
                .bind
                .bind(want_port)
                .map_err(|source| DeviceError::Bind { port: want_port, source })?;
            new_transport = Some(t);
        }

        let old_peers: HashMap<PublicKey, &Arc<Peer>> =
            old.peers.iter().map(|p| (p.public_key, p)).collect();
        let old_cfg: HashMap<PublicKey, &crate::config::PeerConfig> =
            old.config.peers.iter().map(|p| (p.public_key, p)).collect();
        let mut peers = Vec::with_capacity(config.peers.len());
        let mut routes = Table::new();
        let mut fresh = Vec::new();
        for pc in &config.peers {
            if Some(pc.public_key) == own_key {
                continue;
            }
            let endpoint = pc.endpoint.as_ref().and_then(Endpoint::addr);
            let keepalive = pc.persistent_keepalive.map(|s| Duration::from_secs(s.into()));
            let peer = match old_peers.get(&pc.public_key) {
                Some(p) => Arc::clone(p),
                None => {
                    let p = self.new_peer(pc.public_key, identity.as_ref(), |cfg| {
                        cfg.preshared_key = pc.preshared_key.clone();
                        cfg.endpoint = endpoint;
                        cfg.persistent_keepalive = keepalive;
                    });
                    fresh.push(p.clone());
                    p
                }
            };
            for ip in &pc.allowed_ips {
                let prefix = Prefix::new(ip.addr(), ip.cidr())
                    .map_err(|e| DeviceError::InvalidConfig(e.to_string()))?;
                routes
                    .insert(prefix, peer.clone())
                    .map_err(|e| DeviceError::InvalidConfig(format!("allowed IPs: {e}")))?;
            }
            peers.push(peer);
        }

        // A freshly built trie: lay it out depth-first and build its top-level index.
        routes.compact();

        // Commit: from here on nothing fails.
        if let Some(t) = new_transport {
            self.transport.store(Some(Arc::new(TransportSlot(t))));
        }
        let kept: std::collections::HashSet<PublicKey> =
            peers.iter().map(|p| p.public_key).collect();
        for p in &old.peers {
            if !kept.contains(&p.public_key) {
                p.removed.store(true, Ordering::Relaxed);
                self.by_key.remove(&p.public_key);
                self.clear_sessions(p);
            }
        }
        for (pc, peer) in
            config.peers.iter().filter(|pc| Some(pc.public_key) != own_key).zip(&peers)
        {
            let is_new = fresh.iter().any(|f| Arc::ptr_eq(f, peer));
            if is_new {
                let _ = self.by_key.insert(peer.public_key, peer.clone());
                continue;
            }
            let prev = old_cfg.get(&pc.public_key);
            let keepalive = pc.persistent_keepalive.map(|s| Duration::from_secs(s.into()));
            let endpoint_changed = prev.map(|c| &c.endpoint) != Some(&pc.endpoint);
            let new_endpoint = pc.endpoint.as_ref().and_then(Endpoint::addr);
            let mut guard = peer.proto.lock();
            if key_changed {
                match (guard.as_mut(), identity.as_ref()) {
                    // New identity: the old sessions are void (their indices are
                    // released); endpoint, timers, staged packets and counters stay, and
                    // the settings below apply as for any kept peer.
                    (Some(p), Some(id)) => p.set_identity(id.clone()),
                    (None, Some(id)) => {
                        drop(guard);
                        let mut proto = self.proto_peer(peer, id, |cfg| {
                            cfg.preshared_key = pc.preshared_key.clone();
                            cfg.endpoint = new_endpoint;
                            cfg.persistent_keepalive = keepalive;
                        });
                        proto.on_interface_up(now);
                        guard = peer.proto.lock();
                        *guard = Some(proto);
                        self.publish_deadline(peer, guard.as_ref());
                        continue;
                    }
                    // The key was removed: nothing can be sent or received.
                    (_, None) => {
                        if let Some(old) = guard.take() {
                            for idx in old.local_indices() {
                                self.indices.remove(idx);
                            }
                        }
                        self.publish_deadline(peer, None);
                        continue;
                    }
                }
            }
            if let Some(p) = guard.as_mut() {
                if prev.map(|c| &c.preshared_key) != Some(&pc.preshared_key) {
                    p.set_preshared_key(pc.preshared_key.as_ref());
                }
                if p.timers().persistent_keepalive() != keepalive.filter(|d| !d.is_zero()) {
                    p.set_persistent_keepalive(keepalive, now);
                }
                if endpoint_changed && new_endpoint.is_some() {
                    p.set_endpoint(new_endpoint);
                }
            }
            self.publish_deadline(peer, guard.as_ref());
        }
        let running = self.started.load(Ordering::Relaxed);
        self.snapshot.store(Arc::new(Snapshot { config, identity, peers, routes }));
        if running {
            for p in &fresh {
                let mut guard = p.proto.lock();
                if let Some(proto) = guard.as_mut() {
                    proto.on_interface_up(now);
                }
                self.publish_deadline(p, guard.as_ref());
            }
            self.wake_control();
        }
        Ok(())
    }

    /// A new peer slot with its protocol state (if the device has a key).
    fn new_peer(
        &self,
        public_key: PublicKey,
        identity: Option<&Arc<Identity>>,
        configure: impl FnOnce(&mut ProtoPeerConfig),
    ) -> Arc<Peer> {
        let peer = Arc::new(Peer::new(public_key));
        if let Some(id) = identity {
            let proto = self.proto_peer(&peer, id, configure);
            *peer.proto.lock() = Some(proto);
        }
        peer
    }

    /// Protocol state for `slot` under `identity`, with its own RNG seeded from ours.
    fn proto_peer(
        &self,
        slot: &Arc<Peer>,
        identity: &Arc<Identity>,
        configure: impl FnOnce(&mut ProtoPeerConfig),
    ) -> ProtoPeer {
        let mut cfg = ProtoPeerConfig::new(slot.public_key);
        configure(&mut cfg);
        let mut seed = [0u8; 32];
        self.rng.lock().fill_bytes(&mut seed);
        let indices =
            Arc::new(SlotIndices { table: self.indices.clone(), slot: Arc::downgrade(slot) });
        let mut proto =
            ProtoPeer::new(identity.clone(), cfg, indices, Box::new(ChaCha20Rng::from_seed(seed)));
        proto.set_defer_initiations(true);
        proto
    }

    /// Drops a peer's protocol state (zeroizing its keys) and its indices.
    pub(crate) fn clear_sessions(&self, peer: &Peer) {
        let mut guard = peer.proto.lock();
        if let Some(p) = guard.take() {
            for idx in p.local_indices() {
                self.indices.remove(idx);
            }
        }
        self.publish_deadline(peer, None);
    }

    /// Called once the threads run: arms persistent keepalives.
    pub(crate) fn interface_up(&self) {
        let _guard = self.config_lock.lock();
        self.started.store(true, Ordering::Relaxed);
        let now = self.clock.now();
        for p in &self.snapshot.load().peers {
            let mut guard = p.proto.lock();
            if let Some(proto) = guard.as_mut() {
                proto.on_interface_up(now);
            }
            self.publish_deadline(p, guard.as_ref());
        }
        self.wake_control();
    }

    pub(crate) fn uapi_set(&self, ops: &[UapiOp]) -> Result<(), UapiError> {
        let _guard = self.config_lock.lock();
        let base = self.live_config();
        let mut next = uapi::apply(ops, &base)?;
        // A listen port absent from the request keeps the port in use.
        if !ops.iter().any(|op| matches!(op, UapiOp::ListenPort(_))) {
            next.listen_port = self.snapshot.load().config.listen_port;
        }
        self.set_config_locked(&next).map_err(|e| {
            self.log(LogLevel::Warn, &format!("uapi set: {e}"));
            match e {
                DeviceError::Bind { port, source } => UapiError {
                    line: ops
                        .iter()
                        .position(|op| matches!(op, UapiOp::ListenPort(_)))
                        .map_or(0, |i| i + 1),
                    key: "listen_port".to_owned(),
                    kind: UapiErrorKind::PortUnavailable { port, reason: source.to_string() },
                },
                other => UapiError {
                    line: 0,
                    key: "set".to_owned(),
                    kind: UapiErrorKind::Rejected(other.to_string()),
                },
            }
        })
    }

    /// The applied configuration with each peer's current (possibly roamed) endpoint.
    pub(crate) fn live_config(&self) -> DeviceConfig {
        let snap = self.snapshot.load();
        let mut cfg = snap.config.clone();
        let by_key: HashMap<PublicKey, &Arc<Peer>> =
            snap.peers.iter().map(|p| (p.public_key, p)).collect();
        for pc in &mut cfg.peers {
            let current =
                by_key.get(&pc.public_key).and_then(|p| p.proto.lock().as_ref()?.endpoint());
            if let Some(addr) = current {
                pc.endpoint = Some(Endpoint::Addr(addr));
            }
        }
        cfg
    }

    pub(crate) fn uapi_get(&self) -> String {
        let mut cfg = self.live_config();
        cfg.listen_port = Some(self.listen_port());
        let snap = self.snapshot.load();
        let by_key: HashMap<PublicKey, &Arc<Peer>> =
            snap.peers.iter().map(|p| (p.public_key, p)).collect();
        uapi::format_get(&cfg, |pc| {
            let Some(p) = by_key.get(&pc.public_key) else { return PeerStats::default() };
            let guard = p.proto.lock();
            let Some(st) = guard.as_ref().map(|p| p.stats()) else {
                return PeerStats::default();
            };
            PeerStats {
                last_handshake: st
                    .last_handshake
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()),
                rx_bytes: st.rx_bytes,
                tx_bytes: st.tx_bytes,
            }
        })
    }

    pub(crate) fn stats(&self) -> DeviceStats {
        let snap = self.snapshot.load();
        let mut drops: [u64; DropReason::COUNT] =
            std::array::from_fn(|i| self.counters.drops[i].load(Ordering::Relaxed));
        let peers = snap
            .peers
            .iter()
            .map(|p| {
                let mut pd = p.counters.drops();
                let guard = p.proto.lock();
                let proto = guard.as_ref();
                if let Some(pp) = proto {
                    for r in DropReason::ALL {
                        if let Some(d) = pd.get_mut(r.index()) {
                            *d += pp.drop_counters().get(r);
                        }
                    }
                }
                for (d, n) in drops.iter_mut().zip(pd) {
                    *d += n;
                }
                let st = proto.map(|pp| pp.stats().clone()).unwrap_or_default();
                PeerStatus {
                    public_key: p.public_key,
                    endpoint: proto.and_then(|pp| pp.endpoint()),
                    last_handshake: st.last_handshake,
                    rx_bytes: st.rx_bytes,
                    tx_bytes: st.tx_bytes,
                    rx_packets: p.counters.rx_packets.load(Ordering::Relaxed),
                    tx_packets: p.counters.tx_packets.load(Ordering::Relaxed),
                    handshakes: p.counters.handshakes.load(Ordering::Relaxed),
                    drops: DropStats(pd),
                    staged_packets: proto.map_or(0, |pp| pp.staged_len()),
                }
            })
            .collect();
        let now = self.clock.now();
        DeviceStats {
            listen_port: self.listen_port(),
            drops: DropStats(drops),
            handshake_queue_len: self.handshakes.len(),
            handshake_queue_overflows: self.counters.handshake_overflows.load(Ordering::Relaxed),
            handshakes_processed: self.counters.handshakes_processed.load(Ordering::Relaxed),
            cookie_replies_sent: self.counters.cookie_replies.load(Ordering::Relaxed),
            under_load: self.under_load_until.load(Ordering::Relaxed) > self.ticks(now),
            fanout_batches: self.counters.fanout_batches.load(Ordering::Relaxed),
            inline_batches: self.counters.inline_batches.load(Ordering::Relaxed),
            codel_drops: self.counters.codel_drops.load(Ordering::Relaxed),
            tx_queued_packets: self.counters.tx_queued.load(Ordering::Relaxed),
            workers: self.workers.count(),
            active_workers: self.workers.active(),
            peers,
        }
    }

    pub(crate) fn rebind(&self) -> Result<(), DeviceError> {
        let _guard = self.config_lock.lock();
        let port = self.listen_port();
        let configured = self.snapshot.load().config.listen_port;
        // Close the old socket first (the new one wants its port), and wait until no
        // thread still holds it.
        let old = self.transport.swap(None);
        if let Some(old) = old {
            for _ in 0..2000 {
                if Arc::strong_count(&old) == 1 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let result = self.bind.bind(port).or_else(|e| match configured {
            None => self.bind.bind(0),
            Some(_) => Err(e),
        });
        match result {
            Ok(t) => {
                self.transport.store(Some(Arc::new(TransportSlot(t))));
                Ok(())
            }
            Err(source) => Err(DeviceError::Bind { port, source }),
        }
    }

    pub(crate) fn begin_shutdown(&self) {
        self.running.store(false, Ordering::Relaxed);
        self.wake_control();
        self.workers.shutdown();
    }

    /// After the threads are joined: drops sessions (zeroizing keys) and the transport.
    pub(crate) fn finish_shutdown(&self) {
        let snap = self.snapshot.load_full();
        for p in &snap.peers {
            self.clear_sessions(p);
        }
        self.transport.store(None);
        *self.control_thread.lock() = None;
    }
}

/// Starts the engine's threads.
pub(crate) fn spawn_threads(inner: &Arc<Inner>) -> std::io::Result<Vec<JoinHandle<()>>> {
    let mut handles = Vec::new();
    let result = (|| {
        let i = inner.clone();
        let control =
            std::thread::Builder::new().name("ferrowg-control".into()).spawn(move || {
                i.thread_started(ThreadRole::Control);
                super::control::run(&i)
            })?;
        *inner.control_thread.lock() = Some(control.thread().clone());
        handles.push(control);
        let i = inner.clone();
        handles.push(std::thread::Builder::new().name("ferrowg-tx".into()).spawn(move || {
            i.thread_started(ThreadRole::Tx);
            if i.opts.codel || i.opts.tx_queue {
                super::txqueue::run_tx_queued(&i)
            } else {
                super::datapath::run_tx(&i)
            }
        })?);
        let i = inner.clone();
        handles.push(std::thread::Builder::new().name("ferrowg-rx".into()).spawn(move || {
            i.thread_started(ThreadRole::Rx);
            super::datapath::run_rx(&i)
        })?);
        handles.extend(inner.workers.spawn(inner)?);
        Ok(())
    })();
    match result {
        Ok(()) => Ok(handles),
        Err(e) => {
            inner.begin_shutdown();
            for h in handles {
                let _ = h.join();
            }
            Err(e)
        }
    }
}
