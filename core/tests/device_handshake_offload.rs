//! Handshake initiations are created on the control thread, not on the TX thread: data
//! for a peer with a session keeps flowing while another peer's initiation waits.
#![allow(clippy::disallowed_methods)]

mod device_support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use device_support::*;
use ferrowg_core::config::DeviceConfig;
use ferrowg_core::device::memory::memory_tun;
use ferrowg_core::device::Device;
use ferrowg_core::io::{Clock, SystemClock};
use ferrowg_core::messages::{INITIATION_LEN, MESSAGE_TYPE_INITIATION};
use ferrowg_platform::std_udp::StdUdpBind;
use parking_lot::{Condvar, Mutex};

const C_V4: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 3);

/// The system clock, except that the engine's control thread blocks in it while the
/// gate is closed (it reads the clock at the top of every loop turn).
#[derive(Default)]
struct GatedClock {
    /// (gate closed, control thread waiting in the gate)
    state: Mutex<(bool, bool)>,
    changed: Condvar,
}

impl GatedClock {
    fn set_closed(&self, closed: bool) {
        self.state.lock().0 = closed;
        self.changed.notify_all();
    }

    /// Waits (bounded) until the control thread sits in the closed gate.
    fn wait_control_blocked(&self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut st = self.state.lock();
        while !st.1 {
            if self.changed.wait_until(&mut st, deadline).timed_out() {
                return st.1;
            }
        }
        true
    }
}

impl Clock for GatedClock {
    fn now(&self) -> Instant {
        if std::thread::current().name() == Some("ferrowg-control") {
            let mut st = self.state.lock();
            // Bounded: the test opens the gate well within this.
            let deadline = Instant::now() + Duration::from_secs(30);
            while st.0 && Instant::now() < deadline {
                st.1 = true;
                self.changed.notify_all();
                self.changed.wait_until(&mut st, deadline);
            }
            st.1 = false;
        }
        Instant::now()
    }
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}

#[test]
fn data_for_other_peers_flows_while_one_peer_waits_for_its_initiation() {
    let clock = Arc::new(GatedClock::default());
    let bind = Arc::new(StdUdpBind::new(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let (ka, kb, kc) = (key(0x31), key(0x32), key(0x33));
    // C is a plain UDP socket: it only counts what A sends it.
    let c_sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let c_addr = c_sock.local_addr().unwrap();

    let (tun_a, host_a) = memory_tun(MTU, 1024);
    let mut cfg_a = DeviceConfig { private_key: Some(ka.clone()), ..Default::default() };
    cfg_a.peers.push(peer(kb.public_key(), &[B_V4.into()], None));
    cfg_a.peers.push(peer(kc.public_key(), &[C_V4.into()], Some(c_addr)));
    let a = Device::start(cfg_a, tun_a, bind.clone(), clock.clone(), opts(0x34)).unwrap();
    let a_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, a.listen_port()));
    let (tun_b, host_b) = memory_tun(MTU, 1024);
    let mut cfg_b = DeviceConfig { private_key: Some(kb), ..Default::default() };
    cfg_b.peers.push(peer(ka.public_key(), &[A_V4.into()], Some(a_addr)));
    let b = Device::start(cfg_b, tun_b, bind, Arc::new(SystemClock), opts(0x35)).unwrap();

    // B → A completes the handshake; A → B then has a confirmed session.
    let mut got = Vec::new();
    host_b.inject(&[packet(B_V4.into(), A_V4.into(), 1, 0, 200)], Duration::from_secs(1));
    let deadline = now() + Duration::from_secs(10);
    while got.is_empty() && now() < deadline {
        host_a.recv(&mut got, 8, Duration::from_millis(10));
    }
    assert_eq!(got.len(), 1, "handshake B → A did not complete");

    clock.set_closed(true);
    assert!(clock.wait_control_blocked(), "control thread never reached the gate");

    // Interleaved: packets for C (no session: staged, initiation wanted) and for B.
    const ROUNDS: u64 = 20;
    for seq in 0..ROUNDS {
        let burst = [
            packet(A_V4.into(), C_V4.into(), 3, seq, 200),
            packet(A_V4.into(), B_V4.into(), 2, seq, 200),
        ];
        assert_eq!(host_a.inject(&burst, Duration::from_secs(1)), 2);
    }
    let mut to_b = Vec::new();
    let deadline = now() + Duration::from_secs(10);
    while (to_b.len() as u64) < ROUNDS && now() < deadline {
        host_b.recv(&mut to_b, 64, Duration::from_millis(10));
    }
    let seqs: Vec<u64> = to_b.iter().map(|p| verify(p).unwrap()).map(|(_, s)| s).collect();
    assert_eq!(seqs, (0..ROUNDS).collect::<Vec<_>>(), "data to B stalled or reordered");

    // The TX thread sent B's packets after staging C's: had it created C's initiation
    // itself, that datagram would already sit in C's socket (loopback delivers on send).
    c_sock.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 2048];
    let early = c_sock.recv_from(&mut buf);
    assert!(early.is_err(), "an initiation left while the control thread was blocked");
    let stats = a.stats();
    let c_status = stats.peers.iter().find(|p| p.public_key == kc.public_key()).unwrap();
    assert_eq!(c_status.staged_packets, ROUNDS as usize);

    // Released, the control thread creates and sends C's initiation.
    clock.set_closed(false);
    c_sock.set_nonblocking(false).unwrap();
    c_sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let (n, from) = c_sock.recv_from(&mut buf).unwrap();
    assert_eq!(from, a_addr);
    assert_eq!(n, INITIATION_LEN);
    assert_eq!(buf[0], MESSAGE_TYPE_INITIATION);
    drop(b);
    drop(a);
}
