//! Linux: one `recvmmsg`/`sendmmsg` call moves up to 64 datagrams.
//!
//! Sending: runs of same-size datagrams to one destination go out as one UDP GSO
//! (`UDP_SEGMENT`) message that the kernel splits late — one trip through the stack
//! instead of one per datagram. If the kernel or device refuses GSO, it is turned off for
//! that socket and the batch is sent again without it.
//!
//! Receiving with GRO (`UDP_GRO`): the kernel hands over coalesced runs as one message
//! with the segment size in a control message. Those land in a per-thread 64 KiB scratch
//! buffer and are split, one copy each, into the caller's buffers; segments that do not
//! fit this call wait in a small queue for the next one.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use ferrowg_core::io::{RecvMeta, Transmit};

use crate::sys::linux::{self as sys, Received};

/// Messages read per GRO receive call (each up to 64 KiB).
const GRO_MSGS: usize = 8;
/// Scratch buffer per message: the largest UDP payload fits.
const GRO_BUF: usize = 1 << 16;
/// Most segments kept for the next call; more are dropped (the caller keeps asking for
/// fewer datagrams than arrive).
const PENDING_MAX: usize = 4096;

thread_local! {
    static SCRATCH: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// Receive-side state shared by the sockets of one transport.
#[derive(Debug, Default)]
pub(super) struct RxState {
    gro: bool,
    /// Datagrams dropped: larger than the buffer, or from a non-IP source.
    dropped: AtomicU64,
    has_pending: AtomicBool,
    pending: Mutex<VecDeque<(SocketAddr, Vec<u8>)>>,
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

    fn push(&self, src: SocketAddr, data: &[u8]) {
        let mut q = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if q.len() < PENDING_MAX {
            q.push_back((src, data.to_vec()));
            self.has_pending.store(true, Ordering::Release);
        }
    }
}

/// Turns on UDP GRO for a new socket if `rx` wants it; a kernel without it just
/// delivers datagrams one by one.
pub(super) fn setup(socket: &socket2::Socket, rx_gro: bool) {
    // Receive timestamps let the engine see how long datagrams waited in the socket
    // buffer (its receive-side CoDel); without them it just cannot.
    if let Err(e) = sys::enable_rx_timestamps(socket.as_fd()) {
        tracing::info!(error = %e, "UDP receive timestamps unavailable");
    }
    if rx_gro {
        if let Err(e) = sys::enable_gro(socket.as_fd()) {
            tracing::info!(error = %e, "UDP GRO unavailable");
        }
    }
}

/// Moves segments left over from an earlier GRO receive into the buffers.
pub(super) fn drain(rx: &RxState, bufs: &mut [&mut [u8]], meta: &mut [RecvMeta]) -> usize {
    if !rx.has_pending.load(Ordering::Acquire) {
        return 0;
    }
    let mut q = rx.pending.lock().unwrap_or_else(PoisonError::into_inner);
    let want = bufs.len().min(meta.len());
    let mut n = 0;
    while n < want {
        let Some((src, data)) = q.pop_front() else { break };
        if let Some(dst) = bufs[n].get_mut(..data.len()) {
            dst.copy_from_slice(&data);
            meta[n] = RecvMeta { len: data.len(), src, rx_time: None };
            n += 1;
        } else {
            rx.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
    rx.has_pending.store(!q.is_empty(), Ordering::Release);
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
    let want = bufs.len().min(meta.len());
    SCRATCH.with(|cell| {
        let mut scratch = cell.borrow_mut();
        if scratch.len() < GRO_MSGS {
            *scratch = vec![vec![0u8; GRO_BUF]; GRO_MSGS];
        }
        let mut it = scratch.iter_mut();
        let mut slices: [&mut [u8]; GRO_MSGS] =
            std::array::from_fn(|_| it.next().map(|v| v.as_mut_slice()).unwrap_or_default());
        let msgs = GRO_MSGS.min(want);
        let mut received = [Received::default(); GRO_MSGS];
        let got =
            sys::recvmmsg_raw(socket.as_fd(), &mut slices[..msgs], &mut received[..msgs], true)?;
        let mut n = 0;
        for (data, r) in slices.iter().zip(&received[..got]) {
            let (Some(src), false) = (r.src, r.truncated) else {
                rx.dropped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let seg = r.segment.unwrap_or(r.len).max(1);
            for chunk in data[..r.len.min(data.len())].chunks(seg) {
                if n == want {
                    rx.push(src, chunk);
                } else if let Some(dst) = bufs[n].get_mut(..chunk.len()) {
                    dst.copy_from_slice(chunk);
                    meta[n] = RecvMeta { len: chunk.len(), src, rx_time: r.rx_time };
                    n += 1;
                } else {
                    // Larger than the caller's buffer: dropped, never cut.
                    rx.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(n)
    })
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
