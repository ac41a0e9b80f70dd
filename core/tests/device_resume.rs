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
