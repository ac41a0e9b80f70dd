//! The UDP [`Transport`]: two sockets on the same port, one IPv4 and one IPv6 with
//! `IPV6_V6ONLY` (like wireguard-go), rather than one dual-stack socket — so IPv4 sources
//! are never reported as IPv4-mapped IPv6, and a host without IPv6 still works.
//!
//! On Linux datagrams move in batches with `recvmmsg`/`sendmmsg`; elsewhere one
//! `recv_from`/`send_to` per datagram. Sockets are non-blocking; `recv_batch` waits with
//! `poll` (`WSAPoll` on Windows) on both sockets for at most its timeout.
//!
//! [`UdpTransport::rebind`] reopens the sockets after a network change;
//! [`UdpTransport::set_listen_port`] moves to another port; the socket handles are
//! exposed ([`UdpTransport::raw_fds`] / `raw_sockets`) and every new socket passes through
//! [`UdpOptions::on_new_socket`] before it is bound, so Android can `protect` it.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use ferrowg_core::io::{RecvMeta, Transmit, Transport};
use socket2::{Domain, Protocol, Socket, Type};

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as imp;

#[cfg(not(target_os = "linux"))]
mod generic;
#[cfg(not(target_os = "linux"))]
use generic as imp;
#[cfg(not(target_os = "linux"))]
pub use generic::BatchPath;

mod bound_if;
// Used by the non-Linux receive path; its tests run everywhere.
pub mod macos_batch;
#[cfg(target_os = "macos")]
pub mod macos_batch_io;
#[cfg_attr(target_os = "linux", allow(dead_code))]
mod rx_error;
mod wait;
#[cfg(windows)]
pub mod win_batch;
pub mod win_offload;

use crate::Error;

/// The OS handle of a socket: a file descriptor on Unix, a `SOCKET` on Windows.
#[cfg(unix)]
pub type RawSocketHandle = std::os::fd::RawFd;
/// The OS handle of a socket: a file descriptor on Unix, a `SOCKET` on Windows.
#[cfg(windows)]
pub type RawSocketHandle = std::os::windows::io::RawSocket;

/// Called with every socket the transport opens, before it is bound (Android:
/// `VpnService.protect(fd)`, so the tunnel's own traffic bypasses the tunnel).
pub type SocketHook = Arc<dyn Fn(RawSocketHandle) -> io::Result<()> + Send + Sync>;

/// Socket buffer size asked for (the kernel may cap it): room for bursts at Gb/s.
const SOCKET_BUFFER: usize = 7 << 20;
/// How long `send_batch` waits for room in a full socket buffer before returning short.
const SEND_WAIT: Duration = Duration::from_millis(100);
/// How many times one `send_batch` waits for room before returning short.
const MAX_SEND_WAITS: usize = 8;
/// How long `rebind` keeps retrying while receivers still hold the old sockets open.
const REBIND_WAIT: Duration = Duration::from_secs(3);
/// Attempts at finding a port free on both IPv4 and IPv6 when the OS picks it.
const PORT_ATTEMPTS: usize = 16;

/// How to open the transport.
#[derive(Clone, Default)]
pub struct UdpOptions {
    /// Listen port; 0 lets the OS pick one (then the same port is used for IPv6).
    pub port: u16,
    /// Skip the IPv4 socket.
    pub no_ipv4: bool,
    /// Skip the IPv6 socket. Without this, a host lacking IPv6 still works (IPv4 only).
    pub no_ipv6: bool,
    /// Linux `SO_MARK` on both sockets (WireGuard's fwmark; 0 is none). Elsewhere a
    /// non-zero mark is refused: opening fails rather than send unmarked packets.
    pub fwmark: Option<u32>,
    /// Bind both sockets to this interface (index; 0 is none), so the tunnel's own
    /// packets leave through the physical interface whatever the routes say: Linux
    /// `SO_BINDTOIFINDEX`, macOS `IP_BOUND_IF`/`IPV6_BOUND_IF`, Windows
    /// `IP_UNICAST_IF`/`IPV6_UNICAST_IF`.
    pub bound_interface: Option<u32>,
    /// Never use UDP GSO (Linux `UDP_SEGMENT`, Windows USO, macOS `sendmsg_x`), e.g. to
    /// compare with and without it.
    pub no_gso: bool,
    /// Never use UDP GRO (Linux `UDP_GRO`, Windows URO, macOS `recvmsg_x`): receive datagrams one by one straight into
    /// the caller's buffers instead of coalesced runs split by copying (which costs each
    /// receiving thread a 512 KiB scratch buffer).
    pub no_gro: bool,
    /// Kernel receive timestamps on every datagram (`RecvMeta::rx_time`; Linux
    /// `SO_TIMESTAMPNS`), for the engine's receive-side CoDel, which asks for them
    /// itself ([`Transport::set_rx_timestamps`]). Off by default: they make the kernel
    /// stamp every packet it receives.
    pub rx_timestamps: bool,
    /// Run on every new socket before it is bound.
    pub on_new_socket: Option<SocketHook>,
}

impl std::fmt::Debug for UdpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpOptions")
            .field("port", &self.port)
            .field("no_ipv4", &self.no_ipv4)
            .field("no_ipv6", &self.no_ipv6)
            .field("fwmark", &self.fwmark)
            .field("bound_interface", &self.bound_interface)
            .field("no_gso", &self.no_gso)
            .field("no_gro", &self.no_gro)
            .field("rx_timestamps", &self.rx_timestamps)
            .field("on_new_socket", &self.on_new_socket.is_some())
            .finish()
    }
}

/// The bound sockets; replaced whole on rebind.
#[derive(Debug)]
struct Sockets {
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
    port: u16,
    /// UDP GSO still on for the IPv4 / IPv6 socket (Linux only).
    gso: [AtomicBool; 2],
    /// Receive state (GRO leftovers) shared by both sockets.
    rx: imp::RxState,
}

impl Sockets {
    fn iter(&self) -> impl Iterator<Item = &UdpSocket> {
        self.v4.iter().chain(self.v6.iter())
    }
}

/// Dual-stack UDP sockets implementing [`Transport`].
pub struct UdpTransport {
    sockets: ArcSwap<Sockets>,
    options: Mutex<UdpOptions>,
    /// Alternates which socket is read first, so a busy IPv4 side cannot starve IPv6.
    turn: AtomicUsize,
}

impl std::fmt::Debug for UdpTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpTransport").field("sockets", &self.sockets.load()).finish()
    }
}

impl UdpTransport {
    /// Opens the sockets on `port` (0: the OS picks) with default options.
    pub fn bind(port: u16) -> Result<Self, Error> {
        Self::with_options(UdpOptions { port, ..UdpOptions::default() })
    }

    /// Opens the sockets as `options` say.
    pub fn with_options(options: UdpOptions) -> Result<Self, Error> {
        let sockets = open_sockets(options.port, &options)?;
        Ok(Self {
            sockets: ArcSwap::from_pointee(sockets),
            options: Mutex::new(options),
            turn: AtomicUsize::new(0),
        })
    }

    /// Reopens the sockets on the current port (after a network change). Blocks until
    /// receivers blocked in `recv_batch` on the old sockets have returned (at most their
    /// timeout), because the port stays taken until then. If reopening fails, the
    /// transport has no sockets until a later `rebind` succeeds: sends fail and receives
    /// return nothing.
    pub fn rebind(&self) -> Result<(), Error> {
        let port = self.local_port();
        self.replace(port)
    }

    /// Moves to another listen port (0: the OS picks), like `wg set listen-port`.
    pub fn set_listen_port(&self, port: u16) -> Result<(), Error> {
        if port != 0 && port == self.local_port() {
            return Ok(());
        }
        self.replace(port)
    }

    /// Sets (or with `None` or 0 clears) the Linux `SO_MARK` on the open sockets and on
    /// every later one, like `wg set fwmark`. Elsewhere a non-zero mark is refused
    /// (`Unsupported`) and clearing is a no-op.
    pub fn set_fwmark(&self, mark: Option<u32>) -> Result<(), Error> {
        let mark = mark.filter(|m| *m != 0);
        let mut options = self.options.lock().unwrap_or_else(PoisonError::into_inner);
        for s in self.sockets.load().iter() {
            apply_fwmark(&socket2::SockRef::from(s), mark)?;
        }
        options.fwmark = mark;
        Ok(())
    }

    /// Turns kernel receive timestamps ([`UdpOptions::rx_timestamps`]) on or off on the
    /// open sockets and every later one. Best effort: a socket that refuses keeps
    /// delivering datagrams, without `rx_time`.
    pub fn set_rx_timestamps(&self, on: bool) {
        let mut options = self.options.lock().unwrap_or_else(PoisonError::into_inner);
        for s in self.sockets.load().iter() {
            if let Err(e) = imp::set_rx_timestamps(s, on) {
                tracing::info!(error = %e, "UDP receive timestamps unavailable");
            }
        }
        options.rx_timestamps = on;
    }

    /// Binds the open sockets, and every later one, to the interface with this index
    /// (`None` or 0: unbinds them), so the tunnel's own packets cannot loop into the
    /// tunnel. Call it again with the new index when the default route moves.
    pub fn set_bound_interface(&self, index: Option<u32>) -> Result<(), Error> {
        let index = index.filter(|i| *i != 0);
        let mut options = self.options.lock().unwrap_or_else(PoisonError::into_inner);
        for s in self.sockets.load().iter() {
            let v6 = s.local_addr().is_ok_and(|a| a.is_ipv6());
            bound_if::apply(&socket2::SockRef::from(s), v6, index)
                .map_err(Error::os("bind to interface"))?;
        }
        options.bound_interface = index;
        Ok(())
    }

    /// Runs `f` on the open sockets (IPv4 first), e.g. to read or set socket options.
    pub fn with_sockets<R>(&self, f: impl FnOnce(&[&UdpSocket]) -> R) -> R {
        let sockets = self.sockets.load();
        let list: Vec<&UdpSocket> = sockets.iter().collect();
        f(&list)
    }

    fn replace(&self, port: u16) -> Result<(), Error> {
        // Held throughout, so concurrent rebinds and option changes serialize.
        let options = self.options.lock().unwrap_or_else(PoisonError::into_inner);
        let old_port = self.local_port();
        if port != old_port {
            // A different port (or one the OS picks) can be bound before the old sockets
            // close.
            let fresh = open_sockets(port, &options)?;
            self.sockets.store(Arc::new(fresh));
            return Ok(());
        }
        self.sockets.store(Arc::new(Sockets {
            v4: None,
            v6: None,
            port: old_port,
            gso: [AtomicBool::new(false), AtomicBool::new(false)],
            rx: imp::RxState::new(false),
        }));
        let mut waited = Duration::ZERO;
        let step = Duration::from_millis(5);
        loop {
            match open_sockets(port, &options) {
                Ok(fresh) => {
                    self.sockets.store(Arc::new(fresh));
                    return Ok(());
                }
                Err(Error::Os { source, .. })
                    if source.kind() == io::ErrorKind::AddrInUse && waited < REBIND_WAIT =>
                {
                    std::thread::sleep(step);
                    waited += step;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The raw descriptors of the open sockets (IPv4 first), e.g. for Android `protect`.
    #[cfg(unix)]
    pub fn raw_fds(&self) -> Vec<RawSocketHandle> {
        use std::os::fd::AsRawFd;
        self.sockets.load().iter().map(|s| s.as_raw_fd()).collect()
    }

    /// The raw `SOCKET` handles of the open sockets (IPv4 first).
    #[cfg(windows)]
    pub fn raw_sockets(&self) -> Vec<RawSocketHandle> {
        use std::os::windows::io::AsRawSocket;
        self.sockets.load().iter().map(|s| s.as_raw_socket()).collect()
    }

    /// Whether UDP GSO is in use on the IPv4 and IPv6 socket (it turns itself off if the
    /// kernel refuses it; always false off Linux or with [`UdpOptions::no_gso`]).
    pub fn gso_active(&self) -> [bool; 2] {
        let s = self.sockets.load();
        [s.gso[0].load(Ordering::Relaxed), s.gso[1].load(Ordering::Relaxed)]
    }

    /// Datagrams received and dropped by the transport since the sockets were last
    /// (re)opened: larger than the buffer given, or (Windows) an ICMP report or oversized
    /// datagram the OS returned as a receive error. None of these is an error of the
    /// transport.
    pub fn rx_dropped(&self) -> u64 {
        self.sockets.load().rx.dropped()
    }

    /// Which path each open socket's datagrams take now (IPv4 first): Windows USO/URO
    /// or macOS `sendmsg_x`/`recvmsg_x`, or the per-datagram fallback.
    #[cfg(not(target_os = "linux"))]
    pub fn batch_paths(&self) -> Vec<BatchPath> {
        self.sockets.load().rx.paths()
    }

    /// The local addresses of the open sockets (IPv4 first).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets.load().iter().filter_map(|s| s.local_addr().ok()).collect()
    }
}

impl Transport for UdpTransport {
    fn recv_batch(
        &self,
        bufs: &mut [&mut [u8]],
        meta: &mut [RecvMeta],
        timeout: Duration,
    ) -> io::Result<usize> {
        let want = bufs.len().min(meta.len());
        if want == 0 {
            return Ok(0);
        }
        let sockets = self.sockets.load();
        let (mut order, count) = match (sockets.v4.as_ref(), sockets.v6.as_ref()) {
            (Some(a), Some(b)) => ([a, b], 2),
            (Some(a), None) | (None, Some(a)) => ([a, a], 1),
            (None, None) => {
                // Mid-rebind: nothing to read yet.
                std::thread::sleep(timeout.min(Duration::from_millis(5)));
                return Ok(0);
            }
        };
        if self.turn.fetch_add(1, Ordering::Relaxed) % 2 == 1 {
            order.swap(0, 1);
        }
        let order = &order[..count];
        let (bufs, meta) = (&mut bufs[..want], &mut meta[..want]);
        let mut n = imp::drain(&sockets.rx, bufs, meta);
        if n < want {
            n += recv_from_any(order, &mut bufs[n..], &mut meta[n..], &sockets.rx, n > 0)?;
        }
        if n > 0 || timeout.is_zero() || !wait::readable(order, timeout)? {
            return Ok(n);
        }
        recv_from_any(order, bufs, meta, &sockets.rx, false)
    }

    fn send_batch(&self, datagrams: &[Transmit<'_>]) -> io::Result<usize> {
        let sockets = self.sockets.load();
        let mut done = 0;
        let mut first_error = None;
        let mut sent_any = false;
        let mut waits = 0;
        while done < datagrams.len() {
            let Some((family, run)) = next_run(&datagrams[done..]) else { break };
            let (socket, gso) = match family {
                Family::V4 => (sockets.v4.as_ref(), &sockets.gso[0]),
                Family::V6 => (sockets.v6.as_ref(), &sockets.gso[1]),
            };
            let Some(socket) = socket else {
                // No socket for this family: these datagrams cannot go anywhere.
                first_error.get_or_insert(io::Error::from(io::ErrorKind::AddrNotAvailable));
                done += run;
                continue;
            };
            match send_run(socket, &datagrams[done..done + run], family, gso, &sockets.rx) {
                Ok(0) => break,
                Ok(n) => {
                    done += n;
                    sent_any = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    waits += 1;
                    if waits > MAX_SEND_WAITS || !wait::writable(socket, SEND_WAIT)? {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // A per-destination failure (unreachable, refused, too big): drop
                    // this datagram and keep going.
                    tracing::debug!(error = %e, dst = %datagrams[done].dst, "udp send failed");
                    first_error.get_or_insert(e);
                    done += 1;
                }
            }
        }
        match first_error {
            Some(e) if !sent_any => Err(e),
            _ => Ok(done),
        }
    }

    fn local_port(&self) -> u16 {
        self.sockets.load().port
    }

    fn set_fwmark(&self, mark: Option<u32>) -> io::Result<()> {
        UdpTransport::set_fwmark(self, mark).map_err(io::Error::from)
    }

    fn set_rx_timestamps(&self, on: bool) {
        UdpTransport::set_rx_timestamps(self, on);
    }

    #[cfg(unix)]
    fn wait_with(&self, nic_fd: i32, timeout: Duration) -> Option<io::Result<()>> {
        use std::os::fd::AsFd;
        let sockets = self.sockets.load();
        if imp::pending(&sockets.rx) {
            return Some(Ok(()));
        }
        let (fds, n) = match (sockets.v4.as_ref(), sockets.v6.as_ref()) {
            (Some(a), Some(b)) => ([a.as_fd(), b.as_fd()], 2),
            (Some(a), None) | (None, Some(a)) => ([a.as_fd(), a.as_fd()], 1),
            (None, None) => return None,
        };
        let r = crate::sys::unix::poll_with(
            fds.get(..n).unwrap_or_default(),
            Some(nic_fd),
            crate::sys::unix::Readiness::Read,
            timeout,
        );
        Some(r.map(|_| ()))
    }
}

/// Address family of a destination (IPv4-mapped IPv6 counts as IPv4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

fn family_of(dst: &SocketAddr) -> Family {
    match dst {
        SocketAddr::V4(_) => Family::V4,
        SocketAddr::V6(a) if a.ip().to_ipv4_mapped().is_some() => Family::V4,
        SocketAddr::V6(_) => Family::V6,
    }
}

/// The family of the first datagram and how many in a row share it.
fn next_run(datagrams: &[Transmit<'_>]) -> Option<(Family, usize)> {
    let family = family_of(&datagrams.first()?.dst);
    let run = datagrams.iter().take_while(|d| family_of(&d.dst) == family).count();
    Some((family, run))
}

/// The address to hand the OS: IPv4-mapped IPv6 destinations go out the IPv4 socket.
fn os_dst(dst: SocketAddr) -> SocketAddr {
    match dst {
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::from((v4, a.port())),
            None => dst,
        },
        SocketAddr::V4(_) => dst,
    }
}

fn send_run(
    socket: &UdpSocket,
    run: &[Transmit<'_>],
    family: Family,
    gso: &AtomicBool,
    rx: &imp::RxState,
) -> io::Result<usize> {
    if family == Family::V4 && run.iter().any(|d| d.dst.is_ipv6()) {
        let mapped: Vec<Transmit<'_>> =
            run.iter().map(|d| Transmit { dst: os_dst(d.dst), data: d.data }).collect();
        return imp::send(socket, &mapped, gso, rx);
    }
    imp::send(socket, run, gso, rx)
}

/// Reads what is queued on the sockets, in order, without waiting. With `have_some`,
/// errors are not reported (the caller already has datagrams to return).
fn recv_from_any(
    sockets: &[&UdpSocket],
    bufs: &mut [&mut [u8]],
    meta: &mut [RecvMeta],
    rx: &imp::RxState,
    have_some: bool,
) -> io::Result<usize> {
    let mut got = 0;
    let mut first_error = None;
    for socket in sockets {
        if got == bufs.len() {
            break;
        }
        match imp::recv(socket, &mut bufs[got..], &mut meta[got..], rx) {
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) if got == 0 && !have_some => Err(e),
        _ => Ok(got),
    }
}

/// Opens the IPv4 and IPv6 sockets on one port, retrying with another OS-picked port if
/// the IPv6 side of an OS-picked port is taken.
fn open_sockets(port: u16, options: &UdpOptions) -> Result<Sockets, Error> {
    let attempts = if port == 0 { PORT_ATTEMPTS } else { 1 };
    let mut last = None;
    for _ in 0..attempts {
        let v4 = if options.no_ipv4 {
            None
        } else {
            Some(open_socket(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)), options)?)
        };
        let chosen = match &v4 {
            Some(s) => s.local_addr().map_err(Error::os("getsockname"))?.port(),
            None => port,
        };
        if options.no_ipv6 {
            return finish(v4, None, chosen, options);
        }
        match open_socket(SocketAddr::from((Ipv6Addr::UNSPECIFIED, chosen)), options) {
            Ok(v6) => {
                let chosen = v6.local_addr().map_err(Error::os("getsockname"))?.port();
                return finish(v4, Some(v6), chosen, options);
            }
            Err(Error::Os { source, .. }) if v4.is_some() && ipv6_unavailable(&source) => {
                tracing::info!(error = %source, "no IPv6 socket; IPv4 only");
                return finish(v4, None, chosen, options);
            }
            Err(Error::Os { op, source })
                if port == 0 && source.kind() == io::ErrorKind::AddrInUse =>
            {
                last = Some(Error::Os { op, source });
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(Error::NotFound("a port free on both IPv4 and IPv6")))
}

fn finish(
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
    port: u16,
    options: &UdpOptions,
) -> Result<Sockets, Error> {
    if v4.is_none() && v6.is_none() {
        return Err(Error::NotFound("an address family to bind"));
    }
    let gso = cfg!(target_os = "linux") && !options.no_gso;
    #[allow(unused_mut)]
    let mut rx = imp::RxState::new(!options.no_gro);
    #[cfg(any(windows, target_os = "macos"))]
    rx.attach(v4.iter().chain(v6.iter()), !options.no_gso, !options.no_gro);
    Ok(Sockets { v4, v6, port, gso: [AtomicBool::new(gso), AtomicBool::new(gso)], rx })
}

fn ipv6_unavailable(e: &io::Error) -> bool {
    #[cfg(unix)]
    {
        matches!(
            e.raw_os_error(),
            Some(libc::EAFNOSUPPORT | libc::EADDRNOTAVAIL | libc::EPROTONOSUPPORT)
        )
    }
    #[cfg(not(unix))]
    {
        e.kind() == io::ErrorKind::AddrNotAvailable || e.kind() == io::ErrorKind::Unsupported
    }
}

fn open_socket(addr: SocketAddr, options: &UdpOptions) -> Result<UdpSocket, Error> {
    let domain = Domain::for_address(addr);
    let socket =
        Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).map_err(Error::os("socket"))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true).map_err(Error::os("IPV6_V6ONLY"))?;
    }
    socket.set_nonblocking(true).map_err(Error::os("set non-blocking"))?;
    // Best effort: the kernel caps these at its own maximum.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    if options.fwmark.is_some_and(|m| m != 0) {
        apply_fwmark(&socket, options.fwmark)?;
    }
    if let Some(index) = options.bound_interface.filter(|i| *i != 0) {
        bound_if::apply(&socket, addr.is_ipv6(), Some(index))
            .map_err(Error::os("bind to interface"))?;
    }
    #[cfg(windows)]
    crate::sys::windows::disable_udp_connreset(&socket).map_err(Error::os("SIO_UDP_CONNRESET"))?;
    imp::setup(&socket, !options.no_gro, options.rx_timestamps);
    if let Some(hook) = &options.on_new_socket {
        hook(raw_handle(&socket)).map_err(Error::os("on_new_socket hook"))?;
    }
    socket.bind(&addr.into()).map_err(Error::os("bind"))?;
    Ok(socket.into())
}

/// Puts `mark` (`None`: clears it) on one socket: Linux `SO_MARK`; elsewhere only
/// clearing is possible.
fn apply_fwmark(socket: &Socket, mark: Option<u32>) -> Result<(), Error> {
    #[cfg(target_os = "linux")]
    {
        socket.set_mark(mark.unwrap_or(0)).map_err(Error::os("SO_MARK"))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = socket;
        match mark {
            None => Ok(()),
            Some(_) => Err(Error::Os {
                op: "SO_MARK",
                source: io::Error::new(
                    io::ErrorKind::Unsupported,
                    "fwmark exists only on Linux; bind the sockets to an interface instead",
                ),
            }),
        }
    }
}

#[cfg(unix)]
fn raw_handle(socket: &Socket) -> RawSocketHandle {
    use std::os::fd::AsRawFd;
    socket.as_raw_fd()
}

#[cfg(windows)]
fn raw_handle(socket: &Socket) -> RawSocketHandle {
    use std::os::windows::io::AsRawSocket;
    socket.as_raw_socket()
}
