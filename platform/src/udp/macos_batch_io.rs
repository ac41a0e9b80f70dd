//! Batched UDP on macOS (upstream wireguard-go uses one datagram per call there):
//! `sendmsg_x` for send batches with the partial-send handling of
//! [`super::macos_batch::send_step`], `recvmsg_x` only on macOS 15.6 or later, and
//! one-at-a-time fallbacks.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::Mutex;

use socket2::SockAddr;

use super::macos_batch::{chunks, recvmsg_x_allowed, send_step, BatchHealth, MacVersion, SendStep};
use crate::sys::macos_batch as sys;

/// Consecutive batch failures before `sendmsg_x` is given up on.
const SEND_FAILURE_LIMIT: u32 = 3;

/// A UDP socket sending (and, where safe, receiving) in batches.
#[derive(Debug)]
pub struct MacBatchSocket {
    sock: UdpSocket,
    recv_batched: bool,
    health: Mutex<BatchHealth>,
}

impl MacBatchSocket {
    /// Wraps a bound, non-blocking UDP socket; `recvmsg_x` is used only if the running
    /// macOS is 15.6 or later.
    pub fn new(sock: UdpSocket) -> Self {
        let version = sys::os_product_version().as_deref().and_then(MacVersion::parse);
        Self {
            sock,
            recv_batched: recvmsg_x_allowed(version),
            health: Mutex::new(BatchHealth::new(SEND_FAILURE_LIMIT)),
        }
    }

    /// Whether receives use `recvmsg_x`.
    pub fn recv_batched(&self) -> bool {
        self.recv_batched
    }

    /// Sends `datagrams` to `dst`; returns how many were handed to the kernel.
    pub fn send_batch(&self, datagrams: &[&[u8]], dst: SocketAddr) -> io::Result<usize> {
        let to = SockAddr::from(dst);
        let batched = self.health.lock().is_ok_and(|h| h.enabled());
        if !batched {
            return self.send_each(datagrams, dst);
        }
        let mut sent = 0;
        for chunk in chunks(datagrams.len()) {
            let mut start = chunk.start;
            while start < chunk.end {
                let part = &datagrams[start..chunk.end];
                let step = send_step(sys::send_batch(self.sock.as_fd(), part, &to), part.len());
                if let Ok(mut h) = self.health.lock() {
                    h.record(step);
                }
                match step {
                    SendStep::Done => start = chunk.end,
                    SendStep::Continue { sent } => start += sent,
                    // Full socket buffer: report what went out; the caller retries.
                    SendStep::WouldBlock => return Ok(sent + start - chunk.start),
                    // No count: re-send the rest one by one (duplicates are dropped by
                    // the receiver's replay window).
                    SendStep::FallbackEach => {
                        let n = self.send_each(part, dst)?;
                        start += n;
                        if start < chunk.end {
                            return Ok(sent + start - chunk.start);
                        }
                    }
                }
            }
            sent += chunk.len();
        }
        Ok(sent)
    }

    fn send_each(&self, datagrams: &[&[u8]], to: SocketAddr) -> io::Result<usize> {
        for (i, d) in datagrams.iter().enumerate() {
            if let Err(e) = self.sock.send_to(d, to) {
                return if i == 0 { Err(e) } else { Ok(i) };
            }
        }
        Ok(datagrams.len())
    }

    /// Receives up to `bufs.len()` datagrams (one per call where `recvmsg_x` is not
    /// allowed); `out` gets each one's length and source.
    pub fn recv_batch(
        &self,
        bufs: &mut [&mut [u8]],
        out: &mut Vec<(usize, Option<SocketAddr>)>,
    ) -> io::Result<usize> {
        if self.recv_batched {
            return sys::recv_batch(self.sock.as_fd(), bufs, out);
        }
        let Some(first) = bufs.first_mut() else { return Ok(0) };
        let (len, src) = self.sock.recv_from(first)?;
        out.push((len, Some(src)));
        Ok(1)
    }
}
