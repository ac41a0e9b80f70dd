//! `ferrowg demo`: two engines in one process, in-memory NICs, real UDP on 127.0.0.1.
//!
//! A handshake, then a one-way bulk transfer A → B with a live progress line, then a
//! ping-pong RTT measurement, then a summary. No root, nothing beyond loopback, and it
//! ends by itself (about 10 s).
//!
//! The transfer is flow-controlled like a real sender would be: at most a window of
//! packets (sized to B's socket receive buffer, see [`window_for`]) beyond the highest sequence number B's host has received are in flight, so A
//! cannot outrun B and overflow B's loopback socket buffer. The window follows the
//! highest sequence seen, not the count received, so a lost packet does not shrink it for
//! good; and if it has not moved for [`STALL`], the sender goes on anyway (counted, with
//! a backoff while there is still no progress).

use std::io::{IsTerminal, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use ferrowg_core::config::{AllowedIp, DeviceConfig, Endpoint, PeerConfig};
use ferrowg_core::device::memory::{memory_tun, TunHost};
use ferrowg_core::device::{Device, DeviceEvent, DeviceObserver, DeviceOptions};
use ferrowg_core::io::SystemClock;
use ferrowg_core::keys::{PresharedKey, PrivateKey};
use ferrowg_platform::std_udp::{StdUdpBind, StdUdpTransport};

use crate::packet::{ipv4_udp, os_random32, seq, set_seq};

/// Inner packet size for the bulk phase (the tunnel MTU).
const MTU: usize = 1420;
/// How long the bulk transfer runs.
const BULK: Duration = Duration::from_secs(6);
/// Ping-pong round trips measured after the transfer.
const PINGS: usize = 200;
/// Packets per injected batch.
const BATCH: usize = 64;
/// Most packets in flight (sent beyond the highest sequence number B's host received),
/// whatever the socket buffer.
const MAX_WINDOW: u64 = 2048;
/// Kernel receive-buffer bytes budgeted per in-flight datagram: a 1452-byte datagram
/// costs more than its size (socket buffer accounting counts the whole kernel buffer),
/// so this leaves headroom.
const RCVBUF_PER_PACKET: usize = 4096;
/// How long the sender waits for a full window to move before sending anyway.
const STALL: Duration = Duration::from_millis(2);
/// Tunnel addresses of the two ends (the project's tunnel test range).
const ADDR_A: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
const ADDR_B: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);

/// Records when the first handshake completed.
struct HandshakeWatch {
    done: Mutex<Option<Instant>>,
}

impl DeviceObserver for HandshakeWatch {
    fn on_event(&self, event: &DeviceEvent) {
        if let DeviceEvent::HandshakeComplete { .. } = event {
            let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
            done.get_or_insert_with(Instant::now);
        }
    }
}

/// What the demo measured.
struct Summary {
    handshake: Duration,
    bulk_elapsed: Duration,
    sent: u64,
    received: u64,
    received_bytes: u64,
    out_of_order: u64,
    /// Times the window had not moved for [`STALL`] and the sender went on anyway.
    window_stalls: u64,
    /// Effective (receive, send) kernel buffer sizes of a loopback [`StdUdpTransport`].
    socket_buffers: Option<(usize, usize)>,
    /// The flow-control window used, in packets.
    window: u64,
    /// Growth of the kernel's UDP receive-buffer drop counter during the transfer
    /// (Linux; host-wide, so other programs' drops count too).
    udp_rcvbuf_drops: Option<u64>,
    rtts: Vec<Duration>,
    drops_a: Vec<(String, u64)>,
    drops_b: Vec<(String, u64)>,
}

/// Runs the demo; prints progress and the summary on stdout.
pub fn run() -> Result<(), String> {
    println!("ferrowg demo: two engines in this process, in-memory NICs, UDP over 127.0.0.1");
    let key_a = PrivateKey::from_bytes(os_random32());
    let key_b = PrivateKey::from_bytes(os_random32());
    let psk = PresharedKey::from_bytes(os_random32());
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let opts = |seed| DeviceOptions { rng_seed: Some(seed), ..DeviceOptions::default() };

    let mut peer_a = PeerConfig::new(key_a.public_key());
    peer_a.preshared_key = Some(psk.clone());
    peer_a.allowed_ips = vec![allowed(ADDR_A)?];
    let cfg_b = DeviceConfig {
        private_key: Some(key_b.clone()),
        listen_port: None,
        fwmark: None,
        peers: vec![peer_a],
    };
    let (tun_b, host_b) = memory_tun(MTU, 4096);
    let dev_b = Device::start(
        cfg_b,
        tun_b,
        Arc::new(StdUdpBind::new(loopback)),
        Arc::new(SystemClock),
        opts(os_random32()),
    )
    .map_err(|e| format!("engine B: {e}"))?;

    let mut peer_b = PeerConfig::new(key_b.public_key());
    peer_b.preshared_key = Some(psk);
    peer_b.allowed_ips = vec![allowed(ADDR_B)?];
    peer_b.endpoint = Some(Endpoint::Addr(SocketAddr::new(loopback, dev_b.listen_port())));
    let cfg_a = DeviceConfig {
        private_key: Some(key_a),
        listen_port: None,
        fwmark: None,
        peers: vec![peer_b],
    };
    let (tun_a, host_a) = memory_tun(MTU, 4096);
    let dev_a = Device::start(
        cfg_a,
        tun_a,
        Arc::new(StdUdpBind::new(loopback)),
        Arc::new(SystemClock),
        opts(os_random32()),
    )
    .map_err(|e| format!("engine A: {e}"))?;
    let watch = Arc::new(HandshakeWatch { done: Mutex::new(None) });
    dev_a.set_observer(Some(watch.clone()));
    println!(
        "  A 198.19.0.1 on udp 127.0.0.1:{}  <->  B 198.19.0.2 on udp 127.0.0.1:{}  (PSK on)",
        dev_a.listen_port(),
        dev_b.listen_port()
    );

    let handshake = handshake(&host_a, &host_b, &watch)?;
    println!("  handshake complete in {:.2} ms", ms(handshake));
    // The engines' transports are bound the same way; a probe shows what the kernel granted.
    let socket_buffers =
        StdUdpTransport::bind(SocketAddr::new(loopback, 0)).and_then(|t| t.buffer_sizes()).ok();
    let window = window_for(socket_buffers.map(|(rcv, _)| rcv));
    let mut summary = bulk(&host_a, &host_b, window)?;
    summary.handshake = handshake;
    summary.socket_buffers = socket_buffers;
    summary.rtts = ping_pong(&host_a, &host_b);
    summary.drops_a = drops(&dev_a);
    summary.drops_b = drops(&dev_b);
    dev_a.set_observer(None);
    dev_a.stop();
    dev_b.stop();
    print_summary(&summary);
    Ok(())
}

fn allowed(addr: Ipv4Addr) -> Result<AllowedIp, String> {
    AllowedIp::new(IpAddr::V4(addr), 32).map_err(|e| e.to_string())
}

fn drops(dev: &Device) -> Vec<(String, u64)> {
    dev.stats().drops.nonzero().map(|(r, n)| (r.name().to_owned(), n)).collect()
}

/// Sends one packet A → B (it starts the handshake) and waits for it to arrive.
fn handshake(a: &TunHost, b: &TunHost, watch: &HandshakeWatch) -> Result<Duration, String> {
    let start = Instant::now();
    let first = ipv4_udp(ADDR_A, ADDR_B, 100, 0);
    if a.inject(&[first], Duration::from_secs(1)) != 1 {
        return Err("could not inject the first packet".into());
    }
    let mut got = Vec::new();
    while got.is_empty() && start.elapsed() < Duration::from_secs(10) {
        b.recv(&mut got, 16, Duration::from_millis(100));
    }
    if got.is_empty() {
        return Err("no handshake within 10 s".into());
    }
    let done = watch.done.lock().unwrap_or_else(|e| e.into_inner()).unwrap_or_else(Instant::now);
    Ok(done.saturating_duration_since(start))
}

/// One-way transfer A → B for [`BULK`], with a progress line.
fn bulk(a: &TunHost, b: &TunHost, window: u64) -> Result<Summary, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let received = Arc::new(AtomicU64::new(0));
    let received_bytes = Arc::new(AtomicU64::new(0));
    let out_of_order = Arc::new(AtomicU64::new(0));
    let window_stalls = Arc::new(AtomicU64::new(0));
    let flow = Arc::new(Flow { highest: AtomicU64::new(0), waiting: AtomicBool::new(false) });
    let rcvbuf_before = udp_rcvbuf_errors();
    let start = Instant::now();
    let sender = {
        let (a, stop, sent, flow, stalls) =
            (a.clone(), stop.clone(), sent.clone(), flow.clone(), window_stalls.clone());
        thread::spawn(move || {
            let mut batch: Vec<Vec<u8>> =
                (0..BATCH).map(|_| ipv4_udp(ADDR_A, ADDR_B, MTU, 0)).collect();
            let mut next = 1u64;
            let mut window = Window::new(window);
            while !stop.load(Ordering::Relaxed) {
                if window.wait(&flow, next - 1, &stop) {
                    stalls.fetch_add(1, Ordering::Relaxed);
                }
                for p in batch.iter_mut() {
                    set_seq(p, next);
                    next += 1;
                }
                let n = a.inject(&batch, Duration::from_millis(50)) as u64;
                // Packets not accepted are not sent: rewind so sequence numbers stay dense.
                next -= BATCH as u64 - n;
                sent.fetch_add(n, Ordering::Relaxed);
            }
        })
    };
    let sender_thread = sender.thread().clone();
    let receiver = {
        let (b, stop, received, received_bytes, out_of_order, flow) = (
            b.clone(),
            stop.clone(),
            received.clone(),
            received_bytes.clone(),
            out_of_order.clone(),
            flow.clone(),
        );
        thread::spawn(move || {
            let mut got = Vec::with_capacity(256);
            let mut last = 0u64;
            let mut idle_since: Option<Instant> = None;
            loop {
                b.recycle(&mut got);
                let n = b.recv(&mut got, 256, Duration::from_millis(50));
                if n == 0 {
                    // After the sender stops, wait up to 500 ms for stragglers.
                    if stop.load(Ordering::Relaxed) {
                        let since = *idle_since.get_or_insert_with(Instant::now);
                        if since.elapsed() > Duration::from_millis(500) {
                            break;
                        }
                    }
                    continue;
                }
                idle_since = None;
                for p in &got {
                    let s = seq(p).unwrap_or(0);
                    if s <= last {
                        out_of_order.fetch_add(1, Ordering::Relaxed);
                    }
                    last = last.max(s);
                    received_bytes.fetch_add(p.len() as u64, Ordering::Relaxed);
                }
                received.fetch_add(n as u64, Ordering::Relaxed);
                flow.advance(last, &sender_thread);
            }
        })
    };

    let tty = std::io::stdout().is_terminal();
    let tick = if tty { Duration::from_millis(250) } else { Duration::from_secs(1) };
    let mut last_bytes = 0u64;
    let mut last_t = start;
    while start.elapsed() < BULK {
        thread::sleep(tick);
        let now = Instant::now();
        let bytes = received_bytes.load(Ordering::Relaxed);
        let rate = gbps(bytes - last_bytes, now - last_t);
        (last_bytes, last_t) = (bytes, now);
        let line = format!(
            "  {:4.1} s  {:6.3} Gbit/s  sent {:>9}  received {:>9}",
            start.elapsed().as_secs_f64(),
            rate,
            sent.load(Ordering::Relaxed),
            received.load(Ordering::Relaxed)
        );
        if tty {
            print!("\r{line}");
            let _ = std::io::stdout().flush();
        } else {
            println!("{line}");
        }
    }
    stop.store(true, Ordering::Relaxed);
    let bulk_elapsed = start.elapsed();
    sender.join().map_err(|_| "sender thread panicked")?;
    receiver.join().map_err(|_| "receiver thread panicked")?;
    if tty {
        println!();
    }
    Ok(Summary {
        handshake: Duration::ZERO,
        bulk_elapsed,
        udp_rcvbuf_drops: rcvbuf_before
            .zip(udp_rcvbuf_errors())
            .map(|(before, after)| after.saturating_sub(before)),
        sent: sent.load(Ordering::Relaxed),
        received: received.load(Ordering::Relaxed),
        received_bytes: received_bytes.load(Ordering::Relaxed),
        out_of_order: out_of_order.load(Ordering::Relaxed),
        window_stalls: window_stalls.load(Ordering::Relaxed),
        socket_buffers: None,
        window,
        rtts: Vec::new(),
        drops_a: Vec::new(),
        drops_b: Vec::new(),
    })
}

/// The window for a receive buffer of `rcvbuf` bytes: as many packets as fit with
/// [`RCVBUF_PER_PACKET`] each, between two batches and [`MAX_WINDOW`]. An unknown buffer
/// gets the Linux default's share.
fn window_for(rcvbuf: Option<usize>) -> u64 {
    let packets = rcvbuf.unwrap_or(208 << 10) / RCVBUF_PER_PACKET;
    (packets as u64).clamp(2 * BATCH as u64, MAX_WINDOW)
}

/// What the receiver tells the sender: the highest sequence number B's host received.
struct Flow {
    highest: AtomicU64,
    /// The sender is parked waiting for `highest` to move.
    waiting: AtomicBool,
}

impl Flow {
    /// Publishes a new highest sequence number and wakes a waiting sender.
    fn advance(&self, highest: u64, sender: &Thread) {
        self.highest.store(highest, Ordering::SeqCst);
        if self.waiting.swap(false, Ordering::SeqCst) {
            sender.unpark();
        }
    }
}

/// The sender's side of the window.
struct Window {
    /// Most packets in flight.
    size: u64,
    /// Sequence numbers at or below this are written off after a stall (presumed lost).
    floor: u64,
    /// The highest sequence number B's host had received when last looked at, and since
    /// when it has not moved.
    seen: u64,
    since: Instant,
    /// Stalls in a row without progress: each doubles the next wait (up to 32x), so a
    /// receiver that is merely descheduled for long is not flooded one batch per 2 ms.
    backoff: u32,
}

impl Window {
    fn new(size: u64) -> Self {
        Self { size, floor: 0, seen: 0, since: Instant::now(), backoff: 0 }
    }

    /// Waits until one more batch fits after `last_sent`. Returns true if it gave up
    /// waiting after [`STALL`] (times the backoff) without progress; then it writes off
    /// just enough in-flight packets for one batch: if the tail of the window was lost,
    /// that batch moves the highest sequence number and the window is open again.
    fn wait(&mut self, flow: &Flow, last_sent: u64, stop: &AtomicBool) -> bool {
        loop {
            let highest = flow.highest.load(Ordering::SeqCst);
            if highest != self.seen {
                (self.seen, self.since, self.backoff) = (highest, Instant::now(), 0);
            }
            let base = highest.max(self.floor);
            if last_sent.saturating_sub(base) + BATCH as u64 <= self.size
                || stop.load(Ordering::Relaxed)
            {
                return false;
            }
            let limit = STALL * (1 << self.backoff.min(5));
            let waited = self.since.elapsed();
            if waited >= limit {
                self.floor = (last_sent + BATCH as u64).saturating_sub(self.size);
                (self.since, self.backoff) = (Instant::now(), self.backoff + 1);
                return true;
            }
            flow.waiting.store(true, Ordering::SeqCst);
            // Re-check after announcing the wait, so a concurrent advance is not missed
            // (an unpark before the park also makes the park return at once).
            if flow.highest.load(Ordering::SeqCst) == highest {
                thread::park_timeout(limit - waited);
            }
            flow.waiting.store(false, Ordering::SeqCst);
        }
    }
}

/// [`PINGS`] round trips A → B → A (B's host echoes each packet), at most 3 s in total.
fn ping_pong(a: &TunHost, b: &TunHost) -> Vec<Duration> {
    let stop = Arc::new(AtomicBool::new(false));
    let echo = {
        let (b, stop) = (b.clone(), stop.clone());
        thread::spawn(move || {
            let mut got = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                got.clear();
                b.recv(&mut got, 16, Duration::from_millis(20));
                for p in &got {
                    let reply = ipv4_udp(ADDR_B, ADDR_A, p.len(), seq(p).unwrap_or(0));
                    b.inject(&[reply], Duration::from_millis(100));
                }
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut rtts = Vec::with_capacity(PINGS);
    let mut got = Vec::new();
    for i in 0..PINGS as u64 {
        if Instant::now() > deadline {
            break;
        }
        let t0 = Instant::now();
        a.inject(&[ipv4_udp(ADDR_A, ADDR_B, 84, 1_000_000 + i)], Duration::from_millis(100));
        'wait: while Instant::now() < deadline {
            got.clear();
            a.recv(&mut got, 16, Duration::from_millis(20));
            if got.iter().any(|p| seq(p) == Some(1_000_000 + i)) {
                rtts.push(t0.elapsed());
                break 'wait;
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = echo.join();
    rtts
}

fn print_summary(s: &Summary) {
    let lost = s.sent.saturating_sub(s.received);
    println!("summary");
    println!("  handshake      {:.2} ms (first packet to session established)", ms(s.handshake));
    println!(
        "  throughput     {:.3} Gbit/s inner IP ({:.0} packets/s of {} bytes) over {:.1} s",
        gbps(s.received_bytes, s.bulk_elapsed),
        s.received as f64 / s.bulk_elapsed.as_secs_f64(),
        MTU,
        s.bulk_elapsed.as_secs_f64()
    );
    let pct = if s.sent == 0 { 0.0 } else { lost as f64 * 100.0 / s.sent as f64 };
    println!(
        "  packets        sent {}  received {}  lost {} ({:.3} %)  out of order {}",
        s.sent, s.received, lost, pct, s.out_of_order
    );
    println!(
        "  flow control   window {} packets; sent on after >= {} ms without progress {} times",
        s.window,
        STALL.as_millis(),
        s.window_stalls
    );
    match s.udp_rcvbuf_drops {
        Some(d) => println!(
            "  kernel drops   {d} UDP receive-buffer drops during the transfer (host-wide)"
        ),
        None => println!("  kernel drops   not readable on this system"),
    }
    if let Some((rcv, snd)) = s.socket_buffers {
        println!("  socket buffers receive {} KiB  send {} KiB (effective)", rcv >> 10, snd >> 10);
    }
    let mut rtts = s.rtts.clone();
    rtts.sort();
    if let (Some(min), Some(max)) = (rtts.first(), rtts.last()) {
        let median = rtts[rtts.len() / 2];
        let p99 = rtts[(rtts.len() * 99 / 100).min(rtts.len() - 1)];
        println!(
            "  RTT            min {:.3} ms  median {:.3} ms  p99 {:.3} ms  max {:.3} ms ({} pings)",
            ms(*min),
            ms(median),
            ms(p99),
            ms(*max),
            rtts.len()
        );
    } else {
        println!("  RTT            no reply");
    }
    let fmt = |d: &[(String, u64)]| {
        if d.is_empty() {
            "none".to_owned()
        } else {
            d.iter().map(|(r, n)| format!("{r}={n}")).collect::<Vec<_>>().join(" ")
        }
    };
    println!("  engine drops   A: {}  B: {}", fmt(&s.drops_a), fmt(&s.drops_b));
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn gbps(bytes: u64, d: Duration) -> f64 {
    if d.is_zero() {
        return 0.0;
    }
    bytes as f64 * 8.0 / d.as_secs_f64() / 1e9
}

/// The host's UDP `RcvbufErrors` counter (Linux `/proc/net/snmp`), if readable.
fn udp_rcvbuf_errors() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp: "));
    let (names, values) = (udp.next()?, udp.next()?);
    let col = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(col)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_follows_the_receive_buffer_within_bounds() {
        assert_eq!(window_for(Some(8 << 20)), MAX_WINDOW);
        assert_eq!(window_for(Some(1 << 20)), (1 << 20) as u64 / RCVBUF_PER_PACKET as u64);
        assert_eq!(window_for(Some(0)), 2 * BATCH as u64);
        assert_eq!(window_for(None), 2 * BATCH as u64);
    }

    #[test]
    fn window_opens_on_progress_and_forces_a_batch_with_backoff_after_stalls() {
        let flow = Flow { highest: AtomicU64::new(0), waiting: AtomicBool::new(false) };
        let stop = AtomicBool::new(false);
        let mut w = Window::new(256);
        // Room for a batch: no wait.
        assert!(!w.wait(&flow, 192, &stop));
        // Full and nothing received: gives up after a stall, writing off one batch.
        assert!(w.wait(&flow, 256, &stop));
        assert_eq!((w.floor, w.backoff), (64, 1));
        // Still no progress: gives up again (after a longer wait), one more batch.
        assert!(w.wait(&flow, 320, &stop));
        assert_eq!((w.floor, w.backoff), (128, 2));
        // The forced batch arrived: the window is open again and the backoff resets.
        flow.highest.store(384, Ordering::SeqCst);
        assert!(!w.wait(&flow, 384, &stop));
        assert_eq!(w.backoff, 0);
        // A lost packet below the highest does not matter: only the highest counts.
        flow.highest.store(500, Ordering::SeqCst);
        assert!(!w.wait(&flow, 692, &stop));
        assert!(!flow.waiting.load(Ordering::SeqCst));
    }
}
