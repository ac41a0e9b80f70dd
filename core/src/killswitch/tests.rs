//! The kill-switch model as a table of packets and verdicts, and its three renderings.

use std::net::{IpAddr, SocketAddr};

use super::*;

fn spec(allow_lan: bool, dns: &[&str]) -> KillSwitchSpec {
    KillSwitchSpec {
        tunnel: "wg0".into(),
        endpoints: vec![
            "198.18.0.2:51820".parse().unwrap(),
            "[fd18::2]:51820".parse().unwrap(),
            "198.18.0.2:51820".parse().unwrap(),
        ],
        allow_lan,
        dns: dns.iter().map(|d| d.parse().unwrap()).collect(),
    }
}

fn pkt(
    dir: Direction,
    iface: &str,
    proto: Protocol,
    remote: &str,
    rport: u16,
    lport: u16,
) -> Packet {
    Packet {
        direction: dir,
        on_tunnel: iface == "tun",
        on_loopback: iface == "lo",
        protocol: proto,
        remote: remote.parse::<IpAddr>().unwrap(),
        remote_port: rport,
        local_port: lport,
    }
}

use Direction::{In, Out};
use Protocol::{Icmpv6, Tcp, Udp};

/// (packet, allow_lan, dns, expected verdict, expected reason)
#[test]
fn table_of_packets() {
    let any = Protocol::Any;
    #[rustfmt::skip]
    let cases: &[(Packet, bool, &[&str], Verdict, Reason)] = &[
        (pkt(Out, "lo", Tcp, "127.0.0.1", 80, 4000), false, &[], Verdict::Allow, Reason::Loopback),
        (pkt(In, "lo", Udp, "::1", 53, 4000), false, &[], Verdict::Allow, Reason::Loopback),
        (pkt(Out, "tun", Tcp, "203.0.113.9", 443, 4000), false, &[], Verdict::Allow, Reason::Tunnel),
        (pkt(In, "tun", Tcp, "203.0.113.9", 443, 4000), false, &[], Verdict::Allow, Reason::Tunnel),
        // DNS through the tunnel: anywhere without resolvers, only to them with.
        (pkt(Out, "tun", Udp, "9.9.9.9", 53, 4000), false, &[], Verdict::Allow, Reason::Tunnel),
        (pkt(Out, "tun", Udp, "198.19.0.53", 53, 4000), false, &["198.19.0.53"], Verdict::Allow, Reason::DnsResolver),
        (pkt(Out, "tun", Tcp, "198.19.0.53", 53, 4000), false, &["198.19.0.53"], Verdict::Allow, Reason::DnsResolver),
        (pkt(Out, "tun", Udp, "9.9.9.9", 53, 4000), false, &["198.19.0.53"], Verdict::Block, Reason::DnsNotResolver),
        (pkt(Out, "tun", Udp, "9.9.9.9", 443, 4000), false, &["198.19.0.53"], Verdict::Allow, Reason::Tunnel),
        // The resolver outside the tunnel is blocked: DNS only through the tunnel.
        (pkt(Out, "eth", Udp, "198.19.0.53", 53, 4000), false, &["198.19.0.53"], Verdict::Block, Reason::DnsOutsideTunnel),
        (pkt(Out, "eth", Udp, "192.168.1.1", 53, 4000), true, &[], Verdict::Block, Reason::DnsOutsideTunnel),
        (pkt(Out, "eth", Tcp, "192.168.1.1", 53, 4000), true, &[], Verdict::Block, Reason::DnsOutsideTunnel),
        // Endpoints: UDP to the exact address and port, both ways, v4 and v6.
        (pkt(Out, "eth", Udp, "198.18.0.2", 51820, 4000), false, &[], Verdict::Allow, Reason::Endpoint),
        (pkt(In, "eth", Udp, "198.18.0.2", 51820, 4000), false, &[], Verdict::Allow, Reason::Endpoint),
        (pkt(Out, "eth", Udp, "fd18::2", 51820, 4000), false, &[], Verdict::Allow, Reason::Endpoint),
        (pkt(Out, "eth", Udp, "198.18.0.2", 51821, 4000), false, &[], Verdict::Block, Reason::BlockAll),
        (pkt(Out, "eth", Tcp, "198.18.0.2", 51820, 4000), false, &[], Verdict::Block, Reason::BlockAll),
        (pkt(Out, "eth", Udp, "198.18.0.3", 51820, 4000), false, &[], Verdict::Block, Reason::BlockAll),
        // DHCP and NDP.
        (pkt(Out, "eth", Udp, "255.255.255.255", 67, 68), false, &[], Verdict::Allow, Reason::Dhcpv4),
        (pkt(In, "eth", Udp, "192.168.1.1", 67, 68), false, &[], Verdict::Allow, Reason::Dhcpv4),
        (pkt(Out, "eth", Udp, "ff02::1:2", 547, 546), false, &[], Verdict::Allow, Reason::Dhcpv6),
        (pkt(Out, "eth", Udp, "192.168.1.1", 67, 4000), false, &[], Verdict::Block, Reason::BlockAll),
        (pkt(Out, "eth", Icmpv6(133), "ff02::2", 0, 0), false, &[], Verdict::Allow, Reason::Ndp),
        (pkt(Out, "eth", Icmpv6(133), "2001:db8::1", 0, 0), false, &[], Verdict::Block, Reason::BlockAll),
        (pkt(In, "eth", Icmpv6(134), "fe80::1", 0, 0), false, &[], Verdict::Allow, Reason::Ndp),
        (pkt(In, "eth", Icmpv6(134), "2001:db8::1", 0, 0), false, &[], Verdict::Block, Reason::BlockAll),
        (pkt(Out, "eth", Icmpv6(135), "2001:db8::1", 0, 0), false, &[], Verdict::Allow, Reason::Ndp),
        (pkt(In, "eth", Icmpv6(136), "fe80::1", 0, 0), false, &[], Verdict::Allow, Reason::Ndp),
        (pkt(In, "eth", Icmpv6(137), "fe80::1", 0, 0), false, &[], Verdict::Allow, Reason::Ndp),
        (pkt(Out, "eth", Icmpv6(128), "fe80::1", 0, 0), false, &[], Verdict::Block, Reason::BlockAll),
        // The LAN only when asked, and never a public address.
        (pkt(Out, "eth", Tcp, "192.168.1.10", 22, 4000), false, &[], Verdict::Block, Reason::BlockAll),
        (pkt(Out, "eth", Tcp, "192.168.1.10", 22, 4000), true, &[], Verdict::Allow, Reason::Lan),
        (pkt(In, "eth", Tcp, "10.1.2.3", 4000, 22), true, &[], Verdict::Allow, Reason::Lan),
        (pkt(Out, "eth", Tcp, "172.31.255.1", 80, 4000), true, &[], Verdict::Allow, Reason::Lan),
        (pkt(Out, "eth", Tcp, "172.32.0.1", 80, 4000), true, &[], Verdict::Block, Reason::BlockAll),
        (pkt(Out, "eth", any, "fd00::5", 0, 0), true, &[], Verdict::Allow, Reason::Lan),
        (pkt(Out, "eth", any, "2001:db8::5", 0, 0), true, &[], Verdict::Block, Reason::BlockAll),
        (pkt(Out, "eth", Tcp, "8.8.8.8", 443, 4000), true, &[], Verdict::Block, Reason::BlockAll),
        (pkt(In, "eth", Tcp, "8.8.8.8", 443, 4000), false, &[], Verdict::Block, Reason::BlockAll),
    ];
    for (i, (p, lan, dns, verdict, reason)) in cases.iter().enumerate() {
        let rules = rules(&spec(*lan, dns));
        let r = decide(&rules, p).unwrap_or_else(|| panic!("case {i}: no rule matched {p:?}"));
        assert_eq!((r.verdict, r.reason), (*verdict, *reason), "case {i}: {p:?}");
    }
}

#[test]
fn every_packet_is_decided_and_the_last_rules_block() {
    let rules = rules(&spec(true, &["198.19.0.53"]));
    let last: Vec<_> =
        rules.iter().rev().take(2).map(|r| (r.verdict, r.reason, r.direction)).collect();
    assert_eq!(
        last,
        [(Verdict::Block, Reason::BlockAll, In), (Verdict::Block, Reason::BlockAll, Out)]
    );
    assert!(rules.iter().rev().skip(2).all(|r| r.reason != Reason::BlockAll));
}

#[test]
fn duplicate_endpoints_give_one_rule_each_way() {
    let n = rules(&spec(false, &[])).iter().filter(|r| r.reason == Reason::Endpoint).count();
    assert_eq!(n, 4, "two distinct endpoints, out and in");
}

#[test]
fn bad_interface_names_are_refused() {
    for bad in ["", "wg0\" accept", "a b", "0123456789abcdef", "wg\\0"] {
        let s = KillSwitchSpec { tunnel: bad.into(), ..spec(false, &[]) };
        assert_eq!(nft::render(&s), Err(KillSwitchError::InterfaceName(bad.into())));
        assert!(pf::render(&s).is_err() && wfp::filters(&s).is_err());
    }
}

#[test]
fn nft_ruleset_text() {
    let s = KillSwitchSpec {
        tunnel: "wg-0".into(),
        endpoints: vec![SocketAddr::from(([198, 18, 0, 2], 51820))],
        allow_lan: false,
        dns: vec![],
    };
    let text = nft::render(&s).unwrap();
    let expected = "\
add table inet ferrowg_ks_wg_0
delete table inet ferrowg_ks_wg_0
table inet ferrowg_ks_wg_0 {
\tchain output {
\t\ttype filter hook output priority filter - 10; policy drop;
\t\toifname \"lo\" counter accept comment \"Loopback\"
\t\toifname \"wg-0\" counter accept comment \"Tunnel\"
\t\tip daddr 198.18.0.2/32 udp dport 51820 counter accept comment \"Endpoint\"
\t\tudp dport 53 counter drop comment \"DnsOutsideTunnel\"
\t\ttcp dport 53 counter drop comment \"DnsOutsideTunnel\"
\t\tmeta nfproto ipv4 udp sport 68 udp dport 67 counter accept comment \"Dhcpv4\"
\t\tmeta nfproto ipv6 udp sport 546 udp dport 547 counter accept comment \"Dhcpv6\"
\t\tip6 daddr ff02::2/128 icmpv6 type 133 counter accept comment \"Ndp\"
\t\tmeta nfproto ipv6 icmpv6 type 135 counter accept comment \"Ndp\"
\t\tmeta nfproto ipv6 icmpv6 type 136 counter accept comment \"Ndp\"
\t\tcounter drop comment \"BlockAll\"
\t}
\tchain input {
\t\ttype filter hook input priority filter - 10; policy drop;
\t\tiifname \"lo\" counter accept comment \"Loopback\"
\t\tiifname \"wg-0\" counter accept comment \"Tunnel\"
\t\tip saddr 198.18.0.2/32 udp sport 51820 counter accept comment \"Endpoint\"
\t\tmeta nfproto ipv4 udp dport 68 udp sport 67 counter accept comment \"Dhcpv4\"
\t\tmeta nfproto ipv6 udp dport 546 udp sport 547 counter accept comment \"Dhcpv6\"
\t\tip6 saddr fe80::/10 icmpv6 type 134 counter accept comment \"Ndp\"
\t\tmeta nfproto ipv6 icmpv6 type 135 counter accept comment \"Ndp\"
\t\tmeta nfproto ipv6 icmpv6 type 136 counter accept comment \"Ndp\"
\t\tip6 saddr fe80::/10 icmpv6 type 137 counter accept comment \"Ndp\"
\t\tcounter drop comment \"BlockAll\"
\t}
\tchain forward {
\t\ttype filter hook forward priority filter - 10; policy drop;
\t\tiifname \"wg-0\" counter accept comment \"Tunnel\"
\t\toifname \"wg-0\" counter accept comment \"Tunnel\"
\t\tudp dport 53 counter drop comment \"DnsOutsideTunnel\"
\t\ttcp dport 53 counter drop comment \"DnsOutsideTunnel\"
\t\tcounter drop comment \"BlockAll\"
\t}
}
";
    assert_eq!(text, expected);
    assert_eq!(nft::delete("wg-0"), "delete table inet ferrowg_ks_wg_0\n");
}

#[test]
fn nft_resolvers_and_lan() {
    let text = nft::render(&spec(true, &["198.19.0.53"])).unwrap();
    for line in [
        "oifname \"wg0\" ip daddr 198.19.0.53/32 udp dport 53 counter accept comment \"DnsResolver\"",
        "oifname \"wg0\" udp dport 53 counter drop comment \"DnsNotResolver\"",
        "ip6 daddr fd18::2/128 udp dport 51820 counter accept comment \"Endpoint\"",
        "ip daddr 192.168.0.0/16 counter accept comment \"Lan\"",
        "ip6 saddr fc00::/7 counter accept comment \"Lan\"",
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    // Order: the resolver exception before the tunnel-wide DNS block, before the tunnel.
    let at = |s: &str| text.find(s).unwrap();
    assert!(at("DnsResolver") < at("DnsNotResolver"));
    assert!(at("DnsNotResolver") < at("comment \"Tunnel\""));
    // Forwarded traffic: the tunnel (resolvers only for DNS) and the LAN, never the
    // host's own exceptions (endpoint, DHCP, NDP, loopback).
    let fwd = &text[at("chain forward")..];
    for line in [
        "oifname \"wg0\" ip daddr 198.19.0.53/32 udp dport 53 counter accept comment \"DnsResolver\"",
        "oifname \"wg0\" udp dport 53 counter drop comment \"DnsNotResolver\"",
        "ip daddr 192.168.0.0/16 counter accept comment \"Lan\"",
        "counter drop comment \"BlockAll\"",
    ] {
        assert!(fwd.contains(line), "forward chain lacks `{line}` in\n{fwd}");
    }
    for reason in ["Endpoint", "Dhcpv4", "Ndp", "Loopback"] {
        assert!(!fwd.contains(reason), "{reason} forwarded:\n{fwd}");
    }
}

#[test]
fn pf_anchor_text() {
    let s = KillSwitchSpec {
        tunnel: "utun7".into(),
        endpoints: vec!["[fd18::2]:51820".parse().unwrap()],
        allow_lan: true,
        dns: vec!["198.19.0.53".parse().unwrap()],
    };
    let text = pf::render(&s).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "# ferrowg kill switch for utun7");
    for want in [
        "pass out quick on lo0 all",
        "pass in quick on lo0 all",
        "pass out quick on utun7 inet proto udp from any to 198.19.0.53/32 port 53",
        "block drop out quick on utun7 proto tcp from any to any port 53",
        "pass out quick on utun7 all",
        "pass out quick inet6 proto udp from any to fd18::2/128 port 51820",
        "pass in quick inet6 proto udp from fd18::2/128 port 51820 to any",
        "block drop out quick proto udp from any to any port 53",
        "pass out quick inet proto udp from any port 68 to any port 67",
        "pass in quick inet proto udp from any port 67 to any port 68",
        "pass out quick inet6 proto ipv6-icmp from any to ff02::2/128 icmp6-type 133",
        "pass in quick inet6 proto ipv6-icmp from fe80::/10 to any icmp6-type 134",
        "pass out quick inet from any to 10.0.0.0/8",
        "pass in quick inet6 from fe80::/10 to any",
    ] {
        assert!(lines.contains(&want), "missing `{want}` in\n{text}");
    }
    assert_eq!(&lines[lines.len() - 2..], ["block drop out quick all", "block drop in quick all"]);
    assert_eq!(pf::anchor("utun7"), "com.apple/ferrowg.killswitch.utun7");
    let listing = "  com.apple/200.AirDrop\n  com.apple/ferrowg.killswitch.utun7\n";
    assert!(pf::anchor_listed(listing, "utun7"));
    assert!(!pf::anchor_listed(listing, "utun"));
    assert!(!pf::anchor_listed("  com.apple/ferrowg.killswitch.utun70\n", "utun7"));
}

#[test]
fn wfp_filters_layers_weights_and_conditions() {
    use wfp::{Condition as C, Layer};
    let s = spec(false, &[]);
    let f = wfp::filters(&s).unwrap();
    // Weights strictly follow the rule order; a both-families rule gives two filters.
    assert!(f.windows(2).all(|w| w[0].weight >= w[1].weight));
    assert_eq!(
        f.first().map(|f| (f.layer, f.weight)),
        Some((Layer::ConnectV4, rules(&s).len() as u64))
    );
    let by = |reason: Reason| f.iter().filter(move |x| x.rule.reason == reason);
    let lo: Vec<_> = by(Reason::Loopback).map(|x| (x.layer, x.conditions.clone())).collect();
    assert_eq!(
        lo,
        [
            (Layer::ConnectV4, vec![C::Loopback]),
            (Layer::ConnectV6, vec![C::Loopback]),
            (Layer::RecvAcceptV4, vec![C::Loopback]),
            (Layer::RecvAcceptV6, vec![C::Loopback]),
        ]
    );
    let ep: Vec<_> = by(Reason::Endpoint).map(|x| (x.layer, x.conditions.clone())).collect();
    assert_eq!(
        ep[0],
        (
            Layer::ConnectV4,
            vec![
                C::RemoteV4 { addr: 0xc612_0002, mask: 0xffff_ffff },
                C::Protocol(17),
                C::RemotePort(51820)
            ]
        )
    );
    assert_eq!(ep.len(), 4);
    let ra = by(Reason::Ndp).find(|x| x.conditions.contains(&C::IcmpType(134))).unwrap();
    assert_eq!(ra.layer, Layer::RecvAcceptV6);
    assert!(ra.conditions.contains(&C::RemoteV6 {
        addr: "fe80::".parse::<std::net::Ipv6Addr>().unwrap().octets(),
        prefix: 10
    }));
    let lan = wfp::filters(&spec(true, &[])).unwrap();
    let mask = lan
        .iter()
        .find_map(|x| {
            x.conditions.iter().find_map(|c| match c {
                C::RemoteV4 { addr: 0xac10_0000, mask } => Some(*mask),
                _ => None,
            })
        })
        .unwrap();
    assert_eq!(mask, 0xfff0_0000, "172.16.0.0/12");
    let last = f.last().unwrap();
    assert_eq!((last.verdict, last.weight, last.conditions.len()), (Verdict::Block, 1, 0));
}
