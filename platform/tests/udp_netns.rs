//! The UDP transport between two network namespaces joined by a veth pair (underlay
//! 198.18.0.0/24 and fd18::/64, created and deleted by the test): GSO sends and GRO
//! receives across a real device, as the end-to-end setups use them. Needs root.
#![cfg(target_os = "linux")]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::netns::Netns;
use common::udp::recv_n;
use ferrowg_core::io::{RecvMeta, Transmit, Transport};
use ferrowg_platform::udp::{UdpOptions, UdpTransport};

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
            let got = recv_n(&rx, data.len(), Duration::from_secs(1));
            let want: Vec<(SocketAddr, Vec<u8>)> = data.iter().map(|d| (src, d.clone())).collect();
            assert_eq!(got, want, "round {round}, no_gso={no_gso}, no_gro={no_gro}");
        }
        assert_eq!(tx.gso_active(), [!no_gso, !no_gso], "GSO state over veth");
    }
}

/// The index of interface `name` inside namespace `ns`.
fn ifindex(ns: &Netns, name: &str) -> u32 {
    let out = ns.ip(&["-o", "link", "show", name]);
    out.split(':').next().and_then(|i| i.trim().parse().ok()).expect("an interface index")
}

/// Sends one datagram from `tx` to `dst` until `rx` gets it (bounded); returns the
/// source address `rx` saw, which tells which interface it left through.
fn source_seen(tx: &UdpTransport, rx: &UdpTransport, dst: SocketAddr) -> SocketAddr {
    let mut storage = [[0u8; 64]; 4];
    for _ in 0..10 {
        tx.send_batch(&[Transmit { dst, data: b"which way" }]).unwrap();
        let mut bufs: Vec<&mut [u8]> = storage.iter_mut().map(|b| &mut b[..]).collect();
        let mut meta = [RecvMeta::default(); 4];
        if rx.recv_batch(&mut bufs, &mut meta, Duration::from_millis(500)).unwrap() > 0 {
            return meta[0].src;
        }
    }
    panic!("nothing arrived at {dst}");
}

/// Binding to an interface overrides the routes: namespace a reaches 198.18.0.200 (in
/// b) over two links, the main route through the first; sockets bound to the second
/// link's interface send through it (the source address b sees says which), also after
/// a rebind and a port change, and unbinding goes back to the route.
#[test]
fn bound_interface_decides_the_way_out() {
    let a = Netns::new("bifa");
    let b = Netns::new("bifb");
    a.ip(&["link", "add", "va1", "type", "veth", "peer", "name", "vb1", "netns", &b.name]);
    a.ip(&["link", "add", "va2", "type", "veth", "peer", "name", "vb2", "netns", &b.name]);
    a.ip(&["addr", "add", "198.18.0.1/26", "dev", "va1"]);
    a.ip(&["addr", "add", "198.18.0.65/26", "dev", "va2"]);
    b.ip(&["addr", "add", "198.18.0.2/26", "dev", "vb1"]);
    b.ip(&["addr", "add", "198.18.0.66/26", "dev", "vb2"]);
    b.ip(&["addr", "add", "198.18.0.200/32", "dev", "lo"]);
    for (ns, dev) in [(&a, "va1"), (&a, "va2"), (&b, "vb1"), (&b, "vb2"), (&b, "lo")] {
        ns.ip(&["link", "set", dev, "up"]);
    }
    a.ip(&["route", "add", "198.18.0.200/32", "via", "198.18.0.2", "dev", "va1", "metric", "10"]);
    a.ip(&["route", "add", "198.18.0.200/32", "via", "198.18.0.66", "dev", "va2", "metric", "20"]);
    // Replies are not needed; b has routes back on both links anyway.
    b.ip(&["route", "add", "198.18.0.0/24", "via", "198.18.0.1", "dev", "vb1"]);
    let va2 = ifindex(&a, "va2");

    let options = UdpOptions { no_ipv6: true, ..UdpOptions::default() };
    let tx = a.enter(|| UdpTransport::with_options(options.clone()).unwrap());
    let rx = b.enter(|| UdpTransport::with_options(options.clone()).unwrap());
    let dst: SocketAddr = format!("198.18.0.200:{}", rx.local_port()).parse().unwrap();
    assert_eq!(source_seen(&tx, &rx, dst).ip().to_string(), "198.18.0.1", "by the route");

    tx.set_bound_interface(Some(va2)).unwrap();
    assert_eq!(source_seen(&tx, &rx, dst).ip().to_string(), "198.18.0.65", "bound to va2");
    a.enter(|| tx.rebind().unwrap());
    assert_eq!(source_seen(&tx, &rx, dst).ip().to_string(), "198.18.0.65", "after rebind");
    a.enter(|| tx.set_listen_port(0).unwrap());
    assert_eq!(source_seen(&tx, &rx, dst).ip().to_string(), "198.18.0.65", "new port");
    tx.set_bound_interface(None).unwrap();
    assert_eq!(source_seen(&tx, &rx, dst).ip().to_string(), "198.18.0.1", "unbound");
}
