//! Linux: one `recvmmsg`/`sendmmsg` call moves up to 64 datagrams.
//!
//! Sending: runs of same-size datagrams to one destination go out as one UDP GSO
//! (`UDP_SEGMENT`) message that the kernel splits late — one trip through the stack
//! instead of one per datagram. If the kernel or device refuses GSO, it is turned off for
//! that socket and the batch is sent again without it.
//!
//! Receiving with GRO (`UDP_GRO`): the kernel hands over coalesced runs as one message
//! with the segment size in a control message. Those land in the transport's scratch
//! buffers (eight of 64 KiB, allocated once) and are split, one copy each, into the
//! caller's buffers; segments that do not fit this call stay in the scratch buffers and
//! are handed out first by the next one (no allocation, no second copy).

use std::io;
use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use ferrowg_core::io::{RecvMeta, Transmit};

use crate::sys::linux::{self as sys, Received};

/// Messages read per GRO receive call (each up to 64 KiB).
const GRO_MSGS: usize = 8;
/// Scratch buffer per message: the largest UDP payload fits.
const GRO_BUF: usize = 1 << 16;
/// GRO messages received but not yet all handed out, and how far along.
#[derive(Debug, Default)]
struct GroScratch {
    /// `GRO_MSGS` buffers of `GRO_BUF` bytes, allocated at the first GRO receive.
    bufs: Vec<Vec<u8>>,
    msgs: [Received; GRO_MSGS],
    /// Messages in `bufs` from the last receive.
    count: usize,
    /// The message being handed out.
    next: usize,
    /// Bytes of it already handed out.
    offset: usize,
}

impl GroScratch {
    /// Copies segments, in order, into `bufs`/`meta` until either runs out; returns how
    /// many. What does not fit stays for the next call.
    fn serve(
        &mut self,
        bufs: &mut [&mut [u8]],
        meta: &mut [RecvMeta],
        dropped: &AtomicU64,
    ) -> usize {
        let want = bufs.len().min(meta.len());
        let mut n = 0;
        while n < want && self.next < self.count {
            let (Some(r), Some(data)) = (self.msgs.get(self.next), self.bufs.get(self.next)) else {
                break;
            };
            let (Some(src), false) = (r.src, r.truncated) else {
                dropped.fetch_add(1, Ordering::Relaxed);
                self.next += 1;
                self.offset = 0;
                continue;
            };
            let data = data.get(..r.len).unwrap_or(data);
            let seg = r.segment.unwrap_or(r.len).max(1);
            let end = self.offset.saturating_add(seg).min(data.len());
            let chunk = data.get(self.offset..end).unwrap_or_default();
            if chunk.is_empty() {
                self.next += 1;
                self.offset = 0;
                continue;
            }
            if let Some(dst) = bufs[n].get_mut(..chunk.len()) {
                dst.copy_from_slice(chunk);
                meta[n] = RecvMeta { len: chunk.len(), src, rx_time: r.rx_time };
                n += 1;
            } else {
                // Larger than the caller's buffer: dropped, never cut.
                dropped.fetch_add(1, Ordering::Relaxed);
            }
            self.offset = end;
            if end == data.len() {
                self.next += 1;
                self.offset = 0;
            }
        }
        n
    }

    fn pending(&self) -> bool {
        self.next < self.count
    }
}

/// Receive-side state shared by the sockets of one transport.
#[derive(Debug, Default)]
pub(super) struct RxState {
    gro: bool,
    /// Datagrams dropped: larger than the buffer, or from a non-IP source.
    dropped: AtomicU64,
    has_pending: AtomicBool,
    scratch: Mutex<GroScratch>,
}

impl RxState {
    /// State for sockets with (`gro`) or without UDP GRO.
    pub(super) fn new(gro: bool) -> Self {
        Self { gro, ..Self::default() }
    }

    /// Datagrams dropped since these sockets opened.
    pub(super) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Turns on UDP GRO for a new socket if `rx` wants it; a kernel without it just
/// delivers datagrams one by one.
pub(super) fn setup(socket: &socket2::Socket, rx_gro: bool, rx_timestamps: bool) {
    // Receive timestamps let the engine see how long datagrams waited in the socket
    // buffer (its receive-side CoDel); without them it just cannot. Only when asked:
    // they make the kernel stamp every packet it receives.
    if rx_timestamps {
        if let Err(e) = sys::set_rx_timestamps(socket.as_fd(), true) {
            tracing::info!(error = %e, "UDP receive timestamps unavailable");
        }
    }
    if rx_gro {
        if let Err(e) = sys::enable_gro(socket.as_fd()) {
            tracing::info!(error = %e, "UDP GRO unavailable");
        }
    }
}

/// Turns receive timestamps on or off on an open socket.
pub(super) fn set_rx_timestamps(socket: &std::net::UdpSocket, on: bool) -> io::Result<()> {
    sys::set_rx_timestamps(socket.as_fd(), on)
}

/// True when datagrams already received wait in `rx` for the next [`drain`].
pub(super) fn pending(rx: &RxState) -> bool {
    rx.has_pending.load(Ordering::Acquire)
}

/// Hands out segments left over from an earlier GRO receive.
pub(super) fn drain(rx: &RxState, bufs: &mut [&mut [u8]], meta: &mut [RecvMeta]) -> usize {
    if !rx.has_pending.load(Ordering::Acquire) {
        return 0;
    }
    let mut scratch = rx.scratch.lock().unwrap_or_else(PoisonError::into_inner);
    let n = scratch.serve(bufs, meta, &rx.dropped);
    rx.has_pending.store(scratch.pending(), Ordering::Release);
    n
}

/// Receives what is queued (up to 64 datagrams) without waiting; `Err(WouldBlock)` if
/// nothing is.
pub(super) fn recv(
    socket: &UdpSocket,
    bufs: &mut [&mut [u8]],
    meta: &mut [RecvMeta],
    rx: &RxState,
) -> io::Result<usize> {
    if !rx.gro {
        return sys::recvmmsg(socket.as_fd(), bufs, meta, &rx.dropped);
    }
    let mut scratch = rx.scratch.lock().unwrap_or_else(PoisonError::into_inner);
    // Leftovers first (the caller normally drained them already).
    let mut n = scratch.serve(bufs, meta, &rx.dropped);
    if n < bufs.len().min(meta.len()) {
        if scratch.bufs.len() < GRO_MSGS {
            scratch.bufs = vec![vec![0u8; GRO_BUF]; GRO_MSGS];
        }
        let GroScratch { bufs: sbufs, msgs, .. } = &mut *scratch;
        let mut it = sbufs.iter_mut();
        let mut slices: [&mut [u8]; GRO_MSGS] =
            std::array::from_fn(|_| it.next().map(|v| v.as_mut_slice()).unwrap_or_default());
        let got = sys::recvmmsg_raw(socket.as_fd(), &mut slices, msgs, true);
        match got {
            Ok(got) => {
                scratch.count = got;
                scratch.next = 0;
                scratch.offset = 0;
                n += scratch.serve(&mut bufs[n..], &mut meta[n..], &rx.dropped);
            }
            Err(e) if n == 0 => return Err(e),
            Err(_) => {}
        }
    }
    rx.has_pending.store(scratch.pending(), Ordering::Release);
    Ok(n)
}

/// Sends up to 64 datagrams in one call; returns how many the kernel took. `gso` says
/// whether UDP GSO is still on for this socket; a GSO-specific failure turns it off.
pub(super) fn send(
    socket: &UdpSocket,
    datagrams: &[Transmit<'_>],
    gso: &AtomicBool,
    _rx: &RxState,
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
