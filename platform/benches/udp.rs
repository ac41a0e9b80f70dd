//! UDP over 127.0.0.1: the transport's batched path (sendmmsg/recvmmsg on Linux, with
//! UDP GSO + GRO, GSO only, neither) side by side with one send_to/recv_from per datagram on std sockets, 64 datagrams of 1420
//! bytes per iteration, the size of a full WireGuard datagram at MTU 1420 minus the 32-byte header.
//!
//! Timed in thread CPU time (`CLOCK_THREAD_CPUTIME_ID`), not wall time: on loopback the
//! sending thread also does the receiver's kernel work, so one thread's CPU time is the
//! whole cost, and it is not inflated when the shared machine deschedules the thread.
//!
//! `cargo bench -p ferrowg-platform --bench udp -- --warm-up-time 1 --measurement-time 3`

#![allow(unsafe_code)]
// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrowg_core::io::{RecvMeta, Transmit, Transport};
use ferrowg_platform::udp::{UdpOptions, UdpTransport};

const BATCH: usize = 64;
const SIZE: usize = 1420;
const WAIT: Duration = Duration::from_secs(1);

/// CPU time consumed by the calling thread so far.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `f` `iters` times and returns the thread CPU time it took.
fn cpu_time(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = thread_cpu();
    for _ in 0..iters {
        f();
    }
    thread_cpu() - start
}

fn transport(no_gso: bool, no_gro: bool) -> UdpTransport {
    let options = UdpOptions { no_ipv6: true, no_gso, no_gro, ..UdpOptions::default() };
    UdpTransport::with_options(options).unwrap()
}

/// Sends one batch from `tx` and receives it on `rx`.
fn round(
    tx: &UdpTransport,
    rx: &UdpTransport,
    datagrams: &[Transmit<'_>],
    storage: &mut [[u8; 2048]],
    meta: &mut [RecvMeta],
) {
    let mut sent = 0;
    while sent < datagrams.len() {
        sent += tx.send_batch(&datagrams[sent..]).unwrap();
    }
    let mut got = 0;
    for _ in 0..datagrams.len() {
        if got == datagrams.len() {
            break;
        }
        let mut bufs: Vec<&mut [u8]> = storage[got..].iter_mut().map(|b| &mut b[..]).collect();
        got += rx.recv_batch(&mut bufs, &mut meta[got..], WAIT).unwrap();
    }
    assert_eq!(got, datagrams.len());
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("udp_loopback_64x1420");
    g.sample_size(20);
    g.throughput(Throughput::Elements(BATCH as u64));
    let payload = vec![0xa5u8; SIZE];

    let mut storage = vec![[0u8; 2048]; BATCH];
    let mut meta = vec![RecvMeta::default(); BATCH];
    let variants = [
        ("ferrowg_gso_gro", false, false),
        ("ferrowg_gso", false, true),
        ("ferrowg_mmsg", true, true),
    ];
    for (name, no_gso, no_gro) in variants {
        let (tx, rx) = (transport(no_gso, no_gro), transport(no_gso, no_gro));
        let dst = SocketAddr::from((Ipv4Addr::LOCALHOST, rx.local_port()));
        let datagrams: Vec<Transmit<'_>> =
            (0..BATCH).map(|_| Transmit { dst, data: &payload }).collect();
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                cpu_time(iters, || round(&tx, &rx, &datagrams, &mut storage, &mut meta))
            })
        });
        assert_eq!(tx.gso_active()[0], !no_gso, "GSO state after {name}");
    }

    let (stx, srx) = (
        UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap(),
        UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap(),
    );
    srx.set_read_timeout(Some(WAIT)).unwrap();
    let sdst = srx.local_addr().unwrap();
    let mut buf = [0u8; 2048];
    g.bench_function("std_per_datagram", |b| {
        b.iter_custom(|iters| {
            cpu_time(iters, || {
                for _ in 0..BATCH {
                    stx.send_to(&payload, sdst).unwrap();
                }
                for _ in 0..BATCH {
                    srx.recv_from(&mut buf).unwrap();
                }
            })
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
