//! Linux: receiving with UDP GRO allocates nothing per datagram in steady state, also
//! when the coalesced runs hold more segments than the caller asks for at once (the
//! rest is handed out from the transport's scratch buffers by the next call).
#![cfg(target_os = "linux")]

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use ferrowg_core::io::{RecvMeta, Transmit, Transport};
use ferrowg_platform::udp::UdpTransport;

#[global_allocator]
static GLOBAL: common::alloc::Counting = common::alloc::Counting;

#[test]
fn gro_receive_in_small_batches_allocates_nothing() {
    let tx = UdpTransport::bind(0).unwrap();
    let rx = UdpTransport::bind(0).unwrap();
    let dst = SocketAddr::from((Ipv4Addr::LOCALHOST, rx.local_port()));
    let data: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 1200]).collect();
    let list: Vec<Transmit<'_>> = data.iter().map(|d| Transmit { dst, data: d }).collect();
    let mut storage = vec![[0u8; 1500]; 16];
    let mut meta = [RecvMeta::default(); 16];
    // Datagrams received, and allocations made while receiving them.
    let mut round = || -> (usize, u64) {
        let mut sent = 0;
        while sent < list.len() {
            sent += tx.send_batch(&list[sent..]).unwrap();
        }
        let mut got = 0;
        let before = common::alloc::allocations();
        for _ in 0..100 {
            if got >= list.len() {
                break;
            }
            let mut bufs: [&mut [u8]; 16] = {
                let mut it = storage.iter_mut();
                std::array::from_fn(|_| &mut it.next().unwrap()[..])
            };
            got += rx.recv_batch(&mut bufs, &mut meta, Duration::from_secs(2)).unwrap();
        }
        (got, common::alloc::allocations() - before)
    };
    // Warm-up: the scratch buffers are allocated by the first GRO receive.
    assert_eq!(round().0, 64);
    let mut allocs = 0;
    for _ in 0..20 {
        let (got, n) = round();
        assert_eq!(got, 64);
        allocs += n;
    }
    assert_eq!(allocs, 0, "allocations while receiving");
}
