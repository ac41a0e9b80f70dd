//! Security review finding 1, through the engine: a datagram too large for its receive
//! buffer, inside a `recvmmsg` batch (no GRO), must not shift the lengths and source
//! addresses of the datagrams after it onto other buffers. The off-path attack: an
//! oversized datagram, then the peer's real packet, then a datagram of the same length as
//! the real one from the attacker's address. If metadata and buffers come apart, the
//! engine authenticates the peer's packet under the attacker's address and the peer
//! "roams" to the attacker. Loopback only; no root needed.
#![cfg(target_os = "linux")]
#![allow(clippy::disallowed_methods)]

mod common;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::engine::{key, peer};
use ferrowg_core::config::{DeviceConfig, Endpoint};
use ferrowg_core::device::memory::{memory_tun, TunHost};
use ferrowg_core::device::{Device, DeviceOptions};
use ferrowg_core::io::{Bind, RecvMeta, SystemClock, Transmit, Transport};
use ferrowg_platform::udp::{UdpOptions, UdpTransport};

const A_TUN: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
const B_TUN: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
const MTU: usize = 1420;
const STEP: Duration = Duration::from_millis(10);

/// A minimal IPv4/UDP packet from B's tunnel address to A's.
fn packet(tag: u8) -> Vec<u8> {
    let mut p = vec![tag; 60];
    p[0] = 0x45;
    p[1] = 0;
    p[2..4].copy_from_slice(&60u16.to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&B_TUN.octets());
    p[16..20].copy_from_slice(&A_TUN.octets());
    p
}

/// The gate in front of A's transport: while closed, the engine's receive thread reads
/// nothing, so datagrams pile up in the socket and arrive as one batch.
#[derive(Default)]
struct Gate {
    open: AtomicBool,
    /// Receive calls currently inside the real transport.
    inside: AtomicUsize,
    /// Sizes of the batches returned since the gate last opened.
    batches: Mutex<Vec<usize>>,
}

/// The platform transport without GRO (the `recvmmsg` path), behind a [`Gate`].
struct Gated {
    inner: UdpTransport,
    gate: Arc<Gate>,
}

impl Transport for Gated {
    fn recv_batch(
        &self,
        bufs: &mut [&mut [u8]],
        meta: &mut [RecvMeta],
        timeout: Duration,
    ) -> io::Result<usize> {
        self.gate.inside.fetch_add(1, Ordering::SeqCst);
        if !self.gate.open.load(Ordering::SeqCst) {
            self.gate.inside.fetch_sub(1, Ordering::SeqCst);
            std::thread::sleep(timeout.min(Duration::from_millis(2)));
            return Ok(0);
        }
        let r = self.inner.recv_batch(bufs, meta, timeout);
        if let Ok(n) = &r {
            if *n > 0 {
                self.gate.batches.lock().unwrap().push(*n);
            }
        }
        self.gate.inside.fetch_sub(1, Ordering::SeqCst);
        r
    }

    fn send_batch(&self, datagrams: &[Transmit<'_>]) -> io::Result<usize> {
        self.inner.send_batch(datagrams)
    }

    fn local_port(&self) -> u16 {
        self.inner.local_port()
    }
}

struct GatedBind(Arc<Gate>);

impl Bind for GatedBind {
    fn bind(&self, port: u16) -> io::Result<Arc<dyn Transport>> {
        let opts = UdpOptions { port, no_gro: true, no_ipv6: true, ..UdpOptions::default() };
        let inner =
            UdpTransport::with_options(opts).map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Arc::new(Gated { inner, gate: self.0.clone() }))
    }
}

/// B's transport: a loopback socket whose sends can be captured instead of sent, so
/// the test decides when (and between which other datagrams) B's packet reaches A.
struct Capturing {
    socket: UdpSocket,
    capture: AtomicBool,
    captured: Mutex<Vec<(SocketAddr, Vec<u8>)>>,
}

impl Transport for Capturing {
    fn recv_batch(
        &self,
        bufs: &mut [&mut [u8]],
        meta: &mut [RecvMeta],
        timeout: Duration,
    ) -> io::Result<usize> {
        let (Some(buf), Some(m)) = (bufs.first_mut(), meta.first_mut()) else { return Ok(0) };
        self.socket.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        match self.socket.recv_from(buf) {
            Ok((len, src)) => {
                *m = RecvMeta { len, src, rx_time: None };
                Ok(1)
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }

    fn send_batch(&self, datagrams: &[Transmit<'_>]) -> io::Result<usize> {
        for d in datagrams {
            if self.capture.load(Ordering::SeqCst) {
                self.captured.lock().unwrap().push((d.dst, d.data.to_vec()));
            } else {
                let _ = self.socket.send_to(d.data, d.dst);
            }
        }
        Ok(datagrams.len())
    }

    fn local_port(&self) -> u16 {
        self.socket.local_addr().map_or(0, |a| a.port())
    }
}

struct CapturingBind(Arc<Capturing>);

impl Bind for CapturingBind {
    fn bind(&self, _port: u16) -> io::Result<Arc<dyn Transport>> {
        Ok(self.0.clone())
    }
}

fn wait_for_packet(host: &TunHost) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..500 {
        if host.recv(&mut out, 1, STEP) > 0 {
            return out.remove(0);
        }
    }
    panic!("no packet came out of the tunnel");
}

fn endpoint_of(device: &Device) -> Option<SocketAddr> {
    device.config().peers.first().and_then(|p| p.endpoint.as_ref()).and_then(Endpoint::addr)
}

#[test]
fn oversized_datagram_in_a_batch_cannot_steer_the_peer_endpoint() {
    let (ka, kb) = (key(0x31), key(0x42));
    let gate = Arc::new(Gate { open: AtomicBool::new(true), ..Gate::default() });
    let (tun_a, host_a) = memory_tun(MTU, 64);
    let mut cfg_a = DeviceConfig { private_key: Some(ka.clone()), ..Default::default() };
    cfg_a.peers.push(peer(kb.public_key(), B_TUN, None));
    let opts = |seed| DeviceOptions { rng_seed: Some([seed; 32]), ..DeviceOptions::default() };
    let a = Device::start(
        cfg_a,
        tun_a,
        Arc::new(GatedBind(gate.clone())),
        Arc::new(SystemClock),
        opts(1),
    )
    .unwrap();
    let a_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, a.listen_port()));

    let b_socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let b_addr = b_socket.local_addr().unwrap();
    let b_transport = Arc::new(Capturing {
        socket: b_socket,
        capture: AtomicBool::new(false),
        captured: Mutex::new(Vec::new()),
    });
    let (tun_b, host_b) = memory_tun(MTU, 64);
    let mut cfg_b = DeviceConfig { private_key: Some(kb), ..Default::default() };
    cfg_b.peers.push(peer(ka.public_key(), A_TUN, Some(a_addr)));
    let b = Device::start(
        cfg_b,
        tun_b,
        Arc::new(CapturingBind(b_transport.clone())),
        Arc::new(SystemClock),
        opts(2),
    )
    .unwrap();

    // Handshake and a first packet: A learns B's endpoint.
    assert_eq!(host_b.inject(&[packet(1)], Duration::from_secs(1)), 1);
    assert_eq!(wait_for_packet(&host_a), packet(1));
    assert_eq!(endpoint_of(&a), Some(b_addr));

    // Stop A's receive thread before its next read.
    gate.open.store(false, Ordering::SeqCst);
    for _ in 0..500 {
        if gate.inside.load(Ordering::SeqCst) == 0 {
            break;
        }
        std::thread::sleep(STEP);
    }
    assert_eq!(gate.inside.load(Ordering::SeqCst), 0, "A's receive thread did not pause");

    // B encrypts a packet; hold it back.
    b_transport.capture.store(true, Ordering::SeqCst);
    assert_eq!(host_b.inject(&[packet(2)], Duration::from_secs(1)), 1);
    let mut data = None;
    for _ in 0..500 {
        data = b_transport.captured.lock().unwrap().iter().find(|(_, d)| d[0] == 4).cloned();
        if data.is_some() {
            break;
        }
        std::thread::sleep(STEP);
    }
    let (dst, data) = data.expect("B sent no data message");
    assert_eq!(dst, a_addr);

    // The batch A will read: [oversized from X, B's packet, same length from X].
    let attacker = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let x_addr = attacker.local_addr().unwrap();
    attacker.send_to(&vec![4u8; 9000], a_addr).unwrap();
    b_transport.socket.send_to(&data, a_addr).unwrap();
    attacker.send_to(&vec![4u8; data.len()], a_addr).unwrap();
    // Loopback delivery is done when send_to returns; the pause only lets softirqs run.
    std::thread::sleep(Duration::from_millis(20));
    gate.batches.lock().unwrap().clear();
    gate.open.store(true, Ordering::SeqCst);

    assert_eq!(wait_for_packet(&host_a), packet(2), "B's packet is delivered");
    let first = gate.batches.lock().unwrap().first().copied();
    assert_eq!(first, Some(2), "the three datagrams were read in one batch (one dropped)");
    assert_eq!(endpoint_of(&a), Some(b_addr), "B's endpoint must not move to {x_addr}");
    b.stop();
    a.stop();
}
