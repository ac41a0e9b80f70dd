//! The binary without root: usage errors, broken wg-quick files refused by `ferrowg up`
//! with their exact error (before anything is created), and `ferrowg demo` end to end.

use std::path::PathBuf;
use std::process::{Command, Output};

const KEY: &str = "AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A=";
const PEER: &str = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";

fn ferrowg(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrowg")).args(args).output().unwrap()
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ferrowg-cli-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [&[][..], &["-x"], &["up"], &["demo", "extra"]] {
        let out = ferrowg(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage:"));
    }
    let out = ferrowg(&["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ferrowg v"));
}

#[cfg(target_os = "linux")]
#[test]
fn broken_wg_quick_files_get_their_exact_error() {
    let i = format!("[Interface]\nPrivateKey = {KEY}\n");
    let p = format!("{i}[Peer]\nPublicKey = {PEER}\n");
    let cases: Vec<(String, &str)> = vec![
        (format!("{i}ListenPort = 99999\n"), "line 3: ListenPort: `99999` is not a port number (0-65535)"),
        ("[Interface]\nPrivateKey = nope\n".into(), "line 2: PrivateKey: key decodes to 3 bytes, expected 32"),
        (format!("{p}AllowedIPs = 10.0.0.1/33\n"), "line 5: AllowedIPs: `/33` is not a prefix length for IPv4 (0-32)"),
        (format!("{p}Endpoint = 1.2.3.4\n"), "line 5: Endpoint: `1.2.3.4` has no port (expected host:port, IPv4:port or [IPv6]:port)"),
        (format!("{i}Bogus = 1\n"), "line 3: Bogus: unknown key in the [Interface] section"),
        (format!("{i}[Peer]\nAllowedIPs = 10.0.0.1/32\n"), "line 3: [Peer]: peer has no PublicKey"),
        (format!("PrivateKey = {KEY}\n"), "line 1: PrivateKey: key appears before any [Interface] or [Peer] section"),
        (format!("{i}Address = 10.0.0.1/40\n"), "line 3: Address: `/40` is not a prefix length for IPv4 (0-32)"),
        (format!("{i}MTU = abc\n"), "line 3: MTU: `abc` is not an MTU (1-65535)"),
        (format!("{p}PersistentKeepalive = 70000\n"), "line 5: PersistentKeepalive: `70000` is not a keepalive interval (off, or 0 to 65535 seconds)"),
        (format!("{p}[Peer]\nPublicKey = {PEER}\n"), "line 6: PublicKey: same public key as the peer at line 4"),
        (format!("{i}[Wat]\n"), "line 3: [Wat]: unknown section, expected [Interface] or [Peer]"),
        ("[Interface]\nPrivateKey\n".into(), "line 2: PrivateKey: expected `Key = Value`"),
    ];
    let dir = TempDir::new("broken");
    for (n, (text, want)) in cases.iter().enumerate() {
        let path = dir.0.join(format!("wgb{n}.conf"));
        std::fs::write(&path, text).unwrap();
        let out = ferrowg(&["up", path.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert_eq!(stderr.trim_end(), format!("ferrowg: {}: {want}", path.display()), "{text}");
    }
    let long = dir.0.join("waytoolonginterfacename.conf");
    std::fs::write(&long, &cases[0].0).unwrap();
    let out = ferrowg(&["up", long.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a valid interface name"));
    let not_conf = dir.0.join("wg0.txt");
    std::fs::write(&not_conf, &cases[0].0).unwrap();
    let out = ferrowg(&["up", not_conf.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be named IFNAME.conf"));
}

#[test]
fn demo_runs_to_a_summary() {
    let out = ferrowg(&["demo"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("handshake complete in"), "{stdout}");
    let packets = stdout.lines().find(|l| l.trim_start().starts_with("packets")).unwrap();
    let received: u64 =
        packets.split("received ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(received > 0, "{packets}");
    assert!(stdout.contains("RTT            min"), "{stdout}");
}
