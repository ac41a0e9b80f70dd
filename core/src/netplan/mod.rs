//! The network a wg-quick file asks for, computed once as data and applied per OS.
//!
//! [`NetworkPlan::from_config`] turns a [`WgQuickConfig`] into addresses, routes, policy
//! rules, firewall rules, DNS, MTU and the fwmark the engine's sockets must carry,
//! following wg-quick (`/usr/bin/wg-quick`, Linux) step by step:
//!
//! - every `Address` goes on the interface as written;
//! - MTU: `MTU` from the file, else 1420 (wg-quick's 1500 − 80 for a 1500-byte underlay);
//! - routes, for every allowed IP of every peer, longest prefix first (`sort -nr`):
//!   - `Table = off`: none at all;
//!   - `Table = N` (or a name): a route in table N for each, `/0` included, no rules;
//!   - `Table = auto` or absent: a `/0` becomes the policy-routing form — a default route
//!     in table T (T = `FwMark` if set, else 51820), the rules `not fwmark T table T` and
//!     `table main suppress_prefixlength 0`, the socket mark T, and for that family the
//!     firewall rules below (plus `src_valid_mark=1` for IPv4); every other prefix is a
//!     route in the main table;
//! - firewall (policy-routing families only): drop packets for each tunnel address that
//!   arrive on another interface and do not come from a local address
//!   (CVE-2019-14899), and the CONNMARK save/restore pair that carries the mark onto the
//!   replies so a strict `rp_filter` accepts them;
//! - DNS: the servers and search domains of `DNS`.
//!
//! Endpoints are reported with whether an allowed IP covers them: a platform without
//! fwmark (Windows, macOS) must keep those out of the tunnel another way (a bypass route
//! or a bound interface). The plan is pure data; appliers live in `ferrowg-platform`.
//! wg-quick picks the next free table above 51820 when 51820 is in use; the plan names
//! 51820 and an applier may do the same search.
//!
//! What the plan and every applier make of a table of wg-quick files is checked against
//! the expectation files in `tests/plans` (see its README.md).

use std::net::{IpAddr, SocketAddr};

use crate::config::{AllowedIp, Endpoint, InterfaceAddress, Table, WgQuickConfig};

pub mod apple;
#[cfg(test)]
mod tests;

/// wg-quick's table and fwmark for a policy-routed default route.
pub const DEFAULT_TABLE: u32 = 51820;
/// The MTU when the file gives none.
pub const DEFAULT_MTU: u16 = 1420;

/// Address family of a route, rule or firewall rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: IpAddr) -> Family {
        if addr.is_ipv4() {
            Family::V4
        } else {
            Family::V6
        }
    }

    /// `"v4"` or `"v6"` (the word the appliers' crash markers use).
    pub fn word(self) -> &'static str {
        match self {
            Family::V4 => "v4",
            Family::V6 => "v6",
        }
    }

    /// The family [`Family::word`] names.
    pub fn from_word(w: &str) -> Option<Family> {
        match w {
            "v4" => Some(Family::V4),
            "v6" => Some(Family::V6),
            _ => None,
        }
    }
}

/// Which routing table a route goes into.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RouteTable {
    /// The main table.
    Main,
    /// A table by number.
    Id(u32),
    /// A table by name (`/etc/iproute2/rt_tables`).
    Name(String),
}

/// One route through the tunnel interface.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    /// The destination prefix.
    pub dest: AllowedIp,
    /// Where it goes.
    pub table: RouteTable,
}

/// A policy-routing rule (`ip rule`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PolicyRule {
    /// `not fwmark MARK table TABLE`: everything the tunnel itself did not send.
    NotFwmark {
        /// Address family.
        family: Family,
        /// The mark on the tunnel's own sockets.
        fwmark: u32,
        /// The table holding the tunnel's default route.
        table: u32,
    },
    /// `table main suppress_prefixlength 0`: the main table, except its default route.
    SuppressMainDefault {
        /// Address family.
        family: Family,
    },
}

impl PolicyRule {
    /// The rule's address family.
    pub fn family(&self) -> Family {
        match self {
            PolicyRule::NotFwmark { family, .. } | PolicyRule::SuppressMainDefault { family } => {
                *family
            }
        }
    }
}

/// A firewall rule of the full-tunnel form (wg-quick's `wg-quick-IFNAME` nft table).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FirewallRule {
    /// Drop packets for the tunnel address `addr` that arrive on another interface from
    /// a non-local source (CVE-2019-14899).
    DropForeignToTunnelAddress {
        /// A tunnel address.
        addr: IpAddr,
    },
    /// Copy `mark` of outgoing UDP into the connection mark (CONNMARK save).
    SaveMark {
        /// Address family.
        family: Family,
        /// The tunnel's fwmark.
        mark: u32,
    },
    /// Copy the connection mark of incoming UDP back to the packet (CONNMARK restore).
    RestoreMark {
        /// Address family.
        family: Family,
    },
}

impl FirewallRule {
    /// The rule's address family.
    pub fn family(&self) -> Family {
        match self {
            FirewallRule::DropForeignToTunnelAddress { addr } => Family::of(*addr),
            FirewallRule::SaveMark { family, .. } | FirewallRule::RestoreMark { family } => *family,
        }
    }
}

/// DNS while the tunnel is up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsPlan {
    /// Name servers, in file order.
    pub servers: Vec<IpAddr>,
    /// Search domains, in file order.
    pub search: Vec<String>,
}

impl DnsPlan {
    /// True when the file sets no DNS at all (nothing to apply).
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty() && self.search.is_empty()
    }

    /// The text wg-quick pipes into `resolvconf -a IFNAME -m 0 -x`.
    pub fn resolv_conf(&self) -> String {
        let mut out: String = self.servers.iter().map(|s| format!("nameserver {s}\n")).collect();
        if !self.search.is_empty() {
            out.push_str(&format!("search {}\n", self.search.join(" ")));
        }
        out
    }
}

/// A peer's endpoint and whether the tunnel's own routes would capture it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointPlan {
    /// The endpoint as configured.
    pub endpoint: Endpoint,
    /// `Some(true)` when an allowed IP (of any peer) covers the endpoint's address;
    /// `None` for a hostname that was not resolved before planning.
    pub inside_allowed_ips: Option<bool>,
}

/// Everything `ferrowg up` (or an embedding app) sets up around the tunnel interface.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetworkPlan {
    /// Addresses on the interface, as written in the file.
    pub addresses: Vec<InterfaceAddress>,
    /// The interface MTU.
    pub mtu: u16,
    /// Routes through the interface, longest prefix first.
    pub routes: Vec<Route>,
    /// Policy rules, for families with a policy-routed default route.
    pub rules: Vec<PolicyRule>,
    /// Full-tunnel firewall rules.
    pub firewall: Vec<FirewallRule>,
    /// Set `net.ipv4.conf.all.src_valid_mark=1` (an IPv4 default route is policy-routed).
    pub src_valid_mark: bool,
    /// The mark the engine's sockets must carry (the file's `FwMark`, or the table of a
    /// policy-routed default route).
    pub fwmark: Option<u32>,
    /// DNS servers and search domains.
    pub dns: DnsPlan,
    /// Every peer endpoint.
    pub endpoints: Vec<EndpointPlan>,
}

impl NetworkPlan {
    /// Computes the plan of a parsed wg-quick file (see the module docs for the rules).
    /// Resolve hostnames first (`ferrowg_platform::resolve`) to
    /// learn whether their endpoints are inside the allowed IPs.
    pub fn from_config(config: &WgQuickConfig) -> NetworkPlan {
        let iface = &config.interface;
        let device = &config.device;
        let mut allowed: Vec<AllowedIp> =
            device.peers.iter().flat_map(|p| p.allowed_ips.iter().copied()).collect();
        // wg-quick: `sort -nr -k 2 -t /` — longest prefix first, each prefix once.
        allowed.sort_by(|a, b| b.cidr().cmp(&a.cidr()).then(a.cmp(b)));
        allowed.dedup();

        let mut plan = NetworkPlan {
            addresses: iface.addresses.clone(),
            mtu: iface.mtu.unwrap_or(DEFAULT_MTU),
            routes: Vec::new(),
            rules: Vec::new(),
            firewall: Vec::new(),
            src_valid_mark: false,
            fwmark: device.fwmark,
            dns: DnsPlan { servers: iface.dns.clone(), search: iface.dns_search.clone() },
            endpoints: endpoints(config, &allowed),
        };
        let fixed_table = match &iface.table {
            Some(Table::Off) => return plan,
            Some(Table::Id(id)) => Some(RouteTable::Id(*id)),
            Some(Table::Name(n)) => Some(RouteTable::Name(n.clone())),
            Some(Table::Auto) | None => None,
        };
        let mark = device.fwmark.unwrap_or(DEFAULT_TABLE);
        for dest in allowed {
            let table = match (&fixed_table, dest.cidr()) {
                (Some(t), _) => t.clone(),
                (None, 0) => {
                    plan.add_policy_routing(Family::of(dest.addr()), mark);
                    RouteTable::Id(mark)
                }
                (None, _) => RouteTable::Main,
            };
            plan.routes.push(Route { dest, table });
        }
        plan
    }

    /// wg-quick's `add_default` for one family, minus the route itself.
    fn add_policy_routing(&mut self, family: Family, mark: u32) {
        self.fwmark = Some(mark);
        self.rules.push(PolicyRule::NotFwmark { family, fwmark: mark, table: mark });
        self.rules.push(PolicyRule::SuppressMainDefault { family });
        for a in self.addresses.iter().filter(|a| Family::of(a.addr()) == family) {
            self.firewall.push(FirewallRule::DropForeignToTunnelAddress { addr: a.addr() });
        }
        self.firewall.push(FirewallRule::SaveMark { family, mark });
        self.firewall.push(FirewallRule::RestoreMark { family });
        if family == Family::V4 {
            self.src_valid_mark = true;
        }
    }

    /// True when any family's default route is policy-routed (a "full tunnel").
    pub fn is_full_tunnel(&self) -> bool {
        !self.rules.is_empty()
    }

    /// Host prefixes (/32, /128) of the endpoints the tunnel's routes would capture: a
    /// platform without fwmark routes these via the physical gateway (wg-quick on macOS,
    /// wireguard-windows) so the tunnel's own packets do not loop.
    pub fn endpoint_bypass(&self) -> Vec<AllowedIp> {
        let mut out: Vec<AllowedIp> = self
            .endpoints
            .iter()
            .filter(|e| e.inside_allowed_ips == Some(true))
            .filter_map(|e| e.endpoint.addr())
            .filter_map(|sa| {
                let ip = sa.ip();
                let cidr = if ip.is_ipv4() { 32 } else { 128 };
                AllowedIp::new(ip, cidr).ok()
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// A default route as the two halves that override it without replacing it
/// (`0.0.0.0/1` and `128.0.0.0/1`, `::/1` and `8000::/1`): the form wg-quick uses on
/// macOS and an applier without policy routing can use. `None` for any other prefix.
pub fn split_default(dest: &AllowedIp) -> Option<[AllowedIp; 2]> {
    if dest.cidr() != 0 {
        return None;
    }
    let (low, high): (IpAddr, IpAddr) = match dest.addr() {
        IpAddr::V4(_) => ([0, 0, 0, 0].into(), [128, 0, 0, 0].into()),
        IpAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED.into(), "8000::".parse().ok()?),
    };
    Some([AllowedIp::new(low, 1).ok()?, AllowedIp::new(high, 1).ok()?])
}

fn endpoints(config: &WgQuickConfig, allowed: &[AllowedIp]) -> Vec<EndpointPlan> {
    let peers = &config.device.peers;
    let with_endpoint = peers.iter().filter_map(|p| p.endpoint.as_ref());
    with_endpoint
        .map(|e| EndpointPlan {
            endpoint: e.clone(),
            inside_allowed_ips: e
                .addr()
                .map(|sa: SocketAddr| allowed.iter().any(|net| contains(net, sa.ip()))),
        })
        .collect()
}

/// True when `net` covers `addr` (same family, same leading `cidr` bits).
pub fn contains(net: &AllowedIp, addr: IpAddr) -> bool {
    let (n, a, bits) = match (net.addr(), addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => (u32::from(n) as u128, u32::from(a) as u128, 32),
        (IpAddr::V6(n), IpAddr::V6(a)) => (u128::from(n), u128::from(a), 128),
        (IpAddr::V4(n), IpAddr::V6(a)) => match a.to_ipv4_mapped() {
            Some(a4) => (u32::from(n) as u128, u32::from(a4) as u128, 32),
            None => return false,
        },
        (IpAddr::V6(_), IpAddr::V4(_)) => return false,
    };
    let cidr = u32::from(net.cidr());
    if cidr == 0 {
        return true;
    }
    let shift = bits - cidr;
    (n >> shift) == (a >> shift)
}
