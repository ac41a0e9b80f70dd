//! The UDP transport over loopback (127.0.0.1 and ::1 only).

mod common;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::udp::recv_n;
use ferrowg_core::io::{RecvMeta, Transmit, Transport};
use ferrowg_platform::udp::{UdpOptions, UdpTransport};

const WAIT: Duration = Duration::from_secs(2);

fn v4(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn v6(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv6Addr::LOCALHOST, port))
}

fn payload(i: usize) -> Vec<u8> {
    (0..(100 + i * 7)).map(|j| (i * 31 + j) as u8).collect()
}

#[test]
fn batch_round_trip_v4_and_v6_in_order() {
    let a = UdpTransport::bind(0).unwrap();
    let b = UdpTransport::bind(0).unwrap();
    assert_ne!(a.local_port(), 0);
    assert_eq!(a.local_addrs().len(), 2, "IPv4 and IPv6 sockets");
    let bp = b.local_port();
    let data: Vec<Vec<u8>> = (0..100).map(payload).collect();
    // Alternate families in runs, so the sender splits the batch.
    let dsts: Vec<SocketAddr> =
        (0..100).map(|i| if (i / 10) % 2 == 0 { v4(bp) } else { v6(bp) }).collect();
    let tx: Vec<Transmit<'_>> =
        data.iter().zip(&dsts).map(|(d, &dst)| Transmit { dst, data: d }).collect();
    let mut sent = 0;
    for _ in 0..20 {
        if sent == tx.len() {
            break;
        }
        sent += a.send_batch(&tx[sent..]).unwrap();
    }
    assert_eq!(sent, 100);
    let got = recv_n(&b, 100, WAIT);
    assert_eq!(got.len(), 100);
    let ap = a.local_port();
    let from_v4: Vec<&Vec<u8>> = got.iter().filter(|(s, _)| *s == v4(ap)).map(|(_, d)| d).collect();
    let from_v6: Vec<&Vec<u8>> = got.iter().filter(|(s, _)| *s == v6(ap)).map(|(_, d)| d).collect();
    assert_eq!(from_v4.len() + from_v6.len(), 100, "every source is a's v4 or v6 address");
    // Per family, loopback keeps order.
    let want_v4: Vec<&Vec<u8>> = (0..100).filter(|i| (i / 10) % 2 == 0).map(|i| &data[i]).collect();
    let want_v6: Vec<&Vec<u8>> = (0..100).filter(|i| (i / 10) % 2 == 1).map(|i| &data[i]).collect();
    assert_eq!(from_v4, want_v4);
    assert_eq!(from_v6, want_v6);
}

#[test]
fn timeout_returns_zero() {
    let t = UdpTransport::bind(0).unwrap();
    let mut buf = [0u8; 64];
    let mut bufs: Vec<&mut [u8]> = vec![&mut buf];
    let mut meta = [RecvMeta::default()];
    assert_eq!(t.recv_batch(&mut bufs, &mut meta, Duration::from_millis(20)).unwrap(), 0);
}

#[test]
fn ipv4_mapped_destination_goes_out_ipv4() {
    let a = UdpTransport::bind(0).unwrap();
    let peer = UdpSocket::bind(v4(0)).unwrap();
    peer.set_read_timeout(Some(WAIT)).unwrap();
    let mapped =
        SocketAddr::from((Ipv4Addr::LOCALHOST.to_ipv6_mapped(), peer.local_addr().unwrap().port()));
    assert_eq!(a.send_batch(&[Transmit { dst: mapped, data: b"mapped" }]).unwrap(), 1);
    let mut buf = [0u8; 16];
    let (n, src) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"mapped");
    assert_eq!(src, v4(a.local_port()));
    // And the reply's source is reported as plain IPv4.
    peer.send_to(b"back", src).unwrap();
    let got = recv_n(&a, 1, WAIT);
    assert_eq!(got, vec![(peer.local_addr().unwrap(), b"back".to_vec())]);
}

#[test]
fn fixed_port_and_listen_port_change() {
    let probe = UdpSocket::bind(v4(0)).unwrap();
    let port = probe.local_addr().unwrap().port();
    drop(probe);
    let t = match UdpTransport::bind(port) {
        Ok(t) => t,
        // Another test grabbed the freed port in between; use one the OS picks.
        Err(_) => UdpTransport::bind(0).unwrap(),
    };
    let old = t.local_port();
    t.set_listen_port(0).unwrap();
    let new = t.local_port();
    assert_ne!(new, old);
    let peer = UdpSocket::bind(v6(0)).unwrap();
    peer.send_to(b"to-new", v6(new)).unwrap();
    let got = recv_n(&t, 1, WAIT);
    assert_eq!(got, vec![(peer.local_addr().unwrap(), b"to-new".to_vec())]);
    // The old port is free again.
    UdpSocket::bind(v4(old)).unwrap();
}

#[test]
fn rebind_keeps_port_and_works() {
    let t = Arc::new(UdpTransport::bind(0).unwrap());
    let port = t.local_port();
    let before = t.local_addrs();
    // A receiver blocked in recv_batch while rebind runs.
    let rx = {
        let t = Arc::clone(&t);
        std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            let mut bufs: Vec<&mut [u8]> = vec![&mut buf];
            let mut meta = [RecvMeta::default()];
            t.recv_batch(&mut bufs, &mut meta, Duration::from_millis(200)).unwrap()
        })
    };
    t.rebind().unwrap();
    assert_eq!(rx.join().unwrap(), 0);
    assert_eq!(t.local_port(), port);
    assert_eq!(t.local_addrs().len(), before.len());
    let peer = UdpSocket::bind(v4(0)).unwrap();
    peer.send_to(b"after-rebind", v4(port)).unwrap();
    assert_eq!(recv_n(&t, 1, WAIT), vec![(peer.local_addr().unwrap(), b"after-rebind".to_vec())]);
}

#[test]
fn hook_sees_every_socket_and_can_veto() {
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&seen);
    let options = UdpOptions {
        on_new_socket: Some(Arc::new(move |_handle| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })),
        ..UdpOptions::default()
    };
    let t = UdpTransport::with_options(options).unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    t.rebind().unwrap();
    assert_eq!(seen.load(Ordering::SeqCst), 4);

    let veto = UdpOptions {
        on_new_socket: Some(Arc::new(|_| Err(std::io::Error::other("not protected")))),
        ..UdpOptions::default()
    };
    assert!(UdpTransport::with_options(veto).is_err());
}

#[test]
fn ipv4_only_drops_ipv6_destinations_but_sends_the_rest() {
    let t =
        UdpTransport::with_options(UdpOptions { no_ipv6: true, ..UdpOptions::default() }).unwrap();
    assert_eq!(t.local_addrs().len(), 1);
    let peer = UdpSocket::bind(v4(0)).unwrap();
    peer.set_read_timeout(Some(WAIT)).unwrap();
    let pa = peer.local_addr().unwrap();
    // Nothing can be sent: an error.
    assert!(t.send_batch(&[Transmit { dst: v6(9), data: b"x" }]).is_err());
    // Mixed: the IPv6 one is skipped, the IPv4 one goes out.
    let n = t
        .send_batch(&[Transmit { dst: v6(9), data: b"x" }, Transmit { dst: pa, data: b"ok" }])
        .unwrap();
    assert_eq!(n, 2);
    let mut buf = [0u8; 8];
    let (len, _) = peer.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..len], b"ok");
}

#[cfg(target_os = "linux")]
#[test]
fn fwmark_is_applied_and_changed_live() {
    let marks = |t: &UdpTransport| -> Vec<u32> {
        t.with_sockets(|socks| {
            socks.iter().map(|s| socket2::SockRef::from(*s).mark().unwrap()).collect()
        })
    };
    let t =
        UdpTransport::with_options(UdpOptions { fwmark: Some(0x51820), ..UdpOptions::default() })
            .unwrap();
    assert_eq!(marks(&t), vec![0x51820, 0x51820]);
    t.set_fwmark(Some(7)).unwrap();
    assert_eq!(marks(&t), vec![7, 7]);
    t.rebind().unwrap();
    assert_eq!(marks(&t), vec![7, 7], "rebind keeps the new mark");
    t.set_fwmark(None).unwrap();
    assert_eq!(marks(&t), vec![0, 0]);
    t.set_fwmark(Some(9)).unwrap();
    t.set_listen_port(0).unwrap();
    assert_eq!(marks(&t), vec![9, 9], "a listen-port change keeps the mark");
    t.set_fwmark(Some(0)).unwrap();
    assert_eq!(marks(&t), vec![0, 0], "fwmark 0 clears the mark");
}

/// Not Linux: a mark cannot be applied, so it is refused (never only stored).
#[cfg(not(target_os = "linux"))]
#[test]
fn fwmark_is_refused_where_there_is_none() {
    let t = UdpTransport::bind(0).unwrap();
    assert!(t.set_fwmark(Some(7)).is_err());
    t.set_fwmark(None).unwrap();
    assert!(UdpTransport::with_options(UdpOptions { fwmark: Some(7), ..UdpOptions::default() })
        .is_err());
}

/// Linux `SO_BINDTOIFINDEX`, read back with `getsockopt(SO_BINDTODEVICE)` (the name)
/// and `SO_BINDTOIFINDEX`: applied to the open sockets, kept across rebind and port
/// changes, and removed with `None`. Uses the loopback interface.
#[cfg(target_os = "linux")]
#[test]
fn bound_interface_is_applied_and_kept() {
    let lo = std::num::NonZeroU32::new(1).unwrap();
    let bound = |t: &UdpTransport| -> Vec<(Option<Vec<u8>>, Option<std::num::NonZeroU32>)> {
        t.with_sockets(|socks| {
            socks
                .iter()
                .map(|s| {
                    let r = socket2::SockRef::from(*s);
                    (r.device().unwrap(), r.device_index_v4().unwrap())
                })
                .collect()
        })
    };
    let lo_name = Some(b"lo".to_vec());
    let t = UdpTransport::with_options(UdpOptions {
        bound_interface: Some(1),
        ..UdpOptions::default()
    })
    .unwrap();
    assert_eq!(bound(&t), vec![(lo_name.clone(), Some(lo)); 2]);
    t.set_bound_interface(None).unwrap();
    assert_eq!(bound(&t), vec![(None, None); 2]);
    t.set_bound_interface(Some(1)).unwrap();
    assert_eq!(bound(&t), vec![(lo_name.clone(), Some(lo)); 2]);
    t.rebind().unwrap();
    assert_eq!(bound(&t), vec![(lo_name.clone(), Some(lo)); 2], "rebind keeps it");
    t.set_listen_port(0).unwrap();
    assert_eq!(bound(&t), vec![(lo_name, Some(lo)); 2], "a port change keeps it");
    // Traffic over loopback still flows while bound to lo.
    let peer = UdpSocket::bind(v4(0)).unwrap();
    peer.send_to(b"hi", v4(t.local_port())).unwrap();
    let got = recv_n(&t, 1, WAIT);
    assert_eq!(got, vec![(peer.local_addr().unwrap(), b"hi".to_vec())]);
    t.set_bound_interface(Some(0)).unwrap();
    assert_eq!(bound(&t), vec![(None, None); 2], "index 0 unbinds");
}

/// Same-size runs to one destination (GSO-coalesced on Linux), a short tail, other
/// destinations in between: every datagram arrives whole, per destination in order.
#[test]
fn gso_runs_arrive_as_separate_datagrams() {
    for no_gso in [false, true] {
        let tx =
            UdpTransport::with_options(UdpOptions { no_gso, ..UdpOptions::default() }).unwrap();
        let (r1, r2) = (UdpTransport::bind(0).unwrap(), UdpTransport::bind(0).unwrap());
        let (d1, d2) = (v4(r1.local_port()), v6(r2.local_port()));
        let mut plan: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
        for i in 0..40 {
            plan.push((d1, vec![i as u8; 1200]));
        }
        plan.push((d1, vec![0xee; 700]));
        for i in 0..30 {
            plan.push((d2, vec![i as u8; 1452]));
        }
        plan.push((d1, vec![0x11; 1200]));
        let tx_list: Vec<Transmit<'_>> =
            plan.iter().map(|(dst, d)| Transmit { dst: *dst, data: d }).collect();
        let mut sent = 0;
        for _ in 0..20 {
            if sent == tx_list.len() {
                break;
            }
            sent += tx.send_batch(&tx_list[sent..]).unwrap();
        }
        assert_eq!(sent, plan.len());
        let want1: Vec<Vec<u8>> = plan.iter().filter(|p| p.0 == d1).map(|p| p.1.clone()).collect();
        let want2: Vec<Vec<u8>> = plan.iter().filter(|p| p.0 == d2).map(|p| p.1.clone()).collect();
        let got1: Vec<Vec<u8>> =
            recv_n(&r1, want1.len(), WAIT).into_iter().map(|(_, d)| d).collect();
        let got2: Vec<Vec<u8>> =
            recv_n(&r2, want2.len(), WAIT).into_iter().map(|(_, d)| d).collect();
        assert_eq!(got1, want1, "no_gso={no_gso}");
        assert_eq!(got2, want2, "no_gso={no_gso}");
        let expect = cfg!(target_os = "linux") && !no_gso;
        assert_eq!(tx.gso_active(), [expect, expect], "GSO stays on over loopback");
    }
}

/// With and without GRO: the oversized datagram is dropped, and the one after it lands
/// in the caller's first buffer itself (not only behind a swapped slice reference).
#[cfg(target_os = "linux")]
#[test]
fn oversized_datagram_is_dropped_not_truncated() {
    for no_gro in [false, true] {
        let t = UdpTransport::with_options(UdpOptions { no_gro, ..UdpOptions::default() }).unwrap();
        let peer = UdpSocket::bind(v4(0)).unwrap();
        peer.send_to(&[7u8; 600], v4(t.local_port())).unwrap();
        peer.send_to(b"small", v4(t.local_port())).unwrap();
        let mut big = [0u8; 100];
        let mut small = [0u8; 100];
        let mut meta = [RecvMeta::default(); 2];
        let mut got = 0;
        for _ in 0..10 {
            let mut bufs: Vec<&mut [u8]> = vec![&mut big, &mut small];
            got = t.recv_batch(&mut bufs, &mut meta, WAIT).unwrap();
            if got > 0 {
                break;
            }
        }
        assert_eq!(got, 1, "no_gro={no_gro}");
        assert_eq!(&big[..meta[0].len], b"small", "no_gro={no_gro}");
        assert_eq!(meta[0].src, peer.local_addr().unwrap());
        assert_eq!(t.rx_dropped(), 1, "the oversized datagram is counted, no_gro={no_gro}");
    }
}

/// A GSO run received a few datagrams at a time: with GRO the rest of a coalesced run
/// waits for the next call; without, it stays in the kernel. Either way nothing is lost
/// or reordered.
#[test]
fn small_receive_batches_lose_nothing() {
    for no_gro in [false, true] {
        let tx = UdpTransport::bind(0).unwrap();
        let rx =
            UdpTransport::with_options(UdpOptions { no_gro, ..UdpOptions::default() }).unwrap();
        let dst = v4(rx.local_port());
        let mut plan: Vec<Vec<u8>> = (0..50).map(|i| vec![i as u8; 1000]).collect();
        plan.push(vec![0xab; 300]);
        let list: Vec<Transmit<'_>> = plan.iter().map(|d| Transmit { dst, data: d }).collect();
        let mut sent = 0;
        for _ in 0..20 {
            if sent == list.len() {
                break;
            }
            sent += tx.send_batch(&list[sent..]).unwrap();
        }
        assert_eq!(sent, plan.len());
        let mut got: Vec<Vec<u8>> = Vec::new();
        let mut storage = [[0u8; 1500]; 3];
        for _ in 0..200 {
            if got.len() >= plan.len() {
                break;
            }
            let mut bufs: Vec<&mut [u8]> = storage.iter_mut().map(|b| &mut b[..]).collect();
            let mut meta = [RecvMeta::default(); 3];
            let n = rx.recv_batch(&mut bufs, &mut meta, WAIT).unwrap();
            assert!(n <= 3);
            for i in 0..n {
                assert_eq!(meta[i].src, v4(tx.local_port()));
                got.push(bufs[i][..meta[i].len].to_vec());
            }
        }
        assert_eq!(got, plan, "no_gro={no_gro}");
        let mut buf = [0u8; 1500];
        let mut bufs: Vec<&mut [u8]> = vec![&mut buf];
        let mut meta = [RecvMeta::default()];
        assert_eq!(rx.recv_batch(&mut bufs, &mut meta, Duration::from_millis(20)).unwrap(), 0);
    }
}

/// Linux: every datagram carries the kernel's receive time (SO_TIMESTAMPNS), so the
/// engine can tell how long it waited in the socket buffer: a datagram left queued for
/// 200 ms reports at least that wait.
#[cfg(target_os = "linux")]
#[test]
#[allow(clippy::disallowed_methods)]
fn receive_timestamps_show_the_wait_in_the_socket_buffer() {
    let a = UdpTransport::bind(0).unwrap();
    let b = UdpTransport::with_options(UdpOptions { rx_timestamps: true, ..UdpOptions::default() })
        .unwrap();
    let data = payload(3);
    // The kernel switches receive stamping on asynchronously (a deferred static key) when
    // the first socket asks; a datagram that arrives before is stamped when it is read.
    // So up to a few tries: the first may wait unstamped, the next ones may not.
    let mut seen = Vec::new();
    for _ in 0..5 {
        let sent_at = std::time::SystemTime::now();
        assert_eq!(a.send_batch(&[Transmit { dst: v4(b.local_port()), data: &data }]).unwrap(), 1);
        std::thread::sleep(Duration::from_millis(200));
        let mut buf = vec![0u8; 2048];
        let mut meta = [RecvMeta::default()];
        let n = b.recv_batch(&mut [buf.as_mut_slice()], &mut meta, WAIT).unwrap();
        let read_at = std::time::SystemTime::now();
        assert_eq!(n, 1);
        let at = meta[0].rx_time.expect("no receive timestamp");
        assert!(at >= sent_at - Duration::from_millis(1), "stamped before it was sent");
        let waited = read_at.duration_since(at).unwrap();
        if waited >= Duration::from_millis(195) {
            return;
        }
        seen.push(waited);
    }
    panic!("no datagram's stamp showed its 200 ms wait: {seen:?}");
}

/// Receive timestamps only when asked for (the engine asks with `rx_codel`), then on
/// every datagram, also after a rebind; off again on request.
#[cfg(target_os = "linux")]
#[test]
fn rx_timestamps_only_when_asked() {
    let t =
        UdpTransport::with_options(UdpOptions { no_ipv6: true, ..UdpOptions::default() }).unwrap();
    let port = t.local_port();
    let sender = UdpSocket::bind(v4(0)).unwrap();
    let stamped = |t: &UdpTransport| -> Option<bool> {
        sender.send_to(b"ts", v4(port)).unwrap();
        let mut buf = [0u8; 16];
        let mut meta = [RecvMeta::default()];
        let n = t.recv_batch(&mut [&mut buf[..]], &mut meta, WAIT).unwrap();
        (n == 1).then(|| meta[0].rx_time.is_some())
    };
    assert_eq!(stamped(&t), Some(false), "no timestamps by default");
    Transport::set_rx_timestamps(&t, true);
    assert_eq!(stamped(&t), Some(true), "timestamps once asked for");
    t.rebind().unwrap();
    assert_eq!(stamped(&t), Some(true), "kept for reopened sockets");
    Transport::set_rx_timestamps(&t, false);
    assert_eq!(stamped(&t), Some(false), "off again");
}
