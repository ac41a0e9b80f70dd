//! macOS `sendmsg_x`/`recvmsg_x` (private, stable since 10.11; declared in xnu's
//! `bsd/sys/socket_private.h`) and the OS version they are gated on. Decisions (version
//! gate, what a result means) live in the pure [`crate::udp::macos_batch`].

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `struct msghdr_x` from xnu: `msghdr` plus the byte count of each message.
#[repr(C)]
pub(crate) struct MsghdrX {
    pub(crate) msg_name: *mut libc::c_void,
    pub(crate) msg_namelen: libc::socklen_t,
    pub(crate) msg_iov: *mut libc::iovec,
    pub(crate) msg_iovlen: libc::c_int,
    pub(crate) msg_control: *mut libc::c_void,
    pub(crate) msg_controllen: libc::socklen_t,
    pub(crate) msg_flags: libc::c_int,
    pub(crate) msg_datalen: libc::size_t,
}

extern "C" {
    fn sendmsg_x(
        s: libc::c_int,
        msgp: *const MsghdrX,
        cnt: libc::c_uint,
        flags: libc::c_int,
    ) -> libc::ssize_t;
    fn recvmsg_x(
        s: libc::c_int,
        msgp: *const MsghdrX,
        cnt: libc::c_uint,
        flags: libc::c_int,
    ) -> libc::ssize_t;
}

/// `kern.osproductversion`, e.g. `"15.6.1"`.
pub(crate) fn os_product_version() -> Option<String> {
    let name = c"kern.osproductversion";
    let mut buf = [0u8; 32];
    let mut len = buf.len();
    // SAFETY: `buf` is writable for `len` bytes; no new value is set.
    let rc = unsafe {
        libc::sysctlbyname(
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc != 0 {
        return None;
    }
    let end = buf[..len.min(buf.len())].iter().position(|&b| b == 0).unwrap_or(len.min(buf.len()));
    String::from_utf8(buf[..end].to_vec()).ok()
}

/// Sends `datagrams` to the IPv4/IPv6 `dst` in one `sendmsg_x` call: `Ok(n)` messages
/// queued, `Err(errno)` for -1 (no count known).
pub(crate) fn send_batch(
    fd: BorrowedFd<'_>,
    datagrams: &[&[u8]],
    dst: &socket2::SockAddr,
) -> Result<usize, i32> {
    let mut iovs: Vec<libc::iovec> = datagrams
        .iter()
        .map(|d| libc::iovec { iov_base: d.as_ptr().cast_mut().cast(), iov_len: d.len() })
        .collect();
    let msgs: Vec<MsghdrX> = iovs
        .iter_mut()
        .map(|iov| MsghdrX {
            msg_name: dst.as_ptr().cast_mut().cast(),
            msg_namelen: dst.len(),
            msg_iov: iov,
            msg_iovlen: 1,
            msg_control: std::ptr::null_mut(),
            msg_controllen: 0,
            msg_flags: 0,
            msg_datalen: 0,
        })
        .collect();
    // SAFETY: `msgs` holds `msgs.len()` valid headers whose name, iovec and data
    // pointers refer to live buffers (`dst`, `iovs`, `datagrams`) for the whole call; the
    // kernel only reads them.
    let rc = unsafe { sendmsg_x(fd.as_raw_fd(), msgs.as_ptr(), msgs.len() as libc::c_uint, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO));
    }
    Ok(rc as usize)
}

/// Receives up to `bufs.len()` datagrams in one `recvmsg_x` call (non-blocking socket):
/// each one's length and source go to `out`; returns how many arrived. Call only where
/// [`crate::udp::macos_batch::recvmsg_x_allowed`] says so.
pub(crate) fn recv_batch(
    fd: BorrowedFd<'_>,
    bufs: &mut [&mut [u8]],
    out: &mut Vec<(usize, Option<std::net::SocketAddr>)>,
) -> io::Result<usize> {
    let n = bufs.len();
    let mut iovs: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: b.len() })
        .collect();
    let mut names: Vec<socket2::SockAddrStorage> =
        (0..n).map(|_| socket2::SockAddrStorage::zeroed()).collect();
    let msgs: Vec<MsghdrX> = iovs
        .iter_mut()
        .zip(names.iter_mut())
        .map(|(iov, name)| MsghdrX {
            msg_namelen: name.size_of(),
            msg_name: (name as *mut socket2::SockAddrStorage).cast(),
            msg_iov: iov,
            msg_iovlen: 1,
            msg_control: std::ptr::null_mut(),
            msg_controllen: 0,
            msg_flags: 0,
            msg_datalen: 0,
        })
        .collect();
    // SAFETY: every header points at a live, writable name buffer and iovec (over the
    // caller's live `bufs`) of the stated sizes; the kernel writes within them and sets
    // `msg_namelen`/`msg_datalen` in the headers, which stay alive.
    let rc = unsafe { recvmsg_x(fd.as_raw_fd(), msgs.as_ptr(), n as libc::c_uint, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let got = (rc as usize).min(n);
    for (m, name) in msgs.iter().zip(names).take(got) {
        // SAFETY: the kernel wrote a socket address of `msg_namelen` bytes into `name`.
        let addr = unsafe { socket2::SockAddr::new(name, m.msg_namelen) };
        out.push((m.msg_datalen, addr.as_socket()));
    }
    Ok(got)
}
