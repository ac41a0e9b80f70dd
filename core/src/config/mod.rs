//! Typed configuration, wg-quick INI and the UAPI text protocol.
//!
//! Everything here is pure: parsing, formatting and applying never touch the network,
//! the clock or the file system. Hostname endpoints stay unresolved data
//! ([`Endpoint::Host`]); the host resolves them (`ferrowg_platform::resolve`) before the
//! config reaches the engine, which refuses them ([`DeviceConfig::check_resolved`]).
//!
//! - [`WgQuickConfig::parse`] / [`WgQuickConfig::to_wg_quick`]: the INI format every
//!   WireGuard app imports, with wg-quick's extra interface fields kept but never run.
//! - [`uapi`]: `set=1` bodies parsed into [`uapi::UapiOp`]s, a pure [`uapi::apply`],
//!   `get=1` responses formatted from a [`DeviceConfig`] snapshot plus [`PeerStats`].
//! - [`ConfigDiff`]: what changed between two snapshots, for the engine to act on.
//!
//! Zero means "unset" throughout, as in WireGuard itself: a zero listen port, fwmark or
//! keepalive and an all-zero private or preshared key are parsed as `None`, so the two
//! spellings of "off" compare equal.
//!
//! ```
//! use ferrowg_core::config::{uapi, DeviceConfig, WgQuickConfig};
//!
//! let text = "[Interface]\n\
//!     PrivateKey = AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A=\n\
//!     Address = 10.0.0.2/24\n\
//!     [Peer]\n\
//!     PublicKey = ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=\n\
//!     AllowedIPs = 10.0.0.0/24\n\
//!     Endpoint = 127.0.0.1:51820\n";
//! let wq = WgQuickConfig::parse(text)?;
//! assert_eq!(wq.interface.addresses[0].to_string(), "10.0.0.2/24");
//!
//! // What `wg setconf` would send over the UAPI socket, and what a device makes of it.
//! let request = wq.device.to_uapi_set()?;
//! let uapi::Request::Set(ops) = uapi::parse_request(&request)? else { unreachable!() };
//! let running = uapi::apply(&ops, &DeviceConfig::default())?;
//! assert_eq!(running, wq.device);
//!
//! // A bad line names itself.
//! let err = WgQuickConfig::parse("[Interface]\nListenPort = 70000\n").unwrap_err();
//! assert_eq!(err.to_string(), "line 2: ListenPort: `70000` is not a port number (0-65535)");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod diff;
mod values;
mod wgquick;
mod wgquick_write;

pub mod uapi;

use std::net::IpAddr;
use std::time::Duration;

use crate::keys::{PresharedKey, PrivateKey, PublicKey};

pub use diff::ConfigDiff;
pub use values::{AllowedIp, CidrError, Endpoint, EndpointError, InterfaceAddress};
pub use wgquick::{ConfigError, ConfigErrorKind};
pub use wgquick_write::WriteError;

/// The WireGuard device settings that `wg setconf` and UAPI carry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceConfig {
    /// The interface's static private key; `None` means no key (the device stays silent).
    pub private_key: Option<PrivateKey>,
    /// UDP listen port; `None` lets the OS choose.
    pub listen_port: Option<u16>,
    /// Firewall mark for outgoing packets (Linux); `None` is off.
    pub fwmark: Option<u32>,
    /// Peers, in configuration order.
    pub peers: Vec<PeerConfig>,
}

/// One peer's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    /// The peer's static public key; unique within a device.
    pub public_key: PublicKey,
    /// Optional pre-shared key mixed into the handshake.
    pub preshared_key: Option<PresharedKey>,
    /// Where to send handshakes until the peer roams; `None` waits to be contacted.
    pub endpoint: Option<Endpoint>,
    /// Source addresses accepted from, and destinations routed to, this peer.
    pub allowed_ips: Vec<AllowedIp>,
    /// Keepalive interval in seconds; `None` is off.
    pub persistent_keepalive: Option<u16>,
}

/// A whole wg-quick file: the device settings plus wg-quick's own interface fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WgQuickConfig {
    /// wg-quick-only `[Interface]` fields (addresses, DNS, MTU, table, hooks).
    pub interface: InterfaceConfig,
    /// What `wg setconf` would receive (`PrivateKey`, `ListenPort`, `FwMark`, peers).
    pub device: DeviceConfig,
}

/// The `[Interface]` fields only wg-quick reads. Hooks are kept as text, never executed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceConfig {
    /// `Address`: addresses with their on-link prefix.
    pub addresses: Vec<InterfaceAddress>,
    /// `DNS` entries that are IP addresses: the resolvers.
    pub dns: Vec<IpAddr>,
    /// `DNS` entries that are not IP addresses: search domains.
    pub dns_search: Vec<String>,
    /// `MTU`; `None` means derive it from the route to the endpoints.
    pub mtu: Option<u16>,
    /// `Table`; `None` means the default (`auto`).
    pub table: Option<Table>,
    /// `SaveConfig`: write the running config back on `wg-quick down`.
    pub save_config: bool,
    /// `PreUp` commands, in order.
    pub pre_up: Vec<String>,
    /// `PostUp` commands, in order.
    pub post_up: Vec<String>,
    /// `PreDown` commands, in order.
    pub pre_down: Vec<String>,
    /// `PostDown` commands, in order.
    pub post_down: Vec<String>,
}

/// wg-quick's `Table` setting: where routes for the allowed IPs go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Table {
    /// `auto`: the main table, or a policy-routed table for default routes.
    Auto,
    /// `off`: add no routes.
    Off,
    /// A numeric routing table id.
    Id(u32),
    /// A table name from `/etc/iproute2/rt_tables`.
    Name(String),
}

/// Per-peer counters reported by UAPI `get=1`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Wall-clock time of the last completed handshake, since the Unix epoch.
    pub last_handshake: Option<Duration>,
    /// Bytes received from the peer (transport payload including headers, as wg counts).
    pub rx_bytes: u64,
    /// Bytes sent to the peer.
    pub tx_bytes: u64,
}

impl PeerConfig {
    /// A peer with only its public key set.
    pub fn new(public_key: PublicKey) -> Self {
        Self {
            public_key,
            preshared_key: None,
            endpoint: None,
            allowed_ips: Vec::new(),
            persistent_keepalive: None,
        }
    }
}

impl DeviceConfig {
    /// The peer with this public key, if any.
    pub fn peer(&self, public_key: &PublicKey) -> Option<&PeerConfig> {
        self.peers.iter().find(|p| p.public_key == *public_key)
    }

    /// The `set=1` request that makes a device equal to this config, as `wg setconf`
    /// would send it (see [`uapi::replace_ops`]). Resolve hostname endpoints first.
    pub fn to_uapi_set(&self) -> Result<String, uapi::UnresolvedEndpoint> {
        uapi::set_text(self)
    }

    /// Fails with the first peer whose endpoint is still a hostname: the engine takes
    /// only resolved configurations (the host resolves names; core makes no OS call).
    pub fn check_resolved(&self) -> Result<(), uapi::UnresolvedEndpoint> {
        match self.peers.iter().find(|p| matches!(p.endpoint, Some(Endpoint::Host { .. }))) {
            None => Ok(()),
            Some(p) => Err(uapi::UnresolvedEndpoint {
                peer: p.public_key,
                endpoint: p.endpoint.as_ref().map(Endpoint::to_string).unwrap_or_default(),
            }),
        }
    }
}

impl WgQuickConfig {
    /// Parses a wg-quick file. Any error leaves nothing half-applied: the result is
    /// either a whole config or the first error, with its line and key.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        wgquick::parse(text)
    }

    /// Writes the config as a wg-quick file that [`WgQuickConfig::parse`] reads back
    /// to an equal value.
    pub fn to_wg_quick(&self) -> Result<String, WriteError> {
        wgquick_write::write(self)
    }
}

impl std::str::FromStr for WgQuickConfig {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}
