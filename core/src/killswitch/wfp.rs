//! The kill switch as Windows Filtering Platform filters: the layers, conditions and
//! weights, computed here as plain data so they are tested on every OS; the applier in
//! `ferrowg-platform` only turns each [`Filter`] into an `FWPM_FILTER0`.
//!
//! Every filter goes into one sublayer of ferrowg's own. Within a sublayer WFP evaluates
//! filters from the highest weight down and the first permit or block decides, so the
//! model's first-match order becomes descending weights.

use super::{
    Direction, Family, Interface, KillSwitchError, KillSwitchSpec, Protocol, Rule, Verdict,
};

/// The ALE layer a filter sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    /// `FWPM_LAYER_ALE_AUTH_CONNECT_V4`: outbound connections / first outbound packets.
    ConnectV4,
    /// `FWPM_LAYER_ALE_AUTH_CONNECT_V6`.
    ConnectV6,
    /// `FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V4`: inbound connections / first inbound packets.
    RecvAcceptV4,
    /// `FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V6`.
    RecvAcceptV6,
}

/// One filter condition (all conditions of a filter must hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Condition {
    /// `FWPM_CONDITION_FLAGS` has `FWP_CONDITION_FLAG_IS_LOOPBACK`.
    Loopback,
    /// `FWPM_CONDITION_IP_LOCAL_INTERFACE` equals the tunnel adapter's LUID.
    TunnelInterface,
    /// `FWPM_CONDITION_IP_REMOTE_ADDRESS` in an IPv4 range (`FWP_V4_ADDR_MASK`).
    RemoteV4 {
        /// The network address, host order.
        addr: u32,
        /// The mask, host order.
        mask: u32,
    },
    /// `FWPM_CONDITION_IP_REMOTE_ADDRESS` in an IPv6 range (`FWP_V6_ADDR_AND_MASK`).
    RemoteV6 {
        /// The network address.
        addr: [u8; 16],
        /// The prefix length.
        prefix: u8,
    },
    /// `FWPM_CONDITION_IP_PROTOCOL` (IPPROTO_*).
    Protocol(u8),
    /// `FWPM_CONDITION_IP_REMOTE_PORT`.
    RemotePort(u16),
    /// `FWPM_CONDITION_IP_LOCAL_PORT`.
    LocalPort(u16),
    /// `FWPM_CONDITION_ICMP_TYPE` (which WFP carries in the local-port field).
    IcmpType(u16),
}

/// One WFP filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Filter {
    /// Where it sits.
    pub layer: Layer,
    /// Its weight within ferrowg's sublayer (`FWP_UINT64`); higher is evaluated first.
    pub weight: u64,
    /// `FWP_ACTION_PERMIT` or `FWP_ACTION_BLOCK`.
    pub verdict: Verdict,
    /// All must match.
    pub conditions: Vec<Condition>,
    /// The rule it came from (for its display name).
    pub rule: Rule,
}

/// IPPROTO_TCP.
pub const IPPROTO_TCP: u8 = 6;
/// IPPROTO_UDP.
pub const IPPROTO_UDP: u8 = 17;
/// IPPROTO_ICMPV6.
pub const IPPROTO_ICMPV6: u8 = 58;

/// The filters for `spec`, highest weight first. A rule for both IP versions gives one
/// filter per version; all filters of one rule share its weight.
pub fn filters(spec: &KillSwitchSpec) -> Result<Vec<Filter>, KillSwitchError> {
    spec.check()?;
    let rules = super::rules(spec);
    let n = rules.len() as u64;
    let mut out = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let weight = n - i as u64;
        let families: &[Family] = match r.family {
            Some(Family::V4) => &[Family::V4],
            Some(Family::V6) => &[Family::V6],
            None => &[Family::V4, Family::V6],
        };
        for &fam in families {
            let layer = match (r.direction, fam) {
                (Direction::Out, Family::V4) => Layer::ConnectV4,
                (Direction::Out, Family::V6) => Layer::ConnectV6,
                (Direction::In, Family::V4) => Layer::RecvAcceptV4,
                (Direction::In, Family::V6) => Layer::RecvAcceptV6,
            };
            out.push(Filter {
                layer,
                weight,
                verdict: r.verdict,
                conditions: conditions(r),
                rule: *r,
            });
        }
    }
    Ok(out)
}

fn conditions(r: &Rule) -> Vec<Condition> {
    let mut c = Vec::new();
    match r.interface {
        Interface::Any => {}
        Interface::Loopback => c.push(Condition::Loopback),
        Interface::Tunnel => c.push(Condition::TunnelInterface),
    }
    if let Some(net) = r.remote {
        c.push(match net.addr() {
            std::net::IpAddr::V4(a) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(net.cidr())).unwrap_or(0);
                Condition::RemoteV4 { addr: u32::from(a), mask }
            }
            std::net::IpAddr::V6(a) => Condition::RemoteV6 { addr: a.octets(), prefix: net.cidr() },
        });
    }
    match r.protocol {
        Protocol::Any => {}
        Protocol::Udp => c.push(Condition::Protocol(IPPROTO_UDP)),
        Protocol::Tcp => c.push(Condition::Protocol(IPPROTO_TCP)),
        Protocol::Icmpv6(t) => {
            c.push(Condition::Protocol(IPPROTO_ICMPV6));
            c.push(Condition::IcmpType(u16::from(t)));
        }
    }
    if let Some(p) = r.remote_port {
        c.push(Condition::RemotePort(p));
    }
    if let Some(p) = r.local_port {
        c.push(Condition::LocalPort(p));
    }
    c
}
