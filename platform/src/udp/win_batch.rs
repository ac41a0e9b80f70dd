//! Batched UDP on Windows (upstream wireguard-go sends and receives one datagram per
//! call there): a send batch goes out as USO super-datagrams and receives come back
//! coalesced (URO), both probed when the socket is wrapped, each falling back by itself —
//! USO to one `WSASendMsg` per datagram after a failed segmented send, URO to plain
//! receives once [`UroGuard`] has seen the NIC deliver bad coalesced data.

use std::io;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use socket2::{SockAddr, Socket};

use super::win_offload::{group_for_uso, OffloadSupport, UroGuard};
use crate::sys::windows_offload::{disable_uro, probe, send_msg, RecvMsg};

/// Bad coalesced deliveries tolerated before URO is switched off.
const URO_BAD_LIMIT: u32 = 3;

/// A UDP socket with USO/URO where the stack has them.
pub struct WinBatchSocket {
    sock: Socket,
    probed: OffloadSupport,
    uso: AtomicBool,
    uro: Mutex<UroGuard>,
    recvmsg: RecvMsg,
}

impl std::fmt::Debug for WinBatchSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WinBatchSocket").field("probed", &self.probed).finish_non_exhaustive()
    }
}

impl WinBatchSocket {
    /// Wraps a bound UDP socket, probing USO and URO (URO is switched on if accepted).
    pub fn new(sock: Socket) -> io::Result<Self> {
        let probed = probe(&sock);
        let recvmsg = RecvMsg::load(&sock)?;
        Ok(Self {
            uso: AtomicBool::new(probed.uso),
            uro: Mutex::new(UroGuard::new(probed.uro, URO_BAD_LIMIT)),
            probed,
            sock,
            recvmsg,
        })
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

    /// The wrapped socket.
    pub fn socket(&self) -> &Socket {
        &self.sock
    }

    /// Sends `datagrams` to `dst`; returns how many went out (a failure after the first
    /// ends the batch early, as a full send buffer does).
    pub fn send_batch(&self, datagrams: &[&[u8]], dst: SocketAddr) -> io::Result<usize> {
        let to = SockAddr::from(dst);
        let lens: Vec<usize> = datagrams.iter().map(|d| d.len()).collect();
        let keys = vec![(); datagrams.len()];
        let mut sent = 0;
        for group in group_for_uso(&lens, &keys) {
            let part = &datagrams[group.range.clone()];
            let done = if part.len() > 1 && self.uso.load(Ordering::Relaxed) {
                let joined: Vec<u8> = part.concat();
                match send_msg(&self.sock, &joined, &to, Some(group.segment as u32)) {
                    Ok(_) => part.len(),
                    Err(e) => {
                        // The stack refused the segmented send: no USO from now on.
                        tracing::debug!(error = %e, "USO send failed; falling back");
                        self.uso.store(false, Ordering::Relaxed);
                        self.send_each(part, &to, sent)?
                    }
                }
            } else {
                self.send_each(part, &to, sent)?
            };
            sent += done;
            if done < part.len() {
                break;
            }
        }
        Ok(sent)
    }

    fn send_each(&self, part: &[&[u8]], to: &SockAddr, before: usize) -> io::Result<usize> {
        for (i, d) in part.iter().enumerate() {
            if let Err(e) = send_msg(&self.sock, d, to, None) {
                if before + i == 0 {
                    return Err(e);
                }
                return Ok(i);
            }
        }
        Ok(part.len())
    }

    /// Receives one (possibly coalesced) read into `buf` and appends each datagram's
    /// range and source to `out`; returns how many were appended.
    pub fn recv(
        &self,
        buf: &mut [u8],
        out: &mut Vec<(Range<usize>, SocketAddr)>,
    ) -> io::Result<usize> {
        let (len, src, seg) = self.recvmsg.recv(&self.sock, buf)?;
        let ranges = match seg {
            Some(seg) if (seg as usize) < len => {
                let mut guard = self.uro.lock().map_err(|_| io::Error::other("poisoned"))?;
                let was = guard.enabled();
                let split = guard.check(len, seg as usize);
                if was && !guard.enabled() {
                    tracing::warn!("bad coalesced UDP data from the NIC; URO switched off");
                    let _ = disable_uro(&self.sock);
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
    pub fn report_bad_coalesced(&self) {
        if let Ok(mut g) = self.uro.lock() {
            if g.report_bad_segment() {
                tracing::warn!("coalesced UDP data failed authentication; URO switched off");
                let _ = disable_uro(&self.sock);
            }
        }
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
        let dst = rx.socket().local_addr().unwrap().as_socket().unwrap();
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
                assert_eq!(src, tx.socket().local_addr().unwrap().as_socket().unwrap());
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
