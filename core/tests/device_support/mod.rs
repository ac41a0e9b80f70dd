//! Shared helpers for the engine tests: two devices over in-memory NICs and UDP on
//! 127.0.0.1, checksummed test packets, and windowed (flow-controlled) traffic.
#![allow(dead_code, clippy::disallowed_methods)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrowg_core::config::{AllowedIp, DeviceConfig, Endpoint, PeerConfig};
use ferrowg_core::device::memory::{memory_tun, TunHost};
use ferrowg_core::device::{Device, DeviceOptions};
use ferrowg_core::io::SystemClock;
use ferrowg_core::keys::{PrivateKey, PublicKey};
use ferrowg_platform::std_udp::StdUdpBind;

pub const A_V4: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
pub const B_V4: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
pub const A_V6: Ipv6Addr = Ipv6Addr::new(0xfd19, 0, 0, 0, 0, 0, 0, 1);
pub const B_V6: Ipv6Addr = Ipv6Addr::new(0xfd19, 0, 0, 0, 0, 0, 0, 2);
pub const MTU: usize = 1420;

pub fn now() -> Instant {
    Instant::now()
}

pub fn key(seed: u8) -> PrivateKey {
    let mut b = [seed; 32];
    b[0] &= 248;
    b[31] = (b[31] & 127) | 64;
    PrivateKey::from_bytes(b)
}

pub fn host(ip: IpAddr) -> AllowedIp {
    AllowedIp::new(ip, if ip.is_ipv4() { 32 } else { 128 }).unwrap()
}

pub fn peer(pk: PublicKey, ips: &[IpAddr], endpoint: Option<SocketAddr>) -> PeerConfig {
    let mut p = PeerConfig::new(pk);
    p.allowed_ips = ips.iter().map(|&ip| host(ip)).collect();
    p.endpoint = endpoint.map(Endpoint::Addr);
    p
}

pub fn opts(seed: u8) -> DeviceOptions {
    DeviceOptions { rng_seed: Some([seed; 32]), ..DeviceOptions::default() }
}

/// One side of a pair.
pub struct Side {
    pub device: Device,
    pub host: TunHost,
    pub key: PrivateKey,
    pub config: DeviceConfig,
}

/// Two devices: A (198.19.0.1, fd19::1) and B (198.19.0.2, fd19::2). B knows A's
/// endpoint; A learns B's from the handshake.
pub fn pair(opts_a: DeviceOptions, opts_b: DeviceOptions) -> (Side, Side) {
    pair_on(IpAddr::V4(Ipv4Addr::LOCALHOST), opts_a, opts_b)
}

/// [`pair`] with the UDP underlay on `underlay` (127.0.0.1 or ::1).
pub fn pair_on(underlay: IpAddr, opts_a: DeviceOptions, opts_b: DeviceOptions) -> (Side, Side) {
    let (ka, kb) = (key(0x11), key(0x22));
    let bind = Arc::new(StdUdpBind::new(underlay));
    let (tun_a, host_a) = memory_tun(MTU, 1024);
    let mut cfg_a = DeviceConfig { private_key: Some(ka.clone()), ..Default::default() };
    cfg_a.peers.push(peer(kb.public_key(), &[B_V4.into(), B_V6.into()], None));
    let a =
        Device::start(cfg_a.clone(), tun_a, bind.clone(), Arc::new(SystemClock), opts_a).unwrap();
    let a_addr = SocketAddr::new(underlay, a.listen_port());
    let (tun_b, host_b) = memory_tun(MTU, 1024);
    let mut cfg_b = DeviceConfig { private_key: Some(kb.clone()), ..Default::default() };
    cfg_b.peers.push(peer(ka.public_key(), &[A_V4.into(), A_V6.into()], Some(a_addr)));
    let b = Device::start(cfg_b.clone(), tun_b, bind, Arc::new(SystemClock), opts_b).unwrap();
    (
        Side { device: a, host: host_a, key: ka, config: cfg_a },
        Side { device: b, host: host_b, key: kb, config: cfg_b },
    )
}

/// FNV-1a, for payload checksums.
pub fn fnv(data: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Payload layout after the IP header: flow (4), seq (8), filler, checksum (8).
const PAYLOAD_MIN: usize = 20;

/// A test packet of exactly `size` bytes (IPv4 when `v6` is false, at least 40 + 20
/// bytes for IPv6) from `src` to `dst`, carrying `flow`/`seq` and a checksum.
pub fn packet(src: IpAddr, dst: IpAddr, flow: u32, seq: u64, size: usize) -> Vec<u8> {
    let hdr = if src.is_ipv4() { 20 } else { 40 };
    let size = size.max(hdr + PAYLOAD_MIN);
    let mut p = vec![0u8; size];
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            p[0] = 0x45;
            p[2..4].copy_from_slice(&(size as u16).to_be_bytes());
            p[8] = 64;
            p[9] = 17;
            p[12..16].copy_from_slice(&s.octets());
            p[16..20].copy_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            p[0] = 0x60;
            p[4..6].copy_from_slice(&((size - 40) as u16).to_be_bytes());
            p[6] = 17;
            p[7] = 64;
            p[8..24].copy_from_slice(&s.octets());
            p[24..40].copy_from_slice(&d.octets());
        }
        _ => panic!("mixed families"),
    }
    let body = &mut p[hdr..];
    body[0..4].copy_from_slice(&flow.to_le_bytes());
    body[4..12].copy_from_slice(&seq.to_le_bytes());
    let n = body.len();
    let mut x = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(flow);
    for b in &mut body[12..n - 8] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let sum = fnv(&p[..size - 8]);
    p[size - 8..].copy_from_slice(&sum.to_le_bytes());
    p
}

/// Checks a received test packet; returns (flow, seq).
pub fn verify(p: &[u8]) -> Result<(u32, u64), String> {
    let hdr = match p.first().map(|b| b >> 4) {
        Some(4) => 20,
        Some(6) => 40,
        _ => return Err("not IP".into()),
    };
    if p.len() < hdr + PAYLOAD_MIN {
        return Err(format!("short packet {}", p.len()));
    }
    let n = p.len();
    let sum = u64::from_le_bytes(p[n - 8..].try_into().unwrap());
    if sum != fnv(&p[..n - 8]) {
        return Err("checksum mismatch".into());
    }
    let flow = u32::from_le_bytes(p[hdr..hdr + 4].try_into().unwrap());
    let seq = u64::from_le_bytes(p[hdr + 4..hdr + 12].try_into().unwrap());
    Ok((flow, seq))
}

/// Per-direction delivery checker: every flow's sequence numbers must arrive as
/// 0, 1, 2, ... (nothing lost, nothing reordered, nothing duplicated).
#[derive(Default)]
pub struct FlowCheck {
    next: HashMap<u32, u64>,
    pub received: u64,
    pub bytes: u64,
    pub errors: Vec<String>,
}

impl FlowCheck {
    pub fn accept(&mut self, p: &[u8]) {
        self.received += 1;
        self.bytes += p.len() as u64;
        match verify(p) {
            Ok((flow, seq)) => {
                let next = self.next.entry(flow).or_insert(0);
                if seq != *next && self.errors.len() < 10 {
                    self.errors.push(format!("flow {flow}: got seq {seq}, expected {next}"));
                }
                *next = seq + 1;
            }
            Err(e) => {
                if self.errors.len() < 10 {
                    self.errors.push(e);
                }
            }
        }
    }
}

/// Traffic description for one direction.
#[derive(Clone)]
pub struct Flows {
    /// (src, dst) per flow; packet i goes to flow i % len.
    pub endpoints: Vec<(IpAddr, IpAddr)>,
    pub total: u64,
    /// Packets in flight allowed (flow control, so loopback UDP never overflows).
    pub window: u64,
    /// Sizes cycle through this list.
    pub sizes: Vec<usize>,
}

/// Sends `flows` from `tx` to `rx` with a sliding window; returns the checker once
/// everything arrived or `deadline` passed.
pub fn run_direction(tx: &TunHost, rx: &TunHost, flows: &Flows, deadline: Instant) -> FlowCheck {
    let received = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let rx = rx.clone();
    let total = flows.total;
    let recv_thread = {
        let received = received.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            let mut check = FlowCheck::default();
            let mut buf = Vec::with_capacity(256);
            while check.received < total
                && Instant::now() < deadline
                && !done.load(Ordering::Relaxed)
            {
                buf.clear();
                rx.recv(&mut buf, 256, Duration::from_millis(20));
                for p in &buf {
                    check.accept(p);
                }
                received.store(check.received, Ordering::Release);
            }
            check
        })
    };
    let mut seqs = vec![0u64; flows.endpoints.len()];
    let mut sent = 0u64;
    let mut batch = Vec::with_capacity(64);
    while sent < total && Instant::now() < deadline {
        let room = (received.load(Ordering::Acquire) + flows.window).saturating_sub(sent);
        if room == 0 {
            std::thread::sleep(Duration::from_micros(50));
            continue;
        }
        batch.clear();
        for _ in 0..room.min(64).min(total - sent) {
            let i = (sent + batch.len() as u64) as usize;
            let f = i % flows.endpoints.len();
            let (s, d) = flows.endpoints[f];
            let size = flows.sizes[i % flows.sizes.len()];
            batch.push(packet(s, d, f as u32, seqs[f], size));
            seqs[f] += 1;
        }
        let n = tx.inject(&batch, Duration::from_secs(5));
        assert_eq!(n, batch.len(), "in-memory NIC refused packets");
        sent += n as u64;
    }
    let check = recv_thread.join().unwrap();
    done.store(true, Ordering::Relaxed);
    check
}

/// Live threads of this process (Linux).
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0)
}
