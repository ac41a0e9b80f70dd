//! Receive-side CoDel (`DeviceOptions::rx_codel`): two engines over loopback UDP whose
//! receiving transport reports every datagram as having waited 50 ms in the socket
//! buffer (a standing queue, as the kernel's receive timestamps would show it). B must
//! drop large data messages (counted in `codel_drops`) and never small ones; without
//! `rx_codel` nothing is dropped.
#![allow(clippy::disallowed_methods)]

mod device_support;

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use device_support::*;
use ferrowg_core::aqm::CodelParams;
use ferrowg_core::config::DeviceConfig;
use ferrowg_core::device::memory::memory_tun;
use ferrowg_core::device::{Device, DeviceOptions};
use ferrowg_core::io::{Bind, RecvMeta, SystemClock, Transmit, Transport};
use ferrowg_platform::std_udp::StdUdpBind;

/// How long every received datagram claims to have waited.
const STANDING: Duration = Duration::from_millis(50);

/// A transport whose datagrams all arrive stamped `STANDING` ago.
struct Stale(Arc<dyn Transport>);

impl Transport for Stale {
    fn recv_batch(
        &self,
        bufs: &mut [&mut [u8]],
        meta: &mut [RecvMeta],
        timeout: Duration,
    ) -> io::Result<usize> {
        let n = self.0.recv_batch(bufs, meta, timeout)?;
        let at = SystemTime::now() - STANDING;
        for m in meta.iter_mut().take(n) {
            m.rx_time = Some(at);
        }
        Ok(n)
    }
    fn send_batch(&self, datagrams: &[Transmit<'_>]) -> io::Result<usize> {
        self.0.send_batch(datagrams)
    }
    fn local_port(&self) -> u16 {
        self.0.local_port()
    }
}

struct StaleBind(StdUdpBind);

impl Bind for StaleBind {
    fn bind(&self, port: u16) -> io::Result<Arc<dyn Transport>> {
        Ok(Arc::new(Stale(self.0.bind(port)?)))
    }
}

/// Sends `count` packets of `size` bytes B → A in paced bursts (B knows A's endpoint;
/// A receives through [`StaleBind`]); returns (delivered intact, A's `codel_drops`).
fn run(rx_codel: Option<CodelParams>, size: usize, count: u64) -> (u64, u64) {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let (ka, kb) = (key(0x11), key(0x22));
    let (tun_a, host_a) = memory_tun(MTU, 4096);
    let mut cfg_a = DeviceConfig { private_key: Some(ka.clone()), ..Default::default() };
    cfg_a.peers.push(peer(kb.public_key(), &[B_V4.into()], None));
    let oa = DeviceOptions { rx_codel, ..opts(1) };
    let bind_a = Arc::new(StaleBind(StdUdpBind::new(lo)));
    let a = Device::start(cfg_a, tun_a, bind_a, Arc::new(SystemClock), oa).unwrap();
    let a_addr = SocketAddr::new(lo, a.listen_port());
    let (tun_b, host_b) = memory_tun(MTU, 1024);
    let mut cfg_b = DeviceConfig { private_key: Some(kb), ..Default::default() };
    cfg_b.peers.push(peer(ka.public_key(), &[A_V4.into()], Some(a_addr)));
    let bind_b = Arc::new(StdUdpBind::new(lo));
    let b = Device::start(cfg_b, tun_b, bind_b, Arc::new(SystemClock), opts(2)).unwrap();

    let (src, dst) = (IpAddr::V4(B_V4), IpAddr::V4(A_V4));
    let mut out = Vec::new();
    // Handshake first (flow 1, not counted), so no packet waits in the staging queue.
    let hello = [packet(src, dst, 1, 0, 100)];
    let ready_by = now() + Duration::from_secs(30);
    while now() < ready_by && out.is_empty() {
        host_b.inject(&hello, Duration::from_secs(5));
        host_a.recv(&mut out, 16, Duration::from_millis(200));
    }
    assert!(!out.is_empty(), "no handshake");
    let mut delivered = 0u64;
    let mut sent = 0u64;
    while sent < count {
        let burst: Vec<Vec<u8>> =
            (sent..(sent + 128).min(count)).map(|seq| packet(src, dst, 0, seq, size)).collect();
        sent += host_b.inject(&burst, Duration::from_secs(5)) as u64;
        // Paced, so loopback UDP never overflows: every loss is CoDel's.
        std::thread::sleep(Duration::from_millis(5));
        out.clear();
        host_a.recv(&mut out, 256, Duration::ZERO);
        delivered += out.iter().filter(|p| verify(p).is_ok_and(|(f, _)| f == 0)).count() as u64;
    }
    let quiet_until = now() + Duration::from_secs(30);
    while now() < quiet_until {
        out.clear();
        if host_a.recv(&mut out, 256, Duration::from_millis(300)) == 0 {
            break;
        }
        delivered += out.iter().filter(|p| verify(p).is_ok_and(|(f, _)| f == 0)).count() as u64;
    }
    let drops = a.stats().codel_drops;
    a.stop();
    b.stop();
    (delivered, drops)
}

#[test]
fn standing_queue_drops_large_data_messages() {
    let params = CodelParams {
        target: Duration::from_millis(5),
        interval: Duration::from_millis(10),
        max_packet: 1500,
    };
    let (delivered, drops) = run(Some(params), 1400, 3000);
    assert!(drops > 0, "no CoDel drop with a 50 ms standing queue");
    assert!(delivered > 0, "nothing delivered");
    assert!(delivered + drops <= 3000, "delivered {delivered} + dropped {drops} > sent");
}

#[test]
fn small_messages_are_never_dropped() {
    let params = CodelParams {
        target: Duration::from_millis(5),
        interval: Duration::from_millis(10),
        max_packet: 1500,
    };
    let (delivered, drops) = run(Some(params), 200, 3000);
    assert_eq!(drops, 0);
    assert_eq!(delivered, 3000);
}

#[test]
fn off_by_default_drops_nothing() {
    let (delivered, drops) = run(None, 1400, 3000);
    assert_eq!(drops, 0);
    assert_eq!(delivered, 3000);
}
