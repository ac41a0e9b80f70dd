//! macOS-only calls: the utun control socket, interface MTU, sysctl, thread QoS.

use std::io;
use std::mem;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::unix::{ifname_array, ifname_string};

/// The kernel control that creates utun interfaces.
const UTUN_CONTROL_NAME: &[u8] = b"com.apple.net.utun_control";
/// `_IOW('i', 52, struct ifreq)` from <sys/sockio.h> (not in the libc crate).
const SIOCSIFMTU: libc::c_ulong = 0x8020_6934;

/// The kernel's id for the utun control, via `CTLIOCGINFO` on a PF_SYSTEM socket.
pub(crate) fn utun_ctl_id(sock: BorrowedFd<'_>) -> io::Result<u32> {
    // SAFETY: ctl_info is plain old data; all-zero is a valid value.
    let mut info: libc::ctl_info = unsafe { mem::zeroed() };
    for (dst, &b) in info.ctl_name.iter_mut().zip(UTUN_CONTROL_NAME) {
        *dst = b as libc::c_char;
    }
    // SAFETY: CTLIOCGINFO reads and writes exactly one ctl_info, which `info` is.
    let rc = unsafe {
        libc::ioctl(sock.as_raw_fd(), libc::CTLIOCGINFO, &mut info as *mut libc::ctl_info)
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info.ctl_id)
}

fn control_socket() -> io::Result<OwnedFd> {
    // SAFETY: socket(2) has no memory effects.
    let raw = unsafe { libc::socket(libc::PF_SYSTEM, libc::SOCK_DGRAM, libc::SYSPROTO_CONTROL) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a descriptor we just created and own exclusively.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: F_SETFD only changes the descriptor flags.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Creates a utun interface: `unit` N gives `utunN`, `None` lets the kernel pick.
/// Returns the descriptor and the interface name.
pub(crate) fn open_utun(unit: Option<u32>) -> io::Result<(OwnedFd, String)> {
    let fd = control_socket()?;
    let ctl_id = utun_ctl_id(fd.as_fd())?;
    // SAFETY: sockaddr_ctl is plain old data; all-zero is a valid value.
    let mut addr: libc::sockaddr_ctl = unsafe { mem::zeroed() };
    addr.sc_len = mem::size_of::<libc::sockaddr_ctl>() as u8;
    addr.sc_family = libc::AF_SYSTEM as u8;
    addr.ss_sysaddr = libc::AF_SYS_CONTROL as u16;
    addr.sc_id = ctl_id;
    // Unit 0 asks the kernel to choose; unit N+1 is utunN.
    addr.sc_unit = unit.map_or(0, |u| u.saturating_add(1));
    // SAFETY: `addr` is a valid sockaddr_ctl and we pass its exact size.
    let rc = unsafe {
        libc::connect(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ctl).cast(),
            mem::size_of::<libc::sockaddr_ctl>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let name = utun_ifname(fd.as_fd())?;
    Ok((fd, name))
}

/// The interface name of a utun descriptor (`UTUN_OPT_IFNAME`).
pub(crate) fn utun_ifname(fd: BorrowedFd<'_>) -> io::Result<String> {
    let mut buf = [0 as libc::c_char; libc::IFNAMSIZ];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: `buf` is writable for `len` bytes and `len` is a valid in/out length.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SYSPROTO_CONTROL,
            libc::UTUN_OPT_IFNAME,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ifname_string(&buf))
}

/// Whether `fd` is a socket connected to the utun control (`ctl_id`).
pub(crate) fn is_utun_fd(fd: RawFd, ctl_id: u32) -> bool {
    // SAFETY: sockaddr_ctl is plain old data; all-zero is a valid value.
    let mut addr: libc::sockaddr_ctl = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::sockaddr_ctl>() as libc::socklen_t;
    // SAFETY: getpeername writes at most `len` bytes into `addr`; an fd that is not open
    // or not a socket just makes it fail.
    let rc =
        unsafe { libc::getpeername(fd, (&mut addr as *mut libc::sockaddr_ctl).cast(), &mut len) };
    rc == 0 && libc::c_int::from(addr.sc_family) == libc::AF_SYSTEM && addr.sc_id == ctl_id
}

/// Duplicates a descriptor the process has open (F_DUPFD_CLOEXEC).
pub(crate) fn dup_raw(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl on an arbitrary number either fails (EBADF) or duplicates an open
    // descriptor; it touches no memory.
    let raw = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is the new descriptor fcntl just created; we own it exclusively.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// The utun control id, from a temporary control socket.
pub(crate) fn utun_ctl_id_fresh() -> io::Result<u32> {
    let fd = control_socket()?;
    utun_ctl_id(fd.as_fd())
}

/// Sets an interface's MTU (SIOCSIFMTU on an AF_INET socket).
pub(crate) fn set_mtu(name: &str, mtu: usize) -> io::Result<()> {
    let mtu = libc::c_int::try_from(mtu)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "MTU out of range"))?;
    // SAFETY: socket(2) has no memory effects.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a descriptor we just created and own exclusively.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { mem::zeroed() };
    req.ifr_name = ifname_array(name)?;
    req.ifr_ifru.ifru_mtu = mtu;
    // SAFETY: SIOCSIFMTU reads one ifreq, which `req` is.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCSIFMTU, &mut req as *mut libc::ifreq) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An integer sysctl by name; `None` if it does not exist.
pub(crate) fn sysctl_usize(name: &str) -> Option<usize> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut value: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>();
    // SAFETY: `value` is writable for `len` bytes; no new value is set.
    let rc = unsafe {
        libc::sysctlbyname(
            cname.as_ptr(),
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    (rc == 0).then(|| usize::try_from(value).ok()).flatten()
}

/// Sets the calling thread's QoS class: utility for efficiency cores, user-interactive
/// for performance cores.
pub(crate) fn set_qos_for(efficiency: bool) -> io::Result<()> {
    let class = if efficiency {
        libc::qos_class_t::QOS_CLASS_UTILITY
    } else {
        libc::qos_class_t::QOS_CLASS_USER_INTERACTIVE
    };
    // SAFETY: only changes the calling thread's scheduling class.
    let rc = unsafe { libc::pthread_set_qos_class_self_np(class, 0) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// When process `pid` started, in microseconds since the epoch (`proc_pidinfo`
/// `PROC_PIDTBSDINFO`); the error is `ESRCH` when there is no such process.
pub(crate) fn process_start(pid: u32) -> io::Result<u64> {
    let pid = libc::c_int::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: proc_bsdinfo is plain old data; all-zero is a valid value.
    let mut info: libc::proc_bsdinfo = unsafe { mem::zeroed() };
    let size = mem::size_of::<libc::proc_bsdinfo>() as libc::c_int;
    // SAFETY: `info` is a live, writable proc_bsdinfo of `size` bytes.
    let n = unsafe {
        libc::proc_pidinfo(
            pid,
            libc::PROC_PIDTBSDINFO,
            0,
            (&mut info as *mut libc::proc_bsdinfo).cast(),
            size,
        )
    };
    if n <= 0 {
        let e = io::Error::last_os_error();
        // No bytes and no error set: no such process either.
        return Err(match e.raw_os_error() {
            Some(0) | None => io::Error::from_raw_os_error(libc::ESRCH),
            _ => e,
        });
    }
    if n != size {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "short proc_bsdinfo"));
    }
    Ok(info.pbi_start_tvsec.saturating_mul(1_000_000).saturating_add(info.pbi_start_tvusec))
}
