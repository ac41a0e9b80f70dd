//! The data path per packet: encapsulate + decapsulate of one IPv4 packet over an
//! established session, ferrowg's `Peer` vs boringtun's `Tunn` in the same run, and the
//! raw AEAD (seal + open of the same padded length, ring) that both are built on, so the
//! packet-path overhead over raw crypto can be read off as a ratio.
//!
//! `cargo bench -p ferrowg-core --bench packet -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs)] // criterion's macros generate undocumented public functions

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use ferrowg_core::crypto::aead::{Aead, DataAead};
use ferrowg_core::keys::PrivateKey;
use ferrowg_core::peer::{Identity, Peer, PeerConfig, RandomIndices, Received};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// One benchmarked operation per call.
type Step = Box<dyn FnMut()>;

const SIZES: [usize; 2] = [64, 1420];

fn ipv4_packet(total: usize) -> Vec<u8> {
    let mut p = vec![0xab; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[12..16].copy_from_slice(&[198, 19, 0, 1]);
    p[16..20].copy_from_slice(&[198, 19, 0, 2]);
    p
}

#[allow(clippy::disallowed_methods)] // a base for the virtual clock
fn base() -> Instant {
    Instant::now()
}

fn ferrowg_pair() -> (Peer, Peer, SocketAddr, Instant, SystemTime) {
    let ia = Arc::new(Identity::new(&PrivateKey::from_bytes([1; 32])));
    let ib = Arc::new(Identity::new(&PrivateKey::from_bytes([2; 32])));
    let (addr_a, addr_b): (SocketAddr, SocketAddr) =
        ("127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap());
    let mut ca = PeerConfig::new(*ib.public_key());
    ca.endpoint = Some(addr_b);
    let rng = |s| Box::new(ChaCha20Rng::seed_from_u64(s));
    let mut a = Peer::new(ia.clone(), ca, Arc::new(RandomIndices), rng(1));
    let mut b = Peer::new(ib, PeerConfig::new(*ia.public_key()), Arc::new(RandomIndices), rng(2));
    let (now, wall) = (base(), SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 30));
    let mut buf = vec![0u8; 2048];
    let _ = a.encapsulate(&ipv4_packet(60), &mut buf, now, wall).unwrap();
    for _ in 0..4 {
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            let _ = b.handle_datagram(&mut buf[..t.len], addr_a, now, wall);
        }
        while let Some(t) = b.poll_transmit(now, &mut buf) {
            let _ = a.handle_datagram(&mut buf[..t.len], addr_b, now, wall);
        }
    }
    assert!(b.current_keypair().is_some());
    (a, b, addr_a, now, wall)
}

/// One ferrowg encapsulate + decapsulate of a `size`-byte packet per call.
fn ferrowg_step(size: usize) -> Step {
    let (mut a, mut b, addr_a, now, wall) = ferrowg_pair();
    let mut buf = vec![0u8; 2048];
    let pkt = ipv4_packet(size);
    Box::new(move || {
        let t = a.encapsulate(black_box(&pkt), &mut buf, now, wall).unwrap().unwrap();
        match b.handle_datagram(&mut buf[..t.len], addr_a, now, wall) {
            Ok(Received::Packet(r)) => {
                black_box(r.len());
            }
            other => panic!("{other:?}"),
        }
    })
}

/// One raw seal + open of the padded length per call.
fn raw_aead_step(size: usize) -> Step {
    let key = DataAead::new(&[3; 32]);
    let mut buf = vec![0xabu8; size.next_multiple_of(16)];
    let mut counter = 0u64;
    Box::new(move || {
        counter += 1;
        let tag = key.seal_in_place(counter, &[], black_box(&mut buf)).unwrap();
        key.open_in_place(counter, &[], black_box(&mut buf), &tag).unwrap();
    })
}

fn ferrowg(c: &mut Criterion) {
    let (mut a, mut b, addr_a, now, wall) = ferrowg_pair();
    let mut group = c.benchmark_group("packet/ferrowg");
    let mut buf = vec![0u8; 2048];
    for size in SIZES {
        let pkt = ipv4_packet(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("encap+decap", size), &size, |bench, _| {
            bench.iter(|| {
                let t = a.encapsulate(black_box(&pkt), &mut buf, now, wall).unwrap().unwrap();
                match b.handle_datagram(&mut buf[..t.len], addr_a, now, wall) {
                    Ok(Received::Packet(r)) => black_box(r.len()),
                    other => panic!("{other:?}"),
                }
            })
        });
    }
    group.finish();
}

fn raw_aead(c: &mut Criterion) {
    let key = DataAead::new(&[3; 32]);
    let mut group = c.benchmark_group(format!("packet/raw-aead-{}", <DataAead as Aead>::NAME));
    for size in SIZES {
        let padded = size.next_multiple_of(16);
        let mut buf = vec![0xabu8; padded];
        let mut counter = 0u64;
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("seal+open", size), &size, |bench, _| {
            bench.iter(|| {
                counter += 1;
                let tag = key.seal_in_place(counter, &[], black_box(&mut buf)).unwrap();
                key.open_in_place(counter, &[], black_box(&mut buf), &tag).unwrap();
            })
        });
    }
    group.finish();
}

#[cfg(target_os = "linux")]
fn boringtun_pair() -> (boringtun::noise::Tunn, boringtun::noise::Tunn) {
    use boringtun::noise::{Tunn, TunnResult};
    use boringtun::x25519::{PublicKey, StaticSecret};

    let (sa, sb) = (StaticSecret::from([1; 32]), StaticSecret::from([2; 32]));
    let (pa, pb) = (PublicKey::from(&sa), PublicKey::from(&sb));
    let mut a = Tunn::new(sa, pb, None, None, 1, None);
    let mut b = Tunn::new(sb, pa, None, None, 2, None);
    let ip = Some("127.0.0.1".parse().unwrap());
    let (mut b1, mut b2, mut b3) = (vec![0u8; 2048], vec![0u8; 2048], vec![0u8; 2048]);
    // Handshake, then the initiator's keepalive confirms the session to the responder.
    let TunnResult::WriteToNetwork(init) = a.format_handshake_initiation(&mut b1, false) else {
        panic!("no initiation")
    };
    let TunnResult::WriteToNetwork(resp) = b.decapsulate(ip, init, &mut b2) else {
        panic!("no response")
    };
    let TunnResult::WriteToNetwork(keepalive) = a.decapsulate(ip, resp, &mut b3) else {
        panic!("no keepalive")
    };
    let _ = b.decapsulate(ip, keepalive, &mut b1);
    (a, b)
}

/// One boringtun encapsulate + decapsulate per call.
#[cfg(target_os = "linux")]
fn boringtun_step(size: usize) -> Step {
    use boringtun::noise::TunnResult;
    let (mut a, mut b) = boringtun_pair();
    let ip = Some("127.0.0.1".parse().unwrap());
    let (mut b1, mut b2) = (vec![0u8; 2048], vec![0u8; 2048]);
    let pkt = ipv4_packet(size);
    Box::new(move || {
        let TunnResult::WriteToNetwork(d) = a.encapsulate(black_box(&pkt), &mut b1) else {
            panic!("encapsulate")
        };
        match b.decapsulate(ip, d, &mut b2) {
            TunnResult::WriteToTunnelV4(p, _) => {
                black_box(p.len());
            }
            other => panic!("{other:?}"),
        }
    })
}

#[cfg(target_os = "linux")]
fn boringtun(c: &mut Criterion) {
    use boringtun::noise::TunnResult;
    let (mut a, mut b) = boringtun_pair();
    let ip = Some("127.0.0.1".parse().unwrap());
    let (mut b1, mut b2) = (vec![0u8; 2048], vec![0u8; 2048]);
    let mut group = c.benchmark_group("packet/boringtun");
    for size in SIZES {
        let pkt = ipv4_packet(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("encap+decap", size), &size, |bench, _| {
            bench.iter(|| {
                let TunnResult::WriteToNetwork(d) = a.encapsulate(black_box(&pkt), &mut b1) else {
                    panic!("encapsulate")
                };
                match b.decapsulate(ip, d, &mut b2) {
                    TunnResult::WriteToTunnelV4(p, _) => black_box(p.len()),
                    other => panic!("{other:?}"),
                }
            })
        });
    }
    group.finish();
}

#[cfg(not(target_os = "linux"))]
fn boringtun(_: &mut Criterion) {}

/// Interleaved side-by-side timing: rounds of `BATCH` packets per variant, variants in
/// rotating order, so load from other processes hits all of them alike. Prints the best
/// and the median round per packet and the ratios to raw AEAD.
#[allow(clippy::disallowed_methods)] // a benchmark has to read the clock
fn interleaved_report() {
    const ROUNDS: usize = 300;
    const BATCH: usize = 200;
    for size in SIZES {
        let mut variants: Vec<(&str, Step)> =
            vec![("raw-aead", raw_aead_step(size)), ("ferrowg", ferrowg_step(size))];
        #[cfg(target_os = "linux")]
        variants.push(("boringtun", boringtun_step(size)));
        let mut samples = vec![Vec::new(); variants.len()];
        for round in 0..ROUNDS {
            for k in 0..variants.len() {
                let i = (round + k) % variants.len();
                let f = &mut variants[i].1;
                let t = Instant::now();
                for _ in 0..BATCH {
                    f();
                }
                samples[i].push(t.elapsed().as_nanos() as f64 / BATCH as f64);
            }
        }
        let stats: Vec<(f64, f64)> = samples
            .iter_mut()
            .map(|s| {
                s.sort_by(f64::total_cmp);
                (s[0], s[s.len() / 2])
            })
            .collect();
        for ((name, _), (best, median)) in variants.iter().zip(&stats) {
            println!(
                "interleaved {size:>5} B {name:<10} best {best:>8.0} ns  median {median:>8.0} ns  \
                 best/raw {:.3}  median/raw {:.3}",
                best / stats[0].0,
                median / stats[0].1
            );
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = raw_aead, ferrowg, boringtun
}

fn main() {
    interleaved_report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
