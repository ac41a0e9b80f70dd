//! In-memory and loopback implementations of the I/O traits, for tests, the demo and the
//! FFI's host mode.
//!
//! - [`memory_tun`] makes a virtual NIC as a pair of bounded channels: the engine sees a
//!   [`MemoryTun`]; the host side ([`TunHost`]) injects packets "from applications" and
//!   receives the packets the engine delivers. Both directions apply backpressure
//!   instead of dropping: a full queue makes the writer wait (bounded by a timeout).
//! - [`StdUdpBind`] / [`StdUdpTransport`] are a portable [`Transport`] over
//!   `std::net::UdpSocket` (one syscall per datagram; `ferrowg-platform` has the
//!   recvmmsg/sendmmsg one). They ask for [`SOCKET_BUFFER`]-byte kernel buffers, so a
//!   burst is queued rather than dropped while the receiving engine catches up.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::io::{Bind, RecvMeta, Transmit, Transport, Tun};

/// How long the engine's write into a full [`MemoryTun`] waits for the host to drain it
/// before the rest of the batch is dropped (the engine counts them).
const TUN_WRITE_WAIT: Duration = Duration::from_millis(500);

/// Makes an in-memory virtual NIC with room for `capacity` packets in each direction.
pub fn memory_tun(mtu: usize, capacity: usize) -> (Arc<MemoryTun>, TunHost) {
    let shared = Arc::new(Channels {
        to_engine: Channel::new(capacity, mtu),
        to_host: Channel::new(capacity, mtu),
    });
    (Arc::new(MemoryTun { shared: shared.clone(), mtu }), TunHost { shared })
}

/// The engine's side of an in-memory NIC (implements [`Tun`]).
pub struct MemoryTun {
    shared: Arc<Channels>,
    mtu: usize,
}

/// The host's side of an in-memory NIC: what applications would write to and read from
/// the virtual interface.
#[derive(Clone)]
pub struct TunHost {
    shared: Arc<Channels>,
}

struct Channels {
    to_engine: Channel,
    to_host: Channel,
}

/// A bounded FIFO of packets with blocking push and pop. Packet buffers are recycled
/// through a free list, so steady traffic allocates nothing.
struct Channel {
    queue: Mutex<VecDeque<Vec<u8>>>,
    free: Mutex<Vec<Vec<u8>>>,
    capacity: usize,
    not_empty: Condvar,
    not_full: Condvar,
}

impl Channel {
    /// A channel whose free list starts with `capacity` buffers of `mtu` bytes, so even
    /// the first pass of a full queue allocates nothing.
    fn new(capacity: usize, mtu: usize) -> Self {
        let free = (0..capacity.max(1)).map(|_| Vec::with_capacity(mtu)).collect();
        Self {
            queue: Mutex::new(VecDeque::with_capacity(capacity.max(1))),
            free: Mutex::new(free),
            capacity: capacity.max(1),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
        }
    }

    /// Pushes packets in order, waiting up to `timeout` in total for room. Returns how
    /// many were pushed.
    fn push<P: AsRef<[u8]>>(&self, packets: &[P], timeout: Duration) -> usize {
        let mut q = self.queue.lock();
        let mut pushed = 0;
        let mut waited = false;
        while pushed < packets.len() {
            if q.len() >= self.capacity {
                if waited && q.len() >= self.capacity {
                    break;
                }
                self.not_empty.notify_all();
                let timed_out = self.not_full.wait_for(&mut q, timeout).timed_out();
                waited = timed_out;
                continue;
            }
            if let Some(p) = packets.get(pushed) {
                let mut buf = self.free.lock().pop().unwrap_or_default();
                buf.clear();
                buf.extend_from_slice(p.as_ref());
                q.push_back(buf);
            }
            pushed += 1;
        }
        drop(q);
        if pushed > 0 {
            self.not_empty.notify_all();
        }
        pushed
    }

    /// Pops up to `max` packets, waiting up to `timeout` for the first one.
    fn pop_with(&self, max: usize, timeout: Duration, mut f: impl FnMut(Vec<u8>)) -> usize {
        let mut q = self.queue.lock();
        if q.is_empty() && !timeout.is_zero() {
            let _ = self.not_empty.wait_for(&mut q, timeout);
        }
        let n = q.len().min(max);
        for p in q.drain(..n) {
            f(p);
        }
        drop(q);
        if n > 0 {
            self.not_full.notify_all();
        }
        n
    }

    fn len(&self) -> usize {
        self.queue.lock().len()
    }

    /// Keeps buffers for reuse (up to the channel's capacity).
    fn recycle(&self, bufs: impl Iterator<Item = Vec<u8>>) {
        let mut free = self.free.lock();
        for b in bufs {
            if free.len() >= self.capacity {
                break;
            }
            free.push(b);
        }
    }
}

impl Tun for MemoryTun {
    fn recv_batch(
        &self,
        bufs: &mut [&mut [u8]],
        sizes: &mut [usize],
        timeout: Duration,
    ) -> io::Result<usize> {
        let mut i = 0;
        let ch = &self.shared.to_engine;
        ch.pop_with(bufs.len().min(sizes.len()), timeout, |p| {
            if let (Some(buf), Some(size)) = (bufs.get_mut(i), sizes.get_mut(i)) {
                let n = p.len().min(buf.len());
                buf[..n].copy_from_slice(&p[..n]);
                *size = n;
                i += 1;
            }
            ch.recycle(std::iter::once(p));
        });
        Ok(i)
    }

    fn send_batch(&self, packets: &[&[u8]]) -> io::Result<usize> {
        Ok(self.shared.to_host.push(packets, TUN_WRITE_WAIT))
    }

    fn mtu(&self) -> usize {
        self.mtu
    }
}

impl TunHost {
    /// Injects packets as if applications sent them into the interface, in order.
    /// Waits up to `timeout` for room; returns how many were accepted.
    pub fn inject<P: AsRef<[u8]>>(&self, packets: &[P], timeout: Duration) -> usize {
        self.shared.to_engine.push(packets, timeout)
    }

    /// Receives up to `max` packets the engine delivered, waiting up to `timeout` for the
    /// first. Appends them to `out`; returns how many.
    pub fn recv(&self, out: &mut Vec<Vec<u8>>, max: usize, timeout: Duration) -> usize {
        self.shared.to_host.pop_with(max, timeout, |p| out.push(p))
    }

    /// Hands received packet buffers back for reuse (optional; saves an allocation per
    /// packet). Empties `bufs`.
    pub fn recycle(&self, bufs: &mut Vec<Vec<u8>>) {
        self.shared.to_host.recycle(bufs.drain(..));
    }

    /// Packets injected but not yet read by the engine.
    pub fn pending_to_engine(&self) -> usize {
        self.shared.to_engine.len()
    }

    /// Packets delivered by the engine but not yet received by the host.
    pub fn pending_to_host(&self) -> usize {
        self.shared.to_host.len()
    }
}

/// Opens [`StdUdpTransport`]s on one local address (e.g. 127.0.0.1).
#[derive(Debug, Clone, Copy)]
pub struct StdUdpBind {
    addr: IpAddr,
}

impl StdUdpBind {
    /// Binds transports to `addr` (use a loopback address in tests).
    pub fn new(addr: IpAddr) -> Self {
        Self { addr }
    }
}

impl Bind for StdUdpBind {
    fn bind(&self, port: u16) -> io::Result<Arc<dyn Transport>> {
        Ok(Arc::new(StdUdpTransport::bind(SocketAddr::new(self.addr, port))?))
    }
}

/// A [`Transport`] over one `std::net::UdpSocket`.
pub struct StdUdpTransport {
    socket: UdpSocket,
    port: u16,
    v6: bool,
    /// The read timeout currently set on the socket (saves a syscall per batch).
    timeout: Mutex<Option<Duration>>,
}

/// Receive and send buffer size [`StdUdpTransport`] asks the kernel for. Linux caps it
/// at `net.core.rmem_max` / `wmem_max` (and reports twice the granted value).
pub const SOCKET_BUFFER: usize = 4 << 20;

/// How many times a send that would block is retried (with a yield) before the datagram
/// is given up; the receive thread briefly switches the shared socket to non-blocking.
const SEND_RETRIES: usize = 10_000;

impl StdUdpTransport {
    /// Binds a socket to `addr` and asks for [`SOCKET_BUFFER`]-byte kernel buffers (best
    /// effort: a smaller grant is not an error; see [`Self::buffer_sizes`]).
    #[allow(clippy::disallowed_methods)] // the std transport: to move to platform (issue 12)
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let socket = if addr.is_ipv6() {
            let s = socket2::Socket::new(
                socket2::Domain::IPV6,
                socket2::Type::DGRAM,
                Some(socket2::Protocol::UDP),
            )?;
            // Windows turns IPV6_V6ONLY on by default (Linux off): ask for dual-stack.
            let _ = s.set_only_v6(false);
            s.bind(&addr.into())?;
            UdpSocket::from(s)
        } else {
            UdpSocket::bind(addr)?
        };
        let sock = socket2::SockRef::from(&socket);
        let _ = sock.set_recv_buffer_size(SOCKET_BUFFER);
        let _ = sock.set_send_buffer_size(SOCKET_BUFFER);
        let local = socket.local_addr()?;
        Ok(Self { socket, port: local.port(), v6: local.is_ipv6(), timeout: Mutex::new(None) })
    }

    /// The kernel's effective (receive, send) buffer sizes in bytes, as `SO_RCVBUF` /
    /// `SO_SNDBUF` report them.
    pub fn buffer_sizes(&self) -> io::Result<(usize, usize)> {
        let sock = socket2::SockRef::from(&self.socket);
        Ok((sock.recv_buffer_size()?, sock.send_buffer_size()?))
    }

    /// An IPv6 socket (dual-stack when bound to `::`) reaches IPv4 peers through
    /// IPv4-mapped addresses.
    fn map(&self, dst: SocketAddr) -> SocketAddr {
        match (self.v6, dst) {
            (true, SocketAddr::V4(v4)) => {
                SocketAddr::new(IpAddr::V6(v4.ip().to_ipv6_mapped()), v4.port())
            }
            _ => dst,
        }
    }

    fn set_timeout(&self, timeout: Duration) -> io::Result<()> {
        let t = Some(timeout.max(Duration::from_micros(100)));
        let mut cur = self.timeout.lock();
        if *cur != t {
            self.socket.set_read_timeout(t)?;
            *cur = t;
        }
        Ok(())
    }
}

fn unmap(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), v6.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}

/// Receive errors that stand for one dropped datagram rather than a broken socket:
/// ICMP reports of earlier sends (`ConnectionReset`; Windows `WSAENETRESET`) and, on
/// Windows, a datagram larger than the buffer (`WSAEMSGSIZE`).
fn per_datagram_error(e: &io::Error) -> bool {
    const WSAEMSGSIZE: i32 = 10040;
    const WSAENETRESET: i32 = 10052;
    e.kind() == io::ErrorKind::ConnectionReset
        || (cfg!(windows) && matches!(e.raw_os_error(), Some(WSAEMSGSIZE | WSAENETRESET)))
}

impl Transport for StdUdpTransport {
    fn recv_batch(
        &self,
        bufs: &mut [&mut [u8]],
        meta: &mut [RecvMeta],
        timeout: Duration,
    ) -> io::Result<usize> {
        let max = bufs.len().min(meta.len());
        let (Some(first), Some(first_meta)) = (bufs.first_mut(), meta.first_mut()) else {
            return Ok(0);
        };
        self.set_timeout(timeout)?;
        match self.socket.recv_from(first) {
            Ok((len, src)) => *first_meta = RecvMeta { len, src: unmap(src), rx_time: None },
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                return Ok(0)
            }
            // One datagram or ICMP report consumed (Windows reports them as errors): not
            // a failing socket, so no error for the engine to report and pause on.
            Err(e) if per_datagram_error(&e) => return Ok(0),
            Err(e) => return Err(e),
        }
        let mut n = 1;
        if max > 1 {
            self.socket.set_nonblocking(true)?;
            while n < max {
                let (Some(buf), Some(m)) = (bufs.get_mut(n), meta.get_mut(n)) else { break };
                match self.socket.recv_from(buf) {
                    Ok((len, src)) => *m = RecvMeta { len, src: unmap(src), rx_time: None },
                    Err(_) => break,
                }
                n += 1;
            }
            self.socket.set_nonblocking(false)?;
        }
        Ok(n)
    }

    fn send_batch(&self, datagrams: &[Transmit<'_>]) -> io::Result<usize> {
        let mut sent = 0;
        for d in datagrams {
            let mut tries = 0;
            loop {
                match self.socket.send_to(d.data, self.map(d.dst)) {
                    Ok(_) => sent += 1,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && tries < SEND_RETRIES => {
                        tries += 1;
                        std::thread::yield_now();
                        continue;
                    }
                    // One unreachable destination must not stop the rest of the batch.
                    Err(_) => {}
                }
                break;
            }
        }
        Ok(sent)
    }

    fn local_port(&self) -> u16 {
        self.port
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    #[test]
    fn dual_stack_socket_reaches_ipv4_and_reports_it_unmapped() {
        let v6 = StdUdpTransport::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))).unwrap();
        let v4 = StdUdpTransport::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
        let to_v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, v4.local_port()));
        assert_eq!(v6.send_batch(&[Transmit { dst: to_v4, data: b"ping" }]).unwrap(), 1);
        let mut buf = [0u8; 16];
        let mut meta = [RecvMeta::default(); 1];
        let n = v4.recv_batch(&mut [&mut buf[..]], &mut meta, Duration::from_secs(5)).unwrap();
        assert_eq!(n, 1);
        assert_eq!(&buf[..meta[0].len], b"ping");
        let from = meta[0].src;
        assert_eq!(from.port(), v6.local_port());
        // Answer through the v6 socket's reply path: it arrives with a plain IPv4 source.
        assert_eq!(v4.send_batch(&[Transmit { dst: from, data: b"pong" }]).unwrap(), 1);
        let n = v6.recv_batch(&mut [&mut buf[..]], &mut meta, Duration::from_secs(5)).unwrap();
        assert_eq!(n, 1);
        assert_eq!(meta[0].src, SocketAddr::from((Ipv4Addr::LOCALHOST, v4.local_port())));
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // a real socket to compare with
    fn std_transport_asks_for_larger_buffers() {
        let plain = UdpSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
        let plain = socket2::SockRef::from(&plain);
        let default_rcv = plain.recv_buffer_size().unwrap();
        let t = StdUdpTransport::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).unwrap();
        let (rcv, snd) = t.buffer_sizes().unwrap();
        assert!(rcv >= default_rcv && snd > 0, "{rcv}/{snd}, default receive {default_rcv}");
        // Linux grants min(request, rmem_max) (reported doubled); where the cap is
        // readable, the request must have been made.
        if let Ok(max) = std::fs::read_to_string("/proc/sys/net/core/rmem_max") {
            let max: usize = max.trim().parse().unwrap();
            assert!(rcv >= SOCKET_BUFFER.min(max), "{rcv} < min({SOCKET_BUFFER}, {max})");
        }
    }

    #[test]
    fn memory_tun_is_fifo_and_batched() {
        let (tun, host) = memory_tun(1420, 4);
        let pkts: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 10 + usize::from(i)]).collect();
        // Capacity 4: the first four go in at once, the rest time out.
        assert_eq!(host.inject(&pkts, Duration::from_millis(20)), 4);
        let mut a = [0u8; 64];
        let mut b = [0u8; 64];
        let mut c = [0u8; 64];
        let mut sizes = [0usize; 3];
        let n = tun.recv_batch(&mut [&mut a, &mut b, &mut c], &mut sizes, Duration::ZERO).unwrap();
        assert_eq!((n, sizes), (3, [10, 11, 12]));
        assert_eq!(a[..10], [0u8; 10]);
        assert_eq!(c[..12], [2u8; 12]);
        assert_eq!(tun.send_batch(&[&a[..10], &b[..11]]).unwrap(), 2);
        let mut out = Vec::new();
        assert_eq!(host.recv(&mut out, 8, Duration::ZERO), 2);
        assert_eq!(out[1], vec![1u8; 11]);
        assert_eq!(host.pending_to_engine(), 1);
    }
}
