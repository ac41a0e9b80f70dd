//! The shared plan table → the command lines wg-quick's darwin.bash runs for the same
//! files, and the undo record (newest first, exactly what was done).

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

include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/plans/table.rs"));

/// Every command run, queries marked `?`: the apply, then the undo (or the error).
fn mac_lines(p: &NetworkPlan) -> String {
    let mark = |lines: &[String]| -> Vec<String> {
        let changed = changes(lines);
        lines
            .iter()
            .map(|l| if changed.contains(&l.as_str()) { l.clone() } else { format!("? {l}") })
            .collect()
    };
    let mut out = Vec::new();
    match operations(p) {
        Err(e) => out.push(format!("error: {e}")),
        Ok(_) => {
            let (did, undone) = run(Fake::default(), p);
            out.extend(mark(&did));
            out.push("# undo".to_owned());
            out.extend(mark(&undone));
        }
    }
    out.join("\n") + "\n"
}

/// The shared plan table (tests/plans) → the command lines, on a Mac with Wi-Fi and a
/// disabled Ethernet service (the `Fake` runner), checked against what wg-quick's
/// darwin.bash runs for the same files (see tests/plans/README.md).
#[test]
fn plan_table_macos_commands() {
    check_table("macos", |stem, text| {
        let config = WgQuickConfig::parse(text).unwrap_or_else(|e| panic!("{stem}.conf: {e}"));
        mac_lines(&NetworkPlan::from_config(&config))
    });
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
