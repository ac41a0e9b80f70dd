//! The network settings an Apple packet tunnel provider hands to NetworkExtension
//! (`NEPacketTunnelNetworkSettings`), computed from a wg-quick file by
//! [`ferrowg_core::netplan::apple`]: addresses, routes (endpoints excluded), DNS, MTU.

use ferrowg_core::config::WgQuickConfig;
use ferrowg_core::netplan::{apple, NetworkPlan};

use crate::TunnelError;

/// `NEIPv4Route(destinationAddress:subnetMask:)`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Ipv4Route {
    /// Network address, dotted quad.
    pub destination_address: String,
    /// Subnet mask, dotted quad (`0.0.0.0`: the default route).
    pub subnet_mask: String,
}

/// `NEIPv6Route(destinationAddress:networkPrefixLength:)`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Ipv6Route {
    /// Network address.
    pub destination_address: String,
    /// Prefix length (0: the default route).
    pub network_prefix_length: u32,
}

/// `NEIPv4Settings(addresses:subnetMasks:)` with its routes.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Ipv4Settings {
    /// Interface addresses.
    pub addresses: Vec<String>,
    /// Their subnet masks, in the same order.
    pub subnet_masks: Vec<String>,
    /// `includedRoutes`.
    pub included_routes: Vec<Ipv4Route>,
    /// `excludedRoutes` (the peers' endpoints).
    pub excluded_routes: Vec<Ipv4Route>,
}

/// `NEIPv6Settings(addresses:networkPrefixLengths:)` with its routes.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Ipv6Settings {
    /// Interface addresses.
    pub addresses: Vec<String>,
    /// Their prefix lengths, in the same order (`u32`: a list of `u8` would be bytes
    /// in the bindings).
    pub network_prefix_lengths: Vec<u32>,
    /// `includedRoutes`.
    pub included_routes: Vec<Ipv6Route>,
    /// `excludedRoutes` (the peers' endpoints).
    pub excluded_routes: Vec<Ipv6Route>,
}

/// `NEDNSSettings(servers:)` with search and match domains.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DnsSettings {
    /// Resolver addresses.
    pub servers: Vec<String>,
    /// `searchDomains`.
    pub search_domains: Vec<String>,
    /// `matchDomains` (`[""]`: every query goes to these servers).
    pub match_domains: Vec<String>,
}

/// `NEPacketTunnelNetworkSettings(tunnelRemoteAddress:)` and its fields.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TunnelNetworkSettings {
    /// `tunnelRemoteAddress`: the first peer's endpoint address, else `127.0.0.1`.
    pub tunnel_remote_address: String,
    /// `ipv4Settings` (none without an IPv4 address).
    pub ipv4: Option<Ipv4Settings>,
    /// `ipv6Settings` (none without an IPv6 address).
    pub ipv6: Option<Ipv6Settings>,
    /// `dnsSettings` (none without DNS servers).
    pub dns: Option<DnsSettings>,
    /// `mtu`.
    pub mtu: u16,
}

fn strings<T: ToString>(v: &[T]) -> Vec<String> {
    v.iter().map(ToString::to_string).collect()
}

fn v4_routes(v: &[apple::Ipv4Route]) -> Vec<Ipv4Route> {
    v.iter()
        .map(|r| Ipv4Route {
            destination_address: r.destination.to_string(),
            subnet_mask: r.subnet_mask.to_string(),
        })
        .collect()
}

fn v6_routes(v: &[apple::Ipv6Route]) -> Vec<Ipv6Route> {
    v.iter()
        .map(|r| Ipv6Route {
            destination_address: r.destination.to_string(),
            network_prefix_length: u32::from(r.prefix_length),
        })
        .collect()
}

impl From<apple::TunnelNetworkSettings> for TunnelNetworkSettings {
    fn from(s: apple::TunnelNetworkSettings) -> Self {
        TunnelNetworkSettings {
            tunnel_remote_address: s.tunnel_remote_address.to_string(),
            ipv4: s.ipv4.map(|v| Ipv4Settings {
                addresses: strings(&v.addresses),
                subnet_masks: strings(&v.subnet_masks),
                included_routes: v4_routes(&v.included_routes),
                excluded_routes: v4_routes(&v.excluded_routes),
            }),
            ipv6: s.ipv6.map(|v| Ipv6Settings {
                addresses: strings(&v.addresses),
                network_prefix_lengths: v
                    .network_prefix_lengths
                    .into_iter()
                    .map(u32::from)
                    .collect(),
                included_routes: v6_routes(&v.included_routes),
                excluded_routes: v6_routes(&v.excluded_routes),
            }),
            dns: s.dns.map(|d| DnsSettings {
                servers: strings(&d.servers),
                search_domains: d.search_domains,
                match_domains: d.match_domains,
            }),
            mtu: s.mtu,
        }
    }
}

/// The `NEPacketTunnelNetworkSettings` values for a wg-quick file: its addresses with
/// masks / prefix lengths, included routes (the addresses' networks and every allowed
/// IP, `Table = off`: none), every peer endpoint as an excluded host route (hostnames are
/// resolved now), DNS servers with search domains and match domains `[""]`, and the MTU
/// (1420 when the file has none). Pure computation apart from resolving hostnames.
#[uniffi::export]
pub fn network_settings_for(wg_quick_config: String) -> Result<TunnelNetworkSettings, TunnelError> {
    let config = WgQuickConfig::parse(&wg_quick_config)?;
    let resolved = ferrowg_platform::resolve::resolve_wg_quick(&config)
        .map_err(|e| TunnelError::Config { line: 0, detail: e.to_string() })?;
    Ok(apple::network_settings(&NetworkPlan::from_config(&resolved)).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_tunnel_settings_as_strings() {
        let text = "[Interface]\nPrivateKey = AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A=\n\
                    Address = 10.0.0.2/24, fd00::2/64\nDNS = 10.0.0.53\n\
                    [Peer]\nPublicKey = ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=\n\
                    AllowedIPs = 0.0.0.0/0, ::/0\nEndpoint = 192.0.2.1:51820\n";
        let s = network_settings_for(text.to_owned()).unwrap();
        assert_eq!(s.tunnel_remote_address, "192.0.2.1");
        assert_eq!(s.mtu, 1420);
        let v4 = s.ipv4.unwrap();
        assert_eq!(v4.addresses, ["10.0.0.2"]);
        assert_eq!(v4.subnet_masks, ["255.255.255.0"]);
        let inc: Vec<(&str, &str)> = v4
            .included_routes
            .iter()
            .map(|r| (r.destination_address.as_str(), r.subnet_mask.as_str()))
            .collect();
        assert_eq!(inc, [("10.0.0.0", "255.255.255.0"), ("0.0.0.0", "0.0.0.0")]);
        assert_eq!(v4.excluded_routes[0].destination_address, "192.0.2.1");
        let v6 = s.ipv6.unwrap();
        assert_eq!((v6.addresses[0].as_str(), v6.network_prefix_lengths[0]), ("fd00::2", 64));
        assert_eq!(s.dns.unwrap().match_domains, [""]);
        assert!(matches!(
            network_settings_for("[Interface]\nListenPort = 70000\n".into()),
            Err(TunnelError::Config { .. })
        ));
    }
}
