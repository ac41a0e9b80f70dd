//! The macOS applier for apps without NetworkExtension: runs the command lines of
//! [`super::mac_plan`] (`/sbin/ifconfig`, `/sbin/route`, `/usr/sbin/netstat`,
//! `/usr/sbin/networksetup`) with [`std::process::Command`]. NetworkExtension apps use
//! `ferrowg_core::netplan::apple` instead.

use std::process::Command;

use ferrowg_core::netplan::NetworkPlan;

use super::mac_plan::{self, Cmd, Runner};

/// Runs commands on this Mac, logging each change as `[#] COMMAND` (as wg-quick does).
pub struct System {
    log: Box<dyn Fn(&str) + Send>,
}

impl std::fmt::Debug for System {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("System")
    }
}

fn path(program: &str) -> &'static str {
    match program {
        "ifconfig" => "/sbin/ifconfig",
        "route" => "/sbin/route",
        "netstat" => "/usr/sbin/netstat",
        _ => "/usr/sbin/networksetup",
    }
}

impl Runner for System {
    fn run(&mut self, cmd: &Cmd) -> Result<String, String> {
        if !cmd.is_query() {
            (self.log)(&format!("[#] {cmd}"));
        }
        let out = Command::new(path(cmd.program))
            .args(&cmd.args)
            .output()
            .map_err(|e| format!("{cmd}: {e}"))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(format!("{cmd}: {} {}", out.status, stderr.trim()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// The plan applied to one interface; undone (newest first) by
/// [`mac_plan::Applied::undo`] or on drop.
pub type Applied = mac_plan::Applied<System>;

/// Applies `plan` to the existing `utun` interface `ifname` as wg-quick does on macOS
/// (see [`super::mac_plan`]); `log` gets one `[#] ...` line per change. On an error
/// everything done so far is undone and the error returned. Needs root.
pub fn apply(
    ifname: &str,
    plan: &NetworkPlan,
    log: Box<dyn Fn(&str) + Send>,
) -> Result<Applied, String> {
    mac_plan::apply(System { log }, ifname, plan)
}
