//! wg-quick INI: fixtures with exact expected errors, a full file checked field by
//! field, round trips, and a peer with 10,000 allowed IPs.
#![allow(clippy::disallowed_methods)] // reads the fixtures in tests/data

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ferrowg_core::config::{
    AllowedIp, ConfigErrorKind, Endpoint, InterfaceAddress, PeerConfig, Table, WgQuickConfig,
    WriteError,
};
use ferrowg_core::keys::{PresharedKey, PrivateKey, PublicKey};

const PRIV: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";
const P1: &str = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";
const P2: &str = "MjM0NTY3ODk6Ozw9Pj9AQUJDREVGR0hJSktMTU5PUFE=";
const P3: &str = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
const PSK: &str = "yMnKy8zNzs/Q0dLT1NXW19jZ2tvc3d7f4OHi4+Tl5uc=";

fn data(dir: &str) -> Vec<PathBuf> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/config").join(dir);
    let mut files: Vec<_> = fs::read_dir(base).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

fn pk(b64: &str) -> PublicKey {
    PublicKey::from_base64(b64).unwrap()
}

fn ip(s: &str) -> AllowedIp {
    AllowedIp::parse(s).unwrap()
}

#[test]
fn every_broken_file_gets_its_exact_error() {
    let files = data("bad");
    assert!(files.len() >= 30, "fixtures missing: {}", files.len());
    let mut bad = 0;
    for path in files {
        let text = fs::read_to_string(&path).unwrap();
        let expect = text.lines().next().and_then(|l| l.strip_prefix("# expect: ")).unwrap();
        let err = WgQuickConfig::parse(&text).expect_err(&path.display().to_string());
        if err.to_string() != expect {
            eprintln!("MISMATCH {}\n  got:  {}\n  want: {}", path.display(), err, expect);
            bad += 1;
        }
    }
    assert_eq!(bad, 0, "fixtures with a different error");
}

#[test]
fn error_fields_are_structured() {
    let text =
        format!("[Interface]\nPrivateKey = {PRIV}\n\n[Peer]\nPublicKey = {P1}\nEndpoint = x\n");
    let err = WgQuickConfig::parse(&text).unwrap_err();
    assert_eq!(err.line, 6);
    assert_eq!(err.key, "Endpoint");
    assert!(matches!(err.kind, ConfigErrorKind::Endpoint(_)));
}

#[test]
fn secrets_never_appear_in_errors() {
    let bad_private = format!("[Interface]\nPrivateKey = {}\n", &PRIV[..40]);
    let err = WgQuickConfig::parse(&bad_private).unwrap_err().to_string();
    assert!(!err.contains(&PRIV[..40]), "{err}");
}

#[test]
fn full_file_parses_field_by_field() {
    let text = fs::read_to_string(data("good").iter().find(|p| p.ends_with("full.conf")).unwrap())
        .unwrap();
    let cfg = WgQuickConfig::parse(&text).unwrap();
    let dev = &cfg.device;
    assert_eq!(dev.private_key, Some(PrivateKey::from_base64(PRIV).unwrap()));
    assert_eq!(dev.listen_port, Some(51820));
    assert_eq!(dev.fwmark, Some(0x1234));
    let ifc = &cfg.interface;
    let addrs: Vec<String> = ifc.addresses.iter().map(ToString::to_string).collect();
    assert_eq!(addrs, ["10.0.0.2/24", "fd00::2/64", "10.0.1.2/32"]);
    let dns: Vec<IpAddr> =
        vec!["1.1.1.1".parse().unwrap(), "2606:4700:4700::1111".parse().unwrap()];
    assert_eq!(ifc.dns, dns);
    assert_eq!(ifc.dns_search, ["corp.example", "lan"]);
    assert_eq!(ifc.mtu, Some(1420));
    assert_eq!(ifc.table, Some(Table::Id(51820)));
    assert!(!ifc.save_config);
    assert_eq!(ifc.pre_up, ["echo pre-up"]);
    assert_eq!(
        ifc.post_up,
        ["iptables -A FORWARD -i %i -j ACCEPT; iptables -t nat -A POSTROUTING -o eth0 -j MASQUERADE"]
    );
    assert_eq!(ifc.pre_down, ["echo pre-down"]);
    assert_eq!(ifc.post_down, ["echo \"post down\""]);

    assert_eq!(dev.peers.len(), 3);
    let p = &dev.peers[0];
    assert_eq!(p.public_key, pk(P1));
    assert_eq!(p.preshared_key, Some(PresharedKey::from_base64(PSK).unwrap()));
    assert_eq!(p.allowed_ips, [ip("10.0.0.0/24"), ip("fd00::/64"), ip("192.168.77.0/24")]);
    assert_eq!(p.endpoint, Some(Endpoint::Addr("192.0.2.1:51820".parse().unwrap())));
    assert_eq!(p.persistent_keepalive, Some(25));
    let p = &dev.peers[1];
    assert_eq!(p.public_key, pk(P2));
    assert_eq!(p.allowed_ips, [ip("0.0.0.0/0"), ip("::/0")]);
    assert_eq!(p.endpoint, Some(Endpoint::Addr("[2001:db8::1]:51820".parse().unwrap())));
    assert_eq!(p.persistent_keepalive, None);
    let p = &dev.peers[2];
    assert_eq!(p.public_key, pk(P3));
    assert_eq!(p.endpoint, Some(Endpoint::Host { host: "vpn.example.com".into(), port: 443 }));
    assert!(p.allowed_ips.is_empty());
}

#[test]
fn good_files_round_trip() {
    for path in data("good") {
        let cfg = WgQuickConfig::parse(&fs::read_to_string(&path).unwrap()).unwrap();
        let written = cfg.to_wg_quick().unwrap();
        let again = WgQuickConfig::parse(&written).unwrap();
        assert_eq!(again, cfg, "{}", path.display());
        assert_eq!(again.to_wg_quick().unwrap(), written, "{}", path.display());
    }
}

#[test]
fn a_leading_byte_order_mark_is_ignored() {
    let text = format!("[Interface]\nPrivateKey = {PRIV}\n");
    let with_bom = format!("\u{feff}{text}");
    assert_eq!(WgQuickConfig::parse(&with_bom).unwrap(), WgQuickConfig::parse(&text).unwrap());
    assert!(WgQuickConfig::parse(&format!("[Interface]\n\u{feff}PrivateKey = {PRIV}\n")).is_err());
}

#[test]
fn crlf_and_lf_files_are_equal() {
    let crlf = fs::read_to_string(data("good").iter().find(|p| p.ends_with("crlf.conf")).unwrap())
        .unwrap();
    assert!(crlf.contains("\r\n"));
    let lf = crlf.replace("\r\n", "\n");
    assert_eq!(WgQuickConfig::parse(&crlf).unwrap(), WgQuickConfig::parse(&lf).unwrap());
}

#[test]
fn writer_output_is_exact() {
    let text = format!(
        "[Interface]\nPrivateKey = {PRIV}\nListenPort = 51820\nFwMark = 0x1234\nAddress = 10.0.0.2/24, fd00::2/64\nDNS = 1.1.1.1, lan\nMTU = 1420\nTable = off\nSaveConfig = true\nPostUp = echo up\n\n[Peer]\nPublicKey = {P1}\nPresharedKey = {PSK}\nAllowedIPs = 10.0.0.0/24, fd00::/64\nEndpoint = [2001:db8::1]:51820\nPersistentKeepalive = 25\n"
    );
    let cfg = WgQuickConfig::parse(&text).unwrap();
    assert_eq!(cfg.to_wg_quick().unwrap(), text);
}

#[test]
fn zero_values_mean_unset() {
    let zero_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let text = format!(
        "[Interface]\nPrivateKey = {zero_key}\nListenPort = 0\nFwMark = off\n[Peer]\nPublicKey = {P1}\nPresharedKey = {zero_key}\nPersistentKeepalive = 0\n"
    );
    let cfg = WgQuickConfig::parse(&text).unwrap();
    assert_eq!(cfg.device.private_key, None);
    assert_eq!(cfg.device.listen_port, None);
    assert_eq!(cfg.device.fwmark, None);
    assert_eq!(cfg.device.peers[0].preshared_key, None);
    assert_eq!(cfg.device.peers[0].persistent_keepalive, None);
}

#[test]
fn repeated_scalar_keys_keep_the_last_value() {
    let text = format!(
        "[Interface]\nListenPort = 1\nlistenport = 2\nMTU = 1280\nMTU = 1420\n[Interface]\nFwMark = 7\n[Peer]\nPublicKey = {P2}\nPublicKey = {P1}\nEndpoint = 192.0.2.1:1\nEndpoint = 192.0.2.2:2\n"
    );
    let cfg = WgQuickConfig::parse(&text).unwrap();
    assert_eq!(cfg.device.listen_port, Some(2));
    assert_eq!(cfg.interface.mtu, Some(1420));
    assert_eq!(cfg.device.fwmark, Some(7));
    assert_eq!(cfg.device.peers[0].public_key, pk(P1));
    assert_eq!(cfg.device.peers[0].endpoint, Some(Endpoint::Addr("192.0.2.2:2".parse().unwrap())));
}

#[test]
fn whitespace_inside_wg_values_is_ignored_like_wg() {
    let text = format!("[ Interface ]\nListen Port = 5 1820\n[Peer]\nPublicKey = {P1}\nAllowedIPs = 10.0.0.0 / 8 ,fd00::/ 64\n");
    let cfg = WgQuickConfig::parse(&text).unwrap();
    assert_eq!(cfg.device.listen_port, Some(51820));
    assert_eq!(cfg.device.peers[0].allowed_ips, [ip("10.0.0.0/8"), ip("fd00::/64")]);
}

#[test]
fn writer_refuses_what_the_format_cannot_carry() {
    let mut cfg = WgQuickConfig::default();
    cfg.interface.post_up.push("echo a # b".into());
    assert!(matches!(cfg.to_wg_quick(), Err(WriteError::Hook { key: "PostUp", .. })));

    let mut cfg = WgQuickConfig::default();
    cfg.interface.dns_search.push("10.0.0.1".into());
    assert_eq!(cfg.to_wg_quick(), Err(WriteError::DnsSearch("10.0.0.1".into())));

    let mut cfg = WgQuickConfig::default();
    cfg.interface.table = Some(Table::Name("auto".into()));
    assert_eq!(cfg.to_wg_quick(), Err(WriteError::TableName("auto".into())));

    let mut cfg = WgQuickConfig::default();
    let mut peer = PeerConfig::new(pk(P1));
    peer.endpoint = Some(Endpoint::Host { host: "10.0.0.1".into(), port: 1 });
    cfg.device.peers.push(peer);
    assert_eq!(cfg.to_wg_quick(), Err(WriteError::EndpointHost("10.0.0.1".into())));
}

#[test]
fn writer_output_parses_back_even_from_typed_zero_values() {
    // Typed configs can come from the FFI with values no file would produce. Zero means
    // "unset" for the port, fwmark and keepalive, so those read back as `None`; an MTU of
    // zero has no spelling the parser accepts, so the writer must refuse it.
    let mut cfg = WgQuickConfig::default();
    cfg.device.listen_port = Some(0);
    cfg.device.fwmark = Some(0);
    let mut peer = PeerConfig::new(pk(P1));
    peer.persistent_keepalive = Some(0);
    cfg.device.peers.push(peer);
    cfg.device.private_key = Some(PrivateKey::from_bytes([0; 32]));
    cfg.device.peers[0].preshared_key = Some(PresharedKey::from_bytes([0; 32]));
    let text = cfg.to_wg_quick().unwrap();
    // Unset is written as absent, so writing what was read gives the same text.
    assert_eq!(text, format!("[Interface]\n\n[Peer]\nPublicKey = {P1}\n"));
    let back = WgQuickConfig::parse(&text).unwrap();
    assert_eq!(back.to_wg_quick().unwrap(), text);
    assert_eq!(back.device.private_key, None);
    assert_eq!(back.device.peers[0].preshared_key, None);
    assert_eq!(back.device.listen_port, None);
    assert_eq!(back.device.fwmark, None);
    assert_eq!(back.device.peers[0].persistent_keepalive, None);

    let mut cfg = WgQuickConfig::default();
    cfg.interface.mtu = Some(0);
    assert_eq!(cfg.to_wg_quick(), Err(WriteError::Mtu(0)));

    // Two peers with one key would be written as a file the parser refuses.
    let mut cfg = WgQuickConfig::default();
    cfg.device.peers.push(PeerConfig::new(pk(P1)));
    cfg.device.peers.push(PeerConfig::new(pk(P2)));
    cfg.device.peers.push(PeerConfig::new(pk(P1)));
    assert_eq!(cfg.to_wg_quick(), Err(WriteError::DuplicatePeer(pk(P1))));
}

#[test]
fn interface_addresses_keep_host_bits_allowed_ips_do_not() {
    let text = format!(
        "[Interface]\nAddress = 10.1.2.3/8\n[Peer]\nPublicKey = {P1}\nAllowedIPs = 10.1.2.3/8\n"
    );
    let cfg = WgQuickConfig::parse(&text).unwrap();
    assert_eq!(cfg.interface.addresses, [InterfaceAddress::parse("10.1.2.3/8").unwrap()]);
    assert_eq!(cfg.interface.addresses[0].addr().to_string(), "10.1.2.3");
    assert_eq!(cfg.device.peers[0].allowed_ips[0].to_string(), "10.0.0.0/8");
}

fn ten_thousand_ips() -> String {
    let mut list = Vec::with_capacity(10_000);
    for i in 0..10_000u32 {
        if i % 2 == 0 {
            list.push(format!("10.{}.{}.0/24", i / 256, i % 256));
        } else {
            list.push(format!("fd00:{:x}::/64", i));
        }
    }
    format!(
        "[Interface]\nPrivateKey = {PRIV}\n\n[Peer]\nPublicKey = {P1}\nAllowedIPs = {}\n",
        list.join(", ")
    )
}

#[test]
fn peer_with_ten_thousand_allowed_ips_round_trips() {
    let text = ten_thousand_ips();
    let cfg = WgQuickConfig::parse(&text).unwrap();
    assert_eq!(cfg.device.peers[0].allowed_ips.len(), 10_000);
    assert_eq!(cfg.device.peers[0].allowed_ips[9_999], ip("fd00:270f::/64"));
    let written = cfg.to_wg_quick().unwrap();
    assert_eq!(written, text);
    assert_eq!(WgQuickConfig::parse(&written).unwrap(), cfg);
}
