//! The kill switch as data: which packets may leave or enter the host while a tunnel is
//! meant to carry everything, computed once and rendered per OS ([`nft`] for Linux,
//! [`pf`] for macOS, [`wfp`] for Windows).
//!
//! Everything is blocked except: loopback; the tunnel interface; UDP to and from the
//! peers' endpoints (the encrypted traffic on the physical side); DHCPv4, DHCPv6 and the
//! ICMPv6 messages IPv6 needs to configure a link (router solicitation and advertisement,
//! neighbour solicitation and advertisement, redirect: types 133–137); and, when asked,
//! the local networks wireguard-windows treats as LAN. DNS (port 53) goes only through the
//! tunnel, and when resolvers are configured only to them, as wireguard-windows does.
//!
//! [`rules`] returns an ordered list in which the first matching rule decides, the way pf's
//! `quick` rules, an nftables chain of accept/drop verdicts and WFP filter weights all
//! work. The appliers (in `ferrowg-platform`) only translate; they make no decision.

pub mod nft;
pub mod pf;
pub mod wfp;

#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};

use crate::config::AllowedIp;

/// Why a kill switch cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KillSwitchError {
    /// The tunnel name is empty, longer than 15 bytes, or has a character no interface
    /// name has (quotes, backslashes, spaces, control characters).
    #[error("`{0}` is not an interface name the kill switch can use")]
    InterfaceName(String),
}

/// What the kill switch is computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillSwitchSpec {
    /// The tunnel interface's name (`wg0`, `utun7`, the wintun adapter's name).
    pub tunnel: String,
    /// The peers' endpoints: UDP to and from these passes on the physical side.
    pub endpoints: Vec<SocketAddr>,
    /// Let traffic to the local networks (RFC 1918, link-local, ULA, multicast) through.
    pub allow_lan: bool,
    /// The configured resolvers; when not empty, DNS goes only to them.
    pub dns: Vec<IpAddr>,
}

/// The protocol-level verdict of one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Let the packet through.
    Allow,
    /// Drop the packet.
    Block,
}

/// Which way a packet travels, seen from this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Leaving the host (remote = destination).
    Out,
    /// Entering the host (remote = source).
    In,
}

/// Which interface a rule is limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interface {
    /// Any interface.
    Any,
    /// The loopback interface.
    Loopback,
    /// The tunnel interface ([`KillSwitchSpec::tunnel`]).
    Tunnel,
}

/// The IP version a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

/// The transport a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Any protocol.
    Any,
    /// UDP (IP protocol 17).
    Udp,
    /// TCP (IP protocol 6).
    Tcp,
    /// ICMPv6 (IP protocol 58) of one message type.
    Icmpv6(u8),
}

/// Why a rule is there (for logs, status output and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Loopback traffic.
    Loopback,
    /// DNS to a configured resolver through the tunnel.
    DnsResolver,
    /// DNS through the tunnel to anything but the configured resolvers.
    DnsNotResolver,
    /// The tunnel interface.
    Tunnel,
    /// A peer's endpoint.
    Endpoint,
    /// DNS outside the tunnel.
    DnsOutsideTunnel,
    /// DHCPv4 client traffic.
    Dhcpv4,
    /// DHCPv6 client traffic.
    Dhcpv6,
    /// Router/neighbour discovery (ICMPv6 133–137).
    Ndp,
    /// A local network (`allow_lan`).
    Lan,
    /// The final catch-all.
    BlockAll,
}

/// One rule; the first rule that matches a packet decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rule {
    /// What happens to a matching packet.
    pub verdict: Verdict,
    /// Which way it travels.
    pub direction: Direction,
    /// `None`: both IP versions.
    pub family: Option<Family>,
    /// Which interface it crosses.
    pub interface: Interface,
    /// The transport protocol.
    pub protocol: Protocol,
    /// The other end's address range; `None` is any.
    pub remote: Option<AllowedIp>,
    /// The other end's port; `None` is any.
    pub remote_port: Option<u16>,
    /// This host's port; `None` is any.
    pub local_port: Option<u16>,
    /// Why the rule exists.
    pub reason: Reason,
}

/// The local networks `allow_lan` opens, as wireguard-windows' `permitLanIPv4/6`:
/// RFC 1918, IPv4 link-local and multicast, IPv6 link-local, ULA and multicast.
pub const LAN_RANGES: [(&str, u8); 8] = [
    ("10.0.0.0", 8),
    ("172.16.0.0", 12),
    ("192.168.0.0", 16),
    ("169.254.0.0", 16),
    ("224.0.0.0", 4),
    ("fe80::", 10),
    ("fc00::", 7),
    ("ff00::", 8),
];

/// DNS's well-known port, blocked outside the tunnel.
pub const DNS_PORT: u16 = 53;

impl KillSwitchSpec {
    /// Checks the tunnel name: 1–15 bytes, ASCII letters, digits and `_=+.-:` only, so
    /// it can be quoted safely in nft and pf text.
    pub fn check(&self) -> Result<(), KillSwitchError> {
        let t = &self.tunnel;
        let ok = !t.is_empty()
            && t.len() <= 15
            && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"_=+.-:".contains(&b));
        if ok {
            Ok(())
        } else {
            Err(KillSwitchError::InterfaceName(t.clone()))
        }
    }
}

/// The rules, first match wins. The last two rules block everything else out and in.
pub fn rules(spec: &KillSwitchSpec) -> Vec<Rule> {
    let mut out = Vec::new();
    let base = Rule {
        verdict: Verdict::Allow,
        direction: Direction::Out,
        family: None,
        interface: Interface::Any,
        protocol: Protocol::Any,
        remote: None,
        remote_port: None,
        local_port: None,
        reason: Reason::Loopback,
    };
    let both = |out: &mut Vec<Rule>, r: Rule| {
        out.push(r);
        out.push(Rule { direction: Direction::In, ..r });
    };
    both(&mut out, Rule { interface: Interface::Loopback, ..base });
    // Resolvers first: when any are configured, port 53 through the tunnel goes only to
    // them (an app cannot pick its own resolver past the configured one).
    if !spec.dns.is_empty() {
        for &ip in &spec.dns {
            for protocol in [Protocol::Udp, Protocol::Tcp] {
                out.push(Rule {
                    interface: Interface::Tunnel,
                    family: Some(family(ip)),
                    protocol,
                    remote: Some(host(ip)),
                    remote_port: Some(DNS_PORT),
                    reason: Reason::DnsResolver,
                    ..base
                });
            }
        }
        for protocol in [Protocol::Udp, Protocol::Tcp] {
            out.push(Rule {
                verdict: Verdict::Block,
                interface: Interface::Tunnel,
                protocol,
                remote_port: Some(DNS_PORT),
                reason: Reason::DnsNotResolver,
                ..base
            });
        }
    }
    both(&mut out, Rule { interface: Interface::Tunnel, reason: Reason::Tunnel, ..base });
    // Endpoints before the DNS block: a peer may well listen on port 53.
    let mut endpoints = spec.endpoints.clone();
    endpoints.sort();
    endpoints.dedup();
    for ep in endpoints {
        let r = Rule {
            family: Some(family(ep.ip())),
            protocol: Protocol::Udp,
            remote: Some(host(ep.ip())),
            remote_port: Some(ep.port()),
            reason: Reason::Endpoint,
            ..base
        };
        both(&mut out, r);
    }
    for protocol in [Protocol::Udp, Protocol::Tcp] {
        out.push(Rule {
            verdict: Verdict::Block,
            protocol,
            remote_port: Some(DNS_PORT),
            reason: Reason::DnsOutsideTunnel,
            ..base
        });
    }
    // DHCP: client port to server port out, and back (RFC 2131, RFC 8415).
    for (fam, client, server, reason) in
        [(Family::V4, 68, 67, Reason::Dhcpv4), (Family::V6, 546, 547, Reason::Dhcpv6)]
    {
        let r = Rule { family: Some(fam), protocol: Protocol::Udp, reason, ..base };
        out.push(Rule { local_port: Some(client), remote_port: Some(server), ..r });
        out.push(Rule {
            direction: Direction::In,
            local_port: Some(client),
            remote_port: Some(server),
            ..r
        });
    }
    // NDP as wireguard-windows' permitNdp: RS out to all-routers, RA in from link-local,
    // NS/NA both ways, redirect in from link-local (RFC 4861).
    let ndp = Rule { family: Some(Family::V6), reason: Reason::Ndp, ..base };
    let link_local = Some(net("fe80::", 10));
    out.push(Rule { protocol: Protocol::Icmpv6(133), remote: Some(net("ff02::2", 128)), ..ndp });
    out.push(Rule {
        direction: Direction::In,
        protocol: Protocol::Icmpv6(134),
        remote: link_local,
        ..ndp
    });
    for t in [135, 136] {
        both(&mut out, Rule { protocol: Protocol::Icmpv6(t), ..ndp });
    }
    out.push(Rule {
        direction: Direction::In,
        protocol: Protocol::Icmpv6(137),
        remote: link_local,
        ..ndp
    });
    if spec.allow_lan {
        for (addr, len) in LAN_RANGES {
            let range = net(addr, len);
            let r = Rule {
                family: Some(family(range.addr())),
                remote: Some(range),
                reason: Reason::Lan,
                ..base
            };
            both(&mut out, r);
        }
    }
    both(&mut out, Rule { verdict: Verdict::Block, reason: Reason::BlockAll, ..base });
    out
}

/// The first rule that matches a packet, as every renderer must order them: a model of
/// the evaluation, used by tests and by anything that wants to explain a verdict.
pub fn decide<'a>(rules: &'a [Rule], packet: &Packet) -> Option<&'a Rule> {
    rules.iter().find(|r| r.matches(packet))
}

/// A packet, as far as the rules look at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// Which way it travels.
    pub direction: Direction,
    /// It crosses the tunnel interface.
    pub on_tunnel: bool,
    /// It crosses the loopback interface.
    pub on_loopback: bool,
    /// The transport protocol (ICMPv6 with its type).
    pub protocol: Protocol,
    /// The other end's address.
    pub remote: IpAddr,
    /// The other end's port (0 for ICMP).
    pub remote_port: u16,
    /// This host's port (0 for ICMP).
    pub local_port: u16,
}

impl Rule {
    /// Whether this rule matches `p`.
    pub fn matches(&self, p: &Packet) -> bool {
        let iface = match self.interface {
            Interface::Any => true,
            Interface::Loopback => p.on_loopback,
            Interface::Tunnel => p.on_tunnel,
        };
        let fam = self.family.is_none_or(|f| f == family(p.remote));
        let proto = self.protocol == Protocol::Any || self.protocol == p.protocol;
        let remote = self.remote.is_none_or(|r| contains(r, p.remote));
        let rport = self.remote_port.is_none_or(|port| port == p.remote_port);
        let lport = self.local_port.is_none_or(|port| port == p.local_port);
        self.direction == p.direction && iface && fam && proto && remote && rport && lport
    }
}

/// The IP version of `ip` (an IPv4-mapped IPv6 address counts as IPv6).
pub fn family(ip: IpAddr) -> Family {
    match ip {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    }
}

/// `ip` as a one-address range.
pub fn host(ip: IpAddr) -> AllowedIp {
    let len = if ip.is_ipv4() { 32 } else { 128 };
    AllowedIp::new(ip, len).unwrap_or_else(|_| unreachable_range(ip))
}

/// Whether `range` contains `ip`.
pub fn contains(range: AllowedIp, ip: IpAddr) -> bool {
    family(range.addr()) == family(ip) && AllowedIp::new(ip, range.cidr()).is_ok_and(|m| m == range)
}

/// Only for compile-time constant ranges and host lengths, which are always valid.
fn unreachable_range(ip: IpAddr) -> AllowedIp {
    AllowedIp::new(ip, 0).unwrap_or_else(|_| unreachable!("a /0 is valid for any address"))
}

fn net(addr: &str, len: u8) -> AllowedIp {
    let ip: IpAddr = addr.parse().unwrap_or_else(|_| unreachable!("constant address {addr}"));
    AllowedIp::new(ip, len).unwrap_or_else(|_| unreachable_range(ip))
}
