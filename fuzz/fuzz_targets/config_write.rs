//! Typed configs built from arbitrary bytes (as an app could hand them over the FFI),
//! written as wg-quick and as a UAPI `set=1` request. Whatever a writer accepts must
//! parse back, and writing what was parsed must give the same text again (the writers
//! are canonical). Any panic is a bug.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use ferrowg_core::config::uapi::{self, Request};
use ferrowg_core::config::{
    AllowedIp, DeviceConfig, Endpoint, InterfaceAddress, InterfaceConfig, PeerConfig, Table,
    WgQuickConfig,
};
use ferrowg_core::keys::{PresharedKey, PrivateKey, PublicKey};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

fn ip(u: &mut Unstructured<'_>) -> Result<IpAddr> {
    Ok(if u.arbitrary()? {
        IpAddr::V4(Ipv4Addr::from(u.arbitrary::<u32>()?))
    } else {
        IpAddr::V6(Ipv6Addr::from(u.arbitrary::<u128>()?))
    })
}

fn prefix(u: &mut Unstructured<'_>, addr: IpAddr) -> Result<u8> {
    let max = if addr.is_ipv4() { 32 } else { 128 };
    Ok(u.arbitrary::<u8>()? % (max + 1))
}

fn short_string(u: &mut Unstructured<'_>) -> Result<String> {
    let s: String = u.arbitrary()?;
    Ok(s.chars().take(24).collect())
}

fn endpoint(u: &mut Unstructured<'_>) -> Result<Endpoint> {
    let port = u.arbitrary()?;
    Ok(match u.int_in_range(0..=2)? {
        0 => Endpoint::Addr(SocketAddr::new(ip(u)?, port)),
        1 => Endpoint::Addr(SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(u.arbitrary::<u128>()?),
            port,
            u.arbitrary()?,
            u.arbitrary()?,
        ))),
        _ => Endpoint::Host { host: short_string(u)?, port },
    })
}

fn public_key(u: &mut Unstructured<'_>) -> Result<PublicKey> {
    // A few fixed keys make duplicate peers likely.
    Ok(match u.int_in_range(0..=3)? {
        3 => PublicKey(u.arbitrary()?),
        n => PublicKey([n; 32]),
    })
}

fn peer(u: &mut Unstructured<'_>) -> Result<PeerConfig> {
    let mut p = PeerConfig::new(public_key(u)?);
    p.preshared_key = u.arbitrary::<Option<[u8; 32]>>()?.map(PresharedKey::from_bytes);
    p.endpoint = if u.arbitrary()? { Some(endpoint(u)?) } else { None };
    for _ in 0..u.int_in_range(0..=4)? {
        let addr = ip(u)?;
        let cidr = prefix(u, addr)?;
        p.allowed_ips.extend(AllowedIp::new(addr, cidr).ok());
    }
    p.persistent_keepalive = u.arbitrary()?;
    Ok(p)
}

fn config(u: &mut Unstructured<'_>) -> Result<WgQuickConfig> {
    let mut device = DeviceConfig {
        private_key: u.arbitrary::<Option<[u8; 32]>>()?.map(PrivateKey::from_bytes),
        listen_port: u.arbitrary()?,
        fwmark: u.arbitrary()?,
        peers: Vec::new(),
    };
    for _ in 0..u.int_in_range(0..=3)? {
        device.peers.push(peer(u)?);
    }
    let mut ifc = InterfaceConfig::default();
    for _ in 0..u.int_in_range(0..=2)? {
        let addr = ip(u)?;
        let p = prefix(u, addr)?;
        ifc.addresses.extend(InterfaceAddress::new(addr, p).ok());
    }
    for _ in 0..u.int_in_range(0..=2)? {
        ifc.dns.push(ip(u)?);
    }
    for _ in 0..u.int_in_range(0..=2)? {
        ifc.dns_search.push(short_string(u)?);
    }
    ifc.mtu = u.arbitrary()?;
    ifc.table = match u.int_in_range(0..=4)? {
        0 => None,
        1 => Some(Table::Auto),
        2 => Some(Table::Off),
        3 => Some(Table::Id(u.arbitrary()?)),
        _ => Some(Table::Name(short_string(u)?)),
    };
    ifc.save_config = u.arbitrary()?;
    for hooks in [&mut ifc.pre_up, &mut ifc.post_up, &mut ifc.pre_down, &mut ifc.post_down] {
        if u.arbitrary()? {
            hooks.push(short_string(u)?);
        }
    }
    Ok(WgQuickConfig { interface: ifc, device })
}

fn uapi_apply(text: &str, base: &DeviceConfig) -> DeviceConfig {
    let Request::Set(ops) = uapi::parse_request(text).expect("own set text parses") else {
        panic!("own set text is not a set request");
    };
    uapi::apply(&ops, base).expect("own set text applies")
}

fuzz_target!(|data: &[u8]| {
    let Ok(cfg) = config(&mut Unstructured::new(data)) else {
        return;
    };
    if let Ok(text) = cfg.to_wg_quick() {
        let back = WgQuickConfig::parse(&text).expect("writer output parses");
        assert_eq!(back.to_wg_quick().as_deref(), Ok(text.as_str()), "writer is not canonical");
    }
    if let Ok(text) = cfg.device.to_uapi_set() {
        let applied = uapi_apply(&text, &DeviceConfig::default());
        let again = applied.to_uapi_set().expect("applied config has literal endpoints");
        assert_eq!(uapi_apply(&again, &DeviceConfig::default()), applied, "set text not stable");
    }
});
