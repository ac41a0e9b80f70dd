//! Linux: one `recvmmsg`/`sendmmsg` call moves up to 64 datagrams, and runs of
//! same-size datagrams to one destination go out as one UDP GSO (`UDP_SEGMENT`) message
//! that the kernel splits late — one trip through the stack instead of one per datagram.
//! If the kernel or device refuses GSO, it is turned off for that socket and the batch is
//! sent again without it.

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};

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

/// Sends up to 64 datagrams in one call; returns how many the kernel took. `gso` says
/// whether UDP GSO is still on for this socket; a GSO-specific failure turns it off.
pub(super) fn send(
    socket: &UdpSocket,
    datagrams: &[Transmit<'_>],
    gso: &AtomicBool,
) -> io::Result<usize> {
    let use_gso = gso.load(Ordering::Relaxed);
    match sys::sendmmsg(socket.as_fd(), datagrams, use_gso) {
        Err(e) if use_gso && sys::gso_run(datagrams, true) > 1 && gso_refused(&e) => {
            tracing::info!(error = %e, "UDP GSO refused; sending without it");
            gso.store(false, Ordering::Relaxed);
            sys::sendmmsg(socket.as_fd(), datagrams, false)
        }
        other => other,
    }
}

/// Errors that mean "no GSO here" (old kernel, device without checksum offload, segment
/// larger than the path MTU) rather than a problem with the destination.
fn gso_refused(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EIO | libc::EINVAL | libc::ENOPROTOOPT | libc::EOPNOTSUPP | libc::EMSGSIZE)
    )
}
