//! Randomized (fixed-seed) properties: valid configs round-trip through wg-quick and
//! UAPI, and no text, however broken, makes a parser panic.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::time::Duration;

use ferrowg_core::config::uapi::{
    self, apply, format_get, parse_get_response, parse_request, parse_set, Request,
};
use ferrowg_core::config::{
    AllowedIp, DeviceConfig, Endpoint, InterfaceAddress, InterfaceConfig, PeerConfig, PeerStats,
    Table, WgQuickConfig,
};
use ferrowg_core::keys::{PresharedKey, PrivateKey, PublicKey};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

fn config(seed: u64) -> Config {
    Config {
        cases: 256,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    }
}

fn key_bytes() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>().prop_map(|mut k| {
        k[0] |= 1; // all-zero keys mean "none"
        k
    })
}

fn ip_addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        any::<u128>().prop_map(|v| IpAddr::V6(Ipv6Addr::from(v))),
    ]
}

fn allowed_ip() -> impl Strategy<Value = AllowedIp> {
    ip_addr().prop_flat_map(|a| {
        let max: u8 = if a.is_ipv4() { 32 } else { 128 };
        (0..=max).prop_map(move |c| AllowedIp::new(a, c).unwrap())
    })
}

fn interface_address() -> impl Strategy<Value = InterfaceAddress> {
    ip_addr().prop_flat_map(|a| {
        let max: u8 = if a.is_ipv4() { 32 } else { 128 };
        (0..=max).prop_map(move |c| InterfaceAddress::new(a, c).unwrap())
    })
}

fn literal_endpoint() -> impl Strategy<Value = Endpoint> {
    prop_oneof![
        (any::<u32>(), any::<u16>())
            .prop_map(|(a, p)| Endpoint::Addr(SocketAddr::new(Ipv4Addr::from(a).into(), p))),
        (any::<u128>(), any::<u16>(), prop_oneof![Just(0u32), any::<u32>()]).prop_map(
            |(a, p, s)| Endpoint::Addr(SocketAddr::V6(SocketAddrV6::new(a.into(), p, 0, s)))
        ),
    ]
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    prop_oneof![
        3 => literal_endpoint(),
        1 => ("[a-z][a-z0-9-]{0,10}(\\.[a-z]{2,5}){0,2}", any::<u16>())
            .prop_map(|(host, port)| Endpoint::Host { host, port }),
    ]
}

fn peer(endpoints: BoxedStrategy<Endpoint>) -> impl Strategy<Value = PeerConfig> {
    (
        key_bytes(),
        proptest::option::of(key_bytes()),
        proptest::option::of(endpoints),
        proptest::collection::vec(allowed_ip(), 0..8),
        proptest::option::of(1..=u16::MAX),
    )
        .prop_map(|(pk, psk, endpoint, allowed_ips, keepalive)| PeerConfig {
            public_key: PublicKey(pk),
            preshared_key: psk.map(PresharedKey::from_bytes),
            endpoint,
            allowed_ips,
            persistent_keepalive: keepalive,
        })
}

/// A device as a running WireGuard would hold it: unique peers, each allowed IP owned
/// by one peer.
fn device(endpoints: BoxedStrategy<Endpoint>) -> impl Strategy<Value = DeviceConfig> {
    (
        proptest::option::of(key_bytes()),
        proptest::option::of(1..=u16::MAX),
        proptest::option::of(1..=u32::MAX),
        proptest::collection::vec(peer(endpoints), 0..5),
    )
        .prop_map(|(sk, listen_port, fwmark, mut peers)| {
            let mut keys = HashSet::new();
            let mut ips = HashSet::new();
            peers.retain(|p| keys.insert(p.public_key));
            for p in &mut peers {
                p.allowed_ips.retain(|ip| ips.insert(*ip));
            }
            // Clamped, as a device stores it (apply clamps).
            let private_key = sk.map(|mut k| {
                k[0] &= 248;
                k[31] = (k[31] & 127) | 64;
                PrivateKey::from_bytes(k)
            });
            // The device ignores a peer with its own public key.
            if let Some(own) = private_key.as_ref().map(PrivateKey::public_key) {
                peers.retain(|p| p.public_key != own);
            }
            DeviceConfig { private_key, listen_port, fwmark, peers }
        })
}

fn hook() -> impl Strategy<Value = String> {
    "[a-z]([a-zA-Z0-9 %;$./_=\"'-]{0,30}[a-z0-9])?"
}

fn interface() -> impl Strategy<Value = InterfaceConfig> {
    let table = prop_oneof![
        Just(Table::Auto),
        Just(Table::Off),
        any::<u32>().prop_map(Table::Id),
        "[a-z][a-z_]{0,8}"
            .prop_filter("keyword", |n| n != "auto" && n != "off")
            .prop_map(Table::Name),
    ];
    (
        proptest::collection::vec(interface_address(), 0..4),
        proptest::collection::vec(ip_addr(), 0..3),
        proptest::collection::vec("[a-z][a-z0-9-]{0,8}(\\.[a-z]{2,4})?", 0..3),
        proptest::option::of(1..=u16::MAX),
        proptest::option::of(table),
        any::<bool>(),
        proptest::collection::vec(proptest::collection::vec(hook(), 0..3), 4),
    )
        .prop_map(|(addresses, dns, dns_search, mtu, table, save_config, mut hooks)| {
            let mut next = || hooks.pop().unwrap_or_default();
            InterfaceConfig {
                addresses,
                dns,
                dns_search,
                mtu,
                table,
                save_config,
                pre_up: next(),
                post_up: next(),
                pre_down: next(),
                post_down: next(),
            }
        })
}

proptest! {
    #![proptest_config(config(0x5eed_0001))]

    #[test]
    fn wg_quick_round_trips(interface in interface(), device in device(endpoint().boxed())) {
        let cfg = WgQuickConfig { interface, device };
        let text = cfg.to_wg_quick().unwrap();
        let back = WgQuickConfig::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(back, cfg);
    }

    #[test]
    fn uapi_set_round_trips(device in device(literal_endpoint().boxed()), base in device(literal_endpoint().boxed())) {
        let text = uapi::set_text(&device).unwrap();
        let Request::Set(ops) = parse_request(&text).unwrap() else { panic!("not a set") };
        // A full replacement gives the same device whatever was configured before.
        let applied = apply(&ops, &base).unwrap();
        prop_assert_eq!(applied, device);
    }

    #[test]
    fn uapi_get_round_trips(
        device in device(literal_endpoint().boxed()),
        stats in proptest::collection::vec((any::<u32>(), 0..1_000_000_000u32, any::<u64>(), any::<u64>()), 5),
    ) {
        let mut i = 0;
        let text = format_get(&device, |_| {
            let (sec, nsec, rx, tx) = stats[i % stats.len()];
            i += 1;
            PeerStats {
                last_handshake: (sec != 0).then(|| Duration::new(sec.into(), nsec)),
                rx_bytes: rx,
                tx_bytes: tx,
            }
        });
        let back = parse_get_response(&text).unwrap();
        for (j, s) in back.stats.iter().enumerate() {
            let (sec, nsec, rx, tx) = stats[j % stats.len()];
            prop_assert_eq!(s.rx_bytes, rx);
            prop_assert_eq!(s.tx_bytes, tx);
            prop_assert_eq!(s.last_handshake, (sec != 0).then(|| Duration::new(sec.into(), nsec)));
        }
        prop_assert_eq!(back.config, device);
    }
}

const FRAGMENTS: &str = "(\\[Interface\\]|\\[Peer\\]|\\[|\\]|PrivateKey|PublicKey|PresharedKey|ListenPort|FwMark|Endpoint|AllowedIPs|PersistentKeepalive|Address|DNS|MTU|Table|SaveConfig|PostUp|=| = |,|/|:|#|;|\\n|\\r\\n| |off|true|0x|[0-9]{1,12}|[0-9a-f:.]{1,20}|[A-Za-z0-9+/]{43}=|[a-zA-Z0-9+/=.%_-]{1,50})*";
const UAPI_FRAGMENTS: &str = "(set=1\\n|get=1\\n|\\n|=|private_key|public_key|preshared_key|listen_port|fwmark|replace_peers|remove|update_only|endpoint|persistent_keepalive_interval|replace_allowed_ips|allowed_ip|protocol_version|errno|true|-|[0-9]{1,25}|[0-9a-f]{64}|[0-9a-f:.\\[\\]/%]{1,30})*";

proptest! {
    #![proptest_config(config(0x5eed_0002))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = WgQuickConfig::parse(&text);
        let _ = parse_request(&text);
        let _ = parse_set(&text);
        let _ = parse_get_response(&text);
    }

    #[test]
    fn config_shaped_garbage_never_panics_and_round_trips_when_accepted(text in FRAGMENTS) {
        if let Ok(cfg) = WgQuickConfig::parse(&text) {
            let written = cfg.to_wg_quick().unwrap();
            prop_assert_eq!(WgQuickConfig::parse(&written).unwrap(), cfg);
        }
    }

    #[test]
    fn uapi_shaped_garbage_never_panics(text in UAPI_FRAGMENTS, base in device(literal_endpoint().boxed())) {
        if let Ok(Request::Set(ops)) = parse_request(&text) {
            let _ = apply(&ops, &base);
        }
        let _ = parse_get_response(&text);
    }

    #[test]
    fn one_byte_mutations_never_panic(device in device(endpoint().boxed()), pos in any::<usize>(), byte in any::<u8>()) {
        let cfg = WgQuickConfig { interface: InterfaceConfig::default(), device };
        let mut bytes = cfg.to_wg_quick().unwrap().into_bytes();
        let pos = pos % bytes.len();
        bytes[pos] = byte;
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(cfg) = WgQuickConfig::parse(&text) {
            let written = cfg.to_wg_quick().unwrap();
            prop_assert_eq!(WgQuickConfig::parse(&written).unwrap(), cfg);
        }
    }
}
