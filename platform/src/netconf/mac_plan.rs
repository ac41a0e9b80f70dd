//! The macOS applier for apps without NetworkExtension (a daemon or CLI that owns a
//! `utun` interface), as plain logic tested on every host: the `ifconfig`, `route`,
//! `netstat` and `networksetup` command lines wg-quick (`darwin.bash`) runs for the same
//! file, each change paired with the command that undoes it, undone newest first. The
//! commands go through a [`Runner`]; `macos` runs them with `std::process::Command`.
//!
//! Like wg-quick on macOS: addresses (`inet ADDR/N ADDR alias`, `inet6 ADDR/N alias`),
//! the MTU, link up, routes through the interface longest prefix first, a default route
//! (`Table = auto`) as the `/1` halves that override the current default without
//! replacing it, the endpoints of those families as host routes via the current default
//! gateway (a blackhole route when there is none, so the tunnel never loops), and DNS
//! servers and search domains on every network service. macOS has one routing table:
//! only `Table = auto`, `main` or `off`. As in wg-quick, a route monitor
//! (`mac_monitor`, run by `macos`) moves the endpoint bypass routes when the
//! default gateway changes after the apply.
//!
//! The recorded undo list goes to [`Runner::journal`] before each change and after each
//! undo; `macos` keeps it as a crash marker (`mac_marker`).

use std::fmt;
use std::net::IpAddr;

use ferrowg_core::config::AllowedIp;
use ferrowg_core::netplan::{split_default, Family, NetworkPlan, PolicyRule, RouteTable};

/// One command line: a program and its arguments, run without a shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    /// `ifconfig`, `route`, `netstat` or `networksetup`.
    pub program: &'static str,
    /// The arguments.
    pub args: Vec<String>,
}

impl Cmd {
    fn new<S: ToString>(program: &'static str, args: impl IntoIterator<Item = S>) -> Cmd {
        Cmd { program, args: args.into_iter().map(|a| a.to_string()).collect() }
    }
}

impl Cmd {
    /// True for a command that only reads (`ifconfig IF`, `netstat`, `route -n get`,
    /// `networksetup -get...`/`-list...`): it changes nothing and is not logged.
    pub fn is_query(&self) -> bool {
        self.args.len() <= 1
            || self.program == "netstat"
            || self.args.first().is_some_and(|a| a.starts_with("-get") || a.starts_with("-list"))
            || self.args.get(1).is_some_and(|a| a == "get")
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.program)?;
        for a in &self.args {
            if a.is_empty() || a.contains(char::is_whitespace) {
                write!(f, " '{a}'")?;
            } else {
                write!(f, " {a}")?;
            }
        }
        Ok(())
    }
}

/// Runs commands against the OS (or a test's script).
pub trait Runner {
    /// Runs `cmd`: its standard output, or an error naming it (it could not start or
    /// exited with a failure).
    fn run(&mut self, cmd: &Cmd) -> Result<String, String>;

    /// Told the undo list (oldest first) whenever it changes: before a change is made
    /// (listing its undo), after a change failed and after an undo ran (without it).
    /// Nothing by default; `macos` writes it to the crash marker.
    fn journal(&mut self, _done: &[Undo]) {}
}

/// Reverts one recorded change: the undo command's error, or the `Error` that
/// `networksetup` reports on stdout with a zero exit status.
pub fn revert<R: Runner>(runner: &mut R, undo: &Undo) -> Result<(), String> {
    match runner.run(&undo.cmd) {
        Ok(out) if undo.cmd.program == "networksetup" && out.contains("Error") => {
            Err(format!("{}: {}", undo.cmd, out.trim()))
        }
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The command that adds the bypass route for `host` via `gateway` (none: a blackhole
/// route, so the tunnel never loops).
pub fn bypass_add(host: IpAddr, gateway: Option<&str>) -> Cmd {
    let (fam, h) = (inet(host), host.to_string());
    match gateway {
        Some(gw) => Cmd::new("route", ["-q", "-n", "add", fam, h.as_str(), "-gateway", gw]),
        None => {
            let lo = if host.is_ipv4() { "127.0.0.1" } else { "::1" };
            Cmd::new("route", ["-q", "-n", "add", fam, h.as_str(), lo, "-blackhole"])
        }
    }
}

/// The command that deletes the bypass route for `host`.
pub fn bypass_delete(host: IpAddr) -> Cmd {
    Cmd::new("route", ["-q", "-n", "delete", inet(host), host.to_string().as_str()])
}

/// `netstat -nr -f inet|inet6`: the routing table of `host`'s family.
pub fn netstat_for(host: IpAddr) -> Cmd {
    Cmd::new("netstat", ["-nr", "-f", if host.is_ipv4() { "inet" } else { "inet6" }])
}

/// One step of the plan on macOS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MacOp {
    /// An interface address (undo: `-alias`).
    Address {
        /// The address.
        addr: IpAddr,
        /// Its prefix length.
        prefix_len: u8,
    },
    /// The interface MTU (undo: the MTU it had).
    Mtu(u16),
    /// `ifconfig IF up` (not undone: the interface belongs to the caller).
    Up,
    /// A route through the interface (undo: delete it).
    Route {
        /// The destination.
        dest: AllowedIp,
        /// Skip it (and record nothing) when `route -n get` already shows the interface:
        /// wg-quick's check for every route but the `/1` halves.
        if_missing: bool,
    },
    /// A host route for an endpoint via the current default gateway of its family
    /// (undo: delete it; a failure to add is not fatal, as in wg-quick).
    Bypass {
        /// The endpoint's address.
        host: IpAddr,
    },
    /// DNS on every network service (undo: each service's previous values).
    Dns {
        /// Name servers.
        servers: Vec<IpAddr>,
        /// Search domains (none: `Empty`).
        search: Vec<String>,
    },
}

fn inet(addr: IpAddr) -> &'static str {
    if addr.is_ipv4() {
        "-inet"
    } else {
        "-inet6"
    }
}

/// The steps that apply `plan`, in wg-quick's order: addresses, MTU, link up, routes
/// (longest prefix first), endpoint bypass routes, DNS (only when the file names
/// servers, as wg-quick). An error for a route table macOS does not have.
pub fn operations(plan: &NetworkPlan) -> Result<Vec<MacOp>, String> {
    let mut ops: Vec<MacOp> = plan
        .addresses
        .iter()
        .map(|a| MacOp::Address { addr: a.addr(), prefix_len: a.prefix() })
        .collect();
    ops.push(MacOp::Mtu(plan.mtu));
    ops.push(MacOp::Up);
    // The families whose default route is policy-routed on Linux (`Table = auto`).
    let auto: Vec<Family> = plan
        .rules
        .iter()
        .filter(|r| matches!(r, PolicyRule::NotFwmark { .. }))
        .map(|r| r.family())
        .collect();
    for r in &plan.routes {
        let family = Family::of(r.dest.addr());
        let halves = if r.dest.cidr() == 0 && auto.contains(&family) {
            split_default(&r.dest)
        } else {
            None
        };
        if let Some(halves) = halves {
            ops.extend(halves.into_iter().map(|dest| MacOp::Route { dest, if_missing: false }));
            continue;
        }
        match &r.table {
            RouteTable::Main => {}
            RouteTable::Name(n) if n == "main" => {}
            other => {
                return Err(format!(
                    "macOS has one routing table: Table = auto, main or off, not {other:?}"
                ))
            }
        }
        ops.push(MacOp::Route { dest: r.dest, if_missing: true });
    }
    for host in plan.endpoint_bypass() {
        if auto.contains(&Family::of(host.addr())) {
            ops.push(MacOp::Bypass { host: host.addr() });
        }
    }
    if !plan.dns.servers.is_empty() {
        ops.push(MacOp::Dns { servers: plan.dns.servers.clone(), search: plan.dns.search.clone() });
    }
    Ok(ops)
}

/// The MTU in `ifconfig IF` output (`... mtu 1500`).
pub fn parse_mtu(ifconfig: &str) -> Option<u16> {
    let mut words = ifconfig.split_whitespace();
    while let Some(w) = words.next() {
        if w == "mtu" {
            return words.next()?.parse().ok();
        }
    }
    None
}

/// The default gateway in `netstat -nr -f inet[6]` output: the first `default` row
/// whose gateway is an address, not `link#N` (as wg-quick's `collect_gateways`).
pub fn parse_gateway(netstat: &str) -> Option<String> {
    netstat.lines().find_map(|line| {
        let mut cols = line.split_whitespace();
        let (dest, gw) = (cols.next()?, cols.next()?);
        (dest == "default" && !gw.starts_with("link#")).then(|| gw.to_owned())
    })
}

/// True when `route -n get` output shows the route going out `ifname`.
pub fn routes_via(route_get: &str, ifname: &str) -> bool {
    route_get.lines().any(|l| l.trim() == format!("interface: {ifname}"))
}

/// The network services in `networksetup -listallnetworkservices` output: every line
/// after the first (a note), a disabled one's leading `*` removed.
pub fn parse_services(list: &str) -> Vec<String> {
    list.lines()
        .skip(1)
        .map(|l| l.strip_prefix('*').unwrap_or(l).trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// A service's current values from `networksetup -getdnsservers` /
/// `-getsearchdomains` as the arguments that set them again: one per line, or `Empty`
/// for the sentence macOS prints when there are none.
pub fn parse_dns_values(output: &str) -> Vec<String> {
    let values: Vec<String> =
        output.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    if values.is_empty() || values.iter().any(|v| v.contains(' ')) {
        vec!["Empty".to_owned()]
    } else {
        values
    }
}

/// A change made, with the command that undoes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undo {
    /// The command.
    pub cmd: Cmd,
    /// It acts on the tunnel interface (moot once the interface is gone).
    pub on_interface: bool,
}

/// The changes made so far, undone (newest first) by [`Applied::undo`] or on drop.
#[derive(Debug)]
pub struct Applied<R: Runner> {
    runner: R,
    ifname: String,
    done: Vec<Undo>,
}

/// Applies `plan` to the existing interface `ifname` (e.g. `utun5`) through `runner`;
/// on the first error undoes everything done, newest first, and returns the error (with
/// any undo errors appended).
pub fn apply<R: Runner>(runner: R, ifname: &str, plan: &NetworkPlan) -> Result<Applied<R>, String> {
    let ops = operations(plan)?;
    let mut applied = Applied { runner, ifname: ifname.to_owned(), done: Vec::new() };
    for op in &ops {
        if let Err(e) = applied.execute(op) {
            let errors = applied.undo();
            return Err(if errors.is_empty() {
                e
            } else {
                format!("{e} (and while undoing: {})", errors.join("; "))
            });
        }
    }
    Ok(applied)
}

impl<R: Runner> Applied<R> {
    /// Runs `cmd`, its undo listed (and journaled) first, unlisted again if it fails.
    fn change(
        &mut self,
        cmd: Cmd,
        undo: Option<Cmd>,
        on_interface: bool,
    ) -> Result<String, String> {
        let listed = undo.is_some();
        if let Some(cmd) = undo {
            self.done.push(Undo { cmd, on_interface });
            self.runner.journal(&self.done);
        }
        let result = self.runner.run(&cmd);
        if result.is_err() && listed {
            self.done.pop();
            self.runner.journal(&self.done);
        }
        result
    }

    fn execute(&mut self, op: &MacOp) -> Result<(), String> {
        let ifname = self.ifname.clone();
        let ifc = |args: &[&str]| Cmd::new("ifconfig", [ifname.as_str()].iter().chain(args));
        match op {
            MacOp::Address { addr, prefix_len } => {
                let (fam, cidr, a) =
                    (Family::of(*addr), format!("{addr}/{prefix_len}"), addr.to_string());
                let (set, undo) = match fam {
                    Family::V4 => {
                        (ifc(&["inet", &cidr, &a, "alias"]), ifc(&["inet", &a, "-alias"]))
                    }
                    Family::V6 => (ifc(&["inet6", &cidr, "alias"]), ifc(&["inet6", &a, "-alias"])),
                };
                self.change(set, Some(undo), true).map(drop)
            }
            MacOp::Mtu(mtu) => {
                let old = parse_mtu(&self.runner.run(&ifc(&[]))?);
                if old == Some(*mtu) {
                    return Ok(());
                }
                let undo = old.map(|old| ifc(&["mtu", &old.to_string()]));
                self.change(ifc(&["mtu", &mtu.to_string()]), undo, true).map(drop)
            }
            MacOp::Up => self.change(ifc(&["up"]), None, true).map(drop),
            MacOp::Route { dest, if_missing } => {
                let (fam, net) = (inet(dest.addr()), dest.to_string());
                let (net, ifname) = (net.as_str(), ifname.as_str());
                if *if_missing {
                    // No route at all makes `route get` fail: then it is missing too.
                    let get = Cmd::new("route", ["-n", "get", fam, net]);
                    if self.runner.run(&get).is_ok_and(|out| routes_via(&out, ifname)) {
                        return Ok(());
                    }
                }
                let add = Cmd::new("route", ["-q", "-n", "add", fam, net, "-interface", ifname]);
                let del = Cmd::new("route", ["-q", "-n", "delete", fam, net, "-interface", ifname]);
                self.change(add, Some(del), true).map(drop)
            }
            MacOp::Bypass { host } => {
                let table = self.runner.run(&netstat_for(*host))?;
                let add = bypass_add(*host, parse_gateway(&table).as_deref());
                // Already there (another tunnel's, say): left alone, as wg-quick does.
                if self.change(add, Some(bypass_delete(*host)), false).is_err() {
                    tracing::warn!(%host, "endpoint bypass route not added");
                }
                Ok(())
            }
            MacOp::Dns { servers, search } => self.set_dns(servers, search),
        }
    }

    fn set_dns(&mut self, servers: &[IpAddr], search: &[String]) -> Result<(), String> {
        let list = self.runner.run(&Cmd::new("networksetup", ["-listallnetworkservices"]))?;
        let servers: Vec<String> = servers.iter().map(|s| s.to_string()).collect();
        let search: Vec<String> =
            if search.is_empty() { vec!["Empty".to_owned()] } else { search.to_vec() };
        for service in parse_services(&list) {
            for (get, set, new) in [
                ("-getdnsservers", "-setdnsservers", &servers),
                ("-getsearchdomains", "-setsearchdomains", &search),
            ] {
                let old = self.runner.run(&Cmd::new("networksetup", [get, service.as_str()]))?;
                let cmd = |values: &[String]| {
                    let args = [set, service.as_str()].into_iter().map(str::to_owned);
                    Cmd::new("networksetup", args.chain(values.iter().cloned()))
                };
                let (apply, undo) = (cmd(new), cmd(&parse_dns_values(&old)));
                // networksetup reports some failures on stdout with a zero exit status.
                let out = self.change(apply.clone(), Some(undo), false)?;
                if out.contains("Error") {
                    self.done.pop();
                    self.runner.journal(&self.done);
                    return Err(format!("{apply}: {}", out.trim()));
                }
            }
        }
        Ok(())
    }

    /// Reverts every recorded change, newest first; returns the errors. Once the
    /// interface is gone (`ifconfig IF` fails) its addresses and routes went with it:
    /// only the DNS and bypass routes are reverted then.
    pub fn undo(&mut self) -> Vec<String> {
        if self.done.is_empty() {
            return Vec::new();
        }
        let present = self.runner.run(&Cmd::new("ifconfig", [self.ifname.as_str()])).is_ok();
        let mut errors = Vec::new();
        while let Some(u) = self.done.pop() {
            if !u.on_interface || present {
                if let Err(e) = revert(&mut self.runner, &u) {
                    errors.push(e);
                }
            }
            self.runner.journal(&self.done);
        }
        errors
    }

    /// The undo commands recorded, oldest first.
    pub fn recorded(&self) -> &[Undo] {
        &self.done
    }

    /// The runner (e.g. to read what it ran).
    pub fn runner(&self) -> &R {
        &self.runner
    }
}

impl<R: Runner> Drop for Applied<R> {
    fn drop(&mut self) {
        for e in self.undo() {
            tracing::warn!(error = %e, "undoing the macOS network setup");
        }
    }
}

#[cfg(test)]
mod tests;
