//! The state every engine thread shares: the sans-IO [`Interface`] plus the I/O
//! handles, the handshake queue, the worker pool and the observer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;
use parking_lot::{Mutex, RwLock};
use tracing::Level;

use super::records::{EngineCounters, HandshakeJob, TransportSlot};
use super::workers::Workers;
use super::{DeviceError, DeviceEvent, DeviceObserver, DeviceOptions, ThreadRole};
use crate::interface::{Interface, Output};
use crate::io::{Bind, Clock, Transmit, Tun};
use crate::keys::PublicKey;
use crate::logging::event_limited;
use crate::peer::PeerEvent;
use crate::queue::LockedRing;
use crate::sched::{plan, Placement, PlacementPolicy};

/// Shared engine state.
pub(crate) struct Inner {
    /// Every protocol decision.
    pub(crate) iface: Interface,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) tun: Arc<dyn Tun>,
    pub(crate) bind: Arc<dyn Bind>,
    pub(crate) opts: DeviceOptions,
    pub(crate) running: AtomicBool,
    /// Set by `Device::suspend`: no transport, no timers until `Device::resume`.
    pub(crate) suspended: AtomicBool,
    /// The port the transport had when it was closed for a suspend (reopened on it).
    pub(crate) parked_port: AtomicU16,
    pub(crate) transport: ArcSwapOption<TransportSlot>,
    /// Serialises configuration changes and rebinds.
    pub(crate) config_lock: Mutex<()>,
    pub(crate) handshakes: LockedRing<HandshakeJob>,
    pub(crate) control_thread: Arc<Mutex<Option<std::thread::Thread>>>,
    pub(crate) observer: RwLock<Option<Arc<dyn DeviceObserver>>>,
    pub(crate) counters: EngineCounters,
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
        let control_thread: Arc<Mutex<Option<std::thread::Thread>>> = Arc::default();
        let wake = control_thread.clone();
        let iface = Interface::new(seed, clock.now()).with_waker(Box::new(move || {
            if let Some(t) = wake.lock().as_ref() {
                t.unpark();
            }
        }));
        let workers = Workers::new(&opts);
        let placement = plan(&opts.topology, PlacementPolicy::default());
        let hs_cap = opts.handshake_queue.max(8);
        Ok(Self {
            iface,
            clock,
            tun,
            bind,
            opts,
            running: AtomicBool::new(true),
            suspended: AtomicBool::new(false),
            parked_port: AtomicU16::new(0),
            transport: ArcSwapOption::empty(),
            config_lock: Mutex::new(()),
            handshakes: LockedRing::with_capacity(hs_cap),
            control_thread,
            observer: RwLock::new(None),
            counters: EngineCounters::default(),
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

    /// Tells the host's thread hook that the calling packet thread (of `role`) entered
    /// or left the saturated state.
    pub(crate) fn saturation(&self, role: ThreadRole, saturated: bool) {
        if let Some(hook) = &self.opts.thread_hook {
            hook.on_saturation(role, saturated);
        }
    }

    /// The open transport, if any (none during a rebind).
    pub(crate) fn transport(&self) -> Option<Arc<TransportSlot>> {
        self.transport.load_full()
    }

    /// Where the interface's own datagrams and events go (loads the transport once).
    pub(crate) fn output(&self) -> DeviceOutput<'_> {
        DeviceOutput { inner: self, transport: self.transport() }
    }

    pub(crate) fn emit(&self, event: DeviceEvent) {
        if let Some(obs) = self.observer.read().as_ref() {
            obs.on_event(&event);
        }
    }

    pub(crate) fn listen_port(&self) -> u16 {
        match self.transport() {
            Some(t) => t.0.local_port(),
            // Suspended: the port the resume reopens.
            None if self.suspended.load(Ordering::Acquire) => {
                self.parked_port.load(Ordering::Relaxed)
            }
            None => 0,
        }
    }

    /// Wakes the control thread.
    pub(crate) fn wake_control(&self) {
        if let Some(t) = self.control_thread.lock().as_ref() {
            t.unpark();
        }
    }

    /// Reports an I/O error and backs off briefly (unless shutting down).
    pub(crate) fn io_error(&self, what: &str, e: &std::io::Error) {
        if self.running.load(Ordering::Relaxed) {
            event_limited!(
                self.clock.now(), Level::WARN, target: "ferrowg::device",
                error = %e, "{what} failed"
            );
            self.emit(DeviceEvent::Error { message: format!("{what}: {e}") });
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The engine's [`Output`]: datagrams to the open transport, events to the observer.
pub(crate) struct DeviceOutput<'a> {
    inner: &'a Inner,
    transport: Option<Arc<TransportSlot>>,
}

impl Output for DeviceOutput<'_> {
    fn transmit(&mut self, dst: SocketAddr, data: &[u8]) -> bool {
        match &self.transport {
            Some(t) => {
                let _ = t.0.send_batch(&[Transmit { dst, data }]);
                true
            }
            None => false,
        }
    }

    fn event(&mut self, peer: &PublicKey, event: PeerEvent) {
        let peer = *peer;
        self.inner.emit(match event {
            PeerEvent::HandshakeComplete { .. } => DeviceEvent::HandshakeComplete { peer },
            PeerEvent::EndpointChanged(endpoint) => DeviceEvent::EndpointChanged { peer, endpoint },
            PeerEvent::SessionExpired => DeviceEvent::SessionExpired { peer },
            PeerEvent::Unreachable => DeviceEvent::PeerUnreachable { peer },
        });
    }
}
