//! DNS the way wg-quick sets it: `resolvconf -a IFNAME -m 0 -x` with the plan's
//! resolv.conf lines, undone with `resolvconf -d IFNAME -f`. Without resolvconf,
//! systemd-resolved is used through `resolvectl`; with neither, an error.

use std::path::Path;
use std::process::Command;

use ferrowg_core::netplan::DnsPlan;

use super::firewall::{have, run_with_input};

/// How DNS was set, so it can be undone the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DnsSetBy {
    /// `resolvconf -a NAME` (NAME with the interface-order prefix, as wg-quick).
    Resolvconf(String),
    /// `resolvectl dns/domain IFNAME`.
    Resolved(String),
}

/// wg-quick's `resolvconf_iface_prefix`: Debian's resolvconf orders interfaces by the
/// patterns in /etc/resolvconf/interface-order; the name gets the first matching
/// pattern's prefix (`tun*` → `tun.`).
fn iface_prefix(ifname: &str) -> String {
    let Ok(order) = std::fs::read_to_string("/etc/resolvconf/interface-order") else {
        return String::new();
    };
    for line in order.lines() {
        let line = line.trim();
        if let Some(p) = line.strip_suffix('*') {
            if !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_alphanumeric())
                && ifname.starts_with(p)
            {
                return format!("{p}.");
            }
        }
    }
    String::new()
}

/// Sets DNS for `ifname`; `Ok(None)` when the plan names no server (search domains
/// alone are ignored, as wg-quick's `set_dns` does).
pub(crate) fn set(ifname: &str, dns: &DnsPlan) -> Result<Option<DnsSetBy>, String> {
    if dns.servers.is_empty() {
        return Ok(None);
    }
    if have("resolvconf") {
        let name = format!("{}{ifname}", iface_prefix(ifname));
        run_with_input("resolvconf", &["-a", &name, "-m", "0", "-x"], &dns.resolv_conf())?;
        return Ok(Some(DnsSetBy::Resolvconf(name)));
    }
    if have("resolvectl") && Path::new("/run/systemd/resolve").is_dir() {
        let mut args = vec!["dns".to_owned(), ifname.to_owned()];
        args.extend(dns.servers.iter().map(|s| s.to_string()));
        run("resolvectl", &args)?;
        let mut args = vec!["domain".to_owned(), ifname.to_owned(), "~.".to_owned()];
        args.extend(dns.search.iter().cloned());
        if let Err(e) = run("resolvectl", &args) {
            let _ = run("resolvectl", &["revert".to_owned(), ifname.to_owned()]);
            return Err(e);
        }
        return Ok(Some(DnsSetBy::Resolved(ifname.to_owned())));
    }
    Err(format!(
        "DNS = {} is set but neither resolvconf nor systemd-resolved (resolvectl) is \
         available to apply it; install openresolv or resolvconf, or remove DNS from the file",
        dns.servers.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")
    ))
}

/// Undoes [`set`].
pub(crate) fn unset(by: &DnsSetBy) -> Result<(), String> {
    match by {
        DnsSetBy::Resolvconf(name) => {
            run("resolvconf", &["-d".to_owned(), name.clone(), "-f".to_owned()])
        }
        DnsSetBy::Resolved(ifname) => run("resolvectl", &["revert".to_owned(), ifname.clone()]),
    }
}

fn run(program: &str, args: &[String]) -> Result<(), String> {
    let what = format!("{program} {}", args.join(" "));
    let out = Command::new(program).args(args).output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{what}: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}
