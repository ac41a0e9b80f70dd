//! `ferrowg cleanup IFNAME` on macOS: undoes what a dead process's network setup of
//! IFNAME left (the crash marker `/var/run/ferrowg/IFNAME.state`: its bypass routes and
//! DNS settings; addresses and routes went with the `utun`) and removes the tunnel's
//! kill switch (pf anchor and pf reference), if any.

use ferrowg_platform::{killswitch, netconf};

/// Runs the cleanup of `ifname`.
pub fn cleanup(ifname: &str) -> Result<(), String> {
    let log = |m: &str| eprintln!("ferrowg ({ifname}): {m}");
    let undone = netconf::macos::cleanup_stale(ifname, &log)?;
    if undone.is_empty() {
        eprintln!("ferrowg: no host setting to undo for {ifname}");
    }
    match killswitch::disable(ifname) {
        Ok(true) => eprintln!("[#] kill switch off for {ifname}"),
        Ok(false) => eprintln!("ferrowg: no kill switch for {ifname}"),
        Err(e) => return Err(format!("kill switch: {e}")),
    }
    Ok(())
}
