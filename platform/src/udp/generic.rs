//! Everything but Linux: one `recv_from`/`send_to` per datagram on a non-blocking socket.

use std::io;
use std::net::UdpSocket;
use std::sync::atomic::AtomicBool;

use ferrowg_core::io::{RecvMeta, Transmit};

/// Receive-side state (none needed without GRO).
#[derive(Debug, Default)]
pub(super) struct RxState;

impl RxState {
    /// There is no GRO here; the flag is ignored.
    pub(super) fn new(_gro: bool) -> Self {
        Self
    }
}

/// Nothing to set up on a new socket.
pub(super) fn setup(_socket: &socket2::Socket, _rx_gro: bool) {}

/// Nothing is ever left over between calls.
pub(super) fn drain(_rx: &RxState, _bufs: &mut [&mut [u8]], _meta: &mut [RecvMeta]) -> usize {
    0
}

/// Receives what is queued without waiting; `Err(WouldBlock)` if nothing is.
pub(super) fn recv(
    socket: &UdpSocket,
    bufs: &mut [&mut [u8]],
    meta: &mut [RecvMeta],
    _rx: &RxState,
) -> io::Result<usize> {
    let mut got = 0;
    let want = bufs.len().min(meta.len());
    while got < want {
        match socket.recv_from(bufs[got]) {
            Ok((len, src)) => {
                meta[got] = RecvMeta { len, src };
                got += 1;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Windows reports ICMP errors and oversized datagrams on the next receive;
            // neither says anything about the datagrams still queued.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset || is_truncated(&e) => {}
            Err(e) if got > 0 => {
                if e.kind() != io::ErrorKind::WouldBlock {
                    tracing::debug!(error = %e, "udp receive failed after {got} datagrams");
                }
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Sends the datagrams one by one until one fails; returns how many went out, or the
/// first error if none did. There is no GSO here; `_gso` is ignored.
pub(super) fn send(
    socket: &UdpSocket,
    datagrams: &[Transmit<'_>],
    _gso: &AtomicBool,
) -> io::Result<usize> {
    let mut sent = 0;
    for d in datagrams {
        match socket.send_to(d.data, d.dst) {
            Ok(_) => sent += 1,
            Err(_) if sent > 0 => break,
            Err(e) => return Err(e),
        }
    }
    Ok(sent)
}

#[cfg(windows)]
fn is_truncated(e: &io::Error) -> bool {
    e.raw_os_error() == Some(windows_sys::Win32::Networking::WinSock::WSAEMSGSIZE)
}

#[cfg(not(windows))]
fn is_truncated(_: &io::Error) -> bool {
    false
}
