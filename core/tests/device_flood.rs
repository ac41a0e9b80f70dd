//! Handshake flood: thousands of initiations with a valid MAC1 from many loopback
//! source addresses (which never answer cookies) while data flows. The device must go
//! under load, answer with cookie replies, and keep carrying data. Prints data
//! throughput with and without the flood.
#![allow(clippy::disallowed_methods)]

mod device_support;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use device_support::*;
use ferrowg_core::cookie::mac1_key;
use ferrowg_core::crypto::mac;
use ferrowg_core::device::memory::TunHost;
use ferrowg_core::error::DropReason;
use ferrowg_core::keys::PublicKey;
use ferrowg_core::messages::{mac1_offset, INITIATION_LEN, MESSAGE_TYPE_INITIATION};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SOURCES: u8 = 200;
const FLOOD: usize = 20_000;

/// A garbage initiation whose MAC1 is valid for `to`.
fn initiation(rng: &mut ChaCha8Rng, to: &PublicKey) -> [u8; INITIATION_LEN] {
    let mut m = [0u8; INITIATION_LEN];
    rng.fill_bytes(&mut m[4..]);
    m[0] = MESSAGE_TYPE_INITIATION;
    m[1..4].fill(0);
    let off = mac1_offset(INITIATION_LEN);
    let mac1 = mac(&mac1_key(to), &[&m[..off]]);
    m[off..off + 16].copy_from_slice(&mac1);
    m[off + 16..].fill(0);
    m
}

/// Paced data from `tx` to `rx` that tolerates loss (the flood shares the UDP socket
/// buffer with data, so the kernel may drop either): rounds of 32 packets, each round
/// waiting for delivery or 20 ms. Checks checksums and per-flow ordering (gaps allowed).
/// Sequence numbers start at `first_seq`, above any earlier call's, so a packet of an
/// earlier call still arriving (a slow machine, wine) is not taken for reordering.
fn lossy_transfer(tx: &TunHost, rx: &TunHost, rounds: u64, first_seq: u64) -> (u64, u64, Duration) {
    let started = Instant::now();
    let mut last_seq: HashMap<u32, u64> = HashMap::new();
    let (mut delivered, mut bytes) = (0u64, 0u64);
    let mut got = Vec::new();
    for r in 0..rounds {
        let batch: Vec<_> = (0..32)
            .map(|i| packet(A_V4.into(), B_V4.into(), 0, first_seq + r * 32 + i, 1420))
            .collect();
        assert_eq!(tx.inject(&batch, Duration::from_secs(5)), 32);
        let expected = delivered + 32;
        let round_deadline = Instant::now() + Duration::from_millis(20);
        while delivered < expected && Instant::now() < round_deadline {
            got.clear();
            rx.recv(&mut got, 64, Duration::from_millis(2));
            for p in &got {
                let (flow, seq) = verify(p).expect("corrupted packet");
                if let Some(&prev) = last_seq.get(&flow) {
                    assert!(seq > prev, "reordered: {seq} after {prev}");
                }
                last_seq.insert(flow, seq);
                delivered += 1;
                bytes += p.len() as u64;
            }
        }
    }
    (delivered, bytes, started.elapsed())
}

#[test]
fn handshake_flood_goes_under_load_and_data_keeps_flowing() {
    let (a, b) = pair(opts(0x31), opts(0x32));
    let b_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, b.device.listen_port()));
    let b_pub = b.key.public_key();
    // Session A→B first (B knows A; A learns B from B's initiation).
    let warm = packet(B_V4.into(), A_V4.into(), 9, 0, 100);
    b.host.inject(&[warm], Duration::from_secs(1));
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.is_empty() && Instant::now() < deadline {
        a.host.recv(&mut got, 8, Duration::from_millis(10));
    }
    assert_eq!(got.len(), 1, "no session");

    let (quiet_pkts, quiet_bytes, quiet_time) = lossy_transfer(&a.host, &b.host, 300, 0);

    let sockets: Vec<UdpSocket> =
        (1..=SOURCES).map(|i| UdpSocket::bind((Ipv4Addr::new(127, 0, 9, i), 0)).unwrap()).collect();
    let stop = AtomicBool::new(false);
    let (flood_sent, (loud_pkts, loud_bytes, loud_time)) = std::thread::scope(|s| {
        let flood = s.spawn(|| {
            let mut rng = ChaCha8Rng::seed_from_u64(7);
            let mut sent = 0;
            let deadline = Instant::now() + Duration::from_secs(60);
            while sent < FLOOD && Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                for sock in &sockets {
                    let m = initiation(&mut rng, &b_pub);
                    if sock.send_to(&m, b_addr).is_ok() {
                        sent += 1;
                    }
                }
                std::thread::yield_now();
            }
            sent
        });
        // Let the flood build up before measuring.
        std::thread::sleep(Duration::from_millis(50));
        let r = lossy_transfer(&a.host, &b.host, 300, 1 << 20);
        stop.store(true, Ordering::Relaxed);
        (flood.join().unwrap(), r)
    });
    let st = b.device.stats();
    let gbps = |bytes: u64, t: Duration| bytes as f64 * 8.0 / t.as_secs_f64() / 1e9;
    println!(
        "flood: {flood_sent} initiations from {SOURCES} sources; cookie replies {}; \
         handshake queue overflows {}; processed {}",
        st.cookie_replies_sent, st.handshake_queue_overflows, st.handshakes_processed
    );
    println!(
        "data without flood: {quiet_pkts} pkts in {quiet_time:?} = {:.3} Gb/s; \
         during flood: {loud_pkts} pkts in {loud_time:?} = {:.3} Gb/s",
        gbps(quiet_bytes, quiet_time),
        gbps(loud_bytes, loud_time)
    );
    // Replies went to the spoofed sources.
    let mut replies = 0;
    for s in &sockets {
        s.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 128];
        while let Ok((n, _)) = s.recv_from(&mut buf) {
            if n == 64 && buf[0] == 3 {
                replies += 1;
            }
        }
    }
    assert!(flood_sent >= 1000);
    assert!(st.cookie_replies_sent > 0, "never went under load: {st:#?}");
    assert!(replies > 0, "no cookie reply reached a flooding source");
    assert!(st.drops.get(DropReason::CookieRequired) > 0);
    assert_eq!(st.drops.get(DropReason::DecryptFailed), 0);
    assert!(quiet_pkts > 0);
    assert!(loud_pkts > 0, "data stopped during the flood");
    // The legitimate session survived the flood.
    assert_eq!(st.peers[0].handshakes, 1);
}
