//! Configuration through `ConfigDiff`: validation, stale commits, the interface's own
//! key, and removal.

use std::time::Instant;

use super::{ConfigError, Interface};
use crate::config::{AllowedIp, DeviceConfig, PeerConfig};
use crate::keys::{PrivateKey, PublicKey};

fn peer(k: u8, ip: &str) -> PeerConfig {
    let mut p = PeerConfig::new(PublicKey([k; 32]));
    p.allowed_ips.push(AllowedIp::parse(ip).unwrap());
    p
}

fn config(peers: Vec<PeerConfig>) -> DeviceConfig {
    DeviceConfig {
        private_key: Some(PrivateKey::from_bytes([7; 32])),
        peers,
        ..DeviceConfig::default()
    }
}

#[test]
#[allow(clippy::disallowed_methods)] // an arbitrary base instant
fn config_is_validated_applied_by_diff_and_never_half_done() {
    let now = Instant::now();
    let i = Interface::new([1; 32], now);
    i.apply_config(config(vec![peer(1, "10.0.0.1/32"), peer(2, "10.0.0.2/32")]), now).unwrap();
    assert_eq!(i.peer_count(), 2);

    // The same peer twice: refused, nothing changes.
    let dup = config(vec![peer(1, "10.0.0.1/32"), peer(1, "10.0.0.3/32")]);
    assert!(matches!(i.apply_config(dup, now), Err(ConfigError::Invalid(_))));
    assert_eq!(i.peer_count(), 2);

    // A hostname endpoint: refused (the host resolves names; core makes no OS call).
    let mut named = peer(3, "10.0.0.3/32");
    named.endpoint =
        Some(crate::config::Endpoint::Host { host: "vpn.example.test".into(), port: 9 });
    let err = i.apply_config(config(vec![peer(1, "10.0.0.1/32"), named]), now).unwrap_err();
    assert!(matches!(&err, ConfigError::Invalid(m) if m.contains("vpn.example.test:9")), "{err:?}");
    assert_eq!(i.peer_count(), 2);

    // A configuration prepared against an older one is refused at commit.
    let a = i.prepare(config(vec![peer(1, "10.0.0.1/32")])).unwrap();
    let b = i.prepare(config(vec![peer(2, "10.0.0.2/32")])).unwrap();
    assert_eq!(b.diff().removed, [PublicKey([1; 32])]);
    i.commit(b, now).unwrap();
    assert_eq!(i.commit(a, now), Err(ConfigError::Stale));
    let peers = i.peer_statuses();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].public_key, PublicKey([2; 32]));

    // The interface's own key is never one of its peers; its route goes with it.
    let own = PrivateKey::from_bytes([7; 32]).public_key();
    let mut me = PeerConfig::new(own);
    me.allowed_ips.push(AllowedIp::parse("10.9.0.0/16").unwrap());
    i.apply_config(config(vec![me, peer(2, "10.0.0.2/32")]), now).unwrap();
    assert_eq!(i.peer_count(), 1);
    let mut pkt = [0u8; 20];
    pkt[0] = 0x45;
    pkt[16..20].copy_from_slice(&[10, 9, 0, 1]);
    assert!(i.route(&pkt).is_none());
    pkt[16..20].copy_from_slice(&[10, 0, 0, 2]);
    assert_eq!(i.route(&pkt).map(|p| *p.public_key()), Some(PublicKey([2; 32])));
}
