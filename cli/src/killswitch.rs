//! `ferrowg up --kill-switch CONFIG.conf` and `ferrowg kill-switch on|off|status`.
//!
//! The kill switch is installed before the tunnel starts (no window in which traffic
//! leaks) and removed when `ferrowg up` ends on a signal. If the process dies instead
//! (`kill -9`, a crash), the rules stay in the kernel and keep blocking until
//! `ferrowg kill-switch off IFNAME`.

use std::path::Path;

use ferrowg_core::config::WgQuickConfig;
use ferrowg_core::killswitch::KillSwitchSpec;
use ferrowg_platform::{killswitch, resolve};

/// The kill-switch spec for a wg-quick file: its peers' (resolved) endpoints and DNS.
pub fn spec(
    ifname: &str,
    config: &WgQuickConfig,
    allow_lan: bool,
) -> Result<KillSwitchSpec, String> {
    let device = resolve::resolve_endpoints(&config.device).map_err(|e| e.to_string())?;
    let endpoints = device.peers.iter().filter_map(|p| p.endpoint.as_ref()?.addr()).collect();
    Ok(KillSwitchSpec {
        tunnel: ifname.to_owned(),
        endpoints,
        allow_lan,
        dns: config.interface.dns.clone(),
    })
}

/// Installs the kill switch for `path`'s tunnel; returns its interface name.
pub fn enable(path: &Path) -> Result<String, String> {
    let (ifname, config) = crate::up::load(path)?;
    let spec = spec(&ifname, &config, false)?;
    killswitch::enable(&spec).map_err(|e| format!("kill switch: {e}"))?;
    eprintln!("[#] kill switch on for {ifname} ({} endpoint(s))", spec.endpoints.len());
    Ok(ifname)
}

/// `ferrowg up --kill-switch CONFIG.conf`: kill switch first, then the tunnel; the kill
/// switch goes only when the tunnel went down cleanly on a signal.
pub fn up(path: &Path) -> Result<(), String> {
    let ifname = enable(path)?;
    match crate::up::run(path) {
        Ok(()) => disable(&ifname),
        Err(e) => {
            Err(format!("{e}; the kill switch stays on (`ferrowg kill-switch off {ifname}`)"))
        }
    }
}

/// Removes the kill switch of `ifname`.
pub fn disable(ifname: &str) -> Result<(), String> {
    match killswitch::disable(ifname) {
        Ok(true) => eprintln!("[#] kill switch off for {ifname}"),
        Ok(false) => eprintln!("ferrowg: no kill switch for {ifname}"),
        Err(e) => return Err(format!("kill switch: {e}")),
    }
    Ok(())
}

/// Prints `on` or `off` for `ifname`.
pub fn status(ifname: &str) -> Result<(), String> {
    let on = killswitch::status(ifname).map_err(|e| format!("kill switch: {e}"))?;
    println!("{}", if on { "on" } else { "off" });
    Ok(())
}
