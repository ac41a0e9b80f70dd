//! ferrowg-core: the WireGuard protocol as a sans-IO library, plus the threaded engine.
//!
//! The embedder's API is re-exported here at the root: the engine ([`Device`],
//! [`DeviceOptions`], [`DeviceObserver`], [`DeviceError`]), the I/O traits it drives
//! ([`Tun`], [`Bind`], [`Transport`], [`Clock`]), configuration ([`DeviceConfig`],
//! [`WgQuickConfig`], [`Endpoint`], ...), keys, the multi-peer sans-IO state machine
//! ([`Interface`]), the network plan ([`NetworkPlan`]) and the kill-switch model
//! ([`KillSwitchSpec`]); their modules ([`config`], [`device`], [`interface`], [`io`],
//! [`keys`], [`netplan`], [`killswitch`], [`sched`], [`offload`], [`error`], [`logging`])
//! hold the rest.
//!
//! The protocol modules (`messages`, `noise`, `cookie`, `keypair`, `replay`, `timers`,
//! `peer`) and the data structures (`allowedips`, `peer_lookup`, `queue`, `ratelimiter`,
//! `aqm`, `crypto`) are internal: public only with the `internals` feature, which the
//! benches, tests, simulator and fuzz targets enable. They never read the clock or the
//! OS RNG: every call that needs time takes `now`, and randomness comes from an RNG
//! handed in at construction. [`interface`] is the multi-peer state machine (every
//! decision of a WireGuard interface) that both the engine and the deterministic
//! simulator drive. The engine in [`device`] is the one place that owns threads; it
//! reaches the OS only through the traits in [`io`], which `ferrowg-platform` implements
//! per OS and tests implement in memory. Core makes no OS call of its own (no sockets,
//! no name resolution, no files: `core/clippy.toml` bans them).
#![deny(unsafe_code)]

/// Declares the internal modules: the protocol's building blocks and data structures,
/// public only with the `internals` feature (benches, tests, the fuzz targets, the
/// simulator), crate-private otherwise. The embedder's API is the public modules below
/// and the re-exports at the root.
macro_rules! internal_modules {
    ($($(#[$attr:meta])* $name:ident;)*) => {$(
        $(#[$attr])*
        #[cfg(feature = "internals")]
        pub mod $name;
        $(#[$attr])*
        #[cfg(not(feature = "internals"))]
        #[allow(dead_code, unreachable_pub)] // parts only the benches and tests reach
        pub(crate) mod $name;
    )*};
}

internal_modules! {
    allowedips;
    aqm;
    cookie;
    crypto;
    keypair;
    messages;
    noise;
    peer;
    peer_lookup;
    queue;
    ratelimiter;
    replay;
    timers;
}

pub mod config;
pub mod device;
pub mod error;
pub mod interface;
pub mod io;
pub mod keys;
pub mod killswitch;
pub mod logging;
pub mod netplan;
pub mod offload;
pub mod sched;

pub use aqm::CodelParams;
pub use config::{
    AllowedIp, ConfigError, DeviceConfig, Endpoint, InterfaceAddress, InterfaceConfig, PeerConfig,
    PeerStats, WgQuickConfig,
};
pub use device::{
    Device, DeviceError, DeviceEvent, DeviceObserver, DeviceOptions, DeviceStats, RingKind,
    ThreadHook, ThreadRole, WorkerMode,
};
pub use error::DropReason;
pub use interface::{Incoming, Interface, Output};
pub use io::{Bind, Clock, RecvMeta, SystemClock, Transmit, Transport, Tun};
pub use keys::{KeyParseError, PresharedKey, PrivateKey, PublicKey};
pub use killswitch::{KillSwitchError, KillSwitchSpec};
pub use netplan::NetworkPlan;
pub use sched::CpuTopology;
