//! Differential test against wireguard-go (the Debian package): the same UAPI requests go
//! to a real wireguard-go, running in a network namespace this test creates, and to
//! `uapi::parse_request` + `uapi::apply`. The errno of every request and the device state
//! after every valid request (read back with `get=1`) must agree. No packets are sent:
//! endpoints are loopback addresses inside the namespace. Needs root, `ip` and
//! `wireguard-go`.
#![cfg(target_os = "linux")]
#![allow(clippy::disallowed_methods)] // a test harness: runs `ip` and wireguard-go

use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ferrowg_core::config::uapi::{apply, parse_get_response, parse_request, read_request, Request};
use ferrowg_core::config::DeviceConfig;
use ferrowg_core::keys::PrivateKey;

// Not clamped on purpose: both sides must clamp it the same way.
const PRIV: &str = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";
const P1: &str = "6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283";
const P2: &str = "32333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f5051";
const P3: &str = "c51201039adba14be71f886da1d8dbe9eebded08cb111b75340078999aa9f038";
const PSK: &str = "c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7";

/// wireguard-go in its own namespace; killed and cleaned up on drop.
struct WgGo {
    netns: String,
    sock: PathBuf,
    child: Child,
}

impl WgGo {
    fn start() -> Self {
        let pid = std::process::id();
        let netns = format!("fwgcfg-{pid}");
        let ifname = format!("fwgcfg{}", pid % 100_000);
        run("ip", &["netns", "add", &netns]);
        let child = Command::new("ip")
            .args(["netns", "exec", &netns, "wireguard-go", "-f", &ifname])
            .env("LOG_LEVEL", "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("wireguard-go must be installed");
        let sock = PathBuf::from(format!("/var/run/wireguard/{ifname}.sock"));
        let mut me = Self { netns, sock, child };
        for _ in 0..500 {
            if UnixStream::connect(&me.sock).is_ok() {
                return me;
            }
            if let Ok(Some(status)) = me.child.try_wait() {
                panic!("wireguard-go exited: {status}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = me.child.kill();
        panic!("wireguard-go did not open {}", me.sock.display());
    }

    /// Sends one request, returns the response (up to and including the empty line).
    fn request(&self, req: &str) -> String {
        let mut s = UnixStream::connect(&self.sock).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        read_request(&mut BufReader::new(s), 1 << 22).unwrap().unwrap_or_default()
    }

    fn errno(&self, req: &str) -> i32 {
        let resp = self.request(req);
        let last = resp.trim_end().rsplit('\n').next().unwrap_or_default();
        last.strip_prefix("errno=")
            .and_then(|e| e.parse().ok())
            .unwrap_or_else(|| panic!("{resp:?}"))
    }

    fn config(&self) -> DeviceConfig {
        let resp = self.request("get=1\n\n");
        parse_get_response(&resp).unwrap().config
    }
}

impl Drop for WgGo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.sock);
        let _ = Command::new("ip").args(["netns", "del", &self.netns]).status();
    }
}

fn run(cmd: &str, args: &[&str]) {
    let st = Command::new(cmd).args(args).status().unwrap();
    assert!(st.success(), "{cmd} {args:?}");
}

/// wireguard-go stores allowed IPs in a trie and peers in a map, so order is not kept.
fn normalize(mut cfg: DeviceConfig) -> DeviceConfig {
    cfg.peers.sort_by_key(|p| p.public_key);
    for p in &mut cfg.peers {
        p.allowed_ips.sort();
    }
    cfg
}

/// Our side: the errno (0 on success, negated like wireguard-go) and the new state.
fn ours(req: &str, state: &DeviceConfig) -> (i32, DeviceConfig) {
    match parse_request(req) {
        Ok(Request::Set(ops)) => match apply(&ops, state) {
            Ok(new) => (0, new),
            Err(e) => (-e.errno(), state.clone()),
        },
        Ok(Request::Get) => (0, state.clone()),
        Err(e) => (-e.errno(), state.clone()),
    }
}

#[test]
fn errnos_and_state_match_wireguard_go() {
    let wg = WgGo::start();
    let own = PrivateKey::from_hex(PRIV).unwrap().public_key().to_hex();
    let k2 = PrivateKey::from_bytes([0x42; 32]);
    let k2_pub = k2.public_key().to_hex();
    let zero = "0".repeat(64);
    let reset = format!(
        "private_key={PRIV}\nlisten_port=51820\nfwmark=7\nreplace_peers=true\n\
         public_key={P1}\npreshared_key={PSK}\nendpoint=127.0.0.1:51821\npersistent_keepalive_interval=25\nallowed_ip=10.0.0.0/24\nallowed_ip=fd00::/64\n\
         public_key={P2}\nendpoint=[::1]:51822\nallowed_ip=10.1.0.0/16\n"
    );
    let valid = [
        reset.clone(),
        format!("public_key={P2}\nallowed_ip=10.0.0.0/24\n"),
        format!("public_key={P1}\nreplace_allowed_ips=true\nallowed_ip=10.9.0.0/16\nallowed_ip=10.9.1.2/16\n"),
        format!("public_key={P3}\nupdate_only=true\nallowed_ip=10.5.0.0/16\n"),
        format!("public_key={P2}\nupdate_only=true\npersistent_keepalive_interval=9\n"),
        format!("public_key={own}\nallowed_ip=10.6.0.0/16\n"),
        format!("public_key={P2}\nremove=true\n"),
        format!("public_key={P3}\nremove=true\nallowed_ip=10.7.0.0/16\n"),
        format!("fwmark=0\npublic_key={P1}\npersistent_keepalive_interval=0\npreshared_key={zero}\nprotocol_version=1\n"),
        format!("public_key={k2_pub}\nallowed_ip=10.8.0.0/16\n"),
        format!("private_key={}\n", k2.to_hex()),
        format!("replace_peers=true\npublic_key={P3}\nallowed_ip=0.0.0.0/0\nallowed_ip=::/0\n"),
        format!("private_key={zero}\nlisten_port=51821\n"),
    ];
    let invalid = [
        "listen_port=70000\n".to_owned(),
        "listen_port=-1\n".to_owned(),
        "fwmark=4294967296\n".to_owned(),
        "private_key=abc\n".to_owned(),
        "replace_peers=false\n".to_owned(),
        "listen_port\n".to_owned(),
        "endpoint=127.0.0.1:5\n".to_owned(),
        "Listen_Port=1\n".to_owned(),
        format!("public_key={P1}\nlisten_port=1\n"),
        format!("public_key={P1}\nendpoint=vpn.example.com:51820\n"),
        format!("public_key={P1}\nendpoint=127.0.0.1\n"),
        format!("public_key={P1}\nallowed_ip=10.0.0.1\n"),
        format!("public_key={P1}\nallowed_ip=10.0.0.0/33\n"),
        format!("public_key={P1}\npersistent_keepalive_interval=65536\n"),
        format!("public_key={P1}\nprotocol_version=2\n"),
        format!("public_key={P1}\nremove=yes\n"),
        format!("public_key={P1}\nupdate_only=1\n"),
        format!("public_key={P1}\npreshared_key={}\n", "zz".repeat(32)),
        format!("public_key={P1}\nlast_handshake_time_sec=1\n"),
        "public_key=\n".to_owned(),
        format!("public_key={P1}\nallowed_ip=10.0.0.0/8\ngarbage\n"),
    ];

    let mut state = DeviceConfig::default();
    for body in &valid {
        let req = format!("set=1\n{body}\n");
        let (errno, next) = ours(&req, &state);
        assert_eq!(wg.errno(&req), errno, "{req}");
        state = next;
        assert_eq!(normalize(wg.config()), normalize(state.clone()), "after {req}");
    }
    for body in &invalid {
        let setup = format!("set=1\n{reset}\n");
        assert_eq!(wg.errno(&setup), 0);
        state = ours(&setup, &state).1;
        let req = format!("set=1\n{body}\n");
        let (errno, unchanged) = ours(&req, &state);
        assert_eq!(wg.errno(&req), errno, "{req}");
        assert_ne!(errno, 0, "{req}");
        assert_eq!(unchanged, state, "{req}");
    }
    // get=1 followed by anything but the empty line.
    assert_eq!(wg.errno("get=1\nx\n"), ours("get=1\nx\n", &state).0);
}
