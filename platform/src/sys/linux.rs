//! Linux-only calls: /dev/net/tun and interface ioctls, recvmmsg/sendmmsg, CPU affinity.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};

use ferrowg_core::io::{RecvMeta, Transmit};

use super::unix::{ifname_array, ifname_string};

/// Most datagrams moved by one recvmmsg/sendmmsg call.
pub(crate) const MMSG_BATCH: usize = 64;

/// Opens `/dev/net/tun` and attaches it to the TUN interface `name` (created if missing;
/// an empty name lets the kernel pick `tunN`). With `vnet_hdr` every packet on the fd
/// carries a `struct virtio_net_hdr` (`IFF_VNET_HDR`). Returns the fd and the actual name.
pub(crate) fn open_tun(
    name: &str,
    multi_queue: bool,
    vnet_hdr: bool,
) -> io::Result<(OwnedFd, String)> {
    let path = c"/dev/net/tun";
    // SAFETY: `path` is a valid NUL-terminated string; open has no other memory effects.
    let raw =
        unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a descriptor we just opened and own exclusively.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut flags = libc::IFF_TUN | libc::IFF_NO_PI;
    if multi_queue {
        flags |= libc::IFF_MULTI_QUEUE;
    }
    if vnet_hdr {
        flags |= libc::IFF_VNET_HDR;
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { mem::zeroed() };
    req.ifr_name = ifname_array(name)?;
    req.ifr_ifru.ifru_flags = flags as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes one `ifreq`, which `req` is, for the whole call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req as *mut libc::ifreq) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((fd, ifname_string(&req.ifr_name)))
}

/// `TUNSETVNETHDRSZ`: the length of the virtio-net header on every packet of `fd`.
pub(crate) fn set_vnet_hdr_size(fd: BorrowedFd<'_>, size: libc::c_int) -> io::Result<()> {
    // SAFETY: TUNSETVNETHDRSZ reads one c_int through the pointer, valid for the call.
    let rc =
        unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETVNETHDRSZ, &size as *const libc::c_int) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `TUNSETOFFLOAD`: which offloads (`TUN_F_*`) the reader of `fd` handles.
pub(crate) fn set_tun_offload(fd: BorrowedFd<'_>, flags: libc::c_uint) -> io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes its argument by value; no memory is accessed.
    let rc =
        unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETOFFLOAD, libc::c_ulong::from(flags)) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A throwaway AF_INET datagram socket, the handle interface ioctls go through.
fn ioctl_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket(2) has no memory effects.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a descriptor we just created and own exclusively.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn ifreq_ioctl(sock: &OwnedFd, request: libc::Ioctl, req: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: the SIOC[GS]IF* requests used here read and write exactly one `ifreq`.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), request, req as *mut libc::ifreq) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the interface MTU (SIOCSIFMTU).
pub(crate) fn set_mtu(name: &str, mtu: usize) -> io::Result<()> {
    let mtu = libc::c_int::try_from(mtu)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "MTU out of range"))?;
    let sock = ioctl_socket()?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { mem::zeroed() };
    req.ifr_name = ifname_array(name)?;
    req.ifr_ifru.ifru_mtu = mtu;
    ifreq_ioctl(&sock, libc::SIOCSIFMTU, &mut req)
}

/// Brings the interface up (IFF_UP via SIOCGIFFLAGS/SIOCSIFFLAGS).
pub(crate) fn set_up(name: &str) -> io::Result<()> {
    let sock = ioctl_socket()?;
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { mem::zeroed() };
    req.ifr_name = ifname_array(name)?;
    ifreq_ioctl(&sock, libc::SIOCGIFFLAGS, &mut req)?;
    // SAFETY: SIOCGIFFLAGS just filled the flags member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    ifreq_ioctl(&sock, libc::SIOCSIFFLAGS, &mut req)
}

/// Converts a kernel socket address to a `SocketAddr`; `None` for other families.
fn from_storage(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, and
            // sockaddr_storage is large and aligned enough for it.
            let sin =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Writes `addr` into `ss` as the kernel expects it; returns the length used.
fn to_storage(addr: SocketAddr, ss: &mut libc::sockaddr_storage) -> libc::socklen_t {
    match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for a sockaddr_in, and
            // we hold it exclusively.
            let sin =
                unsafe { &mut *(ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr = libc::in_addr { s_addr: u32::from(*a.ip()).to_be() };
            mem::size_of::<libc::sockaddr_in>() as libc::socklen_t
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 =
                unsafe { &mut *(ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr = libc::in6_addr { s6_addr: a.ip().octets() };
            sin6.sin6_scope_id = a.scope_id();
            mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t
        }
    }
}

/// `UDP_GRO` (linux/udp.h; not in the libc crate for glibc targets).
const UDP_GRO: libc::c_int = 104;

/// Asks the kernel to hand over coalesced runs of datagrams (UDP GRO); each arrives as
/// one message with its segment size in a control message.
pub(crate) fn enable_gro(fd: BorrowedFd<'_>) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: `on` is a live c_int and we pass its exact size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_UDP,
            UDP_GRO,
            (&on as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The arrays one `recvmmsg`/`sendmmsg` call points the kernel at: a socket address, an
/// iovec, a header and a control buffer per message.
struct MmsgArrays {
    addrs: [libc::sockaddr_storage; MMSG_BATCH],
    iovs: [libc::iovec; MMSG_BATCH],
    hdrs: [libc::mmsghdr; MMSG_BATCH],
    /// u64 elements keep each control buffer aligned for cmsghdr. Room for a UDP_GRO
    /// int (24 bytes with its header) and an SCM_TIMESTAMPNS timespec (32 bytes).
    control: [[u64; 8]; MMSG_BATCH],
}

impl MmsgArrays {
    /// All zero (kept on the stack: no allocation on the packet path).
    fn zeroed() -> Self {
        // SAFETY: every field is an array of plain C structs or integers (raw pointers
        // included, which may be null) for which all-zero bytes are a valid value.
        unsafe { mem::zeroed() }
    }
}

/// One message from [`recvmmsg_raw`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Received {
    /// Sender; `None` for a non-IP family.
    pub src: Option<SocketAddr>,
    /// Bytes in the buffer.
    pub len: usize,
    /// The datagram was larger than the buffer and was cut.
    pub truncated: bool,
    /// With GRO: the size of each coalesced datagram (the last may be shorter).
    pub segment: Option<usize>,
    /// The kernel's receive timestamp (with [`set_rx_timestamps`]).
    pub rx_time: Option<std::time::SystemTime>,
}

/// Receives up to `min(bufs.len(), out.len(), MMSG_BATCH)` messages without waiting,
/// with room for a UDP GRO control message when `gro`. `Err(WouldBlock)` when none is
/// queued.
pub(crate) fn recvmmsg_raw(
    fd: BorrowedFd<'_>,
    bufs: &mut [&mut [u8]],
    out: &mut [Received],
    gro: bool,
) -> io::Result<usize> {
    let n = bufs.len().min(out.len()).min(MMSG_BATCH);
    if n == 0 {
        return Ok(0);
    }
    let mut arrays = MmsgArrays::zeroed();
    let MmsgArrays { addrs, iovs, hdrs, control } = &mut arrays;
    let space = mem::size_of::<[u64; 8]>();
    for i in 0..n {
        iovs[i] = libc::iovec { iov_base: bufs[i].as_mut_ptr().cast(), iov_len: bufs[i].len() };
        hdrs[i].msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
        hdrs[i].msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        hdrs[i].msg_hdr.msg_iov = &mut iovs[i];
        hdrs[i].msg_hdr.msg_iovlen = 1;
        hdrs[i].msg_hdr.msg_control = control[i].as_mut_ptr().cast();
        hdrs[i].msg_hdr.msg_controllen = space;
    }
    // SAFETY: the first `n` headers point at live, exclusively borrowed buffers, address
    // slots and control buffers with their true lengths; no timeout pointer is passed.
    let rc = unsafe {
        libc::recvmmsg(
            fd.as_raw_fd(),
            hdrs.as_mut_ptr(),
            n as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let got = rc as usize;
    for i in 0..got {
        let hdr = &hdrs[i].msg_hdr;
        let (segment, rx_time) = control_data(hdr);
        out[i] = Received {
            src: from_storage(&addrs[i]),
            len: hdrs[i].msg_len as usize,
            truncated: hdr.msg_flags & libc::MSG_TRUNC != 0,
            segment: segment.filter(|_| gro),
            rx_time,
        };
    }
    Ok(got)
}

/// The UDP_GRO segment size and the SCM_TIMESTAMPNS receive time in a received
/// message's control data, where present.
fn control_data(hdr: &libc::msghdr) -> (Option<usize>, Option<std::time::SystemTime>) {
    let (mut segment, mut rx_time) = (None, None);
    // SAFETY: `hdr` was filled by recvmmsg: msg_control/msg_controllen describe our own
    // control buffer, so walking it with the CMSG macros stays inside it; the data is
    // read unaligned, and only when the header's length covers it.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(hdr);
        while !cmsg.is_null() {
            let (level, kind, len) = ((*cmsg).cmsg_level, (*cmsg).cmsg_type, (*cmsg).cmsg_len);
            if level == libc::SOL_UDP
                && kind == UDP_GRO
                && len >= libc::CMSG_LEN(mem::size_of::<libc::c_int>() as libc::c_uint) as usize
            {
                let seg = libc::CMSG_DATA(cmsg).cast::<libc::c_int>().read_unaligned();
                segment = usize::try_from(seg).ok().filter(|&s| s > 0);
            } else if level == libc::SOL_SOCKET
                && kind == libc::SCM_TIMESTAMPNS
                && len >= libc::CMSG_LEN(mem::size_of::<libc::timespec>() as libc::c_uint) as usize
            {
                let ts = libc::CMSG_DATA(cmsg).cast::<libc::timespec>().read_unaligned();
                rx_time = timespec_to_system(ts.tv_sec, ts.tv_nsec);
            }
            cmsg = libc::CMSG_NXTHDR(hdr, cmsg);
        }
    }
    (segment, rx_time)
}

/// A kernel timespec (wall clock) as a `SystemTime`; `None` if out of range.
fn timespec_to_system(sec: libc::time_t, nsec: libc::c_long) -> Option<std::time::SystemTime> {
    let sec = u64::try_from(sec).ok()?;
    let nsec = u32::try_from(nsec).ok().filter(|&n| n < 1_000_000_000)?;
    std::time::UNIX_EPOCH.checked_add(std::time::Duration::new(sec, nsec))
}

/// Asks the kernel for (or stops) a receive timestamp (SO_TIMESTAMPNS) on every datagram.
pub(crate) fn set_rx_timestamps(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    let on: libc::c_int = on.into();
    // SAFETY: `on` is a live c_int and we pass its exact size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Receives up to `min(bufs.len(), meta.len(), MMSG_BATCH)` datagrams without waiting.
/// `Err(WouldBlock)` when none is queued. Truncated datagrams and non-IP sources are
/// skipped: the bytes of the datagrams after one are copied down into the buffer before
/// them, so for `i` below the count returned, the datagram `meta[i]` describes is in
/// `bufs[i]` — the caller's own buffer at position `i`, whether it reads through `bufs`
/// or through the buffers behind it. (Swapping the slice references instead would leave
/// callers that read their own buffers by position with datagram `i`'s bytes under
/// datagram `i + 1`'s length and source: an off-path sender could steer roaming.)
/// Adds the datagrams skipped to `dropped`.
pub(crate) fn recvmmsg(
    fd: BorrowedFd<'_>,
    bufs: &mut [&mut [u8]],
    meta: &mut [RecvMeta],
    dropped: &AtomicU64,
) -> io::Result<usize> {
    let mut received = [Received::default(); MMSG_BATCH];
    let got = recvmmsg_raw(fd, bufs, &mut received[..meta.len().min(MMSG_BATCH)], false)?;
    let mut out = 0;
    for (i, r) in received[..got].iter().enumerate() {
        // A datagram larger than its buffer arrives cut short: drop it rather than hand
        // on a prefix.
        let (Some(src), false) = (r.src, r.truncated) else {
            dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        if out != i {
            // `out < i`: the first half holds the target, the second starts at `i`.
            let (before, from) = bufs.split_at_mut(i);
            let (Some(dst), Some(data)) =
                (before[out].get_mut(..r.len), from.first().and_then(|b| b.get(..r.len)))
            else {
                // A smaller buffer ahead cannot take it: drop it rather than misfile it.
                dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            dst.copy_from_slice(data);
        }
        meta[out] = RecvMeta { len: r.len, src, rx_time: r.rx_time };
        out += 1;
    }
    Ok(out)
}

/// `UDP_SEGMENT` (linux/udp.h; not in the libc crate for glibc targets).
const UDP_SEGMENT: libc::c_int = 103;
/// Most datagrams coalesced into one GSO send (the kernel's UDP_MAX_SEGMENTS floor).
const GSO_MAX_SEGMENTS: usize = 64;
/// Most payload bytes in one GSO send (below the 64 KiB IP datagram limit).
const GSO_MAX_BYTES: usize = 65000;

/// With `gso`, how many datagrams from the start of `datagrams` go out as one message:
/// consecutive datagrams to the same destination with the same length (a shorter one may
/// end the run), as UDP_SEGMENT requires. Without `gso`, or if nothing coalesces: 1.
pub(crate) fn gso_run(datagrams: &[Transmit<'_>], gso: bool) -> usize {
    let Some(first) = datagrams.first() else { return 0 };
    let seg = first.data.len();
    if !gso || seg == 0 || seg > usize::from(u16::MAX) {
        return 1;
    }
    let mut count = 1;
    let mut total = seg;
    for d in &datagrams[1..] {
        let len = d.data.len();
        if count == GSO_MAX_SEGMENTS
            || d.dst != first.dst
            || len == 0
            || len > seg
            || total + len > GSO_MAX_BYTES
        {
            break;
        }
        count += 1;
        total += len;
        if len < seg {
            break;
        }
    }
    count
}

/// Sends the datagrams with one sendmmsg call (at most `MMSG_BATCH`). With `gso`, runs
/// that [`gso_run`] groups go out as one message each with a `UDP_SEGMENT` control
/// message, and the kernel splits them. Returns how many datagrams the kernel took;
/// `Err` only if the first message failed.
pub(crate) fn sendmmsg(
    fd: BorrowedFd<'_>,
    datagrams: &[Transmit<'_>],
    gso: bool,
) -> io::Result<usize> {
    let n = datagrams.len().min(MMSG_BATCH);
    if n == 0 {
        return Ok(0);
    }
    let mut arrays = MmsgArrays::zeroed();
    let MmsgArrays { addrs, iovs, hdrs, control } = &mut arrays;
    // SAFETY: CMSG_SPACE/CMSG_LEN are pure arithmetic on a constant.
    let (space, cmsg_len) = unsafe { (libc::CMSG_SPACE(2), libc::CMSG_LEN(2)) };
    for (iov, d) in iovs.iter_mut().zip(&datagrams[..n]) {
        *iov =
            libc::iovec { iov_base: d.data.as_ptr() as *mut libc::c_void, iov_len: d.data.len() };
    }
    let mut runs = [0usize; MMSG_BATCH];
    let (mut start, mut msgs) = (0, 0);
    while start < n {
        let run = gso_run(&datagrams[start..n], gso);
        let hdr = &mut hdrs[msgs].msg_hdr;
        hdr.msg_namelen = to_storage(datagrams[start].dst, &mut addrs[msgs]);
        hdr.msg_name = (&mut addrs[msgs] as *mut libc::sockaddr_storage).cast();
        hdr.msg_iov = &mut iovs[start];
        hdr.msg_iovlen = run;
        if run > 1 {
            hdr.msg_control = control[msgs].as_mut_ptr().cast();
            hdr.msg_controllen = space as usize;
            let seg = datagrams[start].data.len() as u16;
            // SAFETY: msg_control points at a zeroed, aligned buffer of `space` bytes,
            // enough for one cmsghdr carrying a u16, so the first header and its data
            // are inside it; the data is written unaligned.
            unsafe {
                let cmsg = libc::CMSG_FIRSTHDR(hdr);
                (*cmsg).cmsg_level = libc::SOL_UDP;
                (*cmsg).cmsg_type = UDP_SEGMENT;
                (*cmsg).cmsg_len = cmsg_len as usize;
                libc::CMSG_DATA(cmsg).cast::<u16>().write_unaligned(seg);
            }
        }
        runs[msgs] = run;
        start += run;
        msgs += 1;
    }
    // SAFETY: the first `msgs` headers point at live payloads, addresses and control
    // buffers with their true lengths; the kernel only reads them and writes `msg_len`.
    let rc = unsafe {
        libc::sendmmsg(fd.as_raw_fd(), hdrs.as_mut_ptr(), msgs as libc::c_uint, libc::MSG_DONTWAIT)
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(runs[..rc as usize].iter().sum())
}

/// Restricts the calling thread to one CPU.
pub(crate) fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "CPU number beyond CPU_SETSIZE"));
    }
    // SAFETY: cpu_set_t is a plain bit array; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    // SAFETY: `cpu` < CPU_SETSIZE was checked above, so the bit is inside `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t and we pass its exact size; pid 0 is this thread.
    let rc = unsafe { libc::sched_setaffinity(0, mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `struct sched_attr` (linux/sched/types.h, version 1: 56 bytes); not in the libc crate.
#[repr(C)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

/// Asks the scheduler for a time slice of `slice_ns` for the calling thread, staying
/// SCHED_OTHER at its current nice value (EEVDF's custom slice, Linux ≥ 6.12: a thread
/// with a shorter slice gets an earlier deadline, so it runs sooner after waking, for
/// less time at once; the kernel clamps the value to 0.1–100 ms). Older kernels accept
/// and ignore it.
pub(crate) fn set_sched_slice(slice_ns: u64) -> io::Result<()> {
    // SAFETY: getpriority only reads; errno is cleared first because -1 is a valid nice.
    let nice = unsafe {
        *libc::__errno_location() = 0;
        libc::getpriority(libc::PRIO_PROCESS, 0)
    };
    let attr = SchedAttr {
        size: mem::size_of::<SchedAttr>() as u32,
        policy: libc::SCHED_OTHER as u32,
        flags: 0,
        nice,
        priority: 0,
        runtime: slice_ns,
        deadline: 0,
        period: 0,
        util_min: 0,
        util_max: 0,
    };
    // SAFETY: `attr` is a live, fully initialised sched_attr whose `size` field is its
    // exact size; pid 0 is the calling thread; flags 0.
    let rc = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Puts the calling thread in `SCHED_FIFO` at `priority` (1–99), with
/// `SCHED_RESET_ON_FORK` so that processes it starts get the normal policy.
pub(crate) fn set_sched_fifo(priority: i32) -> io::Result<()> {
    let param = libc::sched_param { sched_priority: priority };
    // SAFETY: `param` is a live sched_param; pid 0 is the calling thread.
    let rc = unsafe {
        libc::sched_setscheduler(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param)
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Puts the calling thread back in `SCHED_OTHER` (the kernel keeps its nice value).
pub(crate) fn set_sched_other() -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `param` is a live sched_param; pid 0 is the calling thread.
    let rc = unsafe {
        libc::sched_setscheduler(0, libc::SCHED_OTHER | libc::SCHED_RESET_ON_FORK, &param)
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The CPUs the calling thread may run on.
pub(crate) fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is a plain bit array; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    // SAFETY: `set` is writable and we pass its exact size; pid 0 is this thread.
    let rc = unsafe { libc::sched_getaffinity(0, mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: every `c` is below CPU_SETSIZE, so the bit tested is inside `set`.
    Ok((0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect())
}
