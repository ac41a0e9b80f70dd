//! Batched UDP on Windows (upstream wireguard-go sends and receives one datagram per
//! call there): a send batch goes out as USO super-datagrams and receives come back
//! coalesced (URO), both probed when the socket is wrapped, each falling back by itself —
//! USO to one `WSASendMsg` per datagram after a segmented send the stack refuses, URO to
//! plain receives once [`UroGuard`] has seen the NIC deliver bad coalesced data.
//!
//! [`WinBatch`] is the per-socket state the [`super::UdpTransport`] keeps next to each
//! of its sockets; [`WinBatchSocket`] bundles it with a socket of its own.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use socket2::{SockAddr, SockRef, Socket};

use super::win_offload::{group_for_uso, OffloadSupport, UroGuard};
use crate::sys::windows_offload::{disable_uro, probe, send_msg, RecvMsg};

/// Bad coalesced deliveries tolerated before URO is switched off.
const URO_BAD_LIMIT: u32 = 3;
/// `WSAEWOULDBLOCK`.
const WSAEWOULDBLOCK: i32 = 10035;

/// USO/URO state of one socket.
pub struct WinBatch {
    probed: OffloadSupport,
    uso: AtomicBool,
    uro: Mutex<UroGuard>,
    recvmsg: Option<RecvMsg>,
}

impl std::fmt::Debug for WinBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WinBatch")
            .field("probed", &self.probed)
            .field("active", &self.active())
            .finish_non_exhaustive()
    }
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(WSAEWOULDBLOCK)
}

impl WinBatch {
    /// Probes USO and URO on `sock` (URO is switched on if accepted); `allow_uso` /
    /// `allow_uro` false keep either off whatever the stack offers. Without
    /// `WSARecvMsg`, URO stays off.
    pub fn probe(sock: &UdpSocket, allow_uso: bool, allow_uro: bool) -> Self {
        let sock = &SockRef::from(sock);
        let probed = probe(sock);
        let recvmsg = RecvMsg::load(sock).ok();
        let uro = probed.uro && allow_uro && recvmsg.is_some();
        if probed.uro && !uro {
            let _ = disable_uro(sock);
        }
        Self {
            uso: AtomicBool::new(probed.uso && allow_uso),
            uro: Mutex::new(UroGuard::new(uro, URO_BAD_LIMIT)),
            probed,
            recvmsg,
        }
    }

    /// What the probe found.
    pub fn probed(&self) -> OffloadSupport {
        self.probed
    }

    /// Whether USO and URO are in use now (after any fallback).
    pub fn active(&self) -> OffloadSupport {
        let uro = self.uro.lock().is_ok_and(|g| g.enabled());
        OffloadSupport { uso: self.uso.load(Ordering::Relaxed), uro }
    }

    /// Sends `datagrams` (each with its destination) on `sock`: runs of equal-size
    /// datagrams to one destination as one USO send, the rest one by one. Returns how
    /// many went out; `Err` only if none did (a full buffer is `WouldBlock`).
    pub fn send(&self, sock: &UdpSocket, datagrams: &[(&[u8], SocketAddr)]) -> io::Result<usize> {
        let sock = &SockRef::from(sock);
        let lens: Vec<usize> = datagrams.iter().map(|d| d.0.len()).collect();
        let dsts: Vec<SocketAddr> = datagrams.iter().map(|d| d.1).collect();
        let mut sent = 0;
        for group in group_for_uso(&lens, &dsts) {
            let part = &datagrams[group.range.clone()];
            let to = SockAddr::from(part[0].1);
            let done = if part.len() > 1 && self.uso.load(Ordering::Relaxed) {
                let joined: Vec<u8> = part.iter().flat_map(|d| d.0.iter().copied()).collect();
                match send_msg(sock, &joined, &to, Some(group.segment as u32)) {
                    Ok(_) => Ok(part.len()),
                    Err(e) if would_block(&e) => Err(e),
                    Err(e) => {
                        // Refused: try the same datagrams one by one; if that works, the
                        // segmented send was the problem and USO is switched off.
                        let each = send_each(sock, part);
                        if matches!(each, Ok(n) if n == part.len()) {
                            tracing::debug!(error = %e, "USO send failed; USO switched off");
                            self.uso.store(false, Ordering::Relaxed);
                        }
                        each
                    }
                }
            } else {
                send_each(sock, part)
            };
            match done {
                Ok(n) => {
                    sent += n;
                    if n < part.len() {
                        break;
                    }
                }
                Err(e) if sent == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(sent)
    }

    /// Whether receives go through `WSARecvMsg` with URO (else: plain `recvfrom`).
    pub fn uro_active(&self) -> bool {
        self.uro.lock().is_ok_and(|g| g.enabled())
    }

    /// Receives one (possibly coalesced) read into `buf` and appends each datagram's
    /// range and source to `out`; returns how many were appended (0: a bad coalesced
    /// read was dropped).
    pub fn recv(
        &self,
        sock: &UdpSocket,
        buf: &mut [u8],
        out: &mut Vec<(Range<usize>, SocketAddr)>,
    ) -> io::Result<usize> {
        let Some(recvmsg) = &self.recvmsg else {
            let (len, src) = sock.recv_from(buf)?;
            out.push((0..len, src));
            return Ok(1);
        };
        let sock = &SockRef::from(sock);
        let (len, src, seg) = recvmsg.recv(sock, buf)?;
        let ranges = match seg {
            Some(seg) if (seg as usize) < len => {
                let mut guard = self.uro.lock().map_err(|_| io::Error::other("poisoned"))?;
                let was = guard.enabled();
                let split = guard.check(len, seg as usize);
                if was && !guard.enabled() {
                    tracing::warn!("bad coalesced UDP data from the NIC; URO switched off");
                    let _ = disable_uro(sock);
                }
                split.unwrap_or_default()
            }
            _ => std::iter::once(0..len).collect(),
        };
        let n = ranges.len();
        out.extend(ranges.into_iter().map(|r| (r, src)));
        Ok(n)
    }

    /// Reports that datagrams cut from a coalesced read failed authentication while the
    /// same peer's plain datagrams pass (the engine's view of bad coalescing); after a
    /// few, URO is switched off.
    pub fn report_bad_coalesced(&self, sock: &UdpSocket) {
        if let Ok(mut g) = self.uro.lock() {
            if g.report_bad_segment() {
                tracing::warn!("coalesced UDP data failed authentication; URO switched off");
                let _ = disable_uro(&SockRef::from(sock));
            }
        }
    }
}

/// Sends one `WSASendMsg` per datagram; `Ok(n)` for a prefix, `Err` if the first fails.
fn send_each(sock: &Socket, part: &[(&[u8], SocketAddr)]) -> io::Result<usize> {
    for (i, (d, dst)) in part.iter().enumerate() {
        if let Err(e) = send_msg(sock, d, &SockAddr::from(*dst), None) {
            return if i == 0 { Err(e) } else { Ok(i) };
        }
    }
    Ok(part.len())
}

/// A UDP socket with USO/URO where the stack has them.
#[derive(Debug)]
pub struct WinBatchSocket {
    sock: UdpSocket,
    batch: WinBatch,
}

impl WinBatchSocket {
    /// Wraps a bound UDP socket, probing USO and URO (URO is switched on if accepted).
    pub fn new(sock: Socket) -> io::Result<Self> {
        let sock = UdpSocket::from(sock);
        let batch = WinBatch::probe(&sock, true, true);
        Ok(Self { sock, batch })
    }

    /// What the probe found.
    pub fn probed(&self) -> OffloadSupport {
        self.batch.probed()
    }

    /// Whether USO and URO are in use now (after any fallback).
    pub fn active(&self) -> OffloadSupport {
        self.batch.active()
    }

    /// The wrapped socket.
    pub fn socket(&self) -> &UdpSocket {
        &self.sock
    }

    /// Sends `datagrams` to `dst`; returns how many went out (a failure after the first
    /// ends the batch early, as a full send buffer does).
    pub fn send_batch(&self, datagrams: &[&[u8]], dst: SocketAddr) -> io::Result<usize> {
        let list: Vec<(&[u8], SocketAddr)> = datagrams.iter().map(|d| (*d, dst)).collect();
        self.batch.send(&self.sock, &list)
    }

    /// Receives one (possibly coalesced) read into `buf` and appends each datagram's
    /// range and source to `out`; returns how many were appended.
    pub fn recv(
        &self,
        buf: &mut [u8],
        out: &mut Vec<(Range<usize>, SocketAddr)>,
    ) -> io::Result<usize> {
        self.batch.recv(&self.sock, buf, out)
    }

    /// See [`WinBatch::report_bad_coalesced`].
    pub fn report_bad_coalesced(&self) {
        self.batch.report_bad_coalesced(&self.sock);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Protocol, Type};
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn bound() -> Socket {
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).unwrap();
        s.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s
    }

    /// Whatever the stack offers (wine: neither), a batch arrives whole and in order.
    #[test]
    fn batch_arrives_whole_with_or_without_offloads() {
        let rx = WinBatchSocket::new(bound()).unwrap();
        let tx = WinBatchSocket::new(bound()).unwrap();
        let dst = rx.socket().local_addr().unwrap();
        let payloads: Vec<Vec<u8>> =
            (0..6u8).map(|i| vec![i; if i == 5 { 300 } else { 1000 }]).collect();
        let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();
        assert_eq!(tx.send_batch(&refs, dst).unwrap(), 6);
        let mut got: Vec<Vec<u8>> = Vec::new();
        let mut buf = vec![0u8; 65_536];
        while got.len() < 6 {
            let mut out = Vec::new();
            rx.recv(&mut buf, &mut out).unwrap();
            for (r, src) in out {
                assert_eq!(src, tx.socket().local_addr().unwrap());
                got.push(buf[r].to_vec());
            }
        }
        assert_eq!(got, payloads);
        eprintln!("offloads probed: {:?}", rx.probed());
    }

    #[test]
    fn bad_coalesced_reports_switch_uro_off() {
        let s = WinBatchSocket::new(bound()).unwrap();
        for _ in 0..URO_BAD_LIMIT {
            s.report_bad_coalesced();
        }
        assert!(!s.active().uro);
    }
}
