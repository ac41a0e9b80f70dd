//! The engine's only view of the operating system: the virtual NIC, the UDP transport
//! and the clock.
//!
//! `ferrowg-platform` implements [`Tun`] and [`Transport`] per OS (wintun, utun,
//! /dev/net/tun, an adopted fd, UDP sockets with recvmmsg/sendmmsg); the FFI implements
//! [`Tun`] for host packet I/O; tests implement both over in-memory channels.
//! Interfaces are batched from the start: one call moves up to N packets, because
//! batching is where userspace tunnels win or lose.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

/// A virtual network interface carrying whole IP packets (no link-layer header, no
/// packet-information prefix: implementations strip and add those themselves).
pub trait Tun: Send + Sync + 'static {
    /// Reads up to `bufs.len()` packets. Waits at most `timeout` for the first one and
    /// does not wait for more after that. On return `sizes[i]` is the length of the
    /// packet in `bufs[i]`. Returns the number of packets read; `Ok(0)` means the
    /// timeout passed with nothing to read. `sizes.len() >= bufs.len()`.
    fn recv_batch(
        &self,
        bufs: &mut [&mut [u8]],
        sizes: &mut [usize],
        timeout: Duration,
    ) -> io::Result<usize>;

    /// Writes the packets to the OS, in order. Returns how many were written.
    fn send_batch(&self, packets: &[&[u8]]) -> io::Result<usize>;

    /// The interface MTU (largest inner IP packet).
    fn mtu(&self) -> usize;

    /// A Unix file descriptor that polls readable whenever [`Tun::recv_batch`] has a
    /// packet to return, so that one engine thread can wait on the NIC and the transport
    /// together ([`Transport::wait_with`], `DeviceOptions::io_threads`). `None` (the
    /// default): the engine waits on each in a thread of its own.
    fn wait_fd(&self) -> Option<i32> {
        None
    }
}

/// Where a received datagram came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvMeta {
    /// Length of the datagram in its buffer.
    pub len: usize,
    /// The sender's address (IPv4 addresses are never given as IPv4-mapped IPv6).
    pub src: SocketAddr,
    /// When the kernel received it (wall clock, from a receive timestamp), where the
    /// transport can tell: the engine measures how long it waited in the socket buffer.
    pub rx_time: Option<SystemTime>,
}

impl Default for RecvMeta {
    fn default() -> Self {
        Self { len: 0, src: SocketAddr::from(([0, 0, 0, 0], 0)), rx_time: None }
    }
}

/// One datagram to send.
#[derive(Debug, Clone, Copy)]
pub struct Transmit<'a> {
    /// Destination address.
    pub dst: SocketAddr,
    /// The whole UDP payload.
    pub data: &'a [u8],
}

/// The UDP side: sends and receives WireGuard datagrams (IPv4 and IPv6).
pub trait Transport: Send + Sync + 'static {
    /// Receives up to `bufs.len()` datagrams, waiting at most `timeout` for the first.
    /// Fills `meta[i]` for each. Returns how many; `Ok(0)` on timeout.
    fn recv_batch(
        &self,
        bufs: &mut [&mut [u8]],
        meta: &mut [RecvMeta],
        timeout: Duration,
    ) -> io::Result<usize>;

    /// Sends the datagrams, in order. Returns how many were sent.
    fn send_batch(&self, datagrams: &[Transmit<'_>]) -> io::Result<usize>;

    /// The local UDP port (the configured listen port, or the one the OS picked).
    fn local_port(&self) -> u16;

    /// Sets (`Some`) or clears (`None`) WireGuard's `fwmark` on every socket this
    /// transport owns, including any it reopens by itself (Linux `SO_MARK`). The engine
    /// calls it on every transport before using it and whenever the configured mark
    /// changes. A transport that cannot mark its packets must refuse a mark rather than
    /// ignore it (policy routing would then send the tunnel's own packets into the
    /// tunnel); clearing always succeeds. The default refuses every mark.
    fn set_fwmark(&self, mark: Option<u32>) -> io::Result<()> {
        match mark {
            None => Ok(()),
            Some(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "this UDP transport cannot set a firewall mark (fwmark)",
            )),
        }
    }

    /// Asks for (`true`) or stops (`false`) kernel receive timestamps
    /// ([`RecvMeta::rx_time`]) on every socket, including any the transport reopens by
    /// itself. The engine asks only when it uses them (`DeviceOptions::rx_codel`), on
    /// every transport it opens. The default does nothing (no timestamps).
    fn set_rx_timestamps(&self, on: bool) {
        let _ = on;
    }

    /// Waits until a datagram is ready to receive, or the NIC's descriptor `nic_fd`
    /// ([`Tun::wait_fd`]) is readable, or `timeout` passes; a spurious early return is
    /// allowed. `None` (the default): this transport cannot wait on a foreign
    /// descriptor, and the engine keeps one thread per direction.
    fn wait_with(&self, nic_fd: i32, timeout: Duration) -> Option<io::Result<()>> {
        let _ = (nic_fd, timeout);
        None
    }
}

/// Opens [`Transport`]s: the engine calls it at start, when the listen port changes, and
/// when the host says the network changed (rebind). Platform code implements it over real
/// sockets; tests over loopback or in-memory channels. The engine gives every transport
/// it opens the configured fwmark ([`Transport::set_fwmark`]) before sending on it.
pub trait Bind: Send + Sync + 'static {
    /// Opens a transport listening on `port` (0 lets the OS pick).
    fn bind(&self, port: u16) -> io::Result<std::sync::Arc<dyn Transport>>;
}

/// Monotonic and wall-clock time for the engine. Production uses [`SystemClock`];
/// tests can drive a virtual clock.
pub trait Clock: Send + Sync + 'static {
    /// Monotonic time, for timers.
    fn now(&self) -> Instant;
    /// Wall-clock time, for TAI64N handshake timestamps and `last_handshake_time`.
    fn wall(&self) -> SystemTime;
}

/// The OS clock. The only place in core that reads time by itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> Instant {
        Instant::now()
    }
    #[allow(clippy::disallowed_methods)]
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }
}
