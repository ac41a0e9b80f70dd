//! [`Tunnel`]: one running device plus its NIC, as both the C ABI and uniffi see it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ferrowg_core::config::{uapi, DeviceConfig, WgQuickConfig};
use ferrowg_core::device::{Device, DeviceEvent, DeviceObserver, DeviceOptions};
use ferrowg_core::io::{SystemClock, Tun};
use parking_lot::RwLock;

use crate::bind::{FfiBind, SocketProtector};
use crate::callback::{in_callback, Slot};
use crate::error::TunnelError;
use crate::host::{foreign_sink, HostNic, HostTun, PacketSink, RawPacketSink};
use crate::logging::{self, LogLevel};
use crate::options::TunnelOptions;
use crate::records::{TunnelConfig, TunnelEvent, TunnelStats};

/// MTU used when the configuration has none.
pub const DEFAULT_MTU: u32 = 1420;

/// Where the tunnel's IP packets come from and go to.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum NicMode {
    /// Create the OS adapter `name` (Linux tun, macOS `utun`/`utunN`, Windows wintun).
    CreateAdapter {
        /// The adapter name.
        name: String,
    },
    /// Adopt a TUN file descriptor (NetworkExtension utun, Android VpnService). It is
    /// duplicated: the caller keeps its own descriptor.
    AdoptFd {
        /// The descriptor.
        fd: i32,
    },
    /// Host packet I/O: the app writes outgoing IP packets with `write_packets` and gets
    /// incoming ones from a packet sink or `read_packets`.
    HostPackets,
}

/// Receives tunnel events from library threads. Must return quickly; must not stop the
/// tunnel or (un)register callbacks (those calls fail with `Reentrant` from here).
#[uniffi::export(with_foreign)]
pub trait TunnelObserver: Send + Sync {
    /// An event happened.
    fn on_event(&self, event: TunnelEvent);
}

/// How events reach the app: the uniffi trait or a C function pointer.
pub(crate) trait RawObserver: Send + Sync {
    /// One event.
    fn event(&self, event: &TunnelEvent);
}

struct ForeignObserver(Arc<dyn TunnelObserver>);

impl RawObserver for ForeignObserver {
    fn event(&self, event: &TunnelEvent) {
        self.0.on_event(event.clone());
    }
}

/// The observer the engine always has: forwards to whatever the app registered.
struct EngineObserver {
    events: Arc<Slot<dyn RawObserver>>,
}

impl DeviceObserver for EngineObserver {
    fn on_event(&self, event: &DeviceEvent) {
        // Core logged it already (one channel): only the typed event goes on.
        let event = TunnelEvent::from_device(event);
        self.events.call(|o| o.event(&event));
    }
}

/// A running WireGuard tunnel.
#[derive(uniffi::Object)]
pub struct Tunnel {
    device: RwLock<Option<Device>>,
    host: Option<Arc<HostNic>>,
    pub(crate) bind: Arc<FfiBind>,
    events: Arc<Slot<dyn RawObserver>>,
    /// The engine options in effect.
    options: TunnelOptions,
}

#[uniffi::export]
impl Tunnel {
    /// Starts a tunnel from wg-quick INI or UAPI `set=1` text. `bind_address` limits the
    /// UDP socket to one local address (e.g. `127.0.0.1`); `None` listens on all.
    #[uniffi::constructor]
    pub fn start(
        config: String,
        mode: NicMode,
        bind_address: Option<String>,
    ) -> Result<Arc<Self>, TunnelError> {
        let options = TunnelOptions { bind_address, ..TunnelOptions::default() };
        Self::start_inner(&config, mode, &options, None).map(Arc::new)
    }

    /// Like `start`, with engine options (TX path, CoDel, worker ring, bind address);
    /// unset fields keep the defaults.
    #[uniffi::constructor]
    pub fn start_with_options(
        config: String,
        mode: NicMode,
        options: TunnelOptions,
    ) -> Result<Arc<Self>, TunnelError> {
        Self::start_inner(&config, mode, &options, None).map(Arc::new)
    }

    /// Like `start`, with `protector` called for every UDP socket before it is used
    /// (now and after each `network_changed`): Android `VpnService.protect`, with no
    /// window where the first handshake could loop into the VPN.
    #[uniffi::constructor]
    pub fn start_protected(
        config: String,
        mode: NicMode,
        protector: Arc<dyn SocketProtector>,
    ) -> Result<Arc<Self>, TunnelError> {
        Self::start_inner(&config, mode, &TunnelOptions::default(), Some(protector)).map(Arc::new)
    }

    /// Changes the configuration while traffic flows. `replace`: the text is the whole
    /// new configuration (like `wg syncconf`); otherwise it is applied on top of the
    /// running one (UAPI `set=1` semantics; wg-quick text adds or updates its peers).
    pub fn set_config(&self, config: String, replace: bool) -> Result<(), TunnelError> {
        let guard = self.device.read();
        let device = guard.as_ref().ok_or(TunnelError::Stopped)?;
        match (parse_config(&config)?, replace) {
            (Parsed::WgQuick(wq), true) => device.set_config(&wq.device)?,
            (Parsed::WgQuick(wq), false) => {
                device.set_config(&merge(device.config(), wq.device))?
            }
            (Parsed::Uapi(body), true) => {
                let ops = uapi::parse_set(&body)?;
                device.set_config(&uapi::apply(&ops, &DeviceConfig::default())?)?
            }
            (Parsed::Uapi(body), false) => device.uapi_set(&body)?,
        }
        logging::log(
            LogLevel::Info,
            if replace { "configuration replaced" } else { "configuration updated" },
        );
        Ok(())
    }

    /// The running configuration and counters as a UAPI `get=1` response.
    pub fn uapi_get(&self) -> Result<String, TunnelError> {
        self.with_device(|d| d.uapi_get())
    }

    /// The running configuration as records (no private or preshared keys).
    pub fn config(&self) -> Result<TunnelConfig, TunnelError> {
        self.with_device(|d| TunnelConfig::from_device(&d.config()))
    }

    /// The engine options in effect (every field set; `bind_address` as given).
    pub fn options(&self) -> TunnelOptions {
        self.options.clone()
    }

    /// Counters of the tunnel and of every peer.
    pub fn stats(&self) -> Result<TunnelStats, TunnelError> {
        self.with_device(|d| TunnelStats::from_device(&d.stats()))
    }

    /// Installs (or with `None` removes) the event observer. After it returns the
    /// previous observer is never called again.
    pub fn set_observer(
        &self,
        observer: Option<Arc<dyn TunnelObserver>>,
    ) -> Result<(), TunnelError> {
        self.set_raw_observer(
            observer.map(|o| Arc::new(ForeignObserver(o)) as Arc<dyn RawObserver>),
        )
    }

    /// The network changed (Wi-Fi to cellular, sleep/wake): reopens the UDP sockets.
    /// Socket handles from `socket_handles` change; fetch them again.
    pub fn network_changed(&self) -> Result<(), TunnelError> {
        let guard = self.device.read();
        let device = guard.as_ref().ok_or(TunnelError::Stopped)?;
        logging::log(LogLevel::Info, "network changed: reopening UDP sockets");
        Ok(device.rebind()?)
    }

    /// Binds the UDP sockets to the physical interface with this OS index (0: unbinds),
    /// so a full tunnel's own packets leave through it instead of looping into the tunnel:
    /// Windows `IP_UNICAST_IF`/`IPV6_UNICAST_IF`, macOS `IP_BOUND_IF`/`IPV6_BOUND_IF`,
    /// Linux `SO_BINDTOIFINDEX`. Kept across `network_changed`; call it again with the
    /// new index when the default route moves to another interface.
    pub fn set_bound_interface(&self, index: u32) -> Result<(), TunnelError> {
        self.with_device(|_| self.bind.set_bound_interface(index))?.map_err(|e| {
            if e.kind() == std::io::ErrorKind::Unsupported {
                TunnelError::Unsupported { detail: e.to_string() }
            } else {
                TunnelError::Bind { detail: format!("cannot bind to interface {index}: {e}") }
            }
        })?;
        logging::log(LogLevel::Info, &format!("UDP sockets bound to interface index {index}"));
        Ok(())
    }

    /// The device is about to sleep (or the app to be suspended): closes the UDP sockets
    /// (their port is kept) and stops every timer, so nothing stale fires and nothing goes
    /// out while asleep. Packets the app writes meanwhile are dropped or wait for the
    /// handshake after `resume`. Call it from the OS's will-sleep notification.
    pub fn suspend(&self) -> Result<(), TunnelError> {
        logging::log(LogLevel::Info, "suspend before sleep");
        self.with_device(|d| d.suspend())
    }

    /// Whether the tunnel is suspended (`suspend` without a `resume` since).
    pub fn is_suspended(&self) -> Result<bool, TunnelError> {
        self.with_device(|d| d.is_suspended())
    }

    /// The device woke from sleep (or the app was suspended): ends a `suspend`,
    /// reopens the UDP sockets,
    /// drops sessions older than REJECT_AFTER_TIME by the wall clock and handshakes at
    /// once where packets wait or persistent keepalive is on, instead of waiting out
    /// timers from before the sleep. Call it from the OS's wake notification.
    pub fn resume(&self) -> Result<(), TunnelError> {
        let guard = self.device.read();
        let device = guard.as_ref().ok_or(TunnelError::Stopped)?;
        logging::log(LogLevel::Info, "resume after sleep");
        Ok(device.resume()?)
    }

    /// OS handles of the UDP sockets (fds on Unix, `SOCKET`s on Windows), e.g. for
    /// Android `VpnService.protect`. Empty when bound to a single address.
    pub fn socket_handles(&self) -> Result<Vec<i64>, TunnelError> {
        self.with_device(|_| self.bind.socket_handles())
    }

    /// The UDP port in use.
    pub fn listen_port(&self) -> Result<u16, TunnelError> {
        self.with_device(|d| d.listen_port())
    }

    /// Host packet I/O: pushes outgoing IP packets, waiting up to `timeout_ms` for room.
    /// Returns how many were accepted (the rest did not fit in time).
    pub fn write_packets(
        &self,
        packets: Vec<Vec<u8>>,
        timeout_ms: u32,
    ) -> Result<u32, TunnelError> {
        let host = self.host_nic()?;
        let n = host.write(&packets, Duration::from_millis(timeout_ms.into()))?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    /// Host packet I/O: pulls up to `max` incoming IP packets, waiting up to
    /// `timeout_ms` for the first. Empty on timeout. Unused while a sink is set.
    pub fn read_packets(&self, max: u32, timeout_ms: u32) -> Result<Vec<Vec<u8>>, TunnelError> {
        let host = self.host_nic()?;
        Ok(host.read(max as usize, Duration::from_millis(timeout_ms.into())))
    }

    /// Host packet I/O: delivers incoming packets to `sink` (or with `None`, queues them
    /// for `read_packets`). After it returns the previous sink is never called again.
    pub fn set_packet_sink(&self, sink: Option<Arc<dyn PacketSink>>) -> Result<(), TunnelError> {
        self.set_raw_sink(sink.map(foreign_sink))
    }

    /// Whether the tunnel is running (not stopped).
    pub fn is_running(&self) -> bool {
        self.device.read().is_some()
    }

    /// Stops the tunnel and waits for its threads. Stopping twice is fine. Not allowed
    /// from inside a callback.
    pub fn stop(&self) -> Result<(), TunnelError> {
        if in_callback() {
            return Err(TunnelError::Reentrant);
        }
        // Take the device out first so calls blocked on the lock (maybe inside engine
        // callbacks) can finish while the threads are joined.
        let device = self.device.write().take();
        if let Some(device) = device {
            let port = device.listen_port();
            drop(device);
            logging::log(LogLevel::Info, &format!("tunnel on UDP port {port} stopped"));
        }
        Ok(())
    }
}

impl Tunnel {
    pub(crate) fn start_inner(
        config: &str,
        mode: NicMode,
        options: &TunnelOptions,
        protector: Option<Arc<dyn SocketProtector>>,
    ) -> Result<Self, TunnelError> {
        let (config, mtu) = match parse_config(config)? {
            Parsed::WgQuick(wq) => (wq.device, wq.interface.mtu.map(u32::from)),
            Parsed::Uapi(body) => {
                (uapi::apply(&uapi::parse_set(&body)?, &DeviceConfig::default())?, None)
            }
        };
        let mtu = mtu.unwrap_or(DEFAULT_MTU) as usize;
        let address = options
            .bind_address
            .as_deref()
            .map(|a| {
                a.parse::<IpAddr>()
                    .map_err(|_| TunnelError::invalid("bind address is not an IP address"))
            })
            .transpose()?;
        let mode_name = match &mode {
            NicMode::CreateAdapter { name } => format!("adapter {name}"),
            NicMode::AdoptFd { fd } => format!("adopted fd {fd}"),
            NicMode::HostPackets => "host packet I/O".to_owned(),
        };
        let (tun, host): (Arc<dyn Tun>, _) = match mode {
            NicMode::CreateAdapter { name } => (crate::nic::create(&name, mtu)?, None),
            NicMode::AdoptFd { fd } => (crate::nic::adopt(fd, mtu)?, None),
            NicMode::HostPackets => {
                let nic = HostNic::new(mtu);
                (Arc::new(HostTun(nic.clone())), Some(nic))
            }
        };
        let bind = Arc::new(FfiBind::new(address, protector));
        // The engine's RNG (ephemeral keys, indices, cookie secrets) from the OS CSPRNG.
        let seed = ferrowg_platform::random_seed().map_err(|e| TunnelError::Internal {
            detail: format!("the OS random number generator failed: {e}"),
        })?;
        let mut opts = DeviceOptions {
            rng_seed: Some(seed),
            topology: ferrowg_platform::cpu::topology().unwrap_or_default(),
            ..DeviceOptions::default()
        };
        options.apply(&mut opts)?;
        let device = Device::start(config, tun, bind.clone(), Arc::new(SystemClock), opts)?;
        let events: Arc<Slot<dyn RawObserver>> = Arc::new(Slot::new());
        device.set_observer(Some(Arc::new(EngineObserver { events: events.clone() })));
        logging::log(
            LogLevel::Info,
            &format!("tunnel started: {mode_name}, MTU {mtu}, UDP port {}", device.listen_port()),
        );
        let options = TunnelOptions::in_effect(device.options(), options);
        Ok(Self { device: RwLock::new(Some(device)), host, bind, events, options })
    }

    fn with_device<R>(&self, f: impl FnOnce(&Device) -> R) -> Result<R, TunnelError> {
        let guard = self.device.read();
        guard.as_ref().map(f).ok_or(TunnelError::Stopped)
    }

    #[cfg(test)]
    pub(crate) fn device_options(&self) -> Result<DeviceOptions, TunnelError> {
        self.with_device(|d| d.options().clone())
    }

    pub(crate) fn device_stats(&self) -> Result<ferrowg_core::device::DeviceStats, TunnelError> {
        self.with_device(|d| d.stats())
    }

    pub(crate) fn host_nic(&self) -> Result<&Arc<HostNic>, TunnelError> {
        let host = self.host.as_ref().ok_or_else(|| TunnelError::Unsupported {
            detail: "packet I/O calls need the host packet I/O mode".into(),
        })?;
        if !self.is_running() {
            return Err(TunnelError::Stopped);
        }
        Ok(host)
    }

    pub(crate) fn set_raw_observer(
        &self,
        observer: Option<Arc<dyn RawObserver>>,
    ) -> Result<(), TunnelError> {
        self.events.set(observer)
    }

    pub(crate) fn set_raw_sink(
        &self,
        sink: Option<Arc<dyn RawPacketSink>>,
    ) -> Result<(), TunnelError> {
        let host = self.host.as_ref().ok_or_else(|| TunnelError::Unsupported {
            detail: "packet sinks need the host packet I/O mode".into(),
        })?;
        host.set_sink(sink)
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        if let Some(device) = self.device.get_mut().take() {
            if in_callback() {
                // The last reference went away inside a callback, maybe on an engine
                // thread that the stop would have to join: stop from another thread.
                let _ = std::thread::Builder::new()
                    .name("ferrowg-stop".into())
                    .spawn(move || drop(device));
            }
        }
    }
}

/// Configuration text, by format.
enum Parsed {
    WgQuick(Box<WgQuickConfig>),
    /// The body of a UAPI `set=1` request.
    Uapi(String),
}

/// wg-quick INI when the first meaningful line is a `[Section]`, else UAPI (with or
/// without the leading `set=1` line).
fn parse_config(text: &str) -> Result<Parsed, TunnelError> {
    let first = text
        .lines()
        .map(|l| l.trim_start_matches('\u{feff}').trim())
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    match first {
        // The host resolves endpoint hostnames: the engine takes only addresses.
        Some(l) if l.starts_with('[') => {
            let wq = ferrowg_platform::resolve::resolve_wg_quick(&WgQuickConfig::parse(text)?)
                .map_err(|e| TunnelError::Config { line: 0, detail: e.to_string() })?;
            Ok(Parsed::WgQuick(Box::new(wq)))
        }
        Some("set=1") => {
            let body = text.trim_start_matches('\u{feff}').trim_start();
            Ok(Parsed::Uapi(
                body.strip_prefix("set=1")
                    .unwrap_or(body)
                    .trim_start_matches(['\r', '\n'])
                    .to_owned(),
            ))
        }
        _ => Ok(Parsed::Uapi(text.to_owned())),
    }
}

/// `base` with the settings `update` has: interface fields it sets, and its peers added
/// or replaced (like `wg addconf`).
fn merge(mut base: DeviceConfig, update: DeviceConfig) -> DeviceConfig {
    if update.private_key.is_some() {
        base.private_key = update.private_key;
    }
    if update.listen_port.is_some() {
        base.listen_port = update.listen_port;
    }
    if update.fwmark.is_some() {
        base.fwmark = update.fwmark;
    }
    for peer in update.peers {
        match base.peers.iter_mut().find(|p| p.public_key == peer.public_key) {
            Some(existing) => *existing = peer,
            None => base.peers.push(peer),
        }
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats() {
        assert!(matches!(parse_config("# c\n[Interface]\n").unwrap(), Parsed::WgQuick(_)));
        match parse_config("set=1\nlisten_port=5\n").unwrap() {
            Parsed::Uapi(b) => assert_eq!(b, "listen_port=5\n"),
            Parsed::WgQuick(_) => panic!("not wg-quick"),
        }
        match parse_config("listen_port=5\n").unwrap() {
            Parsed::Uapi(b) => assert_eq!(b, "listen_port=5\n"),
            Parsed::WgQuick(_) => panic!("not wg-quick"),
        }
    }

    #[test]
    fn wg_quick_endpoints_are_resolved_by_the_host() {
        let text =
            "[Interface]\n[Peer]\nPublicKey = ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=\n\
                    Endpoint = localhost:51820\n";
        let Parsed::WgQuick(wq) = parse_config(text).unwrap() else { panic!("not wg-quick") };
        let addr = wq.device.peers[0].endpoint.as_ref().and_then(|e| e.addr());
        assert!(addr.is_some_and(|a| a.ip().is_loopback() && a.port() == 51820), "{addr:?}");
    }

    #[test]
    fn wg_quick_error_has_line() {
        let err = parse_config("[Interface]\n\nListenPort = 70000\n").err().unwrap();
        assert!(matches!(err, TunnelError::Config { line: 3, .. }), "{err:?}");
    }
}
