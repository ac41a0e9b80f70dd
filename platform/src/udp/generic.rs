//! Everything but Linux: one `recv_from`/`send_to` per datagram on a non-blocking socket.

use std::io;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ferrowg_core::io::{RecvMeta, Transmit};

use super::rx_error::{classify_recv_error, RecvErrorClass};

/// Most per-datagram errors skipped in one call before returning what was read.
const DROP_LIMIT: usize = 256;

/// Receive-side state: the datagrams dropped by the OS-reported conditions.
#[derive(Debug, Default)]
pub(super) struct RxState {
    dropped: AtomicU64,
}

impl RxState {
    /// There is no GRO here; the flag is ignored.
    pub(super) fn new(_gro: bool) -> Self {
        Self::default()
    }

    /// Datagrams dropped since these sockets opened (oversized, ICMP reports).
    pub(super) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Nothing to set up on a new socket.
pub(super) fn setup(_socket: &socket2::Socket, _rx_gro: bool) {}

/// Nothing is ever left over between calls.
pub(super) fn drain(_rx: &RxState, _bufs: &mut [&mut [u8]], _meta: &mut [RecvMeta]) -> usize {
    0
}

/// Receives what is queued without waiting; `Err(WouldBlock)` if nothing is.
/// Per-datagram conditions the OS reports as errors (Windows `WSAEMSGSIZE`,
/// `WSAECONNRESET`, `WSAENETRESET`) are counted as drops and the loop goes on: no error
/// reaches the engine for them.
pub(super) fn recv(
    socket: &UdpSocket,
    bufs: &mut [&mut [u8]],
    meta: &mut [RecvMeta],
    rx: &RxState,
) -> io::Result<usize> {
    let mut got = 0;
    let want = bufs.len().min(meta.len());
    // Bounded: a flood of per-datagram errors cannot keep this thread here forever.
    let mut dropped = 0;
    while got < want && dropped < DROP_LIMIT {
        match socket.recv_from(bufs[got]) {
            Ok((len, src)) => {
                meta[got] = RecvMeta { len, src, rx_time: None };
                got += 1;
            }
            Err(e) => match classify_recv_error(e.raw_os_error(), e.kind()) {
                RecvErrorClass::Retry => {}
                RecvErrorClass::Dropped => {
                    dropped += 1;
                    rx.dropped.fetch_add(1, Ordering::Relaxed);
                }
                RecvErrorClass::Empty if got == 0 => return Err(e),
                RecvErrorClass::Empty => break,
                RecvErrorClass::Fatal if got == 0 => return Err(e),
                RecvErrorClass::Fatal => {
                    tracing::debug!(error = %e, "udp receive failed after {got} datagrams");
                    break;
                }
            },
        }
    }
    if got == 0 && dropped > 0 {
        // Only drops this time: to the caller that is "nothing to read".
        return Err(io::ErrorKind::WouldBlock.into());
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
