//! Two engines over in-memory NICs and real UDP on 127.0.0.1: 100k packets of mixed
//! sizes in both directions, nothing lost, reordered or corrupted, while peers and
//! allowed IPs change live.
#![allow(clippy::disallowed_methods)]

mod device_support;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use device_support::*;
use ferrowg_core::config::{AllowedIp, DeviceConfig};
use ferrowg_core::device::{DeviceOptions, WorkerMode};
use ferrowg_core::error::DropReason;

const PER_DIRECTION: u64 = 50_000;

fn flows_v4_v6(src4: IpAddr, dst4: IpAddr, src6: IpAddr, dst6: IpAddr) -> Flows {
    Flows {
        endpoints: vec![(src4, dst4), (src6, dst6), (src4, dst4), (src6, dst6)],
        total: PER_DIRECTION,
        window: 48,
        sizes: vec![60, 1420, 576, 100, 1280, 1400, 80, 999, 1420, 300],
    }
}

/// Adds and removes decoy peers and allowed IPs on `side` until `stop` is set.
fn churn(side: &Side, peer_of_other: usize, stop: &AtomicBool, seed: u8) -> u32 {
    let mut rounds = 0u32;
    let deadline = now() + Duration::from_secs(120);
    while !stop.load(Ordering::Relaxed) && now() < deadline && rounds < 100_000 {
        rounds += 1;
        let mut cfg: DeviceConfig = side.device.config();
        // A decoy peer with its own prefixes comes and goes.
        if rounds % 2 == 1 {
            let decoy = key(seed.wrapping_add(rounds as u8) | 1).public_key();
            if cfg.peer(&decoy).is_none() && decoy != side.key.public_key() {
                let mut p = peer(decoy, &[], None);
                p.allowed_ips.push(
                    AllowedIp::new(IpAddr::V4(Ipv4Addr::new(10, seed, rounds as u8, 0)), 24)
                        .unwrap(),
                );
                cfg.peers.push(p);
            }
        } else {
            cfg.peers.truncate(1);
        }
        // The real peer gains and loses an extra prefix and changes its keepalive.
        let real = &mut cfg.peers[peer_of_other];
        real.allowed_ips.truncate(2);
        if rounds % 3 == 0 {
            real.allowed_ips.push(
                AllowedIp::new(IpAddr::V4(Ipv4Addr::new(198, 19, 0, 100 + seed)), 32).unwrap(),
            );
        }
        real.persistent_keepalive = if rounds % 5 == 0 { Some(25) } else { None };
        side.device.set_config(&cfg).unwrap();
        // And once in a while through UAPI.
        if rounds % 7 == 0 {
            let decoy = key(0x77).public_key();
            side.device
                .uapi_set(&format!(
                    "public_key={}\nallowed_ip=10.200.{seed}.0/24\n",
                    decoy.to_hex()
                ))
                .unwrap();
            side.device.uapi_set(&format!("public_key={}\nremove=true\n", decoy.to_hex())).unwrap();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    rounds
}

fn exchange(opts_a: DeviceOptions, opts_b: DeviceOptions) {
    let (a, b) = pair(opts_a, opts_b);
    let deadline = now() + Duration::from_secs(240);
    let stop = AtomicBool::new(false);
    let (ab, ba, rounds) = std::thread::scope(|s| {
        let ca = s.spawn(|| churn(&a, 0, &stop, 1));
        let cb = s.spawn(|| churn(&b, 0, &stop, 2));
        let ab = s.spawn(|| {
            run_direction(
                &a.host,
                &b.host,
                &flows_v4_v6(A_V4.into(), B_V4.into(), A_V6.into(), B_V6.into()),
                deadline,
            )
        });
        let ba = s.spawn(|| {
            run_direction(
                &b.host,
                &a.host,
                &flows_v4_v6(B_V4.into(), A_V4.into(), B_V6.into(), A_V6.into()),
                deadline,
            )
        });
        let ab = ab.join().unwrap();
        let ba = ba.join().unwrap();
        stop.store(true, Ordering::Relaxed);
        (ab, ba, ca.join().unwrap() + cb.join().unwrap())
    });
    let sa = a.device.stats();
    let sb = b.device.stats();
    assert!(ab.errors.is_empty(), "A→B: {:?}", ab.errors);
    assert!(ba.errors.is_empty(), "B→A: {:?}", ba.errors);
    assert_eq!(ab.received, PER_DIRECTION, "A→B lost packets; A {sa:#?} B {sb:#?}");
    assert_eq!(ba.received, PER_DIRECTION, "B→A lost packets; A {sa:#?} B {sb:#?}");
    assert!(rounds > 10, "config churn ran only {rounds} rounds");
    for st in [&sa, &sb] {
        assert_eq!(st.drops.get(DropReason::DisallowedSource), 0);
        assert_eq!(st.drops.get(DropReason::DecryptFailed), 0);
        assert_eq!(st.drops.get(DropReason::NoRoute), 0);
        assert!(st.peers[0].handshakes >= 1);
        assert!(st.peers[0].rx_packets >= PER_DIRECTION);
    }
    // A learned B's endpoint from the handshake.
    assert_eq!(sa.peers[0].endpoint.map(|e| e.port()), Some(b.device.listen_port()));
    a.device.stop();
    b.device.stop();
}

#[test]
fn hundred_thousand_packets_inline_with_live_config() {
    let o = |seed| DeviceOptions { workers: WorkerMode::Inline, ..opts(seed) };
    exchange(o(1), o(2));
}

#[test]
fn hundred_thousand_packets_fanned_out_with_live_config() {
    let o = |seed| DeviceOptions { workers: WorkerMode::Fixed(2), ..opts(seed) };
    exchange(o(3), o(4));
}

#[test]
fn source_address_outside_allowed_ips_is_dropped() {
    let (a, b) = pair(opts(5), opts(6));
    // Establish the session with a legitimate packet (B knows A's endpoint).
    let ok = packet(B_V4.into(), A_V4.into(), 0, 0, 100);
    b.host.inject(&[ok], Duration::from_secs(1));
    let mut got = Vec::new();
    let deadline = now() + Duration::from_secs(10);
    while got.is_empty() && now() < deadline {
        a.host.recv(&mut got, 8, Duration::from_millis(20));
    }
    assert_eq!(got.len(), 1);
    // A spoofed source address (not in A's allowed IPs at B) must not come out.
    let spoofed = packet(IpAddr::V4(Ipv4Addr::new(198, 19, 0, 77)), B_V4.into(), 1, 0, 100);
    // A routes by destination, so the spoofed packet is encrypted and sent.
    a.host.inject(&[spoofed], Duration::from_secs(1));
    let deadline = now() + Duration::from_secs(10);
    while b.device.stats().drops.get(DropReason::DisallowedSource) == 0 && now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(b.device.stats().drops.get(DropReason::DisallowedSource), 1);
    got.clear();
    b.host.recv(&mut got, 8, Duration::from_millis(50));
    assert!(got.is_empty());
}

#[test]
fn hundred_thousand_packets_through_codel_queues_with_live_config() {
    // Flow control keeps the standing queue far below CoDel's 5 ms target, so CoDel
    // must not drop anything here.
    let o = |seed| DeviceOptions { codel: true, ..opts(seed) };
    exchange(o(7), o(8));
}
