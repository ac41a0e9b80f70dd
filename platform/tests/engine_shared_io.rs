//! The shared I/O thread (`IoThreads::Shared`, issue 13) without root: two devices over
//! loopback UDP, each with a NIC made of a Unix `SOCK_SEQPACKET` socketpair adopted as a
//! TUN (`FdTun::adopt`; it has a `wait_fd`, so the engine runs the shared mode). The test
//! holds the other end of each pair, as the app side of a TUN, and writes and reads raw
//! IPv4/UDP packets there with a sequence number in the payload.
//!
//! - Both directions at once under load: every packet arrives exactly once, in order,
//!   intact, while the NIC direction moves to the helper thread and back
//!   (`DeviceStats::io_handovers`). Flow control (a window of packets in flight per
//!   direction) keeps every buffer on the way from overflowing, so nothing may be lost.
//! - No allocation per packet in steady state (a counting global allocator).
//! - The thread hook hears of the saturation (`ThreadHook::on_saturation`): from the
//!   I/O thread and its helper only, at most once per hand-over, each start with its end
//!   once the tunnel is idle.
//! - Idle → busy → idle: a single packet each way still arrives after the load, and a
//!   second load hands over again (the NIC direction came back to the I/O thread).
//!
//! The tests take a lock: they count the process's threads and allocations.
#![cfg(target_os = "linux")]
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::engine::{key, peer};
use ferrowg_core::config::{DeviceConfig, Endpoint};
use ferrowg_core::device::{Device, DeviceOptions, IoThreads, ThreadHook, ThreadRole};
use ferrowg_core::io::{Bind, SystemClock, Transport};
use ferrowg_core::keys::{PrivateKey, PublicKey};
use ferrowg_core::sched::LogicalCpu;
use ferrowg_platform::tun::{FdTun, Framing};
use ferrowg_platform::udp::{UdpOptions, UdpTransport};
use socket2::{Domain, Socket, Type};

#[global_allocator]
static GLOBAL: common::alloc::Counting = common::alloc::Counting;

const A_TUN: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
const B_TUN: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);
const MTU: usize = 1420;
/// Packets in flight per direction (written by the app, not yet read at the far end):
/// small enough for every socket buffer on the way, large enough to keep both
/// directions of the engine busy.
const WINDOW: u64 = 96;
/// A sender's pause now and then: longer than the 2 ms of UDP idle after which the
/// far device's helper gives the NIC direction back, while the other direction goes on
/// (the moment two threads reading the NIC at once would reorder packets).
const PAUSE: Duration = Duration::from_millis(4);
/// Payload kinds: a numbered packet of the load, or a single probe.
const KIND_DATA: u8 = 1;
const KIND_PROBE: u8 = 2;
/// A direction that delivers nothing for this long fails (a packet was lost).
const STALL: Duration = Duration::from_secs(5);
/// A load that does not finish by then fails.
const LOAD_DEADLINE: Duration = Duration::from_secs(30);

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The platform UDP transport on loopback (IPv4 only).
struct LoopbackBind;

impl Bind for LoopbackBind {
    fn bind(&self, port: u16) -> io::Result<Arc<dyn Transport>> {
        let opts = UdpOptions { port, no_ipv6: true, ..UdpOptions::default() };
        Ok(Arc::new(UdpTransport::with_options(opts).map_err(io::Error::from)?))
    }
}

/// One device and the app end of its NIC.
struct Side {
    device: Device,
    app: UnixStream,
    ip: Ipv4Addr,
}

/// A NIC of a socketpair: the engine's end as a TUN, and the app's end.
fn socketpair_tun() -> (Arc<FdTun>, UnixStream) {
    let (engine, app) = Socket::pair(Domain::UNIX, Type::SEQPACKET, None).unwrap();
    let tun = FdTun::adopt(OwnedFd::from(engine), MTU, Framing::None).unwrap();
    let app = UnixStream::from(OwnedFd::from(app));
    app.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    app.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    (Arc::new(tun), app)
}

/// Two devices that know each other's endpoint.
fn pair(io_threads: IoThreads) -> (Side, Side) {
    pair_with_hook(io_threads, None)
}

/// The same, with `hook` as both devices' thread hook.
fn pair_with_hook(io_threads: IoThreads, hook: Option<Arc<dyn ThreadHook>>) -> (Side, Side) {
    let (ka, kb) = (key(0x61), key(0x62));
    // Hand the NIC direction over at the first turn with work: whether a load keeps the
    // thread busy for the default 32 turns in a row depends on how crowded the machine
    // is (a quiet CI machine never got there), and the tests are about the hand-over.
    let opts = |seed| DeviceOptions {
        rng_seed: Some([seed; 32]),
        io_threads,
        io_split_after: 1,
        thread_hook: hook.clone(),
        ..Default::default()
    };
    let start = |k: &PrivateKey, other: PublicKey, other_ip, endpoint, seed| {
        let (tun, app) = socketpair_tun();
        let mut cfg = DeviceConfig { private_key: Some(k.clone()), ..Default::default() };
        cfg.peers.push(peer(other, other_ip, endpoint));
        let d = Device::start(cfg, tun, Arc::new(LoopbackBind), Arc::new(SystemClock), opts(seed));
        (d.unwrap(), app)
    };
    let (a, a_app) = start(&ka, kb.public_key(), B_TUN, None, 1);
    let a_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, a.listen_port()));
    let (b, b_app) = start(&kb, ka.public_key(), A_TUN, Some(a_addr), 2);
    let mut cfg = a.config();
    cfg.peers[0].endpoint =
        Some(Endpoint::Addr(SocketAddr::from((Ipv4Addr::LOCALHOST, b.listen_port()))));
    a.set_config(&cfg).unwrap();
    (Side { device: a, app: a_app, ip: A_TUN }, Side { device: b, app: b_app, ip: B_TUN })
}

/// Writes an IPv4/UDP packet from `src` to `dst` into `buf`: `kind`, `seq` and a
/// filler derived from `seq` in the payload; its length varies with `seq`. Returns the
/// length.
fn build(buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, kind: u8, seq: u32) -> usize {
    let len = 64 + (seq as usize * 7) % 400;
    buf[..len].fill(0);
    buf[0] = 0x45;
    buf[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    buf[8] = 64;
    buf[9] = 17;
    buf[12..16].copy_from_slice(&src.octets());
    buf[16..20].copy_from_slice(&dst.octets());
    let mut sum = 0u32;
    for w in buf[..20].chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    let sum = !((sum & 0xffff) + (sum >> 16)) as u16;
    buf[10..12].copy_from_slice(&sum.to_be_bytes());
    buf[20..22].copy_from_slice(&40000u16.to_be_bytes());
    buf[22..24].copy_from_slice(&40001u16.to_be_bytes());
    buf[24..26].copy_from_slice(&((len - 20) as u16).to_be_bytes());
    buf[28] = kind;
    buf[32..36].copy_from_slice(&seq.to_be_bytes());
    for (i, b) in buf[36..len].iter_mut().enumerate() {
        *b = (seq as u8).wrapping_mul(31).wrapping_add(i as u8);
    }
    len
}

/// Reads `(kind, seq)` from a received packet if it is one `build` made from `src` to
/// `dst`, byte for byte.
fn parse(p: &[u8], src: Ipv4Addr, dst: Ipv4Addr, scratch: &mut [u8]) -> Option<(u8, u32)> {
    let kind = *p.get(28)?;
    let seq = u32::from_be_bytes(p.get(32..36)?.try_into().ok()?);
    let len = build(scratch, src, dst, kind, seq);
    (p == &scratch[..len]).then_some((kind, seq))
}

/// What the far end of one direction saw.
#[derive(Debug, Default)]
struct Seen {
    /// Data packets received.
    received: u64,
    /// Packets that were not the next expected one (lost, duplicated or reordered).
    out_of_order: u64,
    /// Packets that did not match what was sent.
    corrupt: u64,
    /// The first out-of-order arrival: (expected, got).
    first_out_of_order: Option<(u32, u32)>,
    /// Why the direction stopped early, if it did.
    error: Option<String>,
}

/// One direction of the load: `n` numbered packets from `from`'s app to `to`'s app,
/// at most [`WINDOW`] in flight, with a pause of [`PAUSE`] after every `pause_every`.
/// `delivered` counts arrivals across directions.
fn direction(
    from: &Side,
    to: &Side,
    n: u32,
    pause_every: u32,
    delivered: &AtomicU64,
    stop: &AtomicBool,
) -> Seen {
    let received = AtomicU64::new(0);
    let deadline = Instant::now() + LOAD_DEADLINE;
    std::thread::scope(|s| {
        let sender = s.spawn(|| {
            let mut buf = [0u8; 2048];
            for seq in 0..n {
                while u64::from(seq) >= received.load(Ordering::Acquire) + WINDOW {
                    if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                        return;
                    }
                    std::thread::sleep(Duration::from_micros(100));
                }
                if seq % pause_every == pause_every - 1 {
                    std::thread::sleep(PAUSE);
                }
                let len = build(&mut buf, from.ip, to.ip, KIND_DATA, seq);
                if let Err(e) = (&from.app).write_all(&buf[..len]) {
                    stop.store(true, Ordering::Relaxed);
                    return eprintln!("app write failed: {e}");
                }
            }
        });
        let mut seen = Seen::default();
        let (mut buf, mut scratch) = ([0u8; 2048], [0u8; 2048]);
        let mut expected = 0u32;
        let mut last = Instant::now();
        while seen.received < u64::from(n) {
            let now = Instant::now();
            if now > deadline || now > last + STALL || stop.load(Ordering::Relaxed) {
                seen.error = Some(format!("stopped at packet {expected}/{n}: timeout or failure"));
                stop.store(true, Ordering::Relaxed);
                break;
            }
            let len = match (&to.app).read(&mut buf) {
                Ok(len) => len,
                Err(e)
                    if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
                {
                    continue
                }
                Err(e) => {
                    seen.error = Some(format!("app read failed: {e}"));
                    stop.store(true, Ordering::Relaxed);
                    break;
                }
            };
            match parse(&buf[..len], from.ip, to.ip, &mut scratch) {
                Some((KIND_DATA, seq)) => {
                    if seq != expected {
                        seen.out_of_order += 1;
                        seen.first_out_of_order.get_or_insert((expected, seq));
                    }
                    expected = seq.wrapping_add(1);
                    seen.received += 1;
                    last = Instant::now();
                    received.store(seen.received, Ordering::Release);
                    delivered.fetch_add(1, Ordering::Relaxed);
                }
                Some(_) => {}
                None => seen.corrupt += 1,
            }
        }
        let _ = sender.join();
        seen
    })
}

/// Runs `n` packets each way at once; `watch` runs meanwhile on the calling thread with
/// the count of packets delivered so far (both directions).
fn load(a: &Side, b: &Side, n: u32, watch: impl FnOnce(&AtomicU64)) -> [Seen; 2] {
    let delivered = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let ab = s.spawn(|| direction(a, b, n, 400, &delivered, &stop));
        let ba = s.spawn(|| direction(b, a, n, 530, &delivered, &stop));
        watch(&delivered);
        [ab.join().unwrap(), ba.join().unwrap()]
    })
}

/// Asserts that both directions delivered `n` packets exactly once, in order, intact.
fn assert_exact(seen: &[Seen; 2], n: u32, what: &str) {
    for (dir, s) in ["A→B", "B→A"].iter().zip(seen) {
        assert!(s.error.is_none(), "{what} {dir}: {s:?}");
        assert_eq!(s.corrupt, 0, "{what} {dir}: corrupted packets: {s:?}");
        assert_eq!(s.out_of_order, 0, "{what} {dir}: lost, duplicated or reordered: {s:?}");
        assert_eq!(s.received, u64::from(n), "{what} {dir}: {s:?}");
    }
}

/// Sends one probe from `from` to `to` and waits up to `within` for it (other packets
/// are skipped). Returns whether it arrived.
fn probe(from: &Side, to: &Side, tag: u32, within: Duration) -> bool {
    let mut buf = [0u8; 2048];
    let len = build(&mut buf, from.ip, to.ip, KIND_PROBE, tag);
    (&from.app).write_all(&buf[..len]).unwrap();
    let deadline = Instant::now() + within;
    let mut scratch = [0u8; 2048];
    while Instant::now() < deadline {
        if let Ok(len) = (&to.app).read(&mut buf) {
            if parse(&buf[..len], from.ip, to.ip, &mut scratch) == Some((KIND_PROBE, tag)) {
                return true;
            }
        }
    }
    false
}

/// Handshake: a probe each way until one arrives (the first may wait for it).
fn establish(a: &Side, b: &Side) {
    for (from, to) in [(b, a), (a, b)] {
        let ok = (0..20).any(|i| probe(from, to, 1000 + i, Duration::from_millis(500)));
        assert!(ok, "no probe from {} to {} got through", from.ip, to.ip);
    }
}

/// The names of this process's threads, once `ok` holds for them (a new thread names
/// itself when it starts running), or after 5 s.
fn thread_names_when(ok: impl Fn(&[String]) -> bool) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let names = thread_names();
        if ok(&names) || Instant::now() > deadline {
            return names;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The names of this process's threads.
fn thread_names() -> Vec<String> {
    let mut names = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        if let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) {
            names.push(comm.trim_end().to_owned());
        }
    }
    names
}

fn count(names: &[String], name: &str) -> usize {
    names.iter().filter(|n| *n == name).count()
}

fn handovers(a: &Side, b: &Side) -> u64 {
    a.device.stats().io_handovers + b.device.stats().io_handovers
}

fn stop(a: Side, b: Side) {
    a.device.stop();
    b.device.stop();
}

#[test]
fn shared_io_delivers_both_directions_exactly_once_in_order_under_load() {
    let _serial = serial();
    let (a, b) = pair(IoThreads::Shared);
    let names =
        thread_names_when(|n| count(n, "ferrowg-io") == 2 && count(n, "ferrowg-io-nic") == 2);
    assert_eq!(count(&names, "ferrowg-io"), 2, "one shared I/O thread per device: {names:?}");
    assert_eq!(count(&names, "ferrowg-io-nic"), 2, "and its helper: {names:?}");
    assert_eq!(count(&names, "ferrowg-rx") + count(&names, "ferrowg-tx"), 0, "{names:?}");
    establish(&a, &b);
    let n = 20_000;
    let seen = load(&a, &b, n, |_| {});
    assert_exact(&seen, n, "shared");
    let h = handovers(&a, &b);
    println!("shared: {n} packets each way, {h} hand-overs");
    assert!(h > 0, "the load never handed the NIC direction to the helper");
    stop(a, b);
}

#[test]
fn per_direction_io_delivers_both_directions_exactly_once_in_order_under_load() {
    let _serial = serial();
    let (a, b) = pair(IoThreads::PerDirection);
    let names = thread_names_when(|n| count(n, "ferrowg-rx") == 2 && count(n, "ferrowg-tx") == 2);
    assert_eq!(count(&names, "ferrowg-rx"), 2, "{names:?}");
    assert_eq!(count(&names, "ferrowg-tx"), 2, "{names:?}");
    assert_eq!(count(&names, "ferrowg-io") + count(&names, "ferrowg-io-nic"), 0, "{names:?}");
    establish(&a, &b);
    let n = 10_000;
    let seen = load(&a, &b, n, |_| {});
    assert_exact(&seen, n, "per-direction");
    assert_eq!(handovers(&a, &b), 0);
    stop(a, b);
}

#[test]
fn shared_io_allocates_nothing_per_packet_in_steady_state() {
    let _serial = serial();
    let (a, b) = pair(IoThreads::Shared);
    establish(&a, &b);
    let n = 20_000;
    let (warm, measured) = (8_000, 20_000);
    let mut result = None;
    let seen = load(&a, &b, n, |delivered| {
        let deadline = Instant::now() + LOAD_DEADLINE;
        let wait = |k: u64| {
            while delivered.load(Ordering::Relaxed) < k && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            (common::alloc::allocations(), delivered.load(Ordering::Relaxed))
        };
        let (a0, d0) = wait(warm);
        let (a1, d1) = wait(d0 + measured);
        result = Some((a1 - a0, d1 - d0));
    });
    assert_exact(&seen, n, "shared");
    let (allocs, packets) = result.unwrap();
    let h = handovers(&a, &b);
    println!("shared: {allocs} allocations for {packets} packets ({h} hand-overs)");
    assert!(packets >= measured, "only {packets} packets measured");
    assert!(h > 0, "the load never handed the NIC direction to the helper");
    // Timer and event bookkeeping may allocate now and then, never per packet.
    assert!(allocs <= 16, "{allocs} allocations for {packets} packets");
    stop(a, b);
}

#[test]
fn shared_io_serves_a_single_packet_after_the_load_and_hands_over_again() {
    let _serial = serial();
    let (a, b) = pair(IoThreads::Shared);
    establish(&a, &b);
    let n = 5_000;
    let mut before = 0;
    for round in 0..2u32 {
        // Loads until the NIC direction moves to the helper (on a crowded machine a
        // load may never saturate the I/O thread for long enough).
        let mut h = before;
        for _ in 0..4 {
            assert_exact(&load(&a, &b, n, |_| {}), n, "shared");
            h = handovers(&a, &b);
            if h > before {
                break;
            }
        }
        println!("round {round}: {h} hand-overs");
        assert!(h > before, "round {round}: the load did not hand the NIC over ({h} in all)");
        before = h;
        // Idle: the helper gives the NIC direction back after 2 ms without datagrams.
        std::thread::sleep(Duration::from_millis(50));
        for (from, to) in [(&a, &b), (&b, &a)] {
            let tag = 2000 + round;
            assert!(
                probe(from, to, tag, Duration::from_secs(5)),
                "round {round}: a single packet {} → {} did not arrive",
                from.ip,
                to.ip
            );
        }
    }
    stop(a, b);
}

/// Runs `f` on a thread of its own; whether it returned within `within` (a call that
/// hangs is left behind, and the test fails instead of hanging).
fn returns_within(within: Duration, f: impl FnOnce() + Send + 'static) -> bool {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    rx.recv_timeout(within).is_ok()
}

#[test]
fn a_nic_whose_other_end_closed_reports_end_of_file() {
    use ferrowg_core::io::Tun;
    let _serial = serial();
    let (tun, app) = socketpair_tun();
    drop(app);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let mut sizes = [0usize; 1];
        let r = tun.recv_batch(&mut [&mut buf[..]], &mut sizes, Duration::from_millis(100));
        let _ = tx.send(r.map_err(|e| e.kind()));
    });
    let r = rx.recv_timeout(Duration::from_secs(10));
    assert_eq!(r, Ok(Err(io::ErrorKind::UnexpectedEof)), "the read must end, with an error");
}

#[test]
fn a_device_whose_nic_closed_still_stops() {
    let _serial = serial();
    for io in [IoThreads::Shared, IoThreads::PerDirection] {
        let (a, b) = pair(io);
        establish(&a, &b);
        let Side { device, app, .. } = a;
        drop(app);
        std::thread::sleep(Duration::from_millis(100));
        assert!(returns_within(Duration::from_secs(10), move || device.stop()), "{io:?}");
        b.device.stop();
    }
}

/// Records every `on_saturation` call: (thread name, role, saturated).
#[derive(Default)]
struct Saturations(Mutex<Vec<(String, ThreadRole, bool)>>);

impl ThreadHook for Saturations {
    fn on_thread_start(&self, _role: ThreadRole, _cpu: Option<LogicalCpu>) {}

    fn on_saturation(&self, role: ThreadRole, saturated: bool) {
        let name = std::thread::current().name().unwrap_or_default().to_owned();
        self.0.lock().unwrap().push((name, role, saturated));
    }
}

#[test]
fn the_thread_hook_hears_the_saturation_from_the_io_threads_start_and_end() {
    let _serial = serial();
    let hook = Arc::new(Saturations::default());
    let (a, b) = pair_with_hook(IoThreads::Shared, Some(hook.clone()));
    establish(&a, &b);
    let n = 10_000;
    assert_exact(&load(&a, &b, n, |_| {}), n, "shared");
    // Idle: both threads leave the saturated state (2 ms without datagrams ends the
    // hand-over, 200 ms later the saturation; the I/O thread notices within its 50 ms
    // poll). Bounded wait until every start has its end.
    let balanced = |events: &[(String, ThreadRole, bool)]| {
        let up = events.iter().filter(|e| e.2).count();
        up * 2 == events.len()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !balanced(&hook.0.lock().unwrap()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let h = handovers(&a, &b);
    let events = hook.0.lock().unwrap().clone();
    stop(a, b);
    assert!(h > 0, "the load never handed the NIC direction over");
    // Per thread: true, false, true, false, ... ending in false (idle now). The two
    // devices' threads share names, so order by thread id instead.
    let mut by_thread: std::collections::HashMap<String, Vec<bool>> = Default::default();
    let mut io_raised = 0u64;
    for (name, role, saturated) in &events {
        match (name.as_str(), role) {
            ("ferrowg-io", ThreadRole::Rx) | ("ferrowg-io-nic", ThreadRole::Tx) => {}
            other => panic!("on_saturation from {other:?}"),
        }
        if name == "ferrowg-io" && *saturated {
            io_raised += 1;
        }
        by_thread.entry(name.clone()).or_default().push(*saturated);
    }
    // The I/O thread reports saturation at a hand-over, once until it ends: at most once
    // per hand-over (hand-overs within 200 ms of each other are one saturation).
    assert!(io_raised >= 1 && io_raised <= h, "{io_raised} starts, {h} hand-overs: {events:?}");
    for (name, seq) in &by_thread {
        let raised = seq.iter().filter(|s| **s).count();
        assert_eq!(raised * 2, seq.len(), "{name}: as many ends as starts: {seq:?}");
    }
    assert!(by_thread.contains_key("ferrowg-io-nic"), "the helper never reported: {events:?}");
}

/// `PriorityHook::when_saturated` on the shared I/O thread: raised (SCHED_FIFO) while a
/// load keeps it handing the NIC over, normal again once idle. Needs the privilege (CI
/// runs as root; elsewhere without it there is nothing to check).
#[test]
fn when_saturated_raises_the_io_threads_during_a_load_and_lowers_them_after() {
    use ferrowg_platform::cpu::PriorityHook;
    let _serial = serial();
    if !common::sched::may_raise() {
        return;
    }
    let hook: Arc<dyn ThreadHook> = Arc::new(PriorityHook::when_saturated(2));
    let (a, b) = pair_with_hook(IoThreads::Shared, Some(hook));
    establish(&a, &b);
    let fifo = |name: &str| {
        let threads = common::sched::thread_policies();
        threads.iter().filter(|t| t.0 == name && t.1 == common::sched::SCHED_FIFO).count()
    };
    let n = 10_000;
    let mut seen_raised = 0;
    let seen = load(&a, &b, n, |delivered| {
        let deadline = Instant::now() + LOAD_DEADLINE;
        while delivered.load(Ordering::Relaxed) < 2 * u64::from(n) && Instant::now() < deadline {
            seen_raised = seen_raised.max(fifo("ferrowg-io") + fifo("ferrowg-io-nic"));
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    assert_exact(&seen, n, "shared");
    assert!(seen_raised > 0, "no I/O thread ran SCHED_FIFO during the load");
    let deadline = Instant::now() + Duration::from_secs(5);
    while fifo("ferrowg-io") + fifo("ferrowg-io-nic") > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = fifo("ferrowg-io") + fifo("ferrowg-io-nic");
    stop(a, b);
    assert_eq!(left, 0, "I/O threads still SCHED_FIFO 5 s after the load");
}
