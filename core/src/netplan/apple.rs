//! A [`NetworkPlan`] as the values of Apple's `NEPacketTunnelNetworkSettings`: on macOS
//! and iOS, NetworkExtension sets the addresses, routes, DNS and MTU itself from what the
//! packet tunnel provider passes to `setTunnelNetworkSettings`, so the library's part is
//! to compute them (the app turns each field into the `NE…` object of the same name).
//!
//! Mapping (WireGuardKit's `PacketTunnelSettingsGenerator`, from the plan):
//! - `tunnelRemoteAddress`: the first peer endpoint's address, else `127.0.0.1` (a
//!   placeholder, as WireGuardKit uses for several peers);
//! - IPv4 / IPv6 settings: the interface addresses with their masks / prefix lengths;
//!   included routes: the network of each address (unless a host prefix) and every
//!   route of the plan (a `/0` is the default route; `Table = off` gives none, a fixed
//!   `Table = N` is ignored: NetworkExtension has one table); excluded routes: every
//!   endpoint as a host route, so the tunnel's own packets never enter it. A family
//!   without an address gets no settings (NetworkExtension needs an address);
//! - DNS: the servers and search domains, with match domains `[""]` (every query goes
//!   to the tunnel's servers); none without servers;
//! - MTU: the plan's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::NetworkPlan;

/// `NEIPv4Route`: destination and subnet mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Route {
    /// Network address (host bits cleared).
    pub destination: Ipv4Addr,
    /// Subnet mask (`0.0.0.0` for the default route).
    pub subnet_mask: Ipv4Addr,
}

/// `NEIPv6Route`: destination and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Route {
    /// Network address (host bits cleared).
    pub destination: Ipv6Addr,
    /// Network prefix length (0 for the default route).
    pub prefix_length: u8,
}

/// `NEIPv4Settings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Settings {
    /// Interface addresses.
    pub addresses: Vec<Ipv4Addr>,
    /// Their subnet masks, in the same order.
    pub subnet_masks: Vec<Ipv4Addr>,
    /// Routes into the tunnel.
    pub included_routes: Vec<Ipv4Route>,
    /// Routes kept out of the tunnel (the endpoints).
    pub excluded_routes: Vec<Ipv4Route>,
}

/// `NEIPv6Settings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Settings {
    /// Interface addresses.
    pub addresses: Vec<Ipv6Addr>,
    /// Their prefix lengths, in the same order.
    pub network_prefix_lengths: Vec<u8>,
    /// Routes into the tunnel.
    pub included_routes: Vec<Ipv6Route>,
    /// Routes kept out of the tunnel (the endpoints).
    pub excluded_routes: Vec<Ipv6Route>,
}

/// `NEDNSSettings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSettings {
    /// Resolver addresses.
    pub servers: Vec<IpAddr>,
    /// Search domains.
    pub search_domains: Vec<String>,
    /// Match domains (`[""]`: all queries).
    pub match_domains: Vec<String>,
}

/// `NEPacketTunnelNetworkSettings`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunnelNetworkSettings {
    /// `tunnelRemoteAddress`.
    pub tunnel_remote_address: IpAddr,
    /// `ipv4Settings`, if the interface has an IPv4 address.
    pub ipv4: Option<Ipv4Settings>,
    /// `ipv6Settings`, if the interface has an IPv6 address.
    pub ipv6: Option<Ipv6Settings>,
    /// `dnsSettings`, if the file has DNS servers.
    pub dns: Option<DnsSettings>,
    /// `mtu`.
    pub mtu: u16,
}

fn v4_mask(prefix: u8) -> Ipv4Addr {
    let bits = u32::MAX.checked_shl(32 - u32::from(prefix.min(32))).unwrap_or(0);
    Ipv4Addr::from(bits)
}

fn v4_route(addr: Ipv4Addr, prefix: u8) -> Ipv4Route {
    let mask = v4_mask(prefix);
    Ipv4Route { destination: Ipv4Addr::from(u32::from(addr) & u32::from(mask)), subnet_mask: mask }
}

fn v6_route(addr: Ipv6Addr, prefix: u8) -> Ipv6Route {
    let prefix = prefix.min(128);
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    Ipv6Route { destination: Ipv6Addr::from(u128::from(addr) & mask), prefix_length: prefix }
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

fn include(addr: IpAddr, prefix: u8, v4: &mut Ipv4Settings, v6: &mut Ipv6Settings) {
    match addr {
        IpAddr::V4(a) => push_unique(&mut v4.included_routes, v4_route(a, prefix)),
        IpAddr::V6(a) => push_unique(&mut v6.included_routes, v6_route(a, prefix)),
    }
}

/// Computes the NetworkExtension settings of `plan` (see the module docs). Resolve
/// endpoint hostnames before planning, or they cannot be excluded.
pub fn network_settings(plan: &NetworkPlan) -> TunnelNetworkSettings {
    let endpoints: Vec<IpAddr> =
        plan.endpoints.iter().filter_map(|e| e.endpoint.addr()).map(|sa| sa.ip()).collect();
    let mut v4 = Ipv4Settings {
        addresses: Vec::new(),
        subnet_masks: Vec::new(),
        included_routes: Vec::new(),
        excluded_routes: Vec::new(),
    };
    let mut v6 = Ipv6Settings {
        addresses: Vec::new(),
        network_prefix_lengths: Vec::new(),
        included_routes: Vec::new(),
        excluded_routes: Vec::new(),
    };
    for a in &plan.addresses {
        match a.addr() {
            IpAddr::V4(ip) => {
                v4.addresses.push(ip);
                v4.subnet_masks.push(v4_mask(a.prefix()));
            }
            IpAddr::V6(ip) => {
                v6.addresses.push(ip);
                v6.network_prefix_lengths.push(a.prefix().min(128));
            }
        }
        let host = if a.addr().is_ipv4() { 32 } else { 128 };
        if a.prefix() < host {
            include(a.addr(), a.prefix(), &mut v4, &mut v6);
        }
    }
    for r in &plan.routes {
        include(r.dest.addr(), r.dest.cidr(), &mut v4, &mut v6);
    }
    for ip in &endpoints {
        match *ip {
            IpAddr::V4(a) => push_unique(&mut v4.excluded_routes, v4_route(a, 32)),
            IpAddr::V6(a) => match a.to_ipv4_mapped() {
                Some(a4) => push_unique(&mut v4.excluded_routes, v4_route(a4, 32)),
                None => push_unique(&mut v6.excluded_routes, v6_route(a, 128)),
            },
        }
    }
    let dns = (!plan.dns.servers.is_empty()).then(|| DnsSettings {
        servers: plan.dns.servers.clone(),
        search_domains: plan.dns.search.clone(),
        match_domains: vec![String::new()],
    });
    TunnelNetworkSettings {
        tunnel_remote_address: endpoints
            .first()
            .copied()
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ipv4: (!v4.addresses.is_empty()).then_some(v4),
        ipv6: (!v6.addresses.is_empty()).then_some(v6),
        dns,
        mtu: plan.mtu,
    }
}
