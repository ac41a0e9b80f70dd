//! Linux TUN segmentation offload: a TUN opened with `IFF_VNET_HDR` and `TUNSETOFFLOAD`
//! (checksum, TSO4/6, and USO4/6 where the kernel has them) reads TCP/UDP super-frames of
//! up to 64 KiB and accepts them on write, each behind a virtio-net header.
//!
//! [`Vnet::recv_batch`] reads frames and hands the engine MTU-sized packets (split by
//! [`ferrowg_core::offload::segment`]; a frame with more segments than the batch has room
//! for is finished on the next call). [`Vnet::send_batch`] merges runs of consecutive
//! in-order segments of one flow ([`ferrowg_core::offload::coalesce`]) and writes each run
//! in one `writev(2)` (merged headers, then the payloads where they lie: no copy); anything else goes out alone behind an empty header. The engine
//! sees plain packets either way.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ferrowg_core::offload::coalesce::{self, MAX_FRAME};
use ferrowg_core::offload::segment::{self, Plan};
use ferrowg_core::offload::virtio;

use crate::sys::unix::{self as sys, Readiness};

/// `TUN_F_*` flags for TCP: checksum offload plus TSO for both IP versions.
pub(crate) const TCP_OFFLOADS: libc::c_uint =
    libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6;
/// `TUN_F_*` flags for UDP segmentation offload (Linux ≥ 6.2).
pub(crate) const UDP_OFFLOADS: libc::c_uint = libc::TUN_F_USO4 | libc::TUN_F_USO6;
/// A whole frame: the header plus the largest IP packet.
const FRAME_BUF: usize = virtio::LEN + MAX_FRAME;
/// Most packets merged into one write (one `iovec` each, plus the header's).
const MAX_RUN: usize = 128;

/// The offload state of one TUN queue.
#[derive(Debug)]
pub(crate) struct Vnet {
    /// The kernel accepted USO: UDP runs may be merged on write.
    udp: bool,
    rx: Mutex<Rx>,
}

#[derive(Debug)]
struct Rx {
    buf: Vec<u8>,
    len: usize,
    /// The frame in `buf` and the next of its packets to hand out.
    pending: Option<(Plan, usize)>,
}

/// What a batch call did besides moving packets.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Tally {
    /// Frames or packets dropped (malformed from the TUN, refused by it).
    pub(crate) dropped: u64,
}

impl Vnet {
    pub(crate) fn new(udp: bool) -> Self {
        Self { udp, rx: Mutex::new(Rx { buf: vec![0; FRAME_BUF], len: 0, pending: None }) }
    }

    /// Whether UDP segmentation offload is on.
    pub(crate) fn udp(&self) -> bool {
        self.udp
    }

    /// [`ferrowg_core::io::Tun::recv_batch`] over a vnet-header fd.
    pub(crate) fn recv_batch(
        &self,
        fd: BorrowedFd<'_>,
        mtu: usize,
        bufs: &mut [&mut [u8]],
        sizes: &mut [usize],
        timeout: Duration,
        tally: &mut Tally,
    ) -> io::Result<usize> {
        let want = bufs.len().min(sizes.len());
        let mut rx = self.rx.lock().unwrap_or_else(PoisonError::into_inner);
        let rx = &mut *rx;
        let mut got = 0;
        let mut waited = false;
        while got < want {
            if let Some((plan, next)) = rx.pending.as_mut() {
                let frame = rx.buf.get(..rx.len).unwrap_or_default();
                while *next < plan.segments() && got < want {
                    let out = bufs.get_mut(got).map(|b| &mut **b).unwrap_or_default();
                    match segment::write_segment(frame, plan, *next, out) {
                        Ok(n) => {
                            sizes[got] = n;
                            got += 1;
                        }
                        Err(_) => tally.dropped += 1,
                    }
                    *next += 1;
                }
                if *next >= plan.segments() {
                    rx.pending = None;
                }
                continue;
            }
            match sys::read(fd, &mut rx.buf) {
                Ok(n) => {
                    rx.len = n;
                    match segment::plan(rx.buf.get(..n).unwrap_or_default(), mtu) {
                        Ok(plan) => rx.pending = Some((plan, 0)),
                        Err(e) => {
                            tracing::trace!(error = %e, "dropped a TUN frame");
                            tally.dropped += 1;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if got > 0 || waited || timeout.is_zero() {
                        break;
                    }
                    waited = true;
                    if !sys::poll(&[fd], Readiness::Read, timeout)? {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if got > 0 => {
                    tracing::debug!(error = %e, "tun read failed after {got} packets");
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(got)
    }

    /// [`ferrowg_core::io::Tun::send_batch`] over a vnet-header fd.
    pub(crate) fn send_batch(
        &self,
        fd: BorrowedFd<'_>,
        packets: &[&[u8]],
        write_wait: Duration,
        tally: &mut Tally,
    ) -> io::Result<usize> {
        let mut head = [0u8; coalesce::MAX_HEADER];
        let mut done = 0;
        let mut waited = false;
        while let Some(rest) = packets.get(done..).filter(|r| !r.is_empty()) {
            let rest = rest.get(..MAX_RUN).unwrap_or(rest);
            let k = coalesce::run_len(rest, self.udp, MAX_FRAME).max(1);
            let run = rest.get(..k).unwrap_or_default();
            let written = match run {
                [one] => sys::write_prefixed(fd, &[0u8; virtio::LEN], one),
                _ => match coalesce::build_header(run, &mut head) {
                    // Gather write: merged headers, then every packet's payload.
                    Some((n, hdr_len)) => {
                        let mut iov = [io::IoSlice::new(&[]); MAX_RUN + 1];
                        iov[0] = io::IoSlice::new(head.get(..n).unwrap_or_default());
                        for (slot, p) in iov[1..].iter_mut().zip(run) {
                            *slot = io::IoSlice::new(p.get(hdr_len..).unwrap_or_default());
                        }
                        sys::writev(fd, iov.get(..=run.len()).unwrap_or_default())
                    }
                    None => Err(io::Error::from(io::ErrorKind::InvalidInput)),
                },
            };
            match written {
                Ok(_) => done += k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if waited || !sys::poll(&[fd], Readiness::Write, write_wait)? {
                        break;
                    }
                    waited = true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A frame the OS refuses (bad header, too big) is dropped, not retried.
                Err(e)
                    if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EMSGSIZE))
                        || e.kind() == io::ErrorKind::InvalidInput =>
                {
                    tally.dropped += k as u64;
                    done += k;
                }
                Err(e) if done > 0 => {
                    tracing::debug!(error = %e, "tun write failed after {done} packets");
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
}
