//! Keys and peers for the tests that run whole engines.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ferrowg_core::config::{AllowedIp, Endpoint, PeerConfig};
use ferrowg_core::keys::{PrivateKey, PublicKey};

/// A clamped X25519 private key made of `seed`.
pub fn key(seed: u8) -> PrivateKey {
    let mut b = [seed; 32];
    b[0] &= 248;
    b[31] = (b[31] & 127) | 64;
    PrivateKey::from_bytes(b)
}

/// A peer allowed to send from `ip`/32, at `endpoint` if known.
pub fn peer(pk: PublicKey, ip: Ipv4Addr, endpoint: Option<SocketAddr>) -> PeerConfig {
    let mut p = PeerConfig::new(pk);
    p.allowed_ips = vec![AllowedIp::new(IpAddr::V4(ip), 32).unwrap()];
    p.endpoint = endpoint.map(Endpoint::Addr);
    p
}
