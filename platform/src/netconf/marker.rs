//! The crash marker: `/run/ferrowg/IFNAME.state` lists, one change a line, what the
//! applier is about to do to the host for IFNAME, written before each change. A clean
//! teardown removes the file; if the process died instead (`kill -9`, a crash), the
//! next `ferrowg up IFNAME.conf` or `ferrowg cleanup IFNAME` finds it, sees that the
//! process it names is gone, and undoes what it lists ([`cleanup_stale`]).
//!
//! Format (text, newest last):
//! ```text
//! pid 1234 5678901            the writer's pid and start time (/proc/PID/stat field 22)
//! address 198.19.0.2/24       informational: goes with the TUN device
//! route 0.0.0.0/0 table 51820 informational: goes with the TUN device
//! rule v4 notfwmark 51820 51820
//! rule v4 suppress
//! nft v4                      the table ferrowg-IFNAME of that family
//! iptables v4                 rules of the fallback (listed, not undone from here)
//! dns resolvconf NAME | dns resolved IFNAME
//! ```

use std::io;
use std::path::{Path, PathBuf};

use ferrowg_core::netplan::{Family, PolicyRule};
use netlink_packet_route::RouteNetlinkMessage;

use super::dns::{self, DnsSetBy};
use super::firewall::{self, run_with_input};
use super::netlink::{rule, Netlink};

/// Where the markers live (`/run` is a tmpfs: a reboot clears them with the state).
pub const MARKER_DIR: &str = "/run/ferrowg";

/// The marker file of `ifname`.
pub fn marker_path(ifname: &str) -> PathBuf {
    Path::new(MARKER_DIR).join(format!("{ifname}.state"))
}

/// The open marker of a running applier.
#[derive(Debug)]
pub(crate) struct Marker {
    path: PathBuf,
    text: String,
}

/// The start time of process `pid` (clock ticks since boot), if it exists.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields after its ')' are plain.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(19)?.parse().ok()
}

impl Marker {
    /// Starts the marker of `ifname` with this process's pid.
    pub(crate) fn create(ifname: &str) -> io::Result<Marker> {
        std::fs::create_dir_all(MARKER_DIR)?;
        let pid = std::process::id();
        let start = start_time(pid).unwrap_or(0);
        let mut m = Marker { path: marker_path(ifname), text: String::new() };
        m.note(&format!("pid {pid} {start}"))?;
        Ok(m)
    }

    /// Adds one line (written through: replaced atomically by rename).
    pub(crate) fn note(&mut self, line: &str) -> io::Result<()> {
        self.text.push_str(line);
        self.text.push('\n');
        let tmp = self.path.with_extension("state.tmp");
        std::fs::write(&tmp, &self.text)?;
        std::fs::rename(&tmp, &self.path)
    }

    /// Everything was undone: the marker goes.
    pub(crate) fn remove(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The marker line of a policy rule.
pub(crate) fn rule_line(r: &PolicyRule) -> String {
    match r {
        PolicyRule::NotFwmark { family, fwmark, table } => {
            format!("rule {} notfwmark {fwmark} {table}", family.word())
        }
        other => format!("rule {} suppress", other.family().word()),
    }
}

/// The marker line of an nft table or iptables rules of `family`.
pub(crate) fn firewall_line(nft: bool, family: Family) -> String {
    format!("{} {}", if nft { "nft" } else { "iptables" }, family.word())
}

/// The marker line of a DNS setting.
pub(crate) fn dns_line(by: &DnsSetBy) -> String {
    match by {
        DnsSetBy::Resolvconf(name) => format!("dns resolvconf {name}"),
        DnsSetBy::Resolved(ifname) => format!("dns resolved {ifname}"),
    }
}

fn parse_rule(words: &[&str]) -> Option<PolicyRule> {
    let family = Family::from_word(words.first()?)?;
    match words.get(1..)? {
        ["notfwmark", mark, table] => Some(PolicyRule::NotFwmark {
            family,
            fwmark: mark.parse().ok()?,
            table: table.parse().ok()?,
        }),
        ["suppress"] => Some(PolicyRule::SuppressMainDefault { family }),
        _ => None,
    }
}

/// Undoes what a stale marker of `ifname` lists (newest first) and removes it. `Ok`
/// with the lines undone (empty: there was no marker); `Err` if the process that wrote
/// it still runs, or if something could not be undone (the marker then stays).
pub fn cleanup_stale(ifname: &str, log: &dyn Fn(&str)) -> Result<Vec<String>, String> {
    let path = marker_path(ifname);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut lines = text.lines();
    let owner = lines.next().and_then(|l| {
        let mut w = l.strip_prefix("pid ")?.split_whitespace();
        Some((w.next()?.parse::<u32>().ok()?, w.next()?.parse::<u64>().ok()?))
    });
    if let Some((pid, start)) = owner {
        if pid != std::process::id() && start_time(pid).is_some_and(|s| s == start || start == 0) {
            return Err(format!(
                "{ifname} is managed by the running process {pid} ({})",
                path.display()
            ));
        }
    }
    log(&format!("[#] stale {} from a dead process: undoing it", path.display()));
    let mut nl = None;
    let mut undone = Vec::new();
    let mut errors = Vec::new();
    for line in text.lines().skip(1).collect::<Vec<_>>().into_iter().rev() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let result = match words.as_slice() {
            ["rule", rest @ ..] => match parse_rule(rest) {
                Some(r) => {
                    let nl = match &mut nl {
                        Some(nl) => nl,
                        None => nl.insert(Netlink::open().map_err(|e| format!("netlink: {e}"))?),
                    };
                    let msg = rule(&r);
                    match nl.request(RouteNetlinkMessage::DelRule(msg), 0) {
                        Ok(_) => Ok(()),
                        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
                        Err(e) => Err(format!("rule delete: {e}")),
                    }
                }
                None => Err(format!("bad line `{line}`")),
            },
            ["nft", f] => match Family::from_word(f) {
                Some(f) => {
                    let t = firewall::nft_table(ifname);
                    let fam = firewall::nft_family(f);
                    let exists = run_with_input("nft", &["list", "table", fam, &t], "").is_ok();
                    if exists {
                        run_with_input("nft", &["-f", "-"], &firewall::nft_delete(ifname, f))
                    } else {
                        Ok(())
                    }
                }
                None => Err(format!("bad line `{line}`")),
            },
            ["dns", "resolvconf", name] => dns::unset(&DnsSetBy::Resolvconf((*name).to_owned())),
            ["dns", "resolved", name] => dns::unset(&DnsSetBy::Resolved((*name).to_owned())),
            // Addresses and routes went with the TUN device; iptables rules are listed
            // for the operator (their text is not kept).
            ["address" | "route" | "iptables", ..] => Ok(()),
            _ => Err(format!("bad line `{line}`")),
        };
        match result {
            Ok(()) => {
                log(&format!("[#] undone: {line}"));
                undone.push(line.to_owned());
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(format!("cleanup of {ifname}: {}", errors.join("; ")));
    }
    std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(undone)
}
