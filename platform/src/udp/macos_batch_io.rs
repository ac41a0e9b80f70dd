//! Batched UDP on macOS (upstream wireguard-go uses one datagram per call there):
//! `sendmsg_x` for send batches with the partial-send handling of
//! [`super::macos_batch::send_step`], `recvmsg_x` only on macOS 15.6 or later, and
//! one-at-a-time fallbacks. [`MacBatch`] is the per-socket state the
//! [`super::UdpTransport`] keeps next to each of its sockets.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::Mutex;

use socket2::SockAddr;

use super::macos_batch::{chunks, recvmsg_x_allowed, send_step, BatchHealth, MacVersion, SendStep};
use crate::sys::macos_batch as sys;

/// Consecutive batch failures before `sendmsg_x` is given up on.
const SEND_FAILURE_LIMIT: u32 = 3;

/// The batching state of one UDP socket.
#[derive(Debug)]
pub struct MacBatch {
    send_allowed: bool,
    recv_batched: bool,
    health: Mutex<BatchHealth>,
}

impl MacBatch {
    /// State for a bound, non-blocking UDP socket: `sendmsg_x` if `allow_send`,
    /// `recvmsg_x` if `allow_recv` and the running macOS is 15.6 or later.
    pub fn new(allow_send: bool, allow_recv: bool) -> Self {
        let version = sys::os_product_version().as_deref().and_then(MacVersion::parse);
        Self {
            send_allowed: allow_send,
            recv_batched: allow_recv && recvmsg_x_allowed(version),
            health: Mutex::new(BatchHealth::new(SEND_FAILURE_LIMIT)),
        }
    }

    /// Whether receives use `recvmsg_x`.
    pub fn recv_batched(&self) -> bool {
        self.recv_batched
    }

    /// Whether sends use `sendmsg_x` (it switches itself off after repeated errors).
    pub fn send_batched(&self) -> bool {
        self.send_allowed && self.health.lock().is_ok_and(|h| h.enabled())
    }

    /// Sends `datagrams` (each with its destination): runs to one destination with
    /// `sendmsg_x`, the rest one by one. Returns how many were handed to the kernel;
    /// `Err` only if none were (a full buffer is `WouldBlock`).
    pub fn send(&self, sock: &UdpSocket, datagrams: &[(&[u8], SocketAddr)]) -> io::Result<usize> {
        let mut done = 0;
        while done < datagrams.len() {
            let dst = datagrams[done].1;
            let run = datagrams[done..].iter().take_while(|d| d.1 == dst).count();
            let bufs: Vec<&[u8]> = datagrams[done..done + run].iter().map(|d| d.0).collect();
            match self.send_to_one(sock, &bufs, dst) {
                Ok(n) => {
                    done += n;
                    if n < run {
                        break;
                    }
                }
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(done)
    }

    fn send_to_one(
        &self,
        sock: &UdpSocket,
        datagrams: &[&[u8]],
        dst: SocketAddr,
    ) -> io::Result<usize> {
        if datagrams.len() < 2 || !self.send_batched() {
            return send_each(sock, datagrams, dst);
        }
        let to = SockAddr::from(dst);
        let mut sent = 0;
        for chunk in chunks(datagrams.len()) {
            let mut start = chunk.start;
            while start < chunk.end {
                let part = &datagrams[start..chunk.end];
                let step = send_step(sys::send_batch(sock.as_fd(), part, &to), part.len());
                if let Ok(mut h) = self.health.lock() {
                    if h.record(step) {
                        tracing::info!("sendmsg_x keeps failing; sending one datagram per call");
                    }
                }
                match step {
                    SendStep::Done => start = chunk.end,
                    SendStep::Continue { sent } => start += sent,
                    // Full socket buffer: report what went out; the caller waits.
                    SendStep::WouldBlock => {
                        let n = sent + start - chunk.start;
                        return if n == 0 { Err(io::ErrorKind::WouldBlock.into()) } else { Ok(n) };
                    }
                    // No count: re-send the rest one by one (duplicates are dropped by
                    // the receiver's replay window).
                    SendStep::FallbackEach => {
                        let n = match send_each(sock, part, dst) {
                            Ok(n) => n,
                            Err(e) if sent + start - chunk.start == 0 => return Err(e),
                            Err(_) => 0,
                        };
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

    /// Receives up to `bufs.len()` datagrams (one per call where `recvmsg_x` is not
    /// allowed); `out` gets each one's length and source (`None`: not an IP source).
    pub fn recv(
        &self,
        sock: &UdpSocket,
        bufs: &mut [&mut [u8]],
        out: &mut Vec<(usize, Option<SocketAddr>)>,
    ) -> io::Result<usize> {
        if self.recv_batched() {
            return sys::recv_batch(sock.as_fd(), bufs, out);
        }
        let Some(first) = bufs.first_mut() else { return Ok(0) };
        let (len, src) = sock.recv_from(first)?;
        out.push((len, Some(src)));
        Ok(1)
    }
}

fn send_each(sock: &UdpSocket, datagrams: &[&[u8]], to: SocketAddr) -> io::Result<usize> {
    for (i, d) in datagrams.iter().enumerate() {
        if let Err(e) = sock.send_to(d, to) {
            return if i == 0 { Err(e) } else { Ok(i) };
        }
    }
    Ok(datagrams.len())
}
