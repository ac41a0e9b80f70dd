//! Linux TUN devices for real, inside network namespaces this test creates and deletes
//! (tunnel addresses 198.19.0.0/24 and fd19::/64 only), plus fd adoption with the Apple
//! AF header over a local socket pair. Needs root, as CI runs.
#![cfg(target_os = "linux")]

mod common;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::Duration;

use ferrowg_core::io::Tun;
use ferrowg_platform::tun::{linux, FdTun, Framing};
use ferrowg_platform::Error;

use common::netns::Netns;

fn checksum(chunks: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    let bytes: Vec<u8> = chunks.concat();
    for pair in bytes.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn icmp4_echo(src: Ipv4Addr, dst: Ipv4Addr, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(data);
    let c = checksum(&[&icmp]);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = (20 + icmp.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 1, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = checksum(&[&ip]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

fn icmp6_echo(src: Ipv6Addr, dst: Ipv6Addr, id: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    let mut icmp = vec![128, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(data);
    let len = icmp.len() as u32;
    let pseudo =
        [&src.octets()[..], &dst.octets()[..], &len.to_be_bytes()[..], &[0, 0, 0, 58][..]].concat();
    let c = checksum(&[&pseudo, &icmp]);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    ip.extend_from_slice(&[58, 64]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    ip.extend_from_slice(&icmp);
    ip
}

/// Writes `request` into the device and returns the first packet `pick` accepts, from
/// `backlog` (packets read earlier) or from new reads; everything read stays in
/// `backlog`. The request is written again each round (bounded: 20 rounds of up to
/// 1 s), like ping, because a just-added IPv6 address may not take packets yet.
fn ping(
    tun: &FdTun,
    backlog: &mut Vec<Vec<u8>>,
    request: &[u8],
    pick: impl Fn(&[u8]) -> bool,
) -> Vec<u8> {
    let mut storage = vec![[0u8; 2048]; 8];
    for _ in 0..20 {
        if let Some(i) = backlog.iter().position(|p| pick(p)) {
            return backlog.remove(i);
        }
        assert_eq!(tun.send_batch(&[request]).unwrap(), 1);
        let mut bufs: Vec<&mut [u8]> = storage.iter_mut().map(|b| &mut b[..]).collect();
        let mut sizes = [0usize; 8];
        let n = tun.recv_batch(&mut bufs, &mut sizes, Duration::from_secs(1)).unwrap();
        backlog.extend((0..n).map(|i| bufs[i][..sizes[i]].to_vec()));
    }
    panic!("expected packet never arrived; saw {backlog:02x?}");
}

#[test]
fn tun_in_netns_answers_ping_v4_and_v6() {
    let ns = Netns::new("ping");
    let tun = ns.enter(|| ferrowg_platform::tun::create("fwgt0", 1420).unwrap());
    assert_eq!(tun.name(), Some("fwgt0"));
    assert_eq!(tun.mtu(), 1420);
    let link = ns.ip(&["-o", "link", "show", "fwgt0"]);
    assert!(link.contains("mtu 1420"), "{link}");
    assert!(link.contains(",UP"), "{link}");

    ns.ip(&["link", "set", "lo", "up"]);
    ns.ip(&["addr", "add", "198.19.0.1/24", "dev", "fwgt0"]);
    ns.ip(&["addr", "add", "fd19::1/64", "dev", "fwgt0", "nodad"]);

    let (me4, peer4) = (Ipv4Addr::new(198, 19, 0, 1), Ipv4Addr::new(198, 19, 0, 2));
    let ping4 = icmp4_echo(peer4, me4, 0x1234, 1, b"ferrowg-v4");
    let (me6, peer6) = ("fd19::1".parse().unwrap(), "fd19::2".parse().unwrap());
    let ping6 = icmp6_echo(peer6, me6, 0x4321, 2, b"ferrowg-v6");
    let mut backlog = Vec::new();
    let reply4 = ping(&tun, &mut backlog, &ping4, |p| {
        p.len() > 20 && p[0] >> 4 == 4 && p[9] == 1 && p[20] == 0
    });
    assert_eq!(&reply4[12..16], &me4.octets());
    assert_eq!(&reply4[16..20], &peer4.octets());
    assert_eq!(&reply4[24..26], &0x1234u16.to_be_bytes());
    assert_eq!(&reply4[28..], b"ferrowg-v4");

    let reply6 = ping(&tun, &mut backlog, &ping6, |p| {
        p.len() > 40 && p[0] >> 4 == 6 && p[6] == 58 && p[40] == 129
    });
    assert_eq!(&reply6[8..24], &me6.octets());
    assert_eq!(&reply6[24..40], &peer6.octets());
    assert_eq!(&reply6[44..46], &0x4321u16.to_be_bytes());
    assert_eq!(&reply6[48..], b"ferrowg-v6");

    // Once the queue is drained, a receive times out with Ok(0).
    let mut buf = [0u8; 2048];
    let mut sizes = [0usize];
    let mut last = usize::MAX;
    for _ in 0..100 {
        let mut bufs: Vec<&mut [u8]> = vec![&mut buf];
        last = tun.recv_batch(&mut bufs, &mut sizes, Duration::from_millis(20)).unwrap();
        if last == 0 {
            break;
        }
    }
    assert_eq!(last, 0);
    drop(tun);
    let gone = Command::new("ip").args(["-n", &ns.name, "link", "show", "fwgt0"]).output().unwrap();
    assert!(!gone.status.success(), "device removed when its fd closes");
}

#[test]
fn multi_queue_gives_one_fd_per_queue() {
    let ns = Netns::new("mq");
    let queues = ns.enter(|| linux::create_multi_queue("fwgmq", 1280, 3).unwrap());
    assert_eq!(queues.len(), 3);
    assert!(queues.iter().all(|q| q.name() == Some("fwgmq")));
    let fds: std::collections::HashSet<_> = queues.iter().map(|q| q.as_raw_fd()).collect();
    assert_eq!(fds.len(), 3);
    assert!(ns.ip(&["-o", "link", "show", "fwgmq"]).contains("mtu 1280"));
}

#[test]
fn bad_names_and_mtus_are_refused_before_any_syscall() {
    assert!(matches!(linux::create("a-name-much-too-long", 1420), Err(Error::InvalidName(_))));
    assert!(matches!(linux::create("a/b", 1420), Err(Error::InvalidName(_))));
    assert!(matches!(linux::create("fwgx", 20), Err(Error::InvalidMtu(20))));
    assert!(matches!(linux::create("fwgx", 70000), Err(Error::InvalidMtu(70000))));
}

#[test]
fn adopted_fd_with_af_header_frames_every_packet() {
    let (ours, theirs) = UnixDatagram::pair().unwrap();
    theirs.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let tun = FdTun::adopt(OwnedFd::from(ours), 1400, Framing::AfHeader).unwrap();
    let v4 = icmp4_echo(Ipv4Addr::new(198, 19, 0, 2), Ipv4Addr::new(198, 19, 0, 1), 1, 1, b"a");
    let v6 = icmp6_echo("fd19::2".parse().unwrap(), "fd19::1".parse().unwrap(), 1, 1, b"b");
    // The non-IP packet is dropped, the others are written with their header.
    assert_eq!(tun.send_batch(&[&v4, &[0x00, 1, 2], &v6]).unwrap(), 3);
    assert_eq!(tun.dropped(), 1);
    let mut frame = [0u8; 256];
    let n = theirs.recv(&mut frame).unwrap();
    assert_eq!(&frame[..4], &[0, 0, 0, 2]);
    assert_eq!(&frame[4..n], &v4[..]);
    let n = theirs.recv(&mut frame).unwrap();
    assert_eq!(&frame[..4], &[0, 0, 0, 30]);
    assert_eq!(&frame[4..n], &v6[..]);

    // Frames in: good, wrong family, too short, good. The bad two are dropped.
    let good6 = [&[0, 0, 0, 30][..], &v6].concat();
    let wrong = [&[0, 0, 0, 2][..], &v6].concat();
    let good4 = [&[0, 0, 0, 2][..], &v4].concat();
    for f in [&good6[..], &wrong, &[0, 0], &good4] {
        theirs.send(f).unwrap();
    }
    let mut storage = vec![[0u8; 256]; 4];
    let mut bufs: Vec<&mut [u8]> = storage.iter_mut().map(|b| &mut b[..]).collect();
    let mut sizes = [0usize; 4];
    let n = tun.recv_batch(&mut bufs, &mut sizes, Duration::from_secs(2)).unwrap();
    assert_eq!(n, 2);
    assert_eq!(&bufs[0][..sizes[0]], &v6[..]);
    assert_eq!(&bufs[1][..sizes[1]], &v4[..]);
    assert_eq!(tun.dropped(), 3);
}

#[test]
fn adopted_fd_without_header_passes_packets_unchanged() {
    let (ours, theirs) = UnixDatagram::pair().unwrap();
    theirs.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let tun = FdTun::adopt(OwnedFd::from(ours), 1280, Framing::None).unwrap();
    let v4 = icmp4_echo(Ipv4Addr::new(198, 19, 0, 2), Ipv4Addr::new(198, 19, 0, 1), 9, 9, b"raw");
    assert_eq!(tun.send_batch(&[&v4]).unwrap(), 1);
    let mut frame = [0u8; 256];
    let n = theirs.recv(&mut frame).unwrap();
    assert_eq!(&frame[..n], &v4[..]);
    theirs.send(&v4).unwrap();
    let mut buf = [0u8; 256];
    let mut bufs: Vec<&mut [u8]> = vec![&mut buf];
    let mut sizes = [0usize];
    assert_eq!(tun.recv_batch(&mut bufs, &mut sizes, Duration::from_secs(2)).unwrap(), 1);
    assert_eq!(&bufs[0][..sizes[0]], &v4[..]);
}
