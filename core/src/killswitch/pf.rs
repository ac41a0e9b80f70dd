//! The kill switch as a pf anchor (macOS), loaded with `pfctl -a ANCHOR -f -`.
//!
//! The anchor lives under `com.apple/`: macOS's stock `/etc/pf.conf` evaluates
//! `anchor "com.apple/*"`, so rules loaded there take effect without editing the main
//! ruleset (an anchor anywhere else is loaded but never evaluated unless pf.conf names it).

use std::fmt::Write;

use super::{
    Direction, Family, Interface, KillSwitchError, KillSwitchSpec, Protocol, Rule, Verdict,
};

/// The loopback interface's name on macOS.
const LOOPBACK: &str = "lo0";

/// The anchor for tunnel `ifname`.
pub fn anchor(ifname: &str) -> String {
    format!("com.apple/ferrowg.killswitch.{ifname}")
}

/// The anchor under which [`anchor`]s live (`pfctl -a com.apple -s Anchors` lists them).
pub const PARENT: &str = "com.apple";

/// True when `pfctl -a com.apple -s Anchors` output lists the anchor of tunnel `ifname`
/// (one anchor path a line). pf removes an anchor once it is flushed empty, and asking
/// for the rules of an anchor that does not exist is an error, so this is asked first.
pub fn anchor_listed(listing: &str, ifname: &str) -> bool {
    let want = anchor(ifname);
    listing.lines().any(|l| l.trim() == want)
}

/// The anchor's rules, one `quick` rule per model rule, in order (first match wins).
pub fn render(spec: &KillSwitchSpec) -> Result<String, KillSwitchError> {
    spec.check()?;
    let mut s = String::new();
    let _ = writeln!(s, "# ferrowg kill switch for {}", spec.tunnel);
    for r in super::rules(spec) {
        let _ = writeln!(s, "{}", rule(&r, &spec.tunnel));
    }
    Ok(s)
}

fn rule(r: &Rule, tunnel: &str) -> String {
    let out = r.direction == Direction::Out;
    let mut m: Vec<String> = vec![match r.verdict {
        Verdict::Allow => "pass".into(),
        Verdict::Block => "block drop".into(),
    }];
    m.push(if out { "out" } else { "in" }.into());
    m.push("quick".into());
    match r.interface {
        Interface::Any => {}
        Interface::Loopback => m.push(format!("on {LOOPBACK}")),
        Interface::Tunnel => m.push(format!("on {tunnel}")),
    }
    let fam = r.family.or(r.remote.map(|n| super::family(n.addr())));
    match (fam, r.protocol) {
        (_, Protocol::Icmpv6(_)) | (Some(Family::V6), _) => m.push("inet6".into()),
        (Some(Family::V4), _) => m.push("inet".into()),
        (None, _) => {}
    }
    match r.protocol {
        Protocol::Any => {}
        Protocol::Udp => m.push("proto udp".into()),
        Protocol::Tcp => m.push("proto tcp".into()),
        Protocol::Icmpv6(_) => m.push("proto ipv6-icmp".into()),
    }
    let remote = r.remote.map_or_else(|| "any".to_owned(), |n| n.to_string());
    let port = |p: Option<u16>| p.map(|p| format!(" port {p}")).unwrap_or_default();
    let (local, remote) =
        (format!("any{}", port(r.local_port)), format!("{remote}{}", port(r.remote_port)));
    let ends =
        if out { format!("from {local} to {remote}") } else { format!("from {remote} to {local}") };
    if ends == "from any to any" {
        m.push("all".into());
    } else {
        m.push(ends);
    }
    if let Protocol::Icmpv6(t) = r.protocol {
        m.push(format!("icmp6-type {t}"));
    }
    m.join(" ")
}
