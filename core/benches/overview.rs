//! Quick in-process measurements, side by side, in one table (formerly `ferrowg bench`;
//! a bench since issue 12, as it reaches into core's internals):
//!
//! `cargo bench -p ferrowg-core --bench overview`
//!
//! Each group of alternatives is measured in alternating rounds (A B A B ...) and the
//! median round is reported, because the machines this runs on are noisy. The criterion
//! benches next to this file are the careful version; this is the one-command overview.
#![allow(missing_docs, clippy::disallowed_methods)] // a benchmark reads the clock

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use ferrowg_core::config::{AllowedIp, DeviceConfig, Endpoint, PeerConfig};
use ferrowg_core::crypto::aead::{Aead, RustCryptoAead};
use ferrowg_core::device::memory::{memory_tun, TunHost};
use ferrowg_core::device::{Device, DeviceOptions, RingKind, WorkerMode};
use ferrowg_core::io::SystemClock;
use ferrowg_core::keys::PrivateKey;
use ferrowg_core::peer::{self, Identity, Peer, RandomIndices, Received};
use ferrowg_platform::std_udp::StdUdpBind;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// Rounds per alternative.
const ROUNDS: usize = 5;
/// Length of one micro-benchmark round.
const MICRO_ROUND: Duration = Duration::from_millis(300);
/// Length of one engine throughput round.
const ENGINE_ROUND: Duration = Duration::from_millis(1500);
/// Inner packet size.
const SIZE: usize = 1420;

/// A named alternative: each call runs one round and returns its rate.
type Bench<'a> = (&'a str, Box<dyn FnMut() -> f64>);

/// One table row: what, the median, and the unit.
struct Row {
    name: String,
    value: f64,
    unit: &'static str,
    min: f64,
    max: f64,
}

fn main() {
    // `cargo test --benches` runs bench binaries without `--bench`: nothing to measure.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    if let Err(e) = run() {
        eprintln!("overview: {e}");
        std::process::exit(1);
    }
}

/// Runs every benchmark and prints the table.
fn run() -> Result<(), String> {
    println!(
        "overview: {ROUNDS} alternating rounds per alternative, median (min-max); \
         {} CPUs",
        thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut rows = Vec::new();

    // The packet path and the raw AEAD it is built on alternate in one group, so
    // their ratio is read from the same stretch of machine time.
    let mut encap = peer_pair();
    let packet: Vec<Bench> = vec![
        #[cfg(feature = "ring")]
        (
            "AEAD seal+open 1420 B, ring",
            Box::new(aead_round::<ferrowg_core::crypto::aead::RingAead>),
        ),
        ("AEAD seal+open 1420 B, RustCrypto", Box::new(aead_round::<RustCryptoAead>)),
        ("Peer encapsulate+decapsulate 1420 B", Box::new(move || encap_round(&mut encap))),
    ];
    rows.extend(alternate(packet, "Gbit/s"));
    rows.extend(alternate(
        vec![("Handshake: two new peers + IKpsk2, both sides", Box::new(handshake_round))],
        "/s",
    ));

    let engines: Vec<Bench> = vec![
        (
            "Engine pair over UDP 127.0.0.1, inline crypto",
            Box::new(engine_round(WorkerMode::Inline, RingKind::LockFree)?),
        ),
        (
            "Engine pair, crypto workers, lock-free ring",
            Box::new(engine_round(WorkerMode::Fixed(2), RingKind::LockFree)?),
        ),
        (
            "Engine pair, crypto workers, locked ring",
            Box::new(engine_round(WorkerMode::Fixed(2), RingKind::Locked)?),
        ),
    ];
    rows.extend(alternate(engines, "Gbit/s"));

    println!("| benchmark | median | min-max | unit |");
    println!("|---|---:|---:|---|");
    for r in rows {
        println!("| {} | {:.3} | {:.3}-{:.3} | {} |", r.name, r.value, r.min, r.max, r.unit);
    }
    Ok(())
}

/// Runs the alternatives in alternating rounds; one row each.
fn alternate(mut benches: Vec<Bench>, unit: &'static str) -> Vec<Row> {
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); benches.len()];
    for _ in 0..ROUNDS {
        for (i, (_, f)) in benches.iter_mut().enumerate() {
            results[i].push(f());
        }
    }
    benches
        .iter()
        .zip(results)
        .map(|((name, _), mut v)| {
            v.sort_by(f64::total_cmp);
            Row {
                name: name.to_string(),
                value: v[v.len() / 2],
                unit,
                min: v[0],
                max: v[v.len() - 1],
            }
        })
        .collect()
}

/// Time for the single-threaded micro-benchmarks: on Linux the calling thread's CPU
/// time (so a shared machine descheduling the thread does not count), elsewhere wall
/// time.
struct CpuTimer {
    wall: Instant,
    #[cfg(target_os = "linux")]
    cpu: Option<Duration>,
}

impl CpuTimer {
    fn start() -> Self {
        Self {
            wall: Instant::now(),
            #[cfg(target_os = "linux")]
            cpu: thread_cpu(),
        }
    }

    fn elapsed(&self) -> Duration {
        #[cfg(target_os = "linux")]
        if let (Some(start), Some(now)) = (self.cpu, thread_cpu()) {
            return now.saturating_sub(start);
        }
        self.wall.elapsed()
    }
}

#[cfg(target_os = "linux")]
fn thread_cpu() -> Option<Duration> {
    use nix::time::{clock_gettime, ClockId};
    let t = clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).ok()?;
    Some(Duration::new(u64::try_from(t.tv_sec()).ok()?, u32::try_from(t.tv_nsec()).ok()?))
}

fn gbps(bytes: u64, d: Duration) -> f64 {
    bytes as f64 * 8.0 / d.as_secs_f64() / 1e9
}

fn aead_round<A: Aead>() -> f64 {
    let key = A::new(&[3; 32]);
    // Padded to 16 as WireGuard pads every data message (and as the peer path does).
    let mut buf = vec![0xabu8; SIZE.next_multiple_of(16)];
    let mut counter = 0u64;
    let start = CpuTimer::start();
    while start.elapsed() < MICRO_ROUND {
        for _ in 0..64 {
            counter += 1;
            let Ok(tag) = key.seal_in_place(counter, &[], black_box(&mut buf)) else { break };
            let _ = key.open_in_place(counter, &[], black_box(&mut buf), &tag);
        }
    }
    gbps(counter * SIZE as u64, start.elapsed())
}

/// Two protocol peers with an established session, for encapsulate/decapsulate rounds.
struct PeerPair {
    a: Peer,
    b: Peer,
    addr_a: SocketAddr,
    now: Instant,
    wall: SystemTime,
}

fn peer_pair() -> PeerPair {
    let ia = Arc::new(Identity::new(&PrivateKey::from_bytes(os_random32())));
    let ib = Arc::new(Identity::new(&PrivateKey::from_bytes(os_random32())));
    let addr_a = SocketAddr::from(([127, 0, 0, 1], 1));
    let addr_b = SocketAddr::from(([127, 0, 0, 1], 2));
    let mut ca = peer::PeerConfig::new(*ib.public_key());
    ca.endpoint = Some(addr_b);
    let rng = || Box::new(ChaCha20Rng::from_seed(os_random32()));
    let a = Peer::new(ia.clone(), ca, Arc::new(RandomIndices), rng());
    let b = Peer::new(ib, peer::PeerConfig::new(*ia.public_key()), Arc::new(RandomIndices), rng());
    let mut pair = PeerPair { a, b, addr_a, now: Instant::now(), wall: SystemTime::now() };
    let mut buf = vec![0u8; 2048];
    let first = ipv4_udp(Ipv4Addr::new(198, 19, 0, 1), Ipv4Addr::new(198, 19, 0, 2), 60, 0);
    let _ = pair.a.encapsulate(&first, &mut buf, pair.now, pair.wall);
    for _ in 0..4 {
        while let Some(t) = pair.a.poll_transmit(pair.now, &mut buf) {
            let _ = pair.b.handle_datagram(&mut buf[..t.len], pair.addr_a, pair.now, pair.wall);
        }
        while let Some(t) = pair.b.poll_transmit(pair.now, &mut buf) {
            let _ = pair.a.handle_datagram(&mut buf[..t.len], addr_b, pair.now, pair.wall);
        }
    }
    pair
}

fn encap_round(p: &mut PeerPair) -> f64 {
    let pkt = ipv4_udp(Ipv4Addr::new(198, 19, 0, 1), Ipv4Addr::new(198, 19, 0, 2), SIZE, 1);
    let mut buf = vec![0u8; 2048];
    let mut done = 0u64;
    let start = CpuTimer::start();
    while start.elapsed() < MICRO_ROUND {
        for _ in 0..64 {
            let Ok(Some(t)) = p.a.encapsulate(black_box(&pkt), &mut buf, p.now, p.wall) else {
                return 0.0;
            };
            match p.b.handle_datagram(&mut buf[..t.len], p.addr_a, p.now, p.wall) {
                Ok(Received::Packet(r)) => done += black_box(r.len()) as u64,
                _ => return 0.0,
            }
        }
    }
    gbps(done, start.elapsed())
}

fn handshake_round() -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < MICRO_ROUND {
        let p = peer_pair();
        if p.b.current_keypair().is_some() {
            n += 1;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Two engines over in-memory NICs and loopback UDP; each call runs one round of
/// one-way bulk transfer and returns the delivered inner Gbit/s.
fn engine_round(workers: WorkerMode, ring: RingKind) -> Result<impl FnMut() -> f64, String> {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let key_a = PrivateKey::from_bytes(os_random32());
    let key_b = PrivateKey::from_bytes(os_random32());
    let opts =
        || DeviceOptions { rng_seed: Some(os_random32()), workers, ring, ..Default::default() };
    let allowed = |ip: Ipv4Addr| AllowedIp::new(IpAddr::V4(ip), 32).map_err(|e| e.to_string());
    let mut pa = PeerConfig::new(key_a.public_key());
    pa.allowed_ips = vec![allowed(Ipv4Addr::new(198, 19, 0, 1))?];
    let (tun_b, host_b) = memory_tun(SIZE, 4096);
    let cfg_b =
        DeviceConfig { private_key: Some(key_b.clone()), peers: vec![pa], ..Default::default() };
    let dev_b = Device::start(
        cfg_b,
        tun_b,
        Arc::new(StdUdpBind::new(loopback)),
        Arc::new(SystemClock),
        opts(),
    )
    .map_err(|e| e.to_string())?;
    let mut pb = PeerConfig::new(key_b.public_key());
    pb.allowed_ips = vec![allowed(Ipv4Addr::new(198, 19, 0, 2))?];
    pb.endpoint = Some(Endpoint::Addr(SocketAddr::new(loopback, dev_b.listen_port())));
    let (tun_a, host_a) = memory_tun(SIZE, 4096);
    let cfg_a = DeviceConfig { private_key: Some(key_a), peers: vec![pb], ..Default::default() };
    let dev_a = Device::start(
        cfg_a,
        tun_a,
        Arc::new(StdUdpBind::new(loopback)),
        Arc::new(SystemClock),
        opts(),
    )
    .map_err(|e| e.to_string())?;
    Ok(move || {
        let _keep = (&dev_a, &dev_b);
        transfer(&host_a, &host_b)
    })
}

fn transfer(a: &TunHost, b: &TunHost) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let bytes = Arc::new(AtomicU64::new(0));
    let sender = {
        let (a, stop) = (a.clone(), stop.clone());
        thread::spawn(move || {
            let batch: Vec<Vec<u8>> = (0..64)
                .map(|i| {
                    ipv4_udp(Ipv4Addr::new(198, 19, 0, 1), Ipv4Addr::new(198, 19, 0, 2), SIZE, i)
                })
                .collect();
            while !stop.load(Ordering::Relaxed) {
                a.inject(&batch, Duration::from_millis(50));
            }
        })
    };
    let receiver = {
        let (b, stop, bytes) = (b.clone(), stop.clone(), bytes.clone());
        thread::spawn(move || {
            let mut got = Vec::with_capacity(256);
            while !stop.load(Ordering::Relaxed) {
                got.clear();
                b.recv(&mut got, 256, Duration::from_millis(20));
                let n: usize = got.iter().map(Vec::len).sum();
                bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
        })
    };
    // The first 200 ms (handshake, queues filling) are not counted.
    thread::sleep(Duration::from_millis(200));
    let (b0, t0) = (bytes.load(Ordering::Relaxed), Instant::now());
    thread::sleep(ENGINE_ROUND);
    let (b1, t1) = (bytes.load(Ordering::Relaxed), Instant::now());
    stop.store(true, Ordering::Relaxed);
    let _ = sender.join();
    let _ = receiver.join();
    // Drain what is still queued so the next round starts empty.
    let mut got = Vec::new();
    while b.recv(&mut got, 4096, Duration::from_millis(50)) > 0 {
        got.clear();
    }
    gbps(b1 - b0, t1 - t0)
}

/// 32 bytes from the OS CSPRNG, for keys and engine seeds.
fn os_random32() -> [u8; 32] {
    ferrowg_platform::random_seed().expect("the OS random number generator failed")
}

/// An IPv4/UDP packet of `total` bytes (at least 36) whose first 8 payload bytes carry
/// `seq` (as the CLI's demo builds them).
fn ipv4_udp(src: Ipv4Addr, dst: Ipv4Addr, total: usize, seq: u64) -> Vec<u8> {
    let total = total.clamp(36, usize::from(u16::MAX));
    let mut p = vec![0u8; total];
    let len = total as u16;
    p[0] = 0x45;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    p[8] = 64; // TTL
    p[9] = 17; // UDP
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let mut sum: u32 = p[..20].chunks(2).map(|w| u32::from(w[0]) << 8 | u32::from(w[1])).sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p[20..22].copy_from_slice(&40000u16.to_be_bytes());
    p[22..24].copy_from_slice(&9u16.to_be_bytes()); // discard
    p[24..26].copy_from_slice(&(len - 20).to_be_bytes());
    p[28..36].copy_from_slice(&seq.to_be_bytes());
    p
}
