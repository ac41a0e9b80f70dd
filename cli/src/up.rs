//! `ferrowg up CONFIG.conf`: a wg-quick file brought up in the foreground.
//!
//! The interface is named after the file (`wg0.conf` → `wg0`), as wg-quick does. The
//! file becomes a [`NetworkPlan`] (addresses, MTU, routes, policy rules, firewall, DNS,
//! fwmark — wg-quick's rules); after the TUN device and engine start (the sockets marked
//! with the plan's fwmark), [`netconf::apply`] sets it up over netlink, nft and
//! resolvconf, recording each change. The PreUp / PostUp / PreDown / PostDown hooks run
//! with `%i` replaced, as in wg-quick; a failing PreUp or PostUp fails closed (nothing
//! left up, non-zero exit). SIGINT/SIGTERM undo exactly the recorded changes and stop.
//! Each change is listed in `/run/ferrowg/IFNAME.state` first; a later `ferrowg up` (or
//! `ferrowg cleanup IFNAME`) undoes what a dead process left there.

use std::path::Path;
use std::process::Command;

use ferrowg_core::config::WgQuickConfig;
use ferrowg_core::netplan::NetworkPlan;
use ferrowg_platform::{netconf, resolve};

use crate::daemon::{block_signals, Tunnel};

/// Parses and checks a wg-quick file; returns the interface name and the config.
pub fn load(path: &Path) -> Result<(String, WgQuickConfig), String> {
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .filter(|_| path.extension().is_some_and(|e| e == "conf"))
        .ok_or_else(|| format!("{}: the file must be named IFNAME.conf", path.display()))?;
    let valid = !name.is_empty()
        && name.len() <= 15
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_=+.-".contains(&b));
    if !valid {
        return Err(format!("{}: `{name}` is not a valid interface name", path.display()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let config = WgQuickConfig::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((name.to_owned(), config))
}

/// Runs `ferrowg up CONFIG.conf` until a signal.
pub fn run(path: &Path) -> Result<(), String> {
    let (name, config) = load(path)?;
    let resolved = resolve::resolve_wg_quick(&config).map_err(|e| e.to_string())?;
    let device = resolved.device.clone();
    let plan = NetworkPlan::from_config(&resolved);
    let iface = &config.interface;
    let signals = block_signals()?;
    // A `ferrowg up` of this interface that died (kill -9, a crash) left its rules,
    // firewall table and DNS: undo what its marker lists before adding ours again.
    netconf::cleanup_stale(&name, &|m: &str| eprintln!("ferrowg ({name}): {m}"))?;
    // wg-quick runs under `set -e`: a failing PreUp stops before anything exists.
    hooks(&iface.pre_up, &name).map_err(|e| format!("PreUp failed, nothing brought up: {e}"))?;
    let tunnel = Tunnel::start(&name, usize::from(plan.mtu), device, plan.fwmark)?;
    let log: Box<dyn Fn(&str) + Send> = {
        let name = name.clone();
        Box::new(move |m: &str| tracing::info!(target: "ferrowg::cli", interface = %name, "{m}"))
    };
    let applied = match netconf::apply(&tunnel.ifname, &plan, log) {
        Ok(a) => a,
        Err(e) => {
            tunnel.stop();
            return Err(e);
        }
    };
    // A failing PostUp tears everything down and fails (wg-quick's `trap del_if`).
    if let Err(e) = hooks(&iface.post_up, &name) {
        tunnel.log(&format!("PostUp failed: {e}; tearing down"));
        drop(applied);
        tunnel.stop();
        return Err(format!("PostUp failed, interface removed: {e}"));
    }
    tunnel.log(&format!("up: {} address(es), config {}", iface.addresses.len(), path.display()));
    let why = tunnel.wait(signals);
    tunnel.log(&format!("shutting down: {}", why.as_deref().unwrap_or("error")));
    let pre_down = hooks(&iface.pre_down, &name);
    drop(applied);
    tunnel.stop();
    let post_down = hooks(&iface.post_down, &name);
    why?;
    pre_down.map_err(|e| format!("PreDown failed: {e}"))?;
    post_down.map_err(|e| format!("PostDown failed: {e}"))
}

/// Runs wg-quick hooks in order with `%i` replaced; stops at the first that fails.
fn hooks(commands: &[String], ifname: &str) -> Result<(), String> {
    for c in commands {
        let c = c.replace("%i", ifname);
        eprintln!("[#] {c}");
        match Command::new("bash").arg("-c").arg(&c).status() {
            Ok(s) if s.success() => {}
            Ok(s) => return Err(format!("`{c}`: {s}")),
            Err(e) => return Err(format!("`{c}`: {e}")),
        }
    }
    Ok(())
}

/// `ferrowg cleanup IFNAME`: undoes what a dead `ferrowg up` of IFNAME left (its crash
/// marker) and removes its kill switch, if any.
pub fn cleanup(ifname: &str) -> Result<(), String> {
    let undone = netconf::cleanup_stale(ifname, &|m: &str| eprintln!("ferrowg ({ifname}): {m}"))?;
    if undone.is_empty() {
        eprintln!("ferrowg: no stale state for {ifname}");
    }
    crate::killswitch::disable(ifname)
}
