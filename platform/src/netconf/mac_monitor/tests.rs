//! The route monitor's decisions with a scripted runner: which bypass routes move, and
//! where, when the default gateway changes (as wg-quick's `set_endpoint_direct_route`).

use super::*;

/// A Mac whose default gateways are set by the test; `netstat` of a family fails when
/// its `fail_*` is set, `ifconfig utun7` when `gone`.
#[derive(Debug, Default)]
struct Fake {
    log: Vec<String>,
    gw4: Option<&'static str>,
    gw6: Option<&'static str>,
    fail4: bool,
    gone: bool,
}

impl Runner for Fake {
    fn run(&mut self, cmd: &Cmd) -> Result<String, String> {
        let line = cmd.to_string();
        let row = |gw: Option<&str>| match gw {
            Some(gw) => {
                format!("default            link#9   UCSIg utun3\ndefault {gw} UGScg en0\n")
            }
            None => "default            link#9   UCSIg utun3\n".to_owned(),
        };
        let out = match line.as_str() {
            "ifconfig utun7" if self.gone => Err(format!("{line}: no such interface")),
            "netstat -nr -f inet" if self.fail4 => Err(format!("{line}: failed")),
            "netstat -nr -f inet" => Ok(row(self.gw4)),
            "netstat -nr -f inet6" => Ok(row(self.gw6)),
            _ => Ok(String::new()),
        };
        if !cmd.is_query() {
            self.log.push(line);
        }
        out
    }
}

fn undo(program: &'static str, args: &[&str], on_interface: bool) -> Undo {
    Undo { cmd: Cmd { program, args: args.iter().map(|a| a.to_string()).collect() }, on_interface }
}

/// An undo list as an apply of a dual-stack full tunnel with two endpoints records it.
fn done() -> Vec<Undo> {
    vec![
        undo("ifconfig", &["utun7", "inet", "198.19.0.2", "-alias"], true),
        undo("route", &["-q", "-n", "delete", "-inet", "0.0.0.0/1", "-interface", "utun7"], true),
        undo("route", &["-q", "-n", "delete", "-inet", "198.18.0.1"], false),
        undo("route", &["-q", "-n", "delete", "-inet", "198.18.0.7"], false),
        undo("route", &["-q", "-n", "delete", "-inet6", "fd18::1"], false),
        undo("networksetup", &["-setdnsservers", "Wi-Fi", "Empty"], false),
    ]
}

/// The monitor of `done`, the gateways read from `fake` first.
fn monitor(fake: &mut Fake, done: &[Undo]) -> Monitor {
    let before = read_gateways(fake).unwrap();
    Monitor::new("utun7", done, &before).unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn the_bypass_hosts_are_read_from_the_undo_list() {
    assert_eq!(bypass_hosts(&done()), [ip("198.18.0.1"), ip("198.18.0.7"), ip("fd18::1")]);
    assert!(is_route_message("RTM_ADD: Add Route: len 176, pid: 0, seq 0, errno 0"));
    assert!(!is_route_message("got message of size 176 on Thu Dec  3 15:00:00 2026"));
    assert!(!is_route_message("locks:  inits: "));
}

#[test]
fn no_bypass_route_no_monitor() {
    let only_iface = &done()[..2];
    let before = read_gateways(&mut Fake::default()).unwrap();
    assert_eq!(Monitor::new("utun7", only_iface, &before), None);
}

#[test]
fn a_gateway_change_moves_only_that_familys_routes() {
    let mut fake = Fake { gw4: Some("198.18.0.254"), gw6: Some("fd18::fe"), ..Fake::default() };
    let mut m = monitor(&mut fake, &done());
    // A routing message with nothing changed: nothing run.
    assert!(m.on_message(&mut fake, &|_| {}));
    assert!(fake.log.is_empty(), "{:?}", fake.log);
    // The IPv4 gateway changes (another Wi-Fi network).
    fake.gw4 = Some("192.168.7.1");
    assert!(m.on_message(&mut fake, &|_| {}));
    assert_eq!(
        fake.log,
        [
            "route -q -n delete -inet 198.18.0.1",
            "route -q -n add -inet 198.18.0.1 -gateway 192.168.7.1",
            "route -q -n delete -inet 198.18.0.7",
            "route -q -n add -inet 198.18.0.7 -gateway 192.168.7.1",
        ]
    );
    assert!(m.routes().contains(&(ip("fd18::1"), Some("fd18::fe".into()))));
    assert!(m.routes().contains(&(ip("198.18.0.7"), Some("192.168.7.1".into()))));
    // The next message: already moved, nothing again.
    fake.log.clear();
    assert!(m.on_message(&mut fake, &|_| {}));
    assert!(fake.log.is_empty(), "{:?}", fake.log);
}

#[test]
fn no_gateway_means_blackhole_routes_until_one_appears() {
    let mut fake = Fake { gw6: Some("fd18::fe"), ..Fake::default() };
    let mut m = monitor(&mut fake, &done()[4..]);
    fake.gw6 = None;
    assert!(m.on_message(&mut fake, &|_| {}));
    assert_eq!(
        fake.log,
        ["route -q -n delete -inet6 fd18::1", "route -q -n add -inet6 fd18::1 ::1 -blackhole"]
    );
    fake.log.clear();
    fake.gw6 = Some("fe80::1%en0");
    assert!(m.on_message(&mut fake, &|_| {}));
    assert_eq!(
        fake.log,
        [
            "route -q -n delete -inet6 fd18::1",
            "route -q -n add -inet6 fd18::1 -gateway fe80::1%en0"
        ]
    );
}

#[test]
fn a_failing_netstat_moves_nothing_and_a_gone_interface_stops() {
    let mut fake = Fake { gw4: Some("198.18.0.254"), ..Fake::default() };
    let mut m = monitor(&mut fake, &done()[..4]);
    fake.fail4 = true;
    let said = std::cell::RefCell::new(Vec::new());
    assert!(m.on_message(&mut fake, &|l| said.borrow_mut().push(l.to_owned())));
    assert!(fake.log.is_empty(), "{:?}", fake.log);
    assert_eq!(said.borrow().len(), 1, "{said:?}");
    // Once netstat answers again with the same gateway: still nothing.
    fake.fail4 = false;
    assert!(m.on_message(&mut fake, &|_| {}));
    assert!(fake.log.is_empty(), "{:?}", fake.log);
    fake.gone = true;
    fake.gw4 = Some("10.1.1.1");
    assert!(!m.on_message(&mut fake, &|_| {}));
    assert!(fake.log.is_empty(), "{:?}", fake.log);
}

#[test]
fn reroute_deletes_then_adds_each_host() {
    let cmds: Vec<String> =
        reroute(&[ip("198.18.0.1")], None).iter().map(|c| c.to_string()).collect();
    assert_eq!(
        cmds,
        [
            "route -q -n delete -inet 198.18.0.1",
            "route -q -n add -inet 198.18.0.1 127.0.0.1 -blackhole"
        ]
    );
}

#[test]
fn a_change_between_the_reading_before_the_apply_and_the_monitor_moves_at_the_first_message() {
    let mut fake = Fake { gw4: Some("198.18.0.254"), ..Fake::default() };
    let before = read_gateways(&mut fake).unwrap();
    assert_eq!(before, [Some("198.18.0.254".to_owned()), None]);
    // The apply ran (its bypass routes via .254), then the gateway changed.
    fake.gw4 = Some("10.0.0.1");
    let mut m = Monitor::new("utun7", &done()[2..3], &before).unwrap();
    assert!(m.on_message(&mut fake, &|_| {}));
    assert_eq!(
        fake.log,
        [
            "route -q -n delete -inet 198.18.0.1",
            "route -q -n add -inet 198.18.0.1 -gateway 10.0.0.1"
        ]
    );
    fake.fail4 = true;
    assert!(read_gateways(&mut fake).is_err());
}
