//! The real `wg.exe` (wireguard-tools built for Windows) against our named pipe, under
//! wine: `wg show`, `wg set` and `wg showconf` through
//! `\\.\pipe\ProtectedPrefix\Administrators\WireGuard\NAME`, served by a host-packet
//! engine. wg.exe is not part of the project: scripts/wine-tests.sh runs this test
//! (`--ignored`) only when `WG_EXE` names a wg.exe built outside the repository.

use std::process::Command;
use std::sync::Arc;

use ferrowg_core::keys::PrivateKey;

use crate::uapi_parity::{engine, target};

/// Runs `wg.exe ARGS`; returns its stdout, panicking (with stderr) if it failed.
fn wg(exe: &str, args: &[&str]) -> String {
    let out = Command::new(exe).args(args).output().expect("cannot start WG_EXE");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "wg {args:?}: {:?}\n{stdout}\n{stderr}", out.status);
    stdout
}

#[test]
#[ignore = "needs WG_EXE: a wg.exe built from wireguard-tools outside the repository"]
fn wg_exe_shows_sets_and_showconfs_over_the_named_pipe() {
    let exe = std::env::var("WG_EXE").expect("WG_EXE: path of wg.exe");
    let (dev, _, _) = engine();
    let name = format!("fwgwine{}", std::process::id() % 10_000);
    let pipe = crate::uapi_pipe::UapiPipe::bind(&name, target(&dev), Arc::new(|_: &str| {}))
        .expect("bind the UAPI pipe");
    let key = |b: u8| PrivateKey::from_bytes([b; 32]).public_key().to_base64();

    let show = wg(&exe, &["show", &name]);
    eprintln!("wg show:\n{show}");
    assert!(show.contains(&format!("interface: {name}")), "{show}");
    assert!(show.contains(&format!("public key: {}", key(1))), "{show}");
    assert!(show.contains(&format!("peer: {}", key(2))), "{show}");
    assert!(show.contains("endpoint: 127.0.0.1:51999"), "{show}");
    assert!(show.contains("allowed ips: 198.19.0.2/32"), "{show}");

    let new = key(3);
    wg(&exe, &["set", &name, "peer", &new, "allowed-ips", "198.19.0.88/32,fd19::88/128"]);
    wg(&exe, &["set", &name, "peer", &key(2), "persistent-keepalive", "25"]);
    let conf = wg(&exe, &["showconf", &name]);
    eprintln!("wg showconf:\n{conf}");
    assert!(conf.contains(&format!("PublicKey = {new}")), "{conf}");
    assert!(conf.contains("AllowedIPs = 198.19.0.88/32, fd19::88/128"), "{conf}");
    assert!(conf.contains("PersistentKeepalive = 25"), "{conf}");
    assert!(conf.contains("PrivateKey = "), "{conf}");
    // The engine saw the change (not only wg.exe's view of it).
    assert_eq!(dev.config().peers.len(), 2);

    wg(&exe, &["set", &name, "peer", &new, "remove"]);
    let peers = wg(&exe, &["show", &name, "peers"]);
    assert_eq!(peers.trim(), key(2), "{peers}");
    // An interface nobody serves: wg.exe fails.
    let missing = Command::new(&exe).args(["show", "fwgnobody0"]).output().unwrap();
    assert!(!missing.status.success());
    drop(pipe);
    println!("wg.exe show/set/showconf over the named pipe: ok");
}
