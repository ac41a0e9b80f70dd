//! Waiting for socket readiness: `poll(2)` on Unix, `WSAPoll` on Windows.

use std::io;
use std::net::UdpSocket;
use std::time::Duration;

/// Waits until one of `sockets` has data or `timeout` passes; returns whether one has.
#[cfg(unix)]
pub(super) fn readable(sockets: &[&UdpSocket], timeout: Duration) -> io::Result<bool> {
    use std::os::fd::AsFd;
    let Some(first) = sockets.first() else { return Ok(false) };
    let mut fds = [first.as_fd(); 2];
    for (slot, s) in fds.iter_mut().zip(sockets) {
        *slot = s.as_fd();
    }
    let n = sockets.len().min(fds.len());
    crate::sys::unix::poll(&fds[..n], crate::sys::unix::Readiness::Read, timeout)
}

/// Waits until `socket` has room to send or `timeout` passes.
#[cfg(unix)]
pub(super) fn writable(socket: &UdpSocket, timeout: Duration) -> io::Result<bool> {
    use std::os::fd::AsFd;
    crate::sys::unix::poll(&[socket.as_fd()], crate::sys::unix::Readiness::Write, timeout)
}

/// Waits until one of `sockets` has data or `timeout` passes; returns whether one has.
#[cfg(windows)]
pub(super) fn readable(sockets: &[&UdpSocket], timeout: Duration) -> io::Result<bool> {
    use std::os::windows::io::AsRawSocket;
    let raw: Vec<_> = sockets.iter().map(|s| s.as_raw_socket()).collect();
    crate::sys::windows::wsa_poll(&raw, false, timeout)
}

/// Waits until `socket` has room to send or `timeout` passes.
#[cfg(windows)]
pub(super) fn writable(socket: &UdpSocket, timeout: Duration) -> io::Result<bool> {
    use std::os::windows::io::AsRawSocket;
    crate::sys::windows::wsa_poll(&[socket.as_raw_socket()], true, timeout)
}
