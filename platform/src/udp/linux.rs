//! Linux: one `recvmmsg`/`sendmmsg` call moves up to 64 datagrams.

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsFd;

use ferrowg_core::io::{RecvMeta, Transmit};

use crate::sys::linux as sys;

/// Receives what is queued (up to 64) without waiting; `Err(WouldBlock)` if nothing is.
pub(super) fn recv(
    socket: &UdpSocket,
    bufs: &mut [&mut [u8]],
    meta: &mut [RecvMeta],
) -> io::Result<usize> {
    sys::recvmmsg(socket.as_fd(), bufs, meta)
}

/// Sends up to 64 datagrams in one call; returns how many the kernel took.
pub(super) fn send(socket: &UdpSocket, datagrams: &[Transmit<'_>]) -> io::Result<usize> {
    sys::sendmmsg(socket.as_fd(), datagrams)
}
