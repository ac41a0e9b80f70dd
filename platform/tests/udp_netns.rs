//! The UDP transport between two network namespaces joined by a veth pair (underlay
//! 198.18.0.0/24 and fd18::/64, created and deleted by the test): GSO sends and GRO
//! receives across a real device, as the end-to-end setups use them. Needs root.
#![cfg(target_os = "linux")]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::netns::Netns;
use ferrowg_core::io::{RecvMeta, Transmit, Transport};
use ferrowg_platform::udp::{UdpOptions, UdpTransport};

/// Receives until `n` datagrams arrived (bounded: 50 calls of up to 1 s).
fn recv_n(t: &UdpTransport, n: usize) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut storage = vec![[0u8; 2048]; 64];
    let mut out = Vec::new();
    for _ in 0..50 {
        if out.len() >= n {
            break;
        }
        let mut bufs: Vec<&mut [u8]> = storage.iter_mut().map(|b| &mut b[..]).collect();
        let mut meta = vec![RecvMeta::default(); bufs.len()];
        let got = t.recv_batch(&mut bufs, &mut meta, Duration::from_secs(1)).unwrap();
        out.extend((0..got).map(|i| (meta[i].src, bufs[i][..meta[i].len].to_vec())));
    }
    out
}

/// Sends one datagram until it arrives (bounded: 10 tries), so neighbour discovery is
/// done before the bulk traffic.
fn warm_up(tx: &UdpTransport, rx: &UdpTransport, dst: SocketAddr) {
    let mut storage = [[0u8; 64]; 4];
    for _ in 0..10 {
        tx.send_batch(&[Transmit { dst, data: b"warm-up" }]).unwrap();
        let mut bufs: Vec<&mut [u8]> = storage.iter_mut().map(|b| &mut b[..]).collect();
        let mut meta = [RecvMeta::default(); 4];
        if rx.recv_batch(&mut bufs, &mut meta, Duration::from_millis(500)).unwrap() > 0 {
            return;
        }
    }
    panic!("no path to {dst}");
}

#[test]
fn gso_and_gro_across_veth() {
    let a = Netns::new("udpa");
    let b = Netns::new("udpb");
    a.ip(&["link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", &b.name]);
    a.ip(&["addr", "add", "198.18.0.1/24", "dev", "va"]);
    a.ip(&["addr", "add", "fd18::1/64", "dev", "va", "nodad"]);
    b.ip(&["addr", "add", "198.18.0.2/24", "dev", "vb"]);
    b.ip(&["addr", "add", "fd18::2/64", "dev", "vb", "nodad"]);
    a.ip(&["link", "set", "va", "up"]);
    b.ip(&["link", "set", "vb", "up"]);

    for (no_gso, no_gro) in [(false, false), (false, true), (true, false)] {
        let options = UdpOptions { no_gso, no_gro, ..UdpOptions::default() };
        let tx = a.enter(|| UdpTransport::with_options(options.clone()).unwrap());
        let rx = b.enter(|| UdpTransport::with_options(options.clone()).unwrap());
        let dst4: SocketAddr = format!("198.18.0.2:{}", rx.local_port()).parse().unwrap();
        let dst6: SocketAddr = format!("[fd18::2]:{}", rx.local_port()).parse().unwrap();
        let src4: SocketAddr = format!("198.18.0.1:{}", tx.local_port()).parse().unwrap();
        let src6: SocketAddr = format!("[fd18::1]:{}", tx.local_port()).parse().unwrap();
        warm_up(&tx, &rx, dst4);
        warm_up(&tx, &rx, dst6);

        for round in 0..6u8 {
            let (dst, src) = if round % 2 == 0 { (dst4, src4) } else { (dst6, src6) };
            let data: Vec<Vec<u8>> =
                (0..50u8).map(|i| vec![round.wrapping_mul(50).wrapping_add(i); 1400]).collect();
            let list: Vec<Transmit<'_>> = data.iter().map(|d| Transmit { dst, data: d }).collect();
            let mut sent = 0;
            for _ in 0..20 {
                if sent == list.len() {
                    break;
                }
                sent += tx.send_batch(&list[sent..]).unwrap();
            }
            assert_eq!(sent, list.len());
            let got = recv_n(&rx, data.len());
            let want: Vec<(SocketAddr, Vec<u8>)> = data.iter().map(|d| (src, d.clone())).collect();
            assert_eq!(got, want, "round {round}, no_gso={no_gso}, no_gro={no_gro}");
        }
        assert_eq!(tx.gso_active(), [!no_gso, !no_gso], "GSO state over veth");
    }
}
