//! POSIX calls shared by Linux and macOS: poll, read/write with and without a 4-byte
//! prefix (readv/writev), non-blocking mode.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

/// What a caller waits for in [`poll`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// Data to read.
    Read,
    /// Room to write.
    Write,
}

/// Waits until one of `fds` is ready or `timeout` passes. Returns whether any is ready.
/// An interrupted wait counts as a timeout; callers loop anyway.
pub(crate) fn poll(fds: &[BorrowedFd<'_>], what: Readiness, timeout: Duration) -> io::Result<bool> {
    poll_with(fds, None, what, timeout)
}

/// [`poll`] on `fds` and one more descriptor given by number (another object's, e.g. the
/// NIC's for the engine's shared I/O thread). A number that is not an open descriptor
/// only makes `poll` report it (`POLLNVAL`, a wake-up), nothing worse.
pub(crate) fn poll_with(
    fds: &[BorrowedFd<'_>],
    extra: Option<RawFd>,
    what: Readiness,
    timeout: Duration,
) -> io::Result<bool> {
    let events = match what {
        Readiness::Read => libc::POLLIN,
        Readiness::Write => libc::POLLOUT,
    };
    let mut pfds = [libc::pollfd { fd: -1, events: 0, revents: 0 }; 4];
    let raw = fds.iter().map(|fd| fd.as_raw_fd()).chain(extra);
    let mut n = 0;
    for (slot, fd) in pfds.iter_mut().zip(raw) {
        *slot = libc::pollfd { fd, events, revents: 0 };
        n += 1;
    }
    // Round up so a sub-millisecond timeout still sleeps instead of spinning.
    let ms = timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int;
    // SAFETY: `pfds` is a valid array of at least `n` initialized pollfd structs that
    // lives for the whole call.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), n as libc::nfds_t, ms) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(err);
    }
    Ok(rc > 0)
}

/// Switches the descriptor to non-blocking mode.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: F_GETFL on a descriptor we borrow has no memory effects.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: F_SETFL only changes the descriptor's status flags.
    let rc = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// One `read(2)`.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the whole call.
    let rc = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as usize)
}

/// One `write(2)`.
pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the whole call.
    let rc = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as usize)
}

/// One `readv(2)` into a 4-byte prefix and a body. Returns the total length read.
pub(crate) fn read_prefixed(
    fd: BorrowedFd<'_>,
    prefix: &mut [u8; 4],
    body: &mut [u8],
) -> io::Result<usize> {
    let iov = [
        libc::iovec { iov_base: prefix.as_mut_ptr().cast(), iov_len: prefix.len() },
        libc::iovec { iov_base: body.as_mut_ptr().cast(), iov_len: body.len() },
    ];
    // SAFETY: both iovecs point at buffers we hold exclusively for the whole call and
    // give their exact lengths.
    let rc = unsafe { libc::readv(fd.as_raw_fd(), iov.as_ptr(), 2) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as usize)
}

/// One `writev(2)` of a prefix (the 4-byte AF header, a virtio-net header) and a body.
/// Returns the total length written.
pub(crate) fn write_prefixed(fd: BorrowedFd<'_>, prefix: &[u8], body: &[u8]) -> io::Result<usize> {
    let iov = [
        libc::iovec { iov_base: prefix.as_ptr() as *mut libc::c_void, iov_len: prefix.len() },
        libc::iovec { iov_base: body.as_ptr() as *mut libc::c_void, iov_len: body.len() },
    ];
    // SAFETY: both iovecs point at live buffers with their exact lengths; writev only
    // reads through them despite the `*mut` in iovec.
    let rc = unsafe { libc::writev(fd.as_raw_fd(), iov.as_ptr(), 2) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as usize)
}

/// One `writev(2)` of up to `IOV_MAX` slices. Returns the total length written.
#[cfg(target_os = "linux")]
pub(crate) fn writev(fd: BorrowedFd<'_>, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    let n = libc::c_int::try_from(bufs.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: `IoSlice` is ABI-compatible with `struct iovec` on Unix (documented by
    // std); every slice is live for the call and writev only reads through them.
    let rc = unsafe { libc::writev(fd.as_raw_fd(), bufs.as_ptr().cast(), n) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc as usize)
}

/// Copies an interface name into a NUL-terminated `IFNAMSIZ` array, rejecting names that
/// do not fit or contain NUL.
pub(crate) fn ifname_array(name: &str) -> io::Result<[libc::c_char; libc::IFNAMSIZ]> {
    let bytes = name.as_bytes();
    if bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("interface name {name:?} must be shorter than {} bytes", libc::IFNAMSIZ),
        ));
    }
    let mut out = [0 as libc::c_char; libc::IFNAMSIZ];
    for (dst, &b) in out.iter_mut().zip(bytes) {
        *dst = b as libc::c_char;
    }
    Ok(out)
}

/// Reads a NUL-terminated name back out of a C char array.
pub(crate) fn ifname_string(raw: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = raw.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
