//! The shared plan table (`tests/plans/*.conf` at the repository root) → the generic
//! plan (`.plan`) and the NetworkExtension settings (`.ne`), plus what a table row
//! cannot show. The expectations were checked against what `/usr/bin/wg-quick` and
//! WireGuardKit do for the same files; `FERROWG_BLESS=1` rewrites them.
// The table's harness reads (and with FERROWG_BLESS=1 writes) its files: test code only.
#![allow(clippy::disallowed_methods)]

use super::*;

include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/plans/table.rs"));

fn parse(stem: &str, text: &str) -> NetworkPlan {
    let config = WgQuickConfig::parse(text).unwrap_or_else(|e| panic!("{stem}.conf: {e}"));
    NetworkPlan::from_config(&config)
}

/// The generic plan, one line per value, in the plan's order.
fn plan_lines(p: &NetworkPlan) -> String {
    let mut out: Vec<String> = p.addresses.iter().map(|a| format!("address {a}")).collect();
    out.push(format!("mtu {}", p.mtu));
    out.extend(p.routes.iter().map(|r| match &r.table {
        RouteTable::Main => format!("route {} table main", r.dest),
        RouteTable::Id(t) => format!("route {} table {t}", r.dest),
        RouteTable::Name(n) => format!("route {} table {n}", r.dest),
    }));
    out.extend(p.rules.iter().map(|r| match r {
        PolicyRule::NotFwmark { family, fwmark, table } => {
            format!("rule {} not fwmark {fwmark} table {table}", family.word())
        }
        PolicyRule::SuppressMainDefault { family } => {
            format!("rule {} table main suppress_prefixlength 0", family.word())
        }
    }));
    out.extend(p.firewall.iter().map(|r| match r {
        FirewallRule::DropForeignToTunnelAddress { addr } => {
            format!("firewall {} drop foreign to {addr}", Family::of(*addr).word())
        }
        FirewallRule::SaveMark { family, mark } => {
            format!("firewall {} save mark {mark}", family.word())
        }
        FirewallRule::RestoreMark { family } => format!("firewall {} restore mark", family.word()),
    }));
    out.push(format!("src_valid_mark {}", u8::from(p.src_valid_mark)));
    out.push(match p.fwmark {
        Some(m) => format!("fwmark {m}"),
        None => "fwmark none".to_owned(),
    });
    out.push(format!("full_tunnel {}", p.is_full_tunnel()));
    out.extend(p.dns.servers.iter().map(|s| format!("dns server {s}")));
    out.extend(p.dns.search.iter().map(|s| format!("dns search {s}")));
    out.extend(p.endpoints.iter().map(|e| {
        let inside = match e.inside_allowed_ips {
            Some(true) => "inside",
            Some(false) => "outside",
            None => "unknown (unresolved)",
        };
        format!("endpoint {} {inside}", e.endpoint)
    }));
    out.extend(p.endpoint_bypass().iter().map(|b| format!("bypass {b}")));
    out.join("\n") + "\n"
}

/// The NetworkExtension settings of a plan, one line per value (see `apple`).
fn apple_lines(p: &NetworkPlan) -> String {
    let s = apple::network_settings(p);
    let mut out = vec![format!("remote {}", s.tunnel_remote_address), format!("mtu {}", s.mtu)];
    if let Some(v4) = &s.ipv4 {
        for (a, m) in v4.addresses.iter().zip(&v4.subnet_masks) {
            out.push(format!("v4 addr {a} {m}"));
        }
        out.extend(
            v4.included_routes.iter().map(|r| format!("v4 in {} {}", r.destination, r.subnet_mask)),
        );
        out.extend(
            v4.excluded_routes
                .iter()
                .map(|r| format!("v4 out {} {}", r.destination, r.subnet_mask)),
        );
    }
    if let Some(v6) = &s.ipv6 {
        for (a, l) in v6.addresses.iter().zip(&v6.network_prefix_lengths) {
            out.push(format!("v6 addr {a} {l}"));
        }
        out.extend(
            v6.included_routes
                .iter()
                .map(|r| format!("v6 in {} {}", r.destination, r.prefix_length)),
        );
        out.extend(
            v6.excluded_routes
                .iter()
                .map(|r| format!("v6 out {} {}", r.destination, r.prefix_length)),
        );
    }
    if let Some(d) = &s.dns {
        out.push(format!(
            "dns {:?} search {:?} match {:?}",
            d.servers, d.search_domains, d.match_domains
        ));
    }
    out.join("\n") + "\n"
}

#[test]
fn plan_table_generic_plans() {
    check_table("plan", |stem, text| plan_lines(&parse(stem, text)));
}

#[test]
fn plan_table_network_extension_settings() {
    check_table("ne", |stem, text| apple_lines(&parse(stem, text)));
}

#[test]
fn dns_resolv_conf_text() {
    let dns = DnsPlan {
        servers: vec!["198.19.0.1".parse().unwrap(), "fd19::1".parse().unwrap()],
        search: vec!["corp.example".into(), "lan".into()],
    };
    assert_eq!(
        dns.resolv_conf(),
        "nameserver 198.19.0.1\nnameserver fd19::1\nsearch corp.example lan\n"
    );
    assert!(DnsPlan::default().is_empty());
}

#[test]
fn contains_edges() {
    let net: AllowedIp = "10.0.0.0/8".parse().unwrap();
    assert!(contains(&net, "10.255.255.255".parse().unwrap()));
    assert!(!contains(&net, "11.0.0.0".parse().unwrap()));
    assert!(!contains(&net, "::".parse().unwrap()));
    assert!(contains(&net, "::ffff:10.1.2.3".parse().unwrap()), "v4-mapped");
    let host: AllowedIp = "fd00::1/128".parse().unwrap();
    assert!(contains(&host, "fd00::1".parse().unwrap()));
    assert!(!contains(&host, "fd00::2".parse().unwrap()));
    let all6: AllowedIp = "::/0".parse().unwrap();
    assert!(!contains(&all6, "1.2.3.4".parse().unwrap()));
}

#[test]
fn split_default_halves() {
    let halves = |s: &str| split_default(&s.parse().unwrap()).map(|h| h.map(|a| a.to_string()));
    assert_eq!(halves("0.0.0.0/0"), Some(["0.0.0.0/1".to_owned(), "128.0.0.0/1".to_owned()]));
    assert_eq!(halves("::/0"), Some(["::/1".to_owned(), "8000::/1".to_owned()]));
    assert_eq!(halves("10.0.0.0/8"), None);
}
