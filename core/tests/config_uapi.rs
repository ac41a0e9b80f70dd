//! UAPI: broken requests with exact errors and errnos, apply semantics (wireguard-go's),
//! exact get output, and conversions from wg-quick.

use std::io::Cursor;
use std::time::Duration;

use ferrowg_core::config::uapi::{
    self, apply, format_get, format_set, parse_get_response, parse_request, parse_set,
    read_request, status_line, Request, UapiErrorKind, UapiOp, EINVAL, EPROTO,
};
use ferrowg_core::config::{
    AllowedIp, DeviceConfig, Endpoint, PeerConfig, PeerStats, WgQuickConfig,
};
use ferrowg_core::keys::{PresharedKey, PrivateKey, PublicKey};

// Clamped, as a device stores private keys (see `apply_clamps_the_private_key`).
const PRIV_HEX: &str = "0002030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f60";
const P1_HEX: &str = "6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283";
const P2_HEX: &str = "32333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f5051";
const PSK_HEX: &str = "c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7";

fn p1() -> PublicKey {
    PublicKey::from_hex(P1_HEX).unwrap()
}
fn p2() -> PublicKey {
    PublicKey::from_hex(P2_HEX).unwrap()
}
fn ip(s: &str) -> AllowedIp {
    AllowedIp::parse(s).unwrap()
}
fn set(body: &str) -> Vec<UapiOp> {
    match parse_request(&format!("set=1\n{body}\n")).unwrap() {
        Request::Set(ops) => ops,
        Request::Get => panic!("not a set"),
    }
}
fn run(base: &DeviceConfig, body: &str) -> DeviceConfig {
    apply(&set(body), base).unwrap()
}

#[test]
fn every_broken_request_gets_its_exact_error_and_errno() {
    let long = "a".repeat(63);
    let cases: Vec<(String, &str, i32)> = vec![
        (
            "set=1\nlisten_port=70000\n\n".into(),
            "line 2: listen_port: `70000` is not a number from 0 to 65535",
            EINVAL,
        ),
        (
            "set=1\nlisten_port=-1\n\n".into(),
            "line 2: listen_port: `-1` is not a number from 0 to 65535",
            EINVAL,
        ),
        (
            "set=1\nlisten_port= 1\n\n".into(),
            "line 2: listen_port: ` 1` is not a number from 0 to 65535",
            EINVAL,
        ),
        (
            "set=1\nfwmark=4294967296\n\n".into(),
            // Runs of 8+ key-alphabet characters are hidden: they could be a key piece.
            "line 2: fwmark: `<hidden>` is not a number from 0 to 4294967295",
            EINVAL,
        ),
        ("set=1\nprivate_key=abc\n\n".into(), "line 2: private_key: key is not valid hex", EINVAL),
        (
            format!("set=1\nprivate_key={long}\n\n"),
            "line 2: private_key: key is not valid hex",
            EINVAL,
        ),
        (
            format!("set=1\nprivate_key={}\n\n", &PRIV_HEX[..62]),
            "line 2: private_key: key decodes to 31 bytes, expected 32",
            EINVAL,
        ),
        (
            "set=1\nreplace_peers=false\n\n".into(),
            "line 2: replace_peers: the only valid value is `true`, got `false`",
            EINVAL,
        ),
        ("set=1\nlisten_port\n\n".into(), "line 2: listen_port: expected key=value", EPROTO),
        (
            "set=1\nendpoint=1.2.3.4:5\n\n".into(),
            "line 2: endpoint: invalid UAPI device key",
            EINVAL,
        ),
        ("set=1\nListen_Port=1\n\n".into(), "line 2: Listen_Port: invalid UAPI device key", EINVAL),
        (
            format!("set=1\npublic_key={P1_HEX}\nlisten_port=1\n\n"),
            "line 3: listen_port: invalid UAPI peer key",
            EINVAL,
        ),
        (
            format!("set=1\npublic_key={P1_HEX}\nendpoint=vpn.example.com:51820\n\n"),
            "line 3: endpoint: `vpn.example.com:51820` is not an IPv4:port or [IPv6]:port endpoint",
            EINVAL,
        ),
        (
            format!("set=1\npublic_key={P1_HEX}\nendpoint=1.2.3.4\n\n"),
            "line 3: endpoint: `1.2.3.4` is not an IPv4:port or [IPv6]:port endpoint",
            EINVAL,
        ),
        (
            format!("set=1\npublic_key={P1_HEX}\nallowed_ip=10.0.0.1\n\n"),
            "line 3: allowed_ip: `10.0.0.1` has no /prefix length",
            EINVAL,
        ),
        (
            format!("set=1\npublic_key={P1_HEX}\nallowed_ip=10.0.0.0/33\n\n"),
            "line 3: allowed_ip: `/33` is not a prefix length for IPv4 (0-32)",
            EINVAL,
        ),
        (
            format!("set=1\npublic_key={P1_HEX}\nallowed_ip=fd00::/129\n\n"),
            "line 3: allowed_ip: `/129` is not a prefix length for IPv6 (0-128)",
            EINVAL,
        ),
        (
            format!("set=1\npublic_key={P1_HEX}\npersistent_keepalive_interval=65536\n\n"),
            "line 3: persistent_keepalive_interval: `65536` is not a number from 0 to 65535",
            EINVAL,
        ),
        (
            format!("set=1\npublic_key={P1_HEX}\nprotocol_version=2\n\n"),
            "line 3: protocol_version: unsupported protocol version `2`, only 1 exists",
            EINVAL,
        ),
        (
            format!("set=1\npublic_key={P1_HEX}\nremove=yes\n\n"),
            "line 3: remove: the only valid value is `true`, got `yes`",
            EINVAL,
        ),
        (
            format!("set=1\npublic_key={P1_HEX}\nupdate_only=1\n\n"),
            "line 3: update_only: the only valid value is `true`, got `1`",
            EINVAL,
        ),
        (
            format!("set=1\npublic_key={P1_HEX}\npreshared_key={}\n\n", "zz".repeat(32)),
            "line 3: preshared_key: key is not valid hex",
            EINVAL,
        ),
        (
            format!("set=1\npublic_key={P1_HEX}\nlast_handshake_time_sec=1\n\n"),
            "line 3: last_handshake_time_sec: invalid UAPI peer key",
            EINVAL,
        ),
        (
            "set=1\npublic_key=\n\n".into(),
            "line 2: public_key: key decodes to 0 bytes, expected 32",
            EINVAL,
        ),
        (
            format!("set=1\npublic_key={P1_HEX}\nallowed_ip=10.0.0.0/8\ngarbage\n\n"),
            "line 4: garbage: expected key=value",
            EPROTO,
        ),
        ("get=1\nx=1\n\n".into(), "line 2: x=1: get=1 must be followed by an empty line", EINVAL),
        ("put=1\n\n".into(), "line 1: put=1: unknown operation, expected get=1 or set=1", EINVAL),
    ];
    for (req, want, errno) in cases {
        let err = parse_request(&req).expect_err(&req);
        assert_eq!(err.to_string(), want, "{req:?}");
        assert_eq!(err.errno(), errno, "{req:?}");
        assert_eq!(err.response(), format!("errno={}\n\n", -errno));
    }
}

#[test]
fn secrets_never_appear_in_errors() {
    let bad = format!("set=1\nprivate_key={}x\n\n", &PRIV_HEX[..63]);
    let err = parse_request(&bad).unwrap_err().to_string();
    assert!(!err.contains(&PRIV_HEX[..20]), "{err}");
}

#[test]
fn request_framing() {
    assert_eq!(parse_request("get=1\n\n").unwrap(), Request::Get);
    assert_eq!(parse_request("get=1\r\n\r\n").unwrap(), Request::Get);
    let ops = set(&format!("listen_port=1\r\npublic_key={P1_HEX}\r\n"));
    assert_eq!(ops, [UapiOp::ListenPort(1), UapiOp::PublicKey(p1())]);
    // The empty line ends the request; what follows belongs to the next one.
    assert_eq!(parse_set("listen_port=1\n\nlisten_port=oops\n").unwrap(), [UapiOp::ListenPort(1)]);
    // A body that ends without the empty line is complete, as for wireguard-go at EOF.
    assert_eq!(parse_set("fwmark=3").unwrap(), [UapiOp::FwMark(3)]);
}

#[test]
fn every_key_parses_to_its_op() {
    let body = format!(
        "private_key={PRIV_HEX}\nlisten_port=51820\nfwmark=0\nreplace_peers=true\npublic_key={P1_HEX}\nupdate_only=true\npreshared_key={PSK_HEX}\nendpoint=[fd00::1]:51820\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=10.1.2.3/8\nprotocol_version=1\nremove=true"
    );
    let ops = set(&body);
    assert_eq!(
        ops,
        [
            UapiOp::PrivateKey(Some(PrivateKey::from_hex(PRIV_HEX).unwrap())),
            UapiOp::ListenPort(51820),
            UapiOp::FwMark(0),
            UapiOp::ReplacePeers,
            UapiOp::PublicKey(p1()),
            UapiOp::UpdateOnly,
            UapiOp::PresharedKey(Some(PresharedKey::from_hex(PSK_HEX).unwrap())),
            UapiOp::Endpoint("[fd00::1]:51820".parse().unwrap()),
            UapiOp::PersistentKeepaliveInterval(25),
            UapiOp::ReplaceAllowedIps,
            UapiOp::AllowedIp(ip("10.0.0.0/8")),
            UapiOp::ProtocolVersion,
            UapiOp::Remove,
        ]
    );
    assert_eq!(set(&format_set(&ops)[6..]), ops);
    let zero = "0".repeat(64);
    assert_eq!(set(&format!("private_key={zero}")), [UapiOp::PrivateKey(None)]);
}

#[test]
fn apply_builds_a_device_from_nothing() {
    let cfg = run(
        &DeviceConfig::default(),
        &format!("private_key={PRIV_HEX}\nlisten_port=51820\nfwmark=7\npublic_key={P1_HEX}\npreshared_key={PSK_HEX}\nendpoint=192.0.2.1:51820\npersistent_keepalive_interval=25\nallowed_ip=10.0.0.0/24\nallowed_ip=fd00::/64"),
    );
    assert_eq!(cfg.private_key, Some(PrivateKey::from_hex(PRIV_HEX).unwrap()));
    assert_eq!((cfg.listen_port, cfg.fwmark), (Some(51820), Some(7)));
    let p = &cfg.peers[0];
    assert_eq!(p.public_key, p1());
    assert_eq!(p.preshared_key, Some(PresharedKey::from_hex(PSK_HEX).unwrap()));
    assert_eq!(p.endpoint, Some(Endpoint::Addr("192.0.2.1:51820".parse().unwrap())));
    assert_eq!(p.persistent_keepalive, Some(25));
    assert_eq!(p.allowed_ips, [ip("10.0.0.0/24"), ip("fd00::/64")]);
}

fn two_peers() -> DeviceConfig {
    run(
        &DeviceConfig::default(),
        &format!("listen_port=1\npublic_key={P1_HEX}\nallowed_ip=10.1.0.0/16\nallowed_ip=10.9.0.0/16\npublic_key={P2_HEX}\nallowed_ip=10.2.0.0/16"),
    )
}

#[test]
fn apply_updates_existing_peers_in_place() {
    let cfg = run(
        &two_peers(),
        &format!("public_key={P1_HEX}\npersistent_keepalive_interval=5\nallowed_ip=10.3.0.0/16"),
    );
    assert_eq!(cfg.peers.len(), 2);
    assert_eq!(cfg.peers[0].persistent_keepalive, Some(5));
    assert_eq!(cfg.peers[0].allowed_ips, [ip("10.1.0.0/16"), ip("10.9.0.0/16"), ip("10.3.0.0/16")]);
    assert_eq!(cfg.listen_port, Some(1));
}

#[test]
fn apply_replace_peers_and_replace_allowed_ips() {
    let cfg = run(
        &two_peers(),
        &format!("replace_peers=true\npublic_key={P2_HEX}\nallowed_ip=10.5.0.0/16"),
    );
    assert_eq!(cfg.peers.len(), 1);
    assert_eq!(cfg.peers[0].public_key, p2());
    // A replaced peer starts fresh: its old allowed IPs are gone.
    assert_eq!(cfg.peers[0].allowed_ips, [ip("10.5.0.0/16")]);

    let cfg = run(
        &two_peers(),
        &format!("public_key={P1_HEX}\nreplace_allowed_ips=true\nallowed_ip=10.7.0.0/16"),
    );
    assert_eq!(cfg.peers[0].allowed_ips, [ip("10.7.0.0/16")]);
    assert_eq!(cfg.peers[1].allowed_ips, [ip("10.2.0.0/16")]);
}

#[test]
fn apply_remove_and_update_only() {
    let cfg =
        run(&two_peers(), &format!("public_key={P1_HEX}\nremove=true\nallowed_ip=10.8.0.0/16"));
    assert_eq!(cfg.peers.len(), 1);
    assert_eq!(cfg.peers[0].public_key, p2());

    // update_only on a peer that does not exist: nothing is created.
    let base = run(&DeviceConfig::default(), &format!("public_key={P2_HEX}"));
    let cfg = run(&base, &format!("public_key={P1_HEX}\nupdate_only=true\nallowed_ip=10.8.0.0/16"));
    assert_eq!(cfg.peers.len(), 1);
    assert_eq!(cfg.peers[0].public_key, p2());
    // update_only on an existing peer: updated.
    let cfg = run(
        &base,
        &format!("public_key={P2_HEX}\nupdate_only=true\npersistent_keepalive_interval=9"),
    );
    assert_eq!(cfg.peers[0].persistent_keepalive, Some(9));
}

#[test]
fn apply_moves_an_allowed_ip_between_peers_like_the_trie() {
    let cfg = run(
        &two_peers(),
        &format!("public_key={P2_HEX}\nallowed_ip=10.1.0.0/16\nallowed_ip=10.2.0.0/16"),
    );
    assert_eq!(cfg.peers[0].allowed_ips, [ip("10.9.0.0/16")]);
    assert_eq!(cfg.peers[1].allowed_ips, [ip("10.2.0.0/16"), ip("10.1.0.0/16")]);
    // Moving it back restores the original position.
    let back = run(&cfg, &format!("public_key={P1_HEX}\nallowed_ip=10.1.0.0/16"));
    assert_eq!(back.peers[0].allowed_ips, [ip("10.9.0.0/16"), ip("10.1.0.0/16")]);
    assert_eq!(back.peers[1].allowed_ips, [ip("10.2.0.0/16")]);
}

#[test]
fn apply_ignores_our_own_public_key_and_drops_it_on_key_change() {
    let sk = PrivateKey::from_hex(PRIV_HEX).unwrap();
    let own = sk.public_key().to_hex();
    let base = run(&DeviceConfig::default(), &format!("private_key={PRIV_HEX}"));
    let cfg = run(&base, &format!("public_key={own}\nallowed_ip=10.0.0.0/8"));
    assert!(cfg.peers.is_empty());

    let base = run(
        &DeviceConfig::default(),
        &format!("public_key={own}\nallowed_ip=10.0.0.0/8\npublic_key={P1_HEX}"),
    );
    assert_eq!(base.peers.len(), 2);
    let cfg = run(&base, &format!("private_key={PRIV_HEX}"));
    assert_eq!(cfg.peers.len(), 1);
    assert_eq!(cfg.peers[0].public_key, p1());
}

#[test]
fn apply_zeroes_unset() {
    let base = run(&DeviceConfig::default(), &format!("private_key={PRIV_HEX}\nlisten_port=5\nfwmark=5\npublic_key={P1_HEX}\npreshared_key={PSK_HEX}\npersistent_keepalive_interval=5"));
    let zero = "0".repeat(64);
    let cfg = run(&base, &format!("private_key={zero}\nlisten_port=0\nfwmark=0\npublic_key={P1_HEX}\npreshared_key={zero}\npersistent_keepalive_interval=0"));
    assert_eq!(cfg.private_key, None);
    assert_eq!((cfg.listen_port, cfg.fwmark), (None, None));
    assert_eq!(cfg.peers[0].preshared_key, None);
    assert_eq!(cfg.peers[0].persistent_keepalive, None);
}

#[test]
fn apply_refuses_misplaced_ops_without_touching_the_base() {
    let base = two_peers();
    let err = apply(&[UapiOp::ListenPort(9), UapiOp::Remove], &base).unwrap_err();
    assert_eq!(err.to_string(), "line 2: remove: peer operation before any public_key");
    assert_eq!(err.kind, UapiErrorKind::NoPeer);
    assert_eq!(err.errno(), EINVAL);
    let err = apply(&[UapiOp::PublicKey(p1()), UapiOp::FwMark(1)], &base).unwrap_err();
    assert_eq!(err.to_string(), "line 2: fwmark: invalid UAPI peer key");
    assert_eq!(base, two_peers());
}

fn sample() -> DeviceConfig {
    let mut peer = PeerConfig::new(p1());
    peer.preshared_key = Some(PresharedKey::from_hex(PSK_HEX).unwrap());
    peer.endpoint = Some(Endpoint::Addr("[fd00::1]:51820".parse().unwrap()));
    peer.allowed_ips = vec![ip("10.0.0.0/24"), ip("fd00::/64")];
    peer.persistent_keepalive = Some(25);
    DeviceConfig {
        private_key: Some(PrivateKey::from_hex(PRIV_HEX).unwrap()),
        listen_port: Some(51820),
        fwmark: None,
        peers: vec![peer, PeerConfig::new(p2())],
    }
}

#[test]
fn get_output_is_exact() {
    let cfg = sample();
    let text = format_get(&cfg, |p| {
        if p.public_key == p1() {
            PeerStats {
                last_handshake: Some(Duration::new(1_764_000_000, 123_456_789)),
                rx_bytes: 1000,
                tx_bytes: 2000,
            }
        } else {
            PeerStats::default()
        }
    });
    let zero = "0".repeat(64);
    let want = format!(
        "private_key={PRIV_HEX}\nlisten_port=51820\n\
         public_key={P1_HEX}\npreshared_key={PSK_HEX}\nprotocol_version=1\nendpoint=[fd00::1]:51820\n\
         last_handshake_time_sec=1764000000\nlast_handshake_time_nsec=123456789\ntx_bytes=2000\nrx_bytes=1000\n\
         persistent_keepalive_interval=25\nallowed_ip=10.0.0.0/24\nallowed_ip=fd00::/64\n\
         public_key={P2_HEX}\npreshared_key={zero}\nprotocol_version=1\n\
         last_handshake_time_sec=0\nlast_handshake_time_nsec=0\ntx_bytes=0\nrx_bytes=0\n\
         persistent_keepalive_interval=0\nerrno=0\n\n"
    );
    assert_eq!(text, want);
    let back = parse_get_response(&text).unwrap();
    assert_eq!(back.config, cfg);
    assert_eq!(back.stats[0].rx_bytes, 1000);
    assert_eq!(back.stats[0].tx_bytes, 2000);
    assert_eq!(back.stats[0].last_handshake, Some(Duration::new(1_764_000_000, 123_456_789)));
    assert_eq!(back.stats[1], PeerStats::default());
}

#[test]
fn get_response_errors() {
    let err = parse_get_response("errno=-22\n\n").unwrap_err();
    assert_eq!(err.kind, UapiErrorKind::Remote(22));
    assert_eq!(err.errno(), 22);
    let err = parse_get_response("listen_port=1\n\n").unwrap_err();
    assert_eq!(err.kind, UapiErrorKind::MissingErrno);
    assert_eq!(err.errno(), EPROTO);
    let err = parse_get_response("listen_port=x\nerrno=0\n\n").unwrap_err();
    assert_eq!(err.to_string(), "line 1: listen_port: `x` is not a number from 0 to 65535");
}

#[test]
fn wg_quick_to_uapi_and_back() {
    let text = "[Interface]\nPrivateKey = AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A=\nListenPort = 51820\nAddress = 10.0.0.2/24\n\n[Peer]\nPublicKey = ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=\nAllowedIPs = 10.0.0.0/24\nEndpoint = 127.0.0.1:51821\nPersistentKeepalive = 25\n";
    let wq = WgQuickConfig::parse(text).unwrap();
    let set_text = uapi::set_text(&wq.device).unwrap();
    assert_eq!(
        set_text,
        format!("set=1\nprivate_key={PRIV_HEX}\nlisten_port=51820\nfwmark=0\nreplace_peers=true\npublic_key={P1_HEX}\nendpoint=127.0.0.1:51821\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=10.0.0.0/24\n\n")
    );
    let Request::Set(ops) = parse_request(&set_text).unwrap() else { panic!("not a set") };
    // Full replacement: the result does not depend on what was there before.
    assert_eq!(apply(&ops, &two_peers()).unwrap(), wq.device);
    assert_eq!(apply(&ops, &DeviceConfig::default()).unwrap(), wq.device);
}

#[test]
fn unresolved_hostnames_are_refused_by_the_conversion() {
    let mut cfg = sample();
    cfg.peers[1].endpoint = Some(Endpoint::Host { host: "vpn.example.com".into(), port: 1 });
    let err = uapi::set_text(&cfg).unwrap_err();
    assert_eq!(err.peer, p2());
    assert_eq!(err.endpoint, "vpn.example.com:1");
}

#[test]
fn ten_thousand_allowed_ips_through_uapi() {
    let mut peer = PeerConfig::new(p1());
    peer.allowed_ips =
        (0..10_000u32).map(|i| ip(&format!("10.{}.{}.0/24", i / 256, i % 256))).collect();
    let cfg = DeviceConfig { peers: vec![peer], ..DeviceConfig::default() };
    let text = uapi::set_text(&cfg).unwrap();
    let Request::Set(ops) = parse_request(&text).unwrap() else { panic!("not a set") };
    assert_eq!(ops.len(), 4 + 2 + 10_000);
    let applied = apply(&ops, &DeviceConfig::default()).unwrap();
    assert_eq!(applied, cfg);
    let back = parse_get_response(&format_get(&applied, |_| PeerStats::default())).unwrap();
    assert_eq!(back.config, cfg);
}

#[test]
fn requests_are_framed_from_a_stream() {
    let mut stream = Cursor::new("get=1\n\nset=1\nlisten_port=1\n\nset=1\nfwmark=2\n");
    assert_eq!(read_request(&mut stream, 1024).unwrap().as_deref(), Some("get=1\n\n"));
    let set = read_request(&mut stream, 1024).unwrap().unwrap();
    assert_eq!(set, "set=1\nlisten_port=1\n\n");
    assert_eq!(parse_request(&set).unwrap(), Request::Set(vec![UapiOp::ListenPort(1)]));
    // A stream that ends mid-request yields what was read; the next read sees the end.
    assert_eq!(read_request(&mut stream, 1024).unwrap().as_deref(), Some("set=1\nfwmark=2\n"));
    assert_eq!(read_request(&mut stream, 1024).unwrap(), None);

    let long = format!("set=1\n{}\n", "allowed_ip=10.0.0.0/8\n".repeat(100));
    let err = read_request(&mut Cursor::new(long.as_str()), 1000).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
    let mut no_newline = Cursor::new("x".repeat(5000));
    assert!(read_request(&mut no_newline, 1000).is_err());
    assert_eq!(read_request(&mut Cursor::new(long.as_str()), long.len()).unwrap(), Some(long));
    // "No limit" spelled as the largest length must not overflow.
    let mut unlimited = Cursor::new("get=1\n\n");
    assert_eq!(read_request(&mut unlimited, usize::MAX).unwrap().as_deref(), Some("get=1\n\n"));
    assert_eq!(status_line(0), "errno=0\n\n");
    assert_eq!(status_line(EINVAL), "errno=-22\n\n");
    assert_eq!(status_line(i32::MIN), "errno=2147483648\n\n");
}

#[test]
fn apply_clamps_the_private_key() {
    let raw = "ff".repeat(32);
    let cfg = run(&DeviceConfig::default(), &format!("private_key={raw}"));
    let stored = cfg.private_key.unwrap();
    let mut want = "f8".to_owned();
    want.push_str(&"ff".repeat(30));
    want.push_str("7f");
    assert_eq!(stored.to_hex(), want);
    assert_eq!(stored.public_key(), PrivateKey::from_hex(&raw).unwrap().public_key());
}

#[test]
fn apply_refuses_more_than_max_peers() {
    let ops: Vec<UapiOp> = (0..=uapi::MAX_PEERS as u32)
        .map(|i| {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_le_bytes());
            UapiOp::PublicKey(PublicKey(k))
        })
        .collect();
    let err = apply(&ops, &DeviceConfig::default()).unwrap_err();
    assert_eq!(err.kind, UapiErrorKind::TooManyPeers);
    assert_eq!(err.line, uapi::MAX_PEERS + 1);
    assert_eq!(err.errno(), EINVAL);
    let full = apply(&ops[..uapi::MAX_PEERS], &DeviceConfig::default()).unwrap();
    assert_eq!(full.peers.len(), uapi::MAX_PEERS);
    // Selecting an existing peer at the limit is fine.
    assert!(apply(&ops[..1], &full).is_ok());
}
