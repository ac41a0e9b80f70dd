//! wg-quick files → expected plans, checked against what `/usr/bin/wg-quick` does.

use super::*;

const KEY: &str = "AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A=";
const PEER1: &str = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";
const PEER2: &str = "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4A=";

fn plan(interface: &str, peers: &[(&str, &str, &str)]) -> NetworkPlan {
    let mut text = format!("[Interface]\nPrivateKey = {KEY}\n{interface}\n");
    for (key, allowed, endpoint) in peers {
        text.push_str(&format!("[Peer]\nPublicKey = {key}\nAllowedIPs = {allowed}\n"));
        if !endpoint.is_empty() {
            text.push_str(&format!("Endpoint = {endpoint}\n"));
        }
    }
    NetworkPlan::from_config(&WgQuickConfig::parse(&text).unwrap())
}

fn routes(p: &NetworkPlan) -> Vec<String> {
    p.routes
        .iter()
        .map(|r| match &r.table {
            RouteTable::Main => format!("{} main", r.dest),
            RouteTable::Id(t) => format!("{} table {t}", r.dest),
            RouteTable::Name(n) => format!("{} table {n}", r.dest),
        })
        .collect()
}

fn rules(p: &NetworkPlan) -> Vec<String> {
    p.rules
        .iter()
        .map(|r| match r {
            PolicyRule::NotFwmark { family, fwmark, table } => {
                format!("{family:?} not fwmark {fwmark} table {table}")
            }
            PolicyRule::SuppressMainDefault { family } => {
                format!("{family:?} table main suppress_prefixlength 0")
            }
        })
        .collect()
}

fn firewall(p: &NetworkPlan) -> Vec<String> {
    p.firewall
        .iter()
        .map(|r| match r {
            FirewallRule::DropForeignToTunnelAddress { addr } => format!("drop {addr}"),
            FirewallRule::SaveMark { family, mark } => format!("{family:?} save {mark}"),
            FirewallRule::RestoreMark { family } => format!("{family:?} restore"),
        })
        .collect()
}

/// One row: the file's interface lines and peers → routes, rules, firewall, fwmark.
struct Row {
    name: &'static str,
    interface: &'static str,
    peers: &'static [(&'static str, &'static str, &'static str)],
    routes: &'static [&'static str],
    rules: &'static [&'static str],
    firewall: &'static [&'static str],
    fwmark: Option<u32>,
    src_valid_mark: bool,
}

const ROWS: &[Row] = &[
    Row {
        name: "full tunnel, both families: policy routing in 51820",
        interface: "Address = 10.0.0.2/32, fd00::2/128",
        peers: &[(PEER1, "0.0.0.0/0, ::/0", "192.0.2.1:51820")],
        routes: &["0.0.0.0/0 table 51820", "::/0 table 51820"],
        rules: &[
            "V4 not fwmark 51820 table 51820",
            "V4 table main suppress_prefixlength 0",
            "V6 not fwmark 51820 table 51820",
            "V6 table main suppress_prefixlength 0",
        ],
        firewall: &[
            "drop 10.0.0.2",
            "V4 save 51820",
            "V4 restore",
            "drop fd00::2",
            "V6 save 51820",
            "V6 restore",
        ],
        fwmark: Some(51820),
        src_valid_mark: true,
    },
    Row {
        name: "split tunnel: routes in main, longest prefix first (by length, as `sort -nr`)",
        interface: "Address = 10.0.0.2/24",
        peers: &[(PEER1, "10.0.0.0/24, 10.1.0.0/16, 10.0.0.7/32, fd00::/64", "")],
        routes: &["fd00::/64 main", "10.0.0.7/32 main", "10.0.0.0/24 main", "10.1.0.0/16 main"],
        rules: &[],
        firewall: &[],
        fwmark: None,
        src_valid_mark: false,
    },
    Row {
        name: "Table = off: no routes at all",
        interface: "Address = 10.0.0.2/32\nTable = off",
        peers: &[(PEER1, "0.0.0.0/0, 10.0.0.0/8", "")],
        routes: &[],
        rules: &[],
        firewall: &[],
        fwmark: None,
        src_valid_mark: false,
    },
    Row {
        name: "Table = 1234: every prefix there, /0 included, no policy routing",
        interface: "Address = 10.0.0.2/32\nTable = 1234",
        peers: &[(PEER1, "0.0.0.0/0, 10.0.0.0/8", "")],
        routes: &["10.0.0.0/8 table 1234", "0.0.0.0/0 table 1234"],
        rules: &[],
        firewall: &[],
        fwmark: None,
        src_valid_mark: false,
    },
    Row {
        name: "Table = auto with FwMark: the mark is the table",
        interface: "Address = 10.0.0.2/32\nTable = auto\nFwMark = 0x1234",
        peers: &[(PEER1, "0.0.0.0/0", "")],
        routes: &["0.0.0.0/0 table 4660"],
        rules: &["V4 not fwmark 4660 table 4660", "V4 table main suppress_prefixlength 0"],
        firewall: &["drop 10.0.0.2", "V4 save 4660", "V4 restore"],
        fwmark: Some(4660),
        src_valid_mark: true,
    },
    Row {
        name: "IPv6-only default: no src_valid_mark, IPv4 prefixes in main",
        interface: "Address = 10.0.0.2/32, fd00::2/64",
        peers: &[(PEER1, "::/0", ""), (PEER2, "10.9.0.0/16", "")],
        routes: &["10.9.0.0/16 main", "::/0 table 51820"],
        rules: &["V6 not fwmark 51820 table 51820", "V6 table main suppress_prefixlength 0"],
        firewall: &["drop fd00::2", "V6 save 51820", "V6 restore"],
        fwmark: Some(51820),
        src_valid_mark: false,
    },
    Row {
        name: "FwMark without a default route is kept for the sockets",
        interface: "FwMark = 7",
        peers: &[(PEER1, "10.0.0.0/8", "")],
        routes: &["10.0.0.0/8 main"],
        rules: &[],
        firewall: &[],
        fwmark: Some(7),
        src_valid_mark: false,
    },
];

#[test]
fn wg_quick_files_to_plans() {
    for row in ROWS {
        let p = plan(row.interface, row.peers);
        assert_eq!(routes(&p), row.routes, "{}: routes", row.name);
        assert_eq!(rules(&p), row.rules, "{}: rules", row.name);
        assert_eq!(firewall(&p), row.firewall, "{}: firewall", row.name);
        assert_eq!(p.fwmark, row.fwmark, "{}: fwmark", row.name);
        assert_eq!(p.src_valid_mark, row.src_valid_mark, "{}: src_valid_mark", row.name);
        assert_eq!(p.is_full_tunnel(), !row.rules.is_empty(), "{}", row.name);
    }
}

#[test]
fn mtu_default_and_from_file() {
    assert_eq!(plan("Address = 10.0.0.2/32", &[]).mtu, 1420);
    assert_eq!(plan("MTU = 1280", &[]).mtu, 1280);
}

#[test]
fn addresses_kept_as_written() {
    let p = plan("Address = 10.0.0.2/24, fd00::2/64", &[]);
    let got: Vec<String> = p.addresses.iter().map(|a| a.to_string()).collect();
    assert_eq!(got, ["10.0.0.2/24", "fd00::2/64"]);
}

#[test]
fn dns_servers_and_search_domains() {
    let p = plan("DNS = 10.0.0.53, fd00::53, corp.example, lan", &[]);
    assert_eq!(
        p.dns.servers,
        ["10.0.0.53".parse::<IpAddr>().unwrap(), "fd00::53".parse().unwrap()]
    );
    assert_eq!(p.dns.search, ["corp.example", "lan"]);
    assert_eq!(
        p.dns.resolv_conf(),
        "nameserver 10.0.0.53\nnameserver fd00::53\nsearch corp.example lan\n"
    );
    assert!(plan("", &[]).dns.is_empty());
    assert_eq!(plan("DNS = 1.1.1.1", &[]).dns.resolv_conf(), "nameserver 1.1.1.1\n");
}

#[test]
fn endpoints_inside_allowed_ips() {
    let p = plan(
        "",
        &[(PEER1, "0.0.0.0/0", "192.0.2.1:51820"), (PEER2, "10.0.0.0/8", "[2001:db8::1]:51820")],
    );
    let inside: Vec<Option<bool>> = p.endpoints.iter().map(|e| e.inside_allowed_ips).collect();
    assert_eq!(inside, [Some(true), Some(false)], "v4 under 0.0.0.0/0; v6 not under 10/8");

    let p = plan("", &[(PEER1, "10.0.0.0/8, 2001:db8::/32", "[2001:db8::1]:51820")]);
    assert_eq!(p.endpoints[0].inside_allowed_ips, Some(true));
    let p = plan("", &[(PEER1, "10.0.0.0/8", "10.255.1.1:1"), (PEER2, "11.0.0.0/8", "12.0.0.1:1")]);
    let inside: Vec<Option<bool>> = p.endpoints.iter().map(|e| e.inside_allowed_ips).collect();
    assert_eq!(inside, [Some(true), Some(false)]);
    let p = plan("", &[(PEER1, "0.0.0.0/0", "vpn.example:51820")]);
    assert_eq!(p.endpoints[0].inside_allowed_ips, None, "an unresolved hostname is unknown");
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
fn endpoint_bypass_and_split_default() {
    let p = plan(
        "",
        &[
            (PEER1, "0.0.0.0/0, ::/0", "192.0.2.1:51820"),
            (PEER2, "10.0.0.0/8", "[2001:db8::1]:51820"),
        ],
    );
    let bypass: Vec<String> = p.endpoint_bypass().iter().map(|a| a.to_string()).collect();
    assert_eq!(bypass, ["192.0.2.1/32", "2001:db8::1/128"], "both are under a /0");
    let p = plan("", &[(PEER1, "10.0.0.0/8", "192.0.2.1:51820")]);
    assert!(p.endpoint_bypass().is_empty());

    let halves = |s: &str| split_default(&s.parse().unwrap()).map(|h| h.map(|a| a.to_string()));
    assert_eq!(halves("0.0.0.0/0"), Some(["0.0.0.0/1".to_owned(), "128.0.0.0/1".to_owned()]));
    assert_eq!(halves("::/0"), Some(["::/1".to_owned(), "8000::/1".to_owned()]));
    assert_eq!(halves("10.0.0.0/8"), None);
}

/// The NetworkExtension settings of a plan, one line per value (see `apple`).
fn apple_lines(p: &NetworkPlan) -> Vec<String> {
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
    out
}

/// The same wg-quick files as [`ROWS`] (by name) → NetworkExtension settings.
const APPLE: &[(&str, &[&str])] = &[
    (
        "full tunnel, both families: policy routing in 51820",
        &[
            "remote 192.0.2.1",
            "mtu 1420",
            "v4 addr 10.0.0.2 255.255.255.255",
            "v4 in 0.0.0.0 0.0.0.0",
            "v4 out 192.0.2.1 255.255.255.255",
            "v6 addr fd00::2 128",
            "v6 in :: 0",
        ],
    ),
    (
        "split tunnel: routes in main, longest prefix first (by length, as `sort -nr`)",
        // No IPv6 address: no IPv6 settings, so fd00::/64 cannot be routed.
        &[
            "remote 127.0.0.1",
            "mtu 1420",
            "v4 addr 10.0.0.2 255.255.255.0",
            "v4 in 10.0.0.0 255.255.255.0",
            "v4 in 10.0.0.7 255.255.255.255",
            "v4 in 10.1.0.0 255.255.0.0",
        ],
    ),
    (
        "Table = off: no routes at all",
        &["remote 127.0.0.1", "mtu 1420", "v4 addr 10.0.0.2 255.255.255.255"],
    ),
    (
        "Table = 1234: every prefix there, /0 included, no policy routing",
        &[
            "remote 127.0.0.1",
            "mtu 1420",
            "v4 addr 10.0.0.2 255.255.255.255",
            "v4 in 10.0.0.0 255.0.0.0",
            "v4 in 0.0.0.0 0.0.0.0",
        ],
    ),
    (
        "Table = auto with FwMark: the mark is the table",
        &[
            "remote 127.0.0.1",
            "mtu 1420",
            "v4 addr 10.0.0.2 255.255.255.255",
            "v4 in 0.0.0.0 0.0.0.0",
        ],
    ),
    (
        "IPv6-only default: no src_valid_mark, IPv4 prefixes in main",
        &[
            "remote 127.0.0.1",
            "mtu 1420",
            "v4 addr 10.0.0.2 255.255.255.255",
            "v4 in 10.9.0.0 255.255.0.0",
            "v6 addr fd00::2 64",
            "v6 in fd00:: 64",
            "v6 in :: 0",
        ],
    ),
    ("FwMark without a default route is kept for the sockets", &["remote 127.0.0.1", "mtu 1420"]),
];

#[test]
fn wg_quick_files_to_network_extension_settings() {
    assert_eq!(APPLE.len(), ROWS.len(), "one expectation per row");
    for row in ROWS {
        let (_, expected) = APPLE.iter().find(|(n, _)| *n == row.name).expect(row.name);
        assert_eq!(apple_lines(&plan(row.interface, row.peers)), *expected, "{}", row.name);
    }
}

#[test]
fn network_extension_dns_mtu_and_endpoints() {
    let p = plan(
        "Address = 10.0.0.2/32, fd00::2/128\nDNS = 10.0.0.53, corp.example\nMTU = 1380",
        &[
            (PEER1, "0.0.0.0/0, ::/0", "[2001:db8::1]:51820"),
            (PEER2, "10.8.0.0/16", "192.0.2.9:51820"),
            ("AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=", "10.9.0.0/16", "vpn.example:51820"),
        ],
    );
    assert_eq!(
        apple_lines(&p),
        [
            "remote 2001:db8::1",
            "mtu 1380",
            "v4 addr 10.0.0.2 255.255.255.255",
            "v4 in 10.8.0.0 255.255.0.0",
            "v4 in 10.9.0.0 255.255.0.0",
            "v4 in 0.0.0.0 0.0.0.0",
            // Every endpoint is kept out, covered by an allowed IP or not; an unresolved
            // hostname cannot be.
            "v4 out 192.0.2.9 255.255.255.255",
            "v6 addr fd00::2 128",
            "v6 in :: 0",
            "v6 out 2001:db8::1 128",
            "dns [10.0.0.53] search [\"corp.example\"] match [\"\"]",
        ]
    );
}
