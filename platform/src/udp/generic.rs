//! Everything but Linux: one `recv_from`/`send_to` per datagram on a non-blocking socket,
//! unless the socket has a batch path — Windows USO/URO ([`super::win_batch`]), macOS
//! `sendmsg_x`/`recvmsg_x` ([`super::macos_batch_io`]) — probed when the sockets open and
//! falling back to the per-datagram path by itself.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use ferrowg_core::io::{RecvMeta, Transmit};

use super::rx_error::{classify_recv_error, RecvErrorClass};

#[cfg(target_os = "macos")]
use super::macos_batch_io::MacBatch as Batch;
#[cfg(windows)]
use super::win_batch::WinBatch as Batch;

/// Most per-datagram errors skipped in one call before returning what was read.
const DROP_LIMIT: usize = 256;
/// Most datagrams of coalesced reads kept for the next call; more are dropped.
const PENDING_MAX: usize = 4096;

thread_local! {
    /// Per-thread buffer for coalesced (URO) reads.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Which path one socket's datagrams take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchPath {
    /// Sends go out in batches (Windows USO, macOS `sendmsg_x`).
    pub send_batched: bool,
    /// Receives come in batches (Windows URO, macOS `recvmsg_x`).
    pub recv_batched: bool,
}

/// Receive-side state: drops, datagrams of coalesced reads left for the next call, and
/// each socket's batch state.
#[derive(Debug, Default)]
pub(super) struct RxState {
    dropped: AtomicU64,
    has_pending: AtomicBool,
    pending: Mutex<VecDeque<(SocketAddr, Vec<u8>)>>,
    #[cfg(any(windows, target_os = "macos"))]
    batches: Vec<(super::RawSocketHandle, Batch)>,
}

impl RxState {
    /// State without batch paths (see `attach`); the GRO flag is given there.
    pub(super) fn new(_gro: bool) -> Self {
        Self::default()
    }

    /// Probes the batch path of each socket: batched sends unless `send` is false
    /// (`no_gso`), batched receives unless `recv` is false (`no_gro`).
    #[cfg(any(windows, target_os = "macos"))]
    pub(super) fn attach<'a>(
        &mut self,
        sockets: impl Iterator<Item = &'a UdpSocket>,
        send: bool,
        recv: bool,
    ) {
        for s in sockets {
            #[cfg(windows)]
            let batch = Batch::probe(s, send, recv);
            #[cfg(target_os = "macos")]
            let batch = Batch::new(send, recv);
            tracing::debug!(?batch, "udp batch path");
            self.batches.push((handle(s), batch));
        }
    }

    #[cfg(any(windows, target_os = "macos"))]
    fn batch(&self, socket: &UdpSocket) -> Option<&Batch> {
        let h = handle(socket);
        self.batches.iter().find(|(k, _)| *k == h).map(|(_, b)| b)
    }

    /// The path each socket takes now (IPv4 first).
    pub(super) fn paths(&self) -> Vec<BatchPath> {
        #[cfg(windows)]
        return self
            .batches
            .iter()
            .map(|(_, b)| {
                let a = b.active();
                BatchPath { send_batched: a.uso, recv_batched: a.uro }
            })
            .collect();
        #[cfg(target_os = "macos")]
        return self
            .batches
            .iter()
            .map(|(_, b)| BatchPath {
                send_batched: b.send_batched(),
                recv_batched: b.recv_batched(),
            })
            .collect();
        #[allow(unreachable_code)]
        Vec::new()
    }

    /// Datagrams dropped since these sockets opened (oversized, ICMP reports).
    pub(super) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    #[cfg_attr(not(windows), allow(dead_code))]
    fn push(&self, src: SocketAddr, data: &[u8]) {
        let mut q = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if q.len() < PENDING_MAX {
            q.push_back((src, data.to_vec()));
            self.has_pending.store(true, Ordering::Release);
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(windows)]
fn handle(s: &UdpSocket) -> super::RawSocketHandle {
    std::os::windows::io::AsRawSocket::as_raw_socket(s)
}

#[cfg(target_os = "macos")]
fn handle(s: &UdpSocket) -> super::RawSocketHandle {
    std::os::fd::AsRawFd::as_raw_fd(s)
}

/// Nothing to set up on a new socket (batch paths are probed once it is bound).
pub(super) fn setup(_socket: &socket2::Socket, _rx_gro: bool, _rx_timestamps: bool) {}

/// Receive timestamps are a Linux feature here.
pub(super) fn set_rx_timestamps(_socket: &std::net::UdpSocket, _on: bool) -> io::Result<()> {
    Ok(())
}

/// True when datagrams already received wait in `rx` for the next [`drain`].
#[cfg(unix)]
pub(super) fn pending(rx: &RxState) -> bool {
    rx.has_pending.load(Ordering::Acquire)
}

/// Moves datagrams left over from an earlier coalesced read into the buffers.
pub(super) fn drain(rx: &RxState, bufs: &mut [&mut [u8]], meta: &mut [RecvMeta]) -> usize {
    if !rx.has_pending.load(Ordering::Acquire) {
        return 0;
    }
    let mut q = rx.pending.lock().unwrap_or_else(PoisonError::into_inner);
    let mut n = 0;
    while n < bufs.len().min(meta.len()) {
        let Some((src, data)) = q.pop_front() else { break };
        match bufs[n].get_mut(..data.len()) {
            Some(dst) => {
                dst.copy_from_slice(&data);
                meta[n] = RecvMeta { len: data.len(), src, rx_time: None };
                n += 1;
            }
            None => {
                rx.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    rx.has_pending.store(!q.is_empty(), Ordering::Release);
    n
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
        match read_some(socket, &mut bufs[got..want], &mut meta[got..want], rx) {
            Ok(0) => dropped += 1, // a bad coalesced read, dropped whole
            Ok(n) => got += n,
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

/// One receive call: one datagram, or (batch path) several. `bufs`/`meta` are
/// non-empty and of equal length.
fn read_some(
    socket: &UdpSocket,
    bufs: &mut [&mut [u8]],
    meta: &mut [RecvMeta],
    rx: &RxState,
) -> io::Result<usize> {
    #[cfg(windows)]
    if let Some(b) = rx.batch(socket).filter(|b| b.uro_active()) {
        return read_coalesced(socket, b, bufs, meta, rx);
    }
    #[cfg(target_os = "macos")]
    if let Some(b) = rx.batch(socket).filter(|b| b.recv_batched()) {
        return read_batch(socket, b, bufs, meta, rx);
    }
    let _ = rx;
    let (len, src) = socket.recv_from(bufs[0])?;
    meta[0] = RecvMeta { len, src, rx_time: None };
    Ok(1)
}

/// Windows URO: one coalesced read into the thread's scratch buffer, cut into
/// datagrams, copied into the buffers; what does not fit waits for the next call.
#[cfg(windows)]
fn read_coalesced(
    socket: &UdpSocket,
    batch: &Batch,
    bufs: &mut [&mut [u8]],
    meta: &mut [RecvMeta],
    rx: &RxState,
) -> io::Result<usize> {
    use super::win_offload::{scatter, MAX_COALESCED};
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        scratch.resize(MAX_COALESCED, 0);
        let mut out = Vec::new();
        batch.recv(socket, &mut scratch, &mut out)?;
        let Some(src) = out.first().map(|o| o.1) else { return Ok(0) };
        let ranges: Vec<_> = out.into_iter().map(|o| o.0).collect();
        let mut lens = vec![0; bufs.len()];
        let s = scatter(&scratch, &ranges, bufs, &mut lens);
        for (m, len) in meta.iter_mut().zip(&lens[..s.placed]) {
            *m = RecvMeta { len: *len, src, rx_time: None };
        }
        rx.dropped.fetch_add(s.oversized as u64, Ordering::Relaxed);
        for r in &ranges[s.used..] {
            rx.push(src, &scratch[r.clone()]);
        }
        if s.placed == 0 && s.used < ranges.len() {
            // Everything went to the queue: hand it over now.
            return Ok(drain(rx, bufs, meta));
        }
        Ok(s.placed)
    })
}

/// macOS `recvmsg_x`: several datagrams straight into the buffers; any without an IP
/// source is dropped and the rest moved up.
#[cfg(target_os = "macos")]
fn read_batch(
    socket: &UdpSocket,
    batch: &Batch,
    bufs: &mut [&mut [u8]],
    meta: &mut [RecvMeta],
    rx: &RxState,
) -> io::Result<usize> {
    let mut out = Vec::with_capacity(bufs.len());
    batch.recv(socket, bufs, &mut out)?;
    let mut placed = 0;
    for (i, (len, src)) in out.into_iter().enumerate().take(bufs.len()) {
        let Some(src) = src else {
            rx.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let len = len.min(bufs[i].len());
        if placed != i {
            let (head, tail) = bufs.split_at_mut(i);
            head[placed][..len].copy_from_slice(&tail[0][..len]);
        }
        meta[placed] = RecvMeta { len, src, rx_time: None };
        placed += 1;
    }
    if placed == 0 && !bufs.is_empty() {
        return Ok(0);
    }
    Ok(placed)
}

/// Sends the datagrams: through the socket's batch path if it has one in use, else one
/// by one until one fails. Returns how many went out, or the first error if none did.
/// There is no GSO here; `_gso` is ignored.
pub(super) fn send(
    socket: &UdpSocket,
    datagrams: &[Transmit<'_>],
    _gso: &AtomicBool,
    rx: &RxState,
) -> io::Result<usize> {
    #[cfg(windows)]
    let batched = rx.batch(socket).filter(|b| b.active().uso && datagrams.len() > 1);
    #[cfg(target_os = "macos")]
    let batched = rx.batch(socket).filter(|b| b.send_batched() && datagrams.len() > 1);
    #[cfg(any(windows, target_os = "macos"))]
    if let Some(b) = batched {
        let list: Vec<(&[u8], SocketAddr)> = datagrams.iter().map(|d| (d.data, d.dst)).collect();
        return b.send(socket, &list);
    }
    let _ = rx;
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

#[cfg(all(test, any(windows, target_os = "macos")))]
mod tests {
    use super::super::UdpTransport;
    use ferrowg_core::io::{RecvMeta, Transmit, Transport};
    use std::net::{Ipv4Addr, SocketAddr};
    use std::time::Duration;

    /// A batch sent through the transport to itself over loopback comes back whole and
    /// in order, whichever path (batched or its fallback) the sockets took.
    #[test]
    fn transport_batch_round_trip_over_loopback() {
        let t = UdpTransport::bind(0).unwrap();
        let dst = SocketAddr::from((Ipv4Addr::LOCALHOST, t.local_port()));
        let payloads: Vec<Vec<u8>> =
            (0..8u8).map(|i| vec![i; if i == 7 { 200 } else { 1200 }]).collect();
        let tx: Vec<Transmit<'_>> = payloads.iter().map(|p| Transmit { dst, data: p }).collect();
        assert_eq!(t.send_batch(&tx).unwrap(), 8);
        let mut store = vec![vec![0u8; 2048]; 8];
        let mut got = Vec::new();
        for _ in 0..50 {
            if got.len() == 8 {
                break;
            }
            let mut bufs: Vec<&mut [u8]> = store.iter_mut().map(|b| b.as_mut_slice()).collect();
            let mut meta = vec![RecvMeta { len: 0, src: dst, rx_time: None }; 8];
            let n = t.recv_batch(&mut bufs, &mut meta, Duration::from_millis(200)).unwrap();
            for (b, m) in store.iter().zip(&meta).take(n) {
                assert_eq!(m.src, dst);
                got.push(b[..m.len].to_vec());
            }
        }
        assert_eq!(got, payloads);
        let paths = t.batch_paths();
        assert!(!paths.is_empty());
        eprintln!("udp batch paths (IPv4 first): {paths:?}");
        println!(
            "udp path taken: send {}, recv {}",
            if paths[0].send_batched { "batched" } else { "per-datagram fallback" },
            if paths[0].recv_batched { "batched" } else { "per-datagram fallback" },
        );
    }
}
