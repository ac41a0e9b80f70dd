//! `Device::resume` (after sleep / SIGCONT): the socket is rebound, a recent session
//! survives it, and traffic flows both ways right after.
#![allow(clippy::disallowed_methods)]

mod device_support;

use std::net::IpAddr;
use std::time::Duration;

use device_support::*;
use ferrowg_core::device::memory::TunHost;

fn ping(tx: &TunHost, rx: &TunHost, src: IpAddr, dst: IpAddr, seq: u64) -> bool {
    tx.inject(&[packet(src, dst, 7, seq, 200)], Duration::from_secs(1));
    let mut got = Vec::new();
    let deadline = now() + Duration::from_secs(10);
    while now() < deadline {
        rx.recv(&mut got, 8, Duration::from_millis(10));
        if got.iter().any(|p| verify(p).is_ok_and(|(f, s)| f == 7 && s == seq)) {
            return true;
        }
    }
    false
}

#[test]
fn resume_rebinds_and_traffic_flows_both_ways() {
    let (a, b) = pair(opts(0x57), opts(0x58));
    // As in device_api.rs: B knows A's endpoint, so B speaks first.
    assert!(ping(&b.host, &a.host, B_V4.into(), A_V4.into(), 0));
    let port = a.device.listen_port();
    a.device.resume().unwrap();
    assert_eq!(a.device.listen_port(), port, "the configured port is kept");
    assert!(ping(&a.host, &b.host, A_V4.into(), B_V4.into(), 1));
    assert!(ping(&b.host, &a.host, B_V4.into(), A_V4.into(), 2));
    // The session was young by the wall clock: kept, no new handshake was needed.
    assert_eq!(a.device.stats().peers[0].handshakes, 1);
}

#[test]
fn suspend_closes_the_socket_and_resume_reopens_it_on_the_same_port() {
    let (a, b) = pair(opts(0x59), opts(0x5a));
    assert!(ping(&b.host, &a.host, B_V4.into(), A_V4.into(), 0));
    let port = a.device.listen_port();
    assert!(!a.device.is_suspended());
    a.device.suspend();
    a.device.suspend(); // idempotent
    assert!(a.device.is_suspended());
    assert_eq!(a.device.listen_port(), port, "the port to reopen is reported");
    // The socket is closed: the port is free (nothing can leave or arrive through it).
    let probe = std::net::UdpSocket::bind(("127.0.0.1", port))
        .expect("the suspended device still holds its UDP port");
    drop(probe);
    // A network change while asleep does not reopen it.
    a.device.rebind().unwrap();
    assert!(a.device.is_suspended());
    assert!(std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok(), "rebind reopened it");
    a.device.resume().unwrap();
    assert!(!a.device.is_suspended());
    assert_eq!(a.device.listen_port(), port, "reopened on the same port");
    assert!(ping(&a.host, &b.host, A_V4.into(), B_V4.into(), 1));
    assert!(ping(&b.host, &a.host, B_V4.into(), A_V4.into(), 2));
}
