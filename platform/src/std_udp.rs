//! A portable UDP [`Transport`] over one `std::net::UdpSocket` (one syscall per datagram;
//! [`crate::udp`] has the batched two-socket one). [`StdUdpBind`] opens them on one local
//! address, for tests, the demo and the FFI's host mode. They ask for
//! [`SOCKET_BUFFER`]-byte kernel buffers, so a burst is queued rather than dropped while
//! the receiving engine catches up.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ferrowg_core::io::{Bind, RecvMeta, Transmit, Transport};

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
        let mut cur = self.timeout.lock().unwrap_or_else(PoisonError::into_inner);
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
}
