//! The Windows applier's plan, as plain data (tested on every host): which IP Helper
//! calls a [`NetworkPlan`] becomes, with their parameters — the fields of
//! `MIB_UNICASTIPADDRESS_ROW`, `MIB_IPINTERFACE_ROW`, `MIB_IPFORWARD_ROW2` and
//! `DNS_INTERFACE_SETTINGS` — and the record that undoes exactly what was done, newest
//! first, as the Linux applier does.
//!
//! Windows has no policy routing: like wireguard-windows, a default route is a plain
//! `0.0.0.0/0` / `::/0` route on the tunnel interface, which wins by the interface
//! metric (0, set only for a family with a default route, as wireguard-windows: a split
//! tunnel keeps its automatic metric, so its DNS servers do not take over every
//! query); the engine's own packets stay off the tunnel because its sockets are
//! bound to the physical interface (`IP_UNICAST_IF`, [`crate::udp::UdpOptions`]), so
//! the plan's policy rules, fwmark and Linux firewall rules have no Windows operation.
//! A route table other than main (`Table = N`) has no Windows meaning either: its
//! routes go to the one routing table (wireguard-windows knows only `Table = off`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferrowg_core::netplan::{Family, NetworkPlan};

/// `MIB_IPPROTO_NETMGMT`: routes added by management (what `route add` makes).
pub const MIB_IPPROTO_NETMGMT: i32 = 3;
/// Interface metric of a tunnel with a default route (wireguard-windows uses 0: the
/// tunnel's routes and DNS servers win).
pub const TUNNEL_METRIC: u32 = 0;

/// A route as the `MIB_IPFORWARD_ROW2` fields the applier sets (the rest stay as
/// `InitializeIpForwardEntry` leaves them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRow {
    /// `DestinationPrefix.Prefix` (address family from it).
    pub prefix: IpAddr,
    /// `DestinationPrefix.PrefixLength`.
    pub prefix_len: u8,
    /// `NextHop`: the unspecified address of the family, i.e. on-link.
    pub next_hop: IpAddr,
    /// `Metric` (added to the interface metric).
    pub metric: u32,
    /// `Protocol`.
    pub protocol: i32,
}

/// One IP Helper operation on the tunnel interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WinOp {
    /// `GetIpInterfaceEntry` + `SetIpInterfaceEntry` for one family: `NlMtu`, and with
    /// a metric `UseAutomaticMetric = false` and `Metric` (undo restores the values
    /// read).
    Interface {
        /// `Family`.
        family: Family,
        /// `NlMtu`.
        mtu: u32,
        /// `Metric`: [`TUNNEL_METRIC`] for a family with a default route through the
        /// tunnel, as wireguard-windows (its default route and its DNS servers win);
        /// `None` leaves the automatic metric of a split tunnel alone.
        metric: Option<u32>,
    },
    /// `CreateUnicastIpAddressEntry`: `Address`, `OnLinkPrefixLength`,
    /// `DadState = IpDadStatePreferred` (undo: `DeleteUnicastIpAddressEntry`).
    Address {
        /// `Address`.
        addr: IpAddr,
        /// `OnLinkPrefixLength`.
        prefix_len: u8,
    },
    /// `SetInterfaceDnsSettings` for one family (`DNS_SETTING_IPV6` for IPv6):
    /// `NameServer` and `SearchList`, comma-separated (undo: both set empty).
    Dns {
        /// Which family's servers.
        family: Family,
        /// `NameServer`.
        servers: String,
        /// `SearchList` (set with the IPv4 call only; empty otherwise).
        search: String,
    },
    /// `CreateIpForwardEntry2` (undo: `DeleteIpForwardEntry2`; a route that already
    /// exists is left alone and not recorded).
    Route(RouteRow),
}

fn unspecified(family: Family) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(",")
}

/// The operations that apply `plan`, in order: interface MTU and metric per family in
/// use, addresses, DNS, routes (longest prefix first, as the plan has them).
pub fn operations(plan: &NetworkPlan) -> Vec<WinOp> {
    let mut families: Vec<Family> = plan
        .addresses
        .iter()
        .map(|a| Family::of(a.addr()))
        .chain(plan.routes.iter().map(|r| Family::of(r.dest.addr())))
        .collect();
    families.sort();
    families.dedup();
    let has_default = |family| {
        plan.routes.iter().any(|r| r.dest.cidr() == 0 && Family::of(r.dest.addr()) == family)
    };
    let mut ops: Vec<WinOp> = families
        .iter()
        .map(|&family| WinOp::Interface {
            family,
            mtu: u32::from(plan.mtu),
            metric: has_default(family).then_some(TUNNEL_METRIC),
        })
        .collect();
    ops.extend(
        plan.addresses.iter().map(|a| WinOp::Address { addr: a.addr(), prefix_len: a.prefix() }),
    );
    for family in [Family::V4, Family::V6] {
        let servers = join(
            plan.dns.servers.iter().filter(|s| Family::of(**s) == family).map(|s| s.to_string()),
        );
        let search = if family == Family::V4 { plan.dns.search.join(",") } else { String::new() };
        if !servers.is_empty() || !search.is_empty() {
            ops.push(WinOp::Dns { family, servers, search });
        }
    }
    let mut seen = Vec::new();
    for r in &plan.routes {
        let row = RouteRow {
            prefix: r.dest.addr(),
            prefix_len: r.dest.cidr(),
            next_hop: unspecified(Family::of(r.dest.addr())),
            metric: 0,
            protocol: MIB_IPPROTO_NETMGMT,
        };
        // Routes of several tables collapse into Windows' one table: add each once.
        if !seen.contains(&row) {
            seen.push(row.clone());
            ops.push(WinOp::Route(row));
        }
    }
    ops
}

/// Runs operations against the OS; [`apply_ops`] drives it.
pub trait WinExecutor {
    /// What undoes one operation (e.g. the row it created, or the values it replaced).
    type Undo: std::fmt::Debug;
    /// Performs `op`; `Ok(None)` when there was nothing to do and so nothing to undo.
    fn execute(&mut self, op: &WinOp) -> Result<Option<Self::Undo>, String>;
    /// Reverts one earlier operation.
    fn revert(&mut self, undo: &Self::Undo) -> Result<(), String>;
}

/// The operations done so far, undone (newest first) by [`Applied::undo`] or on drop.
#[derive(Debug)]
pub struct Applied<E: WinExecutor> {
    exec: E,
    done: Vec<E::Undo>,
}

/// Executes `ops` in order; on the first error undoes everything done, newest first,
/// and returns the error (with any undo errors appended).
pub fn apply_ops<E: WinExecutor>(exec: E, ops: &[WinOp]) -> Result<Applied<E>, String> {
    let mut applied = Applied { exec, done: Vec::new() };
    for op in ops {
        match applied.exec.execute(op) {
            Ok(Some(undo)) => applied.done.push(undo),
            Ok(None) => {}
            Err(e) => {
                let errors = applied.undo();
                return Err(if errors.is_empty() {
                    e
                } else {
                    format!("{e} (and while undoing: {})", errors.join("; "))
                });
            }
        }
    }
    Ok(applied)
}

impl<E: WinExecutor> Applied<E> {
    /// Reverts every recorded operation, newest first; returns the errors.
    pub fn undo(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        while let Some(u) = self.done.pop() {
            if let Err(e) = self.exec.revert(&u) {
                errors.push(e);
            }
        }
        errors
    }

    /// How many operations are recorded for undo.
    pub fn recorded(&self) -> usize {
        self.done.len()
    }

    /// The executor (e.g. to read what it did).
    pub fn executor(&self) -> &E {
        &self.exec
    }
}

impl<E: WinExecutor> Drop for Applied<E> {
    fn drop(&mut self) {
        for e in self.undo() {
            tracing::warn!(error = %e, "undoing the Windows network setup");
        }
    }
}

#[cfg(test)]
mod tests;
