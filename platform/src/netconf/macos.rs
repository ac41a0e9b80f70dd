//! The macOS applier for apps without NetworkExtension: runs the command lines of
//! [`super::mac_plan`] (`/sbin/ifconfig`, `/sbin/route`, `/usr/sbin/netstat`,
//! `/usr/sbin/networksetup`) with [`std::process::Command`]. NetworkExtension apps use
//! `ferrowg_core::netplan::apple` instead.
//!
//! Each change's undo is listed in the crash marker `/var/run/ferrowg/IFNAME.state`
//! ([`super::mac_marker`]) before the change is made; a clean undo removes it. [`apply`]
//! first undoes what a dead process's marker for the same interface lists, as does
//! [`cleanup_stale`] (`ferrowg cleanup IFNAME`). While the plan is applied, a route
//! monitor thread (`/sbin/route -n monitor`, [`super::mac_monitor`]) moves the endpoint
//! bypass routes when the default gateway changes; it stops before the undo.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use ferrowg_core::netplan::NetworkPlan;

use super::mac_marker::{self, Marked, MarkerFile, Owner, Probe};
use super::mac_monitor::{is_route_message, read_gateways, Gateways, Monitor};
use super::mac_plan::{self, Cmd, MacOp, Runner, Undo};

/// The log of `[#] ...` lines, shared by the applier and its route monitor.
type Log = Arc<Mutex<Box<dyn Fn(&str) + Send>>>;

fn say(log: &Log, line: &str) {
    if let Ok(log) = log.lock() {
        log(line);
    }
}

/// Runs commands on this Mac, logging each change as `[#] COMMAND` (as wg-quick does).
pub struct System {
    log: Log,
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
            say(&self.log, &format!("[#] {cmd}"));
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

/// What the OS says about process `pid`.
fn probe(pid: u32) -> Probe {
    match crate::sys::macos::process_start(pid) {
        Ok(start) => Probe::Started(start),
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Probe::Gone,
        Err(_) => Probe::Unknown,
    }
}

/// `route -n monitor` and the thread that reads it.
struct RouteMonitor {
    child: Child,
    thread: Option<JoinHandle<()>>,
}

impl RouteMonitor {
    /// Starts `route -n monitor` (before the apply, so no routing message from then on
    /// is missed) after reading the default gateways; `None` (logged) if either fails.
    fn spawn(log: &Log) -> Option<(RouteMonitor, Gateways)> {
        let before = match read_gateways(&mut System { log: log.clone() }) {
            Ok(g) => g,
            Err(e) => {
                say(log, &format!("route monitor not started: {e}"));
                return None;
            }
        };
        let spawned = Command::new("/sbin/route")
            .args(["-n", "monitor"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        match spawned {
            Ok(child) => Some((RouteMonitor { child, thread: None }, before)),
            Err(e) => {
                say(log, &format!("route monitor not started: /sbin/route -n monitor: {e}"));
                None
            }
        }
    }

    /// Watches the bypass routes in `done` (the undo list of the apply of `ifname`);
    /// `None` when there are none (the monitor is ended) or the thread cannot start.
    fn watch(mut self, ifname: &str, done: &[Undo], before: &Gateways, log: &Log) -> Option<Self> {
        let mut monitor = Monitor::new(ifname, done, before)?;
        let stdout = self.child.stdout.take()?;
        let mut runner = System { log: log.clone() };
        let thread_log = log.clone();
        let thread =
            std::thread::Builder::new().name("ferrowg-route-monitor".into()).spawn(move || {
                let tell = |m: &str| say(&thread_log, m);
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if is_route_message(&line) && !monitor.on_message(&mut runner, &tell) {
                        break;
                    }
                }
            });
        match thread {
            Ok(t) => {
                self.thread = Some(t);
                Some(self)
            }
            Err(e) => {
                say(log, &format!("route monitor not started: {e}"));
                None
            }
        }
    }
}

impl Drop for RouteMonitor {
    /// Ends `route -n monitor` (the thread then reads the end of its output) and waits
    /// for the thread, so no route is moved after this returns.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The plan applied to one interface; undone (newest first, the route monitor stopped
/// first) by [`Applied::undo`] or on drop.
pub struct Applied {
    // Dropped before `inner`: the monitor stops before the undo runs.
    monitor: Option<RouteMonitor>,
    inner: mac_plan::Applied<Marked<System>>,
}

impl std::fmt::Debug for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applied")
            .field("monitor", &self.monitor.is_some())
            .field("recorded", &self.inner.recorded())
            .finish()
    }
}

impl Applied {
    /// Stops the route monitor, then reverts every recorded change, newest first (the
    /// crash marker goes with the last); returns the errors.
    pub fn undo(&mut self) -> Vec<String> {
        self.monitor = None;
        self.inner.undo()
    }

    /// The undo commands recorded, oldest first.
    pub fn recorded(&self) -> &[Undo] {
        self.inner.recorded()
    }
}

/// Undoes what a dead process's crash marker for `ifname` lists (see
/// [`mac_marker::cleanup_stale`]): the undo commands run, or `Err` (nothing done) when
/// the process that wrote it still runs (this one included) or it is unreadable.
pub fn cleanup_stale(ifname: &str, log: &dyn Fn(&str)) -> Result<Vec<String>, String> {
    let mut runner = System { log: Arc::new(Mutex::new(Box::new(|_: &str| {}))) };
    let path = mac_marker::marker_path(Path::new(mac_marker::MARKER_DIR), ifname);
    let alive = |o: &Owner| mac_marker::owner_alive(o, probe(o.pid));
    mac_marker::cleanup_stale(&mut runner, &path, alive, log).map_err(|e| format!("{ifname}: {e}"))
}

/// Applies `plan` to the existing `utun` interface `ifname` as wg-quick does on macOS
/// (see [`super::mac_plan`]); `log` gets one `[#] ...` line per change. What a dead
/// process's crash marker for `ifname` lists is undone first (an error: its process
/// still runs). On an error everything done so far is undone and the error returned.
/// Needs root.
pub fn apply(
    ifname: &str,
    plan: &NetworkPlan,
    log: Box<dyn Fn(&str) + Send>,
) -> Result<Applied, String> {
    let log: Log = Arc::new(Mutex::new(log));
    cleanup_stale(ifname, &|m: &str| say(&log, m))?;
    let pid = std::process::id();
    let owner = Owner { pid, start: crate::sys::macos::process_start(pid).unwrap_or(0) };
    let path = mac_marker::marker_path(Path::new(mac_marker::MARKER_DIR), ifname);
    let runner = Marked::new(System { log: log.clone() }, MarkerFile::new(path, owner));
    // Started first, so a gateway change during the apply is seen (and ended on an
    // error); only when the plan has endpoint bypass routes to move.
    let bypass = mac_plan::operations(plan)
        .is_ok_and(|ops| ops.iter().any(|op| matches!(op, MacOp::Bypass { .. })));
    let spawned = bypass.then(|| RouteMonitor::spawn(&log)).flatten();
    let inner = mac_plan::apply(runner, ifname, plan)?;
    let monitor = spawned.and_then(|(m, before)| m.watch(ifname, inner.recorded(), &before, &log));
    Ok(Applied { monitor, inner })
}
