//! The kill switch in the API: block everything outside the tunnel, in the OS firewall
//! (nftables, pf, WFP), so that it keeps blocking when this process dies. Only
//! [`kill_switch_disable`] removes it.

use ferrowg_core::config::WgQuickConfig;
use ferrowg_core::killswitch::KillSwitchSpec;
use ferrowg_platform::killswitch::{self, Error};

use crate::TunnelError;

/// Installs the kill switch for the tunnel interface `interface` (the wintun adapter's
/// name, `utunN`, or the Linux TUN name): everything is blocked except that interface,
/// UDP to the peers' endpoints in `wg_quick_config` (hostnames are resolved now, before
/// DNS is blocked), loopback, DHCP and IPv6 neighbour discovery, and with `allow_lan` the
/// local networks. DNS goes only through the tunnel, and only to the config's `DNS`
/// servers when it has any. Replaces a kill switch already there. Needs administrator
/// rights (root, `CAP_NET_ADMIN`).
#[uniffi::export]
pub fn kill_switch_enable(
    interface: String,
    wg_quick_config: String,
    allow_lan: bool,
) -> Result<(), TunnelError> {
    let config = WgQuickConfig::parse(&wg_quick_config)?;
    let device = ferrowg_platform::resolve::resolve_endpoints(&config.device)
        .map_err(|e| TunnelError::Config { line: 0, detail: e.to_string() })?;
    let endpoints = device.peers.iter().filter_map(|p| p.endpoint.as_ref()?.addr()).collect();
    let spec =
        KillSwitchSpec { tunnel: interface, endpoints, allow_lan, dns: config.interface.dns };
    killswitch::enable(&spec).map_err(into_error)
}

/// Removes the kill switch of `interface`; false if there was none.
#[uniffi::export]
pub fn kill_switch_disable(interface: String) -> Result<bool, TunnelError> {
    killswitch::disable(&interface).map_err(into_error)
}

/// Whether the kill switch of `interface` is installed (also after a crash of the
/// process that installed it).
#[uniffi::export]
pub fn kill_switch_status(interface: String) -> Result<bool, TunnelError> {
    killswitch::status(&interface).map_err(into_error)
}

fn into_error(e: Error) -> TunnelError {
    match e {
        Error::Spec(e) => TunnelError::invalid(e.to_string()),
        Error::Unsupported => TunnelError::Unsupported { detail: e.to_string() },
        other => TunnelError::Firewall { detail: other.to_string() },
    }
}
