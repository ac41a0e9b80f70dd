//! Keys, peers and a memory-NIC device for the tests that run whole engines.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use ferrowg_core::config::{AllowedIp, DeviceConfig, Endpoint, PeerConfig};
use ferrowg_core::device::memory::memory_tun;
use ferrowg_core::device::{Device, DeviceOptions};
use ferrowg_core::io::SystemClock;
use ferrowg_core::keys::{PrivateKey, PublicKey};
use ferrowg_platform::std_udp::StdUdpBind;

/// A device without peers on a memory NIC (no descriptor to wait on: one thread per
/// direction) and loopback UDP, with `opts`; the private key is made of `seed`.
pub fn memory_device(seed: u8, opts: DeviceOptions) -> Device {
    let (tun, _host) = memory_tun(1420, 64);
    let bind = Arc::new(StdUdpBind::new(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let config = DeviceConfig {
        private_key: Some(PrivateKey::from_bytes([seed; 32])),
        ..Default::default()
    };
    Device::start(config, tun, bind, Arc::new(SystemClock), opts).unwrap()
}

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
