//! Interop with the real `wg` tool (wireguard-tools): this test serves the UAPI socket
//! `/var/run/wireguard/IFNAME.sock` with the config module's parse/apply/format (no
//! device, no network traffic), then drives it with `wg setconf`, `wg set`, `wg showconf`
//! and `wg show`, exactly as a user would drive wireguard-go. Needs root and `wg`.
#![cfg(target_os = "linux")]
#![allow(clippy::disallowed_methods)] // a test harness: runs `wg`, writes and reads its files

use std::fs;
use std::io::{BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ferrowg_core::config::uapi::{
    apply, format_get, parse_request, read_request, Request, UapiError, UapiErrorKind,
};
use ferrowg_core::config::{DeviceConfig, PeerStats, WgQuickConfig};
use ferrowg_core::keys::PublicKey;

const SOCK_DIR: &str = "/var/run/wireguard";
// Clamped, as the device reports it.
const PRIV: &str = "AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A=";
const P1: &str = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";
const P2: &str = "MjM0NTY3ODk6Ozw9Pj9AQUJDREVGR0hJSktMTU5PUFE=";
const PSK: &str = "yMnKy8zNzs/Q0dLT1NXW19jZ2tvc3d7f4OHi4+Tl5uc=";

/// A UAPI server on a unique socket, removed (with the directory, if it created it) on drop.
struct FakeDevice {
    name: String,
    path: PathBuf,
    created_dir: bool,
    state: Arc<Mutex<DeviceConfig>>,
    reject_sets: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeDevice {
    fn start(tag: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("fwg{}{tag}{n}", std::process::id() % 100_000);
        assert!(name.len() <= 15, "interface name too long: {name}");
        let created_dir = !Path::new(SOCK_DIR).exists();
        fs::create_dir_all(SOCK_DIR).expect("create /var/run/wireguard (run as root)");
        let path = Path::new(SOCK_DIR).join(format!("{name}.sock"));
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let state = Arc::new(Mutex::new(DeviceConfig::default()));
        let reject_sets = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, reject, stop) = (state.clone(), reject_sets.clone(), stop.clone());
            std::thread::spawn(move || serve(listener, &state, &reject, &stop))
        };
        Self { name, path, created_dir, state, reject_sets, stop, thread: Some(thread) }
    }

    fn wg(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new("wg");
        for a in args {
            cmd.arg(if *a == "IF" { self.name.as_str() } else { a });
        }
        cmd.output().expect("`wg` (wireguard-tools) must be installed")
    }

    fn wg_ok(&self, args: &[&str]) -> String {
        let out = self.wg(args);
        assert!(out.status.success(), "wg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn config(&self) -> DeviceConfig {
        self.state.lock().unwrap().clone()
    }
}

impl Drop for FakeDevice {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = fs::remove_file(&self.path);
        if self.created_dir {
            let _ = fs::remove_dir(SOCK_DIR);
        }
    }
}

/// Accepts connections until told to stop (at most 60 s, at most 1000 connections).
fn serve(
    listener: UnixListener,
    state: &Mutex<DeviceConfig>,
    reject: &AtomicBool,
    stop: &AtomicBool,
) {
    for _ in 0..60_000 {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                handle(stream, state, reject);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(1)),
        }
    }
}

/// One connection: requests until EOF, like wireguard-go's IpcHandle.
fn handle(stream: UnixStream, state: &Mutex<DeviceConfig>, reject: &AtomicBool) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    for _ in 0..100 {
        let Ok(Some(request)) = read_request(&mut reader, 1 << 20) else { return };
        let reply = match parse_request(&request) {
            Ok(Request::Get) => {
                let cfg = state.lock().unwrap().clone();
                format_get(&cfg, |p| PeerStats {
                    last_handshake: Some(Duration::new(
                        1_700_000_000 + u64::from(p.public_key.0[0]),
                        5,
                    )),
                    rx_bytes: 1000 + u64::from(p.public_key.0[0]),
                    tx_bytes: 2000 + u64::from(p.public_key.0[0]),
                })
            }
            Ok(Request::Set(_)) if reject.load(Ordering::Relaxed) => {
                UapiError { line: 1, key: "set".into(), kind: UapiErrorKind::NoPeer }.response()
            }
            Ok(Request::Set(ops)) => {
                let mut cfg = state.lock().unwrap();
                match apply(&ops, &cfg) {
                    Ok(new) => {
                        *cfg = new;
                        "errno=0\n\n".to_owned()
                    }
                    Err(e) => e.response(),
                }
            }
            Err(e) => e.response(),
        };
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn conf_file(dev: &FakeDevice, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("{}.conf", dev.name));
    fs::write(&path, text).unwrap();
    path
}

fn wg_conf() -> String {
    let mut ips: Vec<String> =
        (0..10_000u32).map(|i| format!("10.{}.{}.0/24", i / 256, i % 256)).collect();
    ips.push("fd00:1::/64".into());
    format!(
        "[Interface]\nPrivateKey = {PRIV}\nListenPort = 51820\nFwMark = 0x42\n\n\
         [Peer]\nPublicKey = {P1}\nPresharedKey = {PSK}\nAllowedIPs = {}\nEndpoint = 127.0.0.1:51821\nPersistentKeepalive = 25\n\n\
         [Peer]\nPublicKey = {P2}\nAllowedIPs = 198.19.0.0/24, fd19::/64\nEndpoint = [::1]:51822\n",
        ips.join(", ")
    )
}

#[test]
fn wg_setconf_then_showconf_reads_back_equal() {
    let dev = FakeDevice::start("s");
    let text = wg_conf();
    let file = conf_file(&dev, &text);
    dev.wg_ok(&["setconf", "IF", file.to_str().unwrap()]);
    let _ = fs::remove_file(&file);

    let want = WgQuickConfig::parse(&text).unwrap().device;
    assert_eq!(dev.config(), want, "state after wg setconf");

    let shown = dev.wg_ok(&["showconf", "IF"]);
    let back = WgQuickConfig::parse(&shown).unwrap();
    assert_eq!(back.device.peers.len(), 2);
    // wg sorts peers by handshake time and prints allowed IPs in our order.
    let mut got = back.device.clone();
    got.peers.sort_by_key(|p| p.public_key);
    let mut want_sorted = want.clone();
    want_sorted.peers.sort_by_key(|p| p.public_key);
    assert_eq!(got, want_sorted, "wg showconf output:\n{}", &shown[..shown.len().min(2000)]);
}

#[test]
fn wg_set_edits_and_wg_show_reports_counters() {
    let dev = FakeDevice::start("e");
    let file = conf_file(&dev, &wg_conf());
    dev.wg_ok(&["setconf", "IF", file.to_str().unwrap()]);
    let _ = fs::remove_file(&file);

    dev.wg_ok(&[
        "set",
        "IF",
        "listen-port",
        "51999",
        "peer",
        P2,
        "allowed-ips",
        "198.19.1.0/24",
        "persistent-keepalive",
        "7",
    ]);
    dev.wg_ok(&["set", "IF", "peer", P1, "remove"]);
    let cfg = dev.config();
    assert_eq!(cfg.listen_port, Some(51999));
    assert_eq!(cfg.peers.len(), 1);
    let p2 = PublicKey::from_base64(P2).unwrap();
    assert_eq!(cfg.peers[0].public_key, p2);
    assert_eq!(cfg.peers[0].allowed_ips.len(), 1);
    assert_eq!(cfg.peers[0].allowed_ips[0].to_string(), "198.19.1.0/24");
    assert_eq!(cfg.peers[0].persistent_keepalive, Some(7));

    let first = u64::from(p2.0[0]);
    assert_eq!(
        dev.wg_ok(&["show", "IF", "transfer"]),
        format!("{P2}\t{}\t{}\n", 1000 + first, 2000 + first)
    );
    assert_eq!(
        dev.wg_ok(&["show", "IF", "latest-handshakes"]),
        format!("{P2}\t{}\n", 1_700_000_000 + first)
    );
    assert_eq!(dev.wg_ok(&["show", "IF", "listen-port"]), "51999\n");
}

#[test]
fn wg_reports_our_errno_as_invalid_argument() {
    let dev = FakeDevice::start("r");
    dev.reject_sets.store(true, Ordering::Relaxed);
    let out = dev.wg(&["set", "IF", "listen-port", "1"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Invalid argument"), "{stderr}");
    assert_eq!(dev.config(), DeviceConfig::default());
}

/// Runs a wg-quick file through `wg-quick strip` and `wg setconf`, as `wg-quick up`
/// would; true if both accept it.
fn wg_tools_accept(dev: &FakeDevice, text: &str) -> bool {
    let dir = std::env::temp_dir().join(format!("{}-quick", dev.name));
    fs::create_dir_all(&dir).unwrap();
    let conf = dir.join(format!("{}.conf", dev.name));
    fs::write(&conf, text).unwrap();
    let strip = Command::new("wg-quick").arg("strip").arg(&conf).output().unwrap();
    let accepted = strip.status.success() && {
        let stripped = dir.join("stripped");
        fs::write(&stripped, &strip.stdout).unwrap();
        dev.wg(&["setconf", "IF", stripped.to_str().unwrap()]).status.success()
    };
    let _ = fs::remove_dir_all(&dir);
    accepted
}

#[test]
fn broken_files_are_broken_for_wg_quick_too_except_our_stricter_checks() {
    // Checks we make up front that wg-quick leaves to `ip`/resolvconf at `up` time;
    // duplicate peers, which `wg` silently merges; and ports above 65535, which `wg`
    // passes to getaddrinfo, and glibc truncates to 16 bits (65536 becomes port 0).
    const STRICTER: [&str; 8] = [
        "10-port-too-big",
        "16-endpoint-bad-port",
        "21-address-prefix",
        "22-dns-bad-ip",
        "23-mtu-zero",
        "24-mtu-text",
        "25-table-bad",
        "28-duplicate-peer",
    ];
    let dev = FakeDevice::start("q");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config");
    let mut bad: Vec<_> =
        fs::read_dir(dir.join("bad")).unwrap().map(|e| e.unwrap().path()).collect();
    bad.sort();
    let mut mismatches = Vec::new();
    for path in bad {
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let text = fs::read_to_string(&path).unwrap();
        assert!(WgQuickConfig::parse(&text).is_err());
        let accepted = wg_tools_accept(&dev, &text);
        if accepted != STRICTER.contains(&name.as_str()) {
            mismatches.push(format!("{name}: wg-quick+wg accept = {accepted}"));
        }
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
    // Good files (the hostname endpoint swapped for a literal: no DNS in tests).
    for name in ["crlf.conf", "full.conf", "minimal.conf"] {
        let text = fs::read_to_string(dir.join("good").join(name)).unwrap();
        let text = text.replace("vpn.example.com:443", "127.0.0.1:443");
        let ours = WgQuickConfig::parse(&text).unwrap();
        assert!(wg_tools_accept(&dev, &text), "{name}");
        let mut got = dev.config();
        got.peers.sort_by_key(|p| p.public_key);
        let mut want = ours.device.clone();
        want.peers.sort_by_key(|p| p.public_key);
        // The device stores the private key clamped.
        want.private_key = want.private_key.map(|k| {
            let mut b = *k.as_bytes();
            b[0] &= 248;
            b[31] = (b[31] & 127) | 64;
            ferrowg_core::keys::PrivateKey::from_bytes(b)
        });
        assert_eq!(got, want, "{name}");
    }
}
