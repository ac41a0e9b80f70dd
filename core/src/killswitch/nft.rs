//! The kill switch as an nftables ruleset: one `inet` table of its own per tunnel, loaded
//! atomically with `nft -f -`. It stays in the kernel when the engine dies and goes only
//! when [`delete`]'s text is loaded.

use std::fmt::Write;

use super::{
    Direction, Family, Interface, KillSwitchError, KillSwitchSpec, Protocol, Reason, Rule, Verdict,
};

/// The loopback interface's name on Linux.
const LOOPBACK: &str = "lo";

/// The table's name for tunnel `ifname`: `ferrowg_ks_` and the name with every character
/// nft identifiers do not allow replaced by `_`.
pub fn table_name(ifname: &str) -> String {
    let safe: String = ifname
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    format!("ferrowg_ks_{safe}")
}

/// The whole `nft -f` input that installs (or atomically replaces) the kill switch:
/// create-then-delete the table so a second load replaces the first in one transaction,
/// then the table with an `output`, an `input` and a `forward` chain, all `policy drop`.
///
/// The `forward` chain holds what the host routes for others (containers, VMs, a shared
/// connection) to the output chain's rules: it leaves only through the tunnel (DNS only
/// to the configured resolvers), or to the LAN when allowed; what comes in through the
/// tunnel may be forwarded. The endpoint, loopback, DHCP and NDP exceptions are the
/// host's own and are not forwarded.
pub fn render(spec: &KillSwitchSpec) -> Result<String, KillSwitchError> {
    spec.check()?;
    let table = table_name(&spec.tunnel);
    let rules = super::rules(spec);
    let mut s = String::new();
    // `add` never fails on an existing table; `delete` then removes the old one, all in
    // the same transaction as the new table.
    let _ = writeln!(s, "add table inet {table}");
    let _ = writeln!(s, "delete table inet {table}");
    let _ = writeln!(s, "table inet {table} {{");
    for (chain, dir) in [("output", Direction::Out), ("input", Direction::In)] {
        let _ = writeln!(s, "\tchain {chain} {{");
        let _ = writeln!(s, "\t\ttype filter hook {chain} priority filter - 10; policy drop;");
        for r in rules.iter().filter(|r| r.direction == dir) {
            let _ = writeln!(s, "\t\t{}", rule(r, &spec.tunnel));
        }
        let _ = writeln!(s, "\t}}");
    }
    let _ = writeln!(s, "\tchain forward {{");
    let _ = writeln!(s, "\t\ttype filter hook forward priority filter - 10; policy drop;");
    let from_tunnel = rules
        .iter()
        .filter(|r| r.direction == Direction::In && r.reason == Reason::Tunnel)
        .chain(rules.iter().filter(|r| r.direction == Direction::Out && forwarded(r.reason)));
    for r in from_tunnel {
        let _ = writeln!(s, "\t\t{}", rule(r, &spec.tunnel));
    }
    let _ = writeln!(s, "\t}}");
    let _ = writeln!(s, "}}");
    Ok(s)
}

/// Whether an outbound rule also applies to forwarded traffic (by its destination).
fn forwarded(reason: Reason) -> bool {
    match reason {
        Reason::DnsResolver
        | Reason::DnsNotResolver
        | Reason::Tunnel
        | Reason::DnsOutsideTunnel
        | Reason::Lan
        | Reason::BlockAll => true,
        Reason::Loopback | Reason::Endpoint | Reason::Dhcpv4 | Reason::Dhcpv6 | Reason::Ndp => {
            false
        }
    }
}

/// The `nft -f` input that removes the kill switch of tunnel `ifname` (an error if it is
/// not there; the applier checks first).
pub fn delete(ifname: &str) -> String {
    format!("delete table inet {}\n", table_name(ifname))
}

/// One rule as an nft statement line.
fn rule(r: &Rule, tunnel: &str) -> String {
    let out = r.direction == Direction::Out;
    let mut m: Vec<String> = Vec::new();
    let ifkey = if out { "oifname" } else { "iifname" };
    match r.interface {
        Interface::Any => {}
        Interface::Loopback => m.push(format!("{ifkey} \"{LOOPBACK}\"")),
        Interface::Tunnel => m.push(format!("{ifkey} \"{tunnel}\"")),
    }
    let addr_dir = if out { "daddr" } else { "saddr" };
    match (r.remote, r.family) {
        (Some(net), _) => {
            let fam = if net.addr().is_ipv4() { "ip" } else { "ip6" };
            m.push(format!("{fam} {addr_dir} {net}"));
        }
        (None, Some(Family::V4)) => m.push("meta nfproto ipv4".into()),
        (None, Some(Family::V6)) => m.push("meta nfproto ipv6".into()),
        (None, None) => {}
    }
    let (rdir, ldir) = if out { ("dport", "sport") } else { ("sport", "dport") };
    match r.protocol {
        Protocol::Any => {}
        Protocol::Udp | Protocol::Tcp => {
            let p = if r.protocol == Protocol::Udp { "udp" } else { "tcp" };
            if r.remote_port.is_none() && r.local_port.is_none() {
                m.push(format!("meta l4proto {p}"));
            }
            if let Some(port) = r.local_port {
                m.push(format!("{p} {ldir} {port}"));
            }
            if let Some(port) = r.remote_port {
                m.push(format!("{p} {rdir} {port}"));
            }
        }
        Protocol::Icmpv6(t) => m.push(format!("icmpv6 type {t}")),
    }
    let verdict = match r.verdict {
        Verdict::Allow => "accept",
        Verdict::Block => "drop",
    };
    m.push(format!("counter {verdict} comment \"{:?}\"", r.reason));
    m.join(" ")
}
