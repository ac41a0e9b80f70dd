//! `ferrowg up CONFIG.conf`: a wg-quick file brought up in the foreground.
//!
//! The interface is named after the file (`wg0.conf` → `wg0`), as wg-quick does. After
//! the TUN device and engine start, `ip` sets the addresses and one route per allowed
//! IP (in `Table`, unless `Table = off`). A default route (`/0`) is policy-routed the
//! way wg-quick does it: the route goes in table 51820 (or `FwMark`), the tunnel's own
//! UDP sockets carry that mark, and two rules send everything else there. The PreUp /
//! PostUp / PreDown / PostDown hooks run with `%i` replaced, as in wg-quick; DNS is left
//! alone (a warning says so). SIGINT/SIGTERM undo every change and stop.

use std::path::Path;
use std::process::Command;

use ferrowg_core::config::{Table, WgQuickConfig};

use crate::daemon::{block_signals, Tunnel};

/// wg-quick's default table and mark for default routes.
const DEFAULT_TABLE: u32 = 51820;
/// MTU when the file gives none (wg-quick derives it from the route; 1420 fits 1500).
const DEFAULT_MTU: usize = 1420;

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
    let device = config.device.resolve_endpoints().map_err(|e| e.to_string())?;
    let iface = &config.interface;
    let full_tunnel = iface.table != Some(Table::Off)
        && device.peers.iter().flat_map(|p| &p.allowed_ips).any(|ip| ip.cidr() == 0);
    let table = match &iface.table {
        Some(Table::Id(id)) => Some(id.to_string()),
        Some(Table::Name(n)) => Some(n.clone()),
        _ => None,
    };
    let fwmark = device.fwmark.or(full_tunnel.then_some(DEFAULT_TABLE));
    if !iface.dns.is_empty() || !iface.dns_search.is_empty() {
        eprintln!("ferrowg ({name}): DNS is not configured by ferrowg up; set it yourself");
    }
    let signals = block_signals()?;
    hooks(&iface.pre_up, &name);
    let mtu = iface.mtu.map_or(DEFAULT_MTU, usize::from);
    let tunnel = Tunnel::start(&name, mtu, device.clone(), fwmark)?;
    let mut undo: Vec<Vec<String>> = Vec::new();
    let result = (|| -> Result<(), String> {
        for addr in &iface.addresses {
            ip(&["address", "add", &format!("{}/{}", addr.addr(), addr.prefix()), "dev", &name])?;
        }
        if iface.table == Some(Table::Off) {
            return Ok(());
        }
        let mut cidrs: Vec<_> = device.peers.iter().flat_map(|p| &p.allowed_ips).collect();
        cidrs.sort_by_key(|c| std::cmp::Reverse(c.cidr()));
        for cidr in cidrs {
            let dst = cidr.to_string();
            let fam = if cidr.addr().is_ipv4() { "-4" } else { "-6" };
            if cidr.cidr() == 0 && table.is_none() {
                default_route(fam, &dst, &name, fwmark.unwrap_or(DEFAULT_TABLE), &mut undo)?;
                continue;
            }
            let mut args = vec![fam, "route", "replace", &dst, "dev", &name];
            if let Some(t) = &table {
                args.extend(["table", t]);
            }
            ip(&args)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        restore(&undo);
        tunnel.stop();
        return Err(e);
    }
    hooks(&iface.post_up, &name);
    tunnel.log(&format!("up: {} address(es), config {}", iface.addresses.len(), path.display()));
    let why = tunnel.wait(signals);
    tunnel.log(&format!("shutting down: {}", why.as_deref().unwrap_or("error")));
    hooks(&iface.pre_down, &name);
    restore(&undo);
    tunnel.stop();
    hooks(&iface.post_down, &name);
    why.map(|_| ())
}

/// wg-quick's policy routing for a `/0` allowed IP: everything without the tunnel's
/// mark goes to `table`, which routes it into the tunnel; the main table still wins
/// for anything more specific than a default route.
fn default_route(
    fam: &str,
    dst: &str,
    ifname: &str,
    table: u32,
    undo: &mut Vec<Vec<String>>,
) -> Result<(), String> {
    let t = table.to_string();
    ip(&[fam, "route", "replace", dst, "dev", ifname, "table", &t])?;
    let rules: [&[&str]; 2] =
        [&["not", "fwmark", &t, "table", &t], &["table", "main", "suppress_prefixlength", "0"]];
    for rule in rules {
        let mut add = vec![fam, "rule", "add"];
        add.extend_from_slice(rule);
        ip(&add)?;
        let mut del: Vec<String> = [fam, "rule", "delete"].iter().map(|s| s.to_string()).collect();
        del.extend(rule.iter().map(|s| s.to_string()));
        undo.push(del);
    }
    Ok(())
}

fn restore(undo: &[Vec<String>]) {
    for args in undo.iter().rev() {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if let Err(e) = ip(&args) {
            eprintln!("ferrowg: restore: {e}");
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    eprintln!("[#] ip {}", args.join(" "));
    let out = Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

fn hooks(commands: &[String], ifname: &str) {
    for c in commands {
        let c = c.replace("%i", ifname);
        eprintln!("[#] {c}");
        match Command::new("bash").arg("-c").arg(&c).status() {
            Ok(s) if s.success() => {}
            Ok(s) => eprintln!("ferrowg: hook `{c}` failed: {s}"),
            Err(e) => eprintln!("ferrowg: hook `{c}`: {e}"),
        }
    }
}
