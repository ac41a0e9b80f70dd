//! The macOS crash marker: its text round-trips, a torn or odd file is read safely, the
//! owner decision, and (with a scripted runner and a temp dir) what an apply leaves on a
//! "crash" is replayed host-side, newest first, by the next cleanup.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::netconf::mac_plan::{apply, Applied};
use ferrowg_core::config::WgQuickConfig;
use ferrowg_core::netplan::NetworkPlan;

const KEY: &str = "AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A=";
const PEER: &str = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";

fn plan() -> NetworkPlan {
    let text = format!(
        "[Interface]\nPrivateKey = {KEY}\nAddress = 198.19.0.2/24\nDNS = 198.19.0.1\n\
         [Peer]\nPublicKey = {PEER}\nAllowedIPs = 0.0.0.0/0\nEndpoint = 198.18.0.1:51820\n"
    );
    NetworkPlan::from_config(&WgQuickConfig::parse(&text).unwrap())
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ferrowg-macmark-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Answers like a Mac with one network service `Home Wi-Fi` (a name with a space);
/// fails the commands listed in `fail`; for every change, notes the marker's last line
/// at the moment it ran (to show the undo is listed before the change is made).
#[derive(Debug, Default)]
struct Fake {
    log: Vec<String>,
    fail: Vec<String>,
    marker: Option<PathBuf>,
    last_line_then: Vec<(String, Option<String>)>,
}

impl Runner for Fake {
    fn run(&mut self, cmd: &Cmd) -> Result<String, String> {
        let line = cmd.to_string();
        self.log.push(line.clone());
        if let (Some(path), false) = (&self.marker, cmd.is_query()) {
            let text = std::fs::read_to_string(path).ok();
            let last = text.and_then(|t| t.lines().last().map(str::to_owned));
            self.last_line_then.push((line.clone(), last));
        }
        if self.fail.contains(&line) {
            return Err(format!("{line}: failed"));
        }
        Ok(match line.as_str() {
            "ifconfig utun7" => "utun7: flags=8051<UP,POINTOPOINT,RUNNING> mtu 1500\n",
            "netstat -nr -f inet" => "default            198.18.0.254       UGScg en0\n",
            "networksetup -listallnetworkservices" => "An asterisk (*) ...\nHome Wi-Fi\n",
            "networksetup -getdnsservers 'Home Wi-Fi'" => "192.168.1.1\n",
            "networksetup -getsearchdomains 'Home Wi-Fi'" => "home.arpa\n",
            _ => "",
        }
        .to_owned())
    }
}

const ME: Owner = Owner { pid: 4242, start: 1_733_230_000_123_456 };

fn applied(dir: &TempDir, fake: Fake) -> Result<Applied<Marked<Fake>>, String> {
    let path = marker_path(&dir.0, "utun7");
    let fake = Fake { marker: Some(path.clone()), ..fake };
    apply(Marked::new(fake, MarkerFile::new(path, ME)), "utun7", &plan())
}

const HOST_UNDOS_NEWEST_FIRST: [&str; 3] = [
    "networksetup -setsearchdomains 'Home Wi-Fi' home.arpa",
    "networksetup -setdnsservers 'Home Wi-Fi' 192.168.1.1",
    "route -q -n delete -inet 198.18.0.1",
];

#[test]
fn lines_round_trip_with_odd_arguments() {
    for args in [
        vec!["-setdnsservers", "Thunderbolt Bridge", "Empty"],
        vec!["-setsearchdomains", "100% W\u{e9}-Fi\t2", ""],
        vec!["a%20b", "%", "line\nbreak"],
    ] {
        let cmd =
            Cmd { program: "networksetup", args: args.iter().map(|a| a.to_string()).collect() };
        let undo = Undo { cmd, on_interface: false };
        let l = line(&undo);
        assert_eq!(l.split_whitespace().count(), 2 + args.len(), "{l}");
        assert!(!l.contains('\n'), "{l}");
        assert_eq!(parse_line(&l), Ok(Some(undo)));
    }
    let iface = Undo {
        cmd: Cmd { program: "ifconfig", args: vec!["utun7".into(), "mtu".into(), "1500".into()] },
        on_interface: true,
    };
    assert_eq!(line(&iface), "iface ifconfig utun7 mtu 1500");
}

#[test]
fn parsing_is_tolerant_but_refuses_unknown_kinds() {
    let good = "pid 12 34\nhost route -q -n delete -inet 198.18.0.1\n";
    let p = parse(good).unwrap();
    assert_eq!(p.owner, Some(Owner { pid: 12, start: 34 }));
    assert_eq!(p.entries.len(), 1);
    assert!(p.ignored.is_empty());
    // A torn last line (no newline) is ignored, even when it would parse.
    let torn = format!("{good}host route -q -n delete -inet 198.18.0");
    let p = parse(&torn).unwrap();
    assert_eq!((p.entries.len(), p.ignored.len()), (1, 1), "{p:?}");
    // A torn header: no owner.
    assert_eq!(parse("pid 12").unwrap().owner, None);
    assert_eq!(parse("pid 12\n").unwrap().owner, None);
    // Unknown programs (never a path) and bad escapes are ignored.
    let odd = "pid 1 2\nhost /bin/rm -rf /\nhost rm x\nhost route %zz\nhost route %4\n";
    let p = parse(odd).unwrap();
    assert!(p.entries.is_empty(), "{p:?}");
    assert_eq!(p.ignored.len(), 4);
    // A line of a kind this version does not know refuses.
    let err = parse("pid 1 2\nnft v4\n").unwrap_err();
    assert!(err.contains("nft v4"), "{err}");
}

#[test]
fn the_owner_is_gone_only_when_no_process_of_its_pid_and_start_runs() {
    let o = Owner { pid: 7, start: 100 };
    assert!(!owner_alive(&o, Probe::Gone));
    assert!(owner_alive(&o, Probe::Started(100)));
    // The pid was reused by a later process.
    assert!(!owner_alive(&o, Probe::Started(101)));
    // Not allowed to look: assume it is the writer.
    assert!(owner_alive(&o, Probe::Unknown));
    // The writer's start time was unknown: any process with the pid counts.
    assert!(owner_alive(&Owner { pid: 7, start: 0 }, Probe::Started(5)));
    let text = format!("{}\nhost route -q -n delete -inet 198.18.0.1\n", header(&o));
    let err = stale(&text, |_| true).unwrap_err();
    assert!(err.contains("running process 7"), "{err}");
    assert!(stale("pid 7\n", |_| false).unwrap_err().contains("header"));
}

#[test]
fn each_undo_is_listed_before_its_change_and_a_clean_undo_removes_the_file() {
    let dir = TempDir::new();
    let mut a = applied(&dir, Fake::default()).unwrap();
    let path = marker_path(&dir.0, "utun7");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, render(&ME, a.recorded()));
    assert!(text.starts_with("pid 4242 1733230000123456\niface ifconfig utun7 inet "), "{text}");
    assert!(text.contains("\nhost networksetup -setdnsservers Home%20Wi-Fi 192.168.1.1\n"));
    let then = &a.runner().inner.last_line_then;
    let at = |prefix: &str| then.iter().find(|(c, _)| c.starts_with(prefix)).unwrap().1.clone();
    assert_eq!(
        at("route -q -n add -inet 198.18.0.1").as_deref(),
        Some("host route -q -n delete -inet 198.18.0.1")
    );
    assert_eq!(
        at("networksetup -setdnsservers").as_deref(),
        Some("host networksetup -setdnsservers Home%20Wi-Fi 192.168.1.1")
    );
    assert!(a.undo().is_empty());
    assert!(!path.exists());
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0, "a .tmp left behind");
}

#[test]
fn a_failed_apply_leaves_no_marker() {
    let dir = TempDir::new();
    let fail = vec!["networksetup -setsearchdomains 'Home Wi-Fi' Empty".to_owned()];
    let err = applied(&dir, Fake { fail, ..Fake::default() }).unwrap_err();
    assert!(err.contains("failed"), "{err}");
    assert!(!marker_path(&dir.0, "utun7").exists());
}

#[test]
fn a_crash_is_replayed_host_side_newest_first_and_the_marker_removed() {
    let dir = TempDir::new();
    let path = marker_path(&dir.0, "utun7");
    // The "crash": the Applied is never undone nor dropped.
    std::mem::forget(applied(&dir, Fake::default()).unwrap());
    assert!(path.exists());
    // Its writer still runs: refused, nothing run, the marker stays.
    let mut fake = Fake::default();
    let err = cleanup_stale(&mut fake, &path, |_| true, &|_| {}).unwrap_err();
    assert!(err.contains("running process 4242"), "{err}");
    assert!(fake.log.is_empty() && path.exists());
    // It died: the host-side undos run newest first; one failing does not stop the rest.
    let mut fake = Fake { fail: vec![HOST_UNDOS_NEWEST_FIRST[1].to_owned()], ..Fake::default() };
    let said = RefCell::new(Vec::new());
    let log = |m: &str| said.borrow_mut().push(m.to_owned());
    let undone = cleanup_stale(&mut fake, &path, |o| o.pid != ME.pid, &log).unwrap();
    assert_eq!(fake.log, HOST_UNDOS_NEWEST_FIRST);
    assert_eq!(undone, [HOST_UNDOS_NEWEST_FIRST[0], HOST_UNDOS_NEWEST_FIRST[2]]);
    assert!(said.borrow().iter().any(|l| l.contains("undo failed")), "{said:?}");
    assert!(!path.exists());
    // Nothing left: a second cleanup finds nothing.
    assert_eq!(cleanup_stale(&mut Fake::default(), &path, |_| false, &|_| {}), Ok(vec![]));
}

#[test]
fn a_torn_marker_replays_its_complete_lines() {
    let dir = TempDir::new();
    let path = marker_path(&dir.0, "utun7");
    let text = "pid 9 1\niface ifconfig utun7 mtu 1500\nhost route -q -n delete -inet 198.18.0.1\n\
                host networksetup -setdnsservers Wi-Fi 192.1";
    std::fs::write(&path, text).unwrap();
    std::fs::write(path.with_extension("state.tmp"), "pid 9 1\n").unwrap();
    let mut fake = Fake::default();
    let undone = cleanup_stale(&mut fake, &path, |_| false, &|_| {}).unwrap();
    assert_eq!(undone, ["route -q -n delete -inet 198.18.0.1"]);
    assert_eq!(fake.log, ["route -q -n delete -inet 198.18.0.1"]);
    assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 0);
}

#[test]
fn marker_names_are_safe() {
    assert_eq!(marker_path(Path::new("/d"), "utun7"), Path::new("/d/utun7.state"));
    assert_eq!(marker_path(Path::new("/d"), "../x y"), Path::new("/d/.._x_y.state"));
}
