//! wg-quick files → the command lines wg-quick's darwin.bash runs for them, and the
//! undo record (newest first, exactly what was done).

use super::*;
use ferrowg_core::config::WgQuickConfig;

const KEY: &str = "AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A=";
const PEER: &str = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";

fn plan(interface: &str, allowed: &str) -> NetworkPlan {
    let text = format!(
        "[Interface]\nPrivateKey = {KEY}\n{interface}\n[Peer]\nPublicKey = {PEER}\n\
         AllowedIPs = {allowed}\nEndpoint = 198.18.0.1:51820\n"
    );
    NetworkPlan::from_config(&WgQuickConfig::parse(&text).unwrap())
}

const NETSTAT4: &str = "Routing tables\n\nInternet:\nDestination        Gateway            \
                        Flags           Netif Expire\ndefault            link#17            \
                        UCSIg           utun3\ndefault            198.18.0.254       UGScg \
                        en0\n127                127.0.0.1          UCS             lo0\n";

/// Answers queries like a Mac with Wi-Fi and a disabled Ethernet service; fails the
/// command equal to `fail` (and `ifconfig utun7` when `gone`).
#[derive(Debug, Default)]
struct Fake {
    log: Vec<String>,
    fail: Option<String>,
    gone: bool,
    no_gateway: bool,
    route_exists: bool,
}

impl Runner for Fake {
    fn run(&mut self, cmd: &Cmd) -> Result<String, String> {
        let line = cmd.to_string();
        self.log.push(line.clone());
        if self.fail.as_deref() == Some(line.as_str()) || (self.gone && line == "ifconfig utun7") {
            return Err(format!("{line}: failed"));
        }
        Ok(match line.as_str() {
            "ifconfig utun7" => "utun7: flags=8051<UP,POINTOPOINT,RUNNING,MULTICAST> mtu 1500\n",
            "netstat -nr -f inet" if !self.no_gateway => NETSTAT4,
            "networksetup -listallnetworkservices" => {
                "An asterisk (*) denotes that a network service is disabled.\nWi-Fi\n*Ethernet\n"
            }
            "networksetup -getdnsservers Wi-Fi" => "192.168.1.1\n192.168.1.2\n",
            "networksetup -getdnsservers Ethernet" => {
                "There aren't any DNS Servers set on Ethernet.\n"
            }
            "networksetup -getsearchdomains Wi-Fi" => "home.arpa\n",
            "networksetup -getsearchdomains Ethernet" => {
                "There aren't any Search Domains set on Ethernet.\n"
            }
            l if l.starts_with("route -n get") && self.route_exists => {
                "   route to: 10.0.0.0\n  interface: utun7\n      flags: <UP,DONE>\n"
            }
            _ => "",
        }
        .to_owned())
    }
}

/// The mutating commands of `log` (queries dropped).
fn changes(log: &[String]) -> Vec<&str> {
    let changed = |l: &&String| {
        let mut words = l.split(' ');
        let first = words.next().unwrap();
        let programs = ["ifconfig", "route", "netstat", "networksetup"];
        let program = programs.into_iter().find(|p| *p == first).unwrap();
        !Cmd::new(program, words).is_query()
    };
    log.iter().filter(changed).map(String::as_str).collect()
}

fn run(fake: Fake, p: &NetworkPlan) -> (Vec<String>, Vec<String>) {
    let mut applied = apply(fake, "utun7", p).unwrap();
    let did = applied.runner().log.clone();
    let errors = applied.undo();
    assert!(errors.is_empty(), "{errors:?}");
    let all = applied.runner().log.clone();
    let undone = all[did.len()..].to_vec();
    (did, undone)
}

#[test]
fn full_tunnel_dual_stack_like_wg_quick() {
    let p = plan(
        "Address = 198.19.0.2/24, fd19::2/64\nDNS = 198.19.0.1, fd19::1, corp.example\nMTU = 1380",
        "0.0.0.0/0, ::/0",
    );
    let (did, undone) = run(Fake::default(), &p);
    assert_eq!(
        changes(&did),
        vec![
            "ifconfig utun7 inet 198.19.0.2/24 198.19.0.2 alias",
            "ifconfig utun7 inet6 fd19::2/64 alias",
            "ifconfig utun7 mtu 1380",
            "ifconfig utun7 up",
            "route -q -n add -inet 0.0.0.0/1 -interface utun7",
            "route -q -n add -inet 128.0.0.0/1 -interface utun7",
            "route -q -n add -inet6 ::/1 -interface utun7",
            "route -q -n add -inet6 8000::/1 -interface utun7",
            // The endpoint via the physical default gateway (not the `link#` row).
            "route -q -n add -inet 198.18.0.1 -gateway 198.18.0.254",
            "networksetup -setdnsservers Wi-Fi 198.19.0.1 fd19::1",
            "networksetup -setsearchdomains Wi-Fi corp.example",
            "networksetup -setdnsservers Ethernet 198.19.0.1 fd19::1",
            "networksetup -setsearchdomains Ethernet corp.example",
        ]
    );
    assert_eq!(
        changes(&undone),
        vec![
            "networksetup -setsearchdomains Ethernet Empty",
            "networksetup -setdnsservers Ethernet Empty",
            "networksetup -setsearchdomains Wi-Fi home.arpa",
            "networksetup -setdnsservers Wi-Fi 192.168.1.1 192.168.1.2",
            "route -q -n delete -inet 198.18.0.1",
            "route -q -n delete -inet6 8000::/1 -interface utun7",
            "route -q -n delete -inet6 ::/1 -interface utun7",
            "route -q -n delete -inet 128.0.0.0/1 -interface utun7",
            "route -q -n delete -inet 0.0.0.0/1 -interface utun7",
            "ifconfig utun7 mtu 1500",
            "ifconfig utun7 inet6 fd19::2 -alias",
            "ifconfig utun7 inet 198.19.0.2 -alias",
        ]
    );
}

#[test]
fn split_tunnel_longest_prefix_first_no_bypass_no_dns() {
    let p = plan("Address = 198.19.0.2/32\nDNS = corp.example", "198.19.0.0/24, 10.9.0.0/16");
    let ops = operations(&p).unwrap();
    assert!(!ops.iter().any(|o| matches!(o, MacOp::Bypass { .. } | MacOp::Dns { .. })));
    let (did, _) = run(Fake::default(), &p);
    assert!(did.contains(&"route -n get -inet 198.19.0.0/24".to_owned()), "{did:?}");
    assert_eq!(
        changes(&did),
        vec![
            "ifconfig utun7 inet 198.19.0.2/32 198.19.0.2 alias",
            "ifconfig utun7 mtu 1420",
            "ifconfig utun7 up",
            "route -q -n add -inet 198.19.0.0/24 -interface utun7",
            "route -q -n add -inet 10.9.0.0/16 -interface utun7",
        ]
    );
}

#[test]
fn a_route_already_via_the_interface_is_not_added_nor_undone() {
    let p = plan("Address = 198.19.0.2/32", "10.0.0.0/8");
    let (did, undone) = run(Fake { route_exists: true, ..Fake::default() }, &p);
    assert!(!did.iter().any(|l| l.starts_with("route -q -n add")), "{did:?}");
    assert!(!undone.iter().any(|l| l.starts_with("route")), "{undone:?}");
}

#[test]
fn no_gateway_means_a_blackhole_for_the_endpoint() {
    let p = plan("Address = 198.19.0.2/32", "0.0.0.0/0");
    let (did, _) = run(Fake { no_gateway: true, ..Fake::default() }, &p);
    assert!(did.contains(&"route -q -n add -inet 198.18.0.1 127.0.0.1 -blackhole".to_owned()));
}

#[test]
fn tables_main_and_off_and_a_numbered_table_is_refused() {
    let off = operations(&plan("Address = 198.19.0.2/24\nTable = off", "0.0.0.0/0")).unwrap();
    assert!(!off.iter().any(|o| matches!(o, MacOp::Route { .. } | MacOp::Bypass { .. })));
    // `main`: a /0 is a plain route, no halves, no bypass (wg-quick's else branch).
    let main = operations(&plan("Table = main", "0.0.0.0/0")).unwrap();
    let dest: AllowedIp = "0.0.0.0/0".parse().unwrap();
    assert!(main.contains(&MacOp::Route { dest, if_missing: true }), "{main:?}");
    assert!(!main.iter().any(|o| matches!(o, MacOp::Bypass { .. })));
    let err = operations(&plan("Table = 1234", "10.0.0.0/8")).unwrap_err();
    assert!(err.contains("Table = auto, main or off"), "{err}");
}

#[test]
fn a_failure_undoes_everything_done_newest_first() {
    let p = plan("Address = 198.19.0.2/24\nDNS = 198.19.0.1", "0.0.0.0/0");
    let fail = "networksetup -setdnsservers Ethernet 198.19.0.1".to_owned();
    let fake = Fake { fail: Some(fail.clone()), ..Fake::default() };
    let err = apply(fake, "utun7", &p).unwrap_err();
    assert_eq!(err, format!("{fail}: failed"));
    // Nothing recorded survives: run again with a runner we can inspect.
    let mut fake = Fake { fail: Some(fail), ..Fake::default() };
    let mut applied =
        Applied { runner: std::mem::take(&mut fake), ifname: "utun7".into(), done: vec![] };
    for op in operations(&p).unwrap() {
        if applied.execute(&op).is_err() {
            break;
        }
    }
    assert_eq!(
        applied.recorded().iter().map(|u| u.cmd.to_string()).collect::<Vec<_>>(),
        vec![
            "ifconfig utun7 inet 198.19.0.2 -alias",
            "ifconfig utun7 mtu 1500",
            "route -q -n delete -inet 0.0.0.0/1 -interface utun7",
            "route -q -n delete -inet 128.0.0.0/1 -interface utun7",
            "route -q -n delete -inet 198.18.0.1",
            "networksetup -setdnsservers Wi-Fi 192.168.1.1 192.168.1.2",
            "networksetup -setsearchdomains Wi-Fi home.arpa",
        ]
    );
    applied.done.clear();
}

#[test]
fn once_the_interface_is_gone_only_dns_and_bypass_are_undone() {
    let p = plan("Address = 198.19.0.2/24\nDNS = 198.19.0.1", "0.0.0.0/0");
    let mut applied = apply(Fake::default(), "utun7", &p).unwrap();
    let before = applied.runner().log.len();
    applied.runner.gone = true;
    assert!(applied.undo().is_empty());
    let undone = &applied.runner().log[before + 1..];
    assert!(
        undone
            .iter()
            .all(|l| l.starts_with("networksetup") || l == "route -q -n delete -inet 198.18.0.1"),
        "{undone:?}"
    );
    assert_eq!(undone.len(), 5, "{undone:?}");
}

#[test]
fn parsers() {
    assert_eq!(parse_mtu("utun3: flags=8051<UP> mtu 1420\n\tinet 10.0.0.2"), Some(1420));
    assert_eq!(parse_mtu("no such interface"), None);
    assert_eq!(parse_gateway(NETSTAT4), Some("198.18.0.254".into()));
    assert_eq!(parse_gateway("default link#4 UCS en0\n"), None);
    assert_eq!(parse_dns_values(""), vec!["Empty"]);
    assert_eq!(
        parse_services("note\nWi-Fi\n*Thunderbolt Bridge\n"),
        vec!["Wi-Fi", "Thunderbolt Bridge"]
    );
    assert!(routes_via("  interface: utun3\n", "utun3"));
    assert!(!routes_via("  interface: utun30\n", "utun3"));
    let c = Cmd::new("networksetup", ["-setdnsservers", "Thunderbolt Bridge", "Empty"]);
    assert_eq!(c.to_string(), "networksetup -setdnsservers 'Thunderbolt Bridge' Empty");
}
