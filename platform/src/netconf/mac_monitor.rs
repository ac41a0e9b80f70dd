//! The route monitor of the macOS applier without NetworkExtension, as plain logic
//! tested on every host: wg-quick's `darwin.bash` runs `route -n monitor` after bringing
//! a full tunnel up and, on each routing message, moves the endpoint bypass routes to
//! the new default gateway (switching Wi-Fi networks, say); without that the endpoints
//! keep going to the old gateway, and the tunnel stalls until it is brought up again.
//!
//! [`Monitor`] holds the bypass routes an apply added (read from its undo list) and the
//! default gateway of each family read just before the apply ([`read_gateways`]; a
//! change during the apply then shows at the next message); [`Monitor::on_message`] re-reads the
//! gateways and, for a family whose gateway changed, deletes and re-adds its hosts' routes
//! through the [`Runner`]. The undo list needs no change: a bypass route is deleted by
//! host, whatever its gateway. `macos` feeds it the lines of `/sbin/route -n monitor`.
//!
//! Unlike wg-quick's monitor, this one does not set DNS again when network services
//! change: only the routes move.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::mac_plan::{bypass_add, bypass_delete, netstat_for, parse_gateway, Cmd, Runner, Undo};

/// The endpoint hosts whose bypass routes `done` (an undo list) deletes.
pub fn bypass_hosts(done: &[Undo]) -> Vec<IpAddr> {
    done.iter()
        .filter(|u| !u.on_interface && u.cmd.program == "route")
        .filter_map(|u| {
            let host: IpAddr = u.cmd.args.get(4)?.parse().ok()?;
            (u.cmd == bypass_delete(host)).then_some(host)
        })
        .collect()
}

/// True for a line of `route -n monitor` that starts a routing message (`RTM_ADD: ...`),
/// the lines wg-quick reacts to.
pub fn is_route_message(line: &str) -> bool {
    line.starts_with("RTM_")
}

/// The commands that move `hosts`' bypass routes to `gateway` (none: blackhole routes):
/// each host's route deleted, then added again.
pub fn reroute(hosts: &[IpAddr], gateway: Option<&str>) -> Vec<Cmd> {
    hosts.iter().flat_map(|h| [bypass_delete(*h), bypass_add(*h, gateway)]).collect()
}

/// One family's bypass hosts and the default gateway their routes go through.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Family {
    hosts: Vec<IpAddr>,
    gateway: Option<String>,
}

/// The bypass routes of one applied plan and the gateways they go through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Monitor {
    ifname: String,
    families: Vec<Family>,
}

/// The default gateway of `host`'s family now (`None` inside: there is none); `Err`
/// when `netstat` failed (then nothing is known).
fn gateway_of<R: Runner>(runner: &mut R, host: IpAddr) -> Result<Option<String>, String> {
    Ok(parse_gateway(&runner.run(&netstat_for(host))?))
}

/// The default gateways `[IPv4, IPv6]` (`None`: there is none).
pub type Gateways = [Option<String>; 2];

/// The default gateways now; `Err` when `netstat` failed.
pub fn read_gateways<R: Runner>(runner: &mut R) -> Result<Gateways, String> {
    let v4 = gateway_of(runner, IpAddr::V4(Ipv4Addr::UNSPECIFIED))?;
    Ok([v4, gateway_of(runner, IpAddr::V6(Ipv6Addr::UNSPECIFIED))?])
}

impl Monitor {
    /// The monitor of the plan applied to `ifname` whose undo list is `done`, the
    /// gateways `before` read just before the apply; `None` when the apply added no
    /// bypass route (nothing to watch).
    pub fn new(ifname: &str, done: &[Undo], before: &Gateways) -> Option<Monitor> {
        let hosts = bypass_hosts(done);
        let mut families = Vec::new();
        for (v4, gateway) in [true, false].into_iter().zip(before) {
            let hosts: Vec<IpAddr> = hosts.iter().copied().filter(|h| h.is_ipv4() == v4).collect();
            if !hosts.is_empty() {
                families.push(Family { gateway: gateway.clone(), hosts });
            }
        }
        (!families.is_empty()).then(|| Monitor { ifname: ifname.to_owned(), families })
    }

    /// The hosts watched and the gateway each family's routes go through now.
    pub fn routes(&self) -> Vec<(IpAddr, Option<String>)> {
        let each = |f: &Family| f.hosts.iter().map(|h| (*h, f.gateway.clone())).collect::<Vec<_>>();
        self.families.iter().flat_map(each).collect()
    }

    /// Handles one routing message: `false` once the interface is gone (stop watching).
    /// Re-reads each family's default gateway; where it changed, moves that family's
    /// bypass routes (a delete or add that fails is logged, the rest still run). A
    /// family whose `netstat` fails keeps its routes as they are.
    pub fn on_message<R: Runner>(&mut self, runner: &mut R, log: &dyn Fn(&str)) -> bool {
        if runner.run(&Cmd { program: "ifconfig", args: vec![self.ifname.clone()] }).is_err() {
            return false;
        }
        for family in &mut self.families {
            let now = match gateway_of(runner, family.hosts[0]) {
                Ok(now) => now,
                Err(e) => {
                    log(&format!("route monitor: {e}"));
                    continue;
                }
            };
            if now == family.gateway {
                continue;
            }
            log(&format!(
                "route monitor: default gateway {} -> {}: moving the endpoint routes",
                family.gateway.as_deref().unwrap_or("none"),
                now.as_deref().unwrap_or("none (blackhole)")
            ));
            for cmd in reroute(&family.hosts, now.as_deref()) {
                // The delete fails when the system already dropped the route: harmless.
                if let Err(e) = runner.run(&cmd) {
                    log(&format!("route monitor: {e}"));
                }
            }
            family.gateway = now;
        }
        true
    }
}

#[cfg(test)]
mod tests;
