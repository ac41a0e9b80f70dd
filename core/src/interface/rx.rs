//! Receiving: classify a datagram (read-only), then, after the crypto stage, accept the
//! batch in arrival order (replay window, inner packet, source address check, and per
//! run of one peer its timers, roaming and session confirmation).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tracing::Level;

use super::batch::OpenRec;
use super::slot::PeerSlot;
use super::{Interface, Output, Snapshot};
use crate::allowedips::Table;
use crate::error::DropReason;
use crate::keypair::Keypair;
use crate::logging::event_limited;
use crate::messages::{
    Data, INITIATION_LEN, MESSAGE_TYPE_COOKIE_REPLY, MESSAGE_TYPE_DATA, MESSAGE_TYPE_INITIATION,
    MESSAGE_TYPE_RESPONSE,
};
use crate::peer::inner_packet_len;

/// What [`Interface::classify`] made of a datagram.
pub enum Incoming {
    /// A data message for a live session: open it ([`OpenRec::open`]), then
    /// [`Interface::accept`] it.
    Data(OpenRec),
    /// A handshake message: hand it to [`Interface::handle_handshake`] (the engine
    /// queues it for its control thread).
    Handshake,
    /// Dropped and counted.
    Dropped,
}

/// Per-peer bookkeeping of consecutive accepted packets, applied once per run.
struct RxRun {
    peer: Arc<PeerSlot>,
    keypair: Arc<Keypair>,
    src: SocketAddr,
    bytes: usize,
    plain: usize,
    packets: u64,
}

impl Interface {
    /// The classify stage for one received datagram (`slot`: its buffer's index in the
    /// batch): message type, and for data the session its receiver index names.
    pub fn classify(&self, dgram: &[u8], src: SocketAddr, slot: usize, now: Instant) -> Incoming {
        match dgram.first().copied() {
            Some(MESSAGE_TYPE_DATA) => {}
            Some(MESSAGE_TYPE_INITIATION | MESSAGE_TYPE_RESPONSE | MESSAGE_TYPE_COOKIE_REPLY) => {
                if dgram.len() > INITIATION_LEN {
                    self.rx_drop(DropReason::WrongLength, src, now);
                    return Incoming::Dropped;
                }
                return Incoming::Handshake;
            }
            _ => {
                self.rx_drop(DropReason::UnknownType, src, now);
                return Incoming::Dropped;
            }
        }
        let index = match Data::parse(dgram) {
            Ok(d) => d.receiver_index,
            Err(reason) => {
                self.rx_drop(reason, src, now);
                return Incoming::Dropped;
            }
        };
        let Some(entry) = self.indices.get(index) else {
            self.rx_drop(DropReason::UnknownIndex, src, now);
            return Incoming::Dropped;
        };
        let Some(keypair) = entry.keypair else {
            self.rx_drop(DropReason::UnknownIndex, src, now);
            return Incoming::Dropped;
        };
        if keypair.is_expired(now) {
            entry.peer.counters.drop(DropReason::KeyExpired);
            return Incoming::Dropped;
        }
        Incoming::Data(OpenRec {
            slot,
            len: dgram.len(),
            src,
            peer: entry.peer,
            keypair,
            result: Err(DropReason::DecryptFailed),
        })
    }

    /// The accept stage for a batch of opened records, in arrival order: replay
    /// window, inner packet, source address; per run of one peer its timers, roaming
    /// and session confirmation. Pushes `(slot, len)` for every inner packet to deliver
    /// (at `bufs[slot][DATA_HEADER_LEN..][..len]`); drains `recs`.
    #[allow(clippy::too_many_arguments)]
    pub fn accept(
        &self,
        recs: &mut Vec<OpenRec>,
        bufs: &[Vec<u8>],
        now: Instant,
        wall: SystemTime,
        scratch: &mut [u8],
        out: &mut dyn Output,
        deliver: &mut Vec<(usize, usize)>,
    ) {
        let snap = self.snapshot.load();
        let mut run: Option<RxRun> = None;
        for rec in recs.drain(..) {
            let slot = rec.slot;
            let Some(dgram) = bufs.get(slot).and_then(|b| b.get(..rec.len)) else { continue };
            if let Ok(len) = self.accept_one(&snap, rec, dgram, now, wall, &mut run, scratch, out) {
                if len > 0 {
                    deliver.push((slot, len));
                }
            }
        }
        if let Some(r) = run.take() {
            self.finish_run(r, now, wall, scratch, out);
        }
    }

    /// `Ok(len)`: an inner packet of `len` bytes at `dgram[DATA_HEADER_LEN..]` to
    /// deliver (0 for a keepalive); `Err(())`: dropped and counted.
    #[allow(clippy::too_many_arguments)]
    fn accept_one(
        &self,
        snap: &Snapshot,
        rec: OpenRec,
        dgram: &[u8],
        now: Instant,
        wall: SystemTime,
        run: &mut Option<RxRun>,
        scratch: &mut [u8],
        out: &mut dyn Output,
    ) -> Result<usize, ()> {
        let OpenRec { peer, keypair, src, result, .. } = rec;
        let fail = |reason: DropReason| {
            peer.counters.drop(reason);
            event_limited!(
                now, Level::DEBUG, target: "ferrowg::rx",
                peer = %peer.public_key, %src, %reason, "data packet dropped"
            );
        };
        let (counter, range) = result.map_err(fail)?;
        if !keypair.accept_counter(counter) {
            fail(DropReason::Replay);
            return Err(());
        }
        let same = run
            .as_ref()
            .is_some_and(|r| Arc::ptr_eq(&r.peer, &peer) && Arc::ptr_eq(&r.keypair, &keypair));
        if !same {
            if let Some(r) = run.take() {
                self.finish_run(r, now, wall, scratch, out);
            }
            *run = Some(RxRun {
                peer: peer.clone(),
                keypair: keypair.clone(),
                src,
                bytes: 0,
                plain: 0,
                packets: 0,
            });
        }
        let plain = dgram.get(range).unwrap_or_default();
        if let Some(r) = run.as_mut() {
            r.src = src;
            r.bytes += dgram.len();
            r.plain += plain.len();
            r.packets += 1;
        }
        let len = inner_packet_len(plain).map_err(fail)?;
        if len == 0 {
            return Ok(0);
        }
        let pkt = plain.get(..len).unwrap_or_default();
        check_source(&snap.routes, &peer, pkt).map_err(fail)?;
        Ok(len)
    }

    /// Counts a drop of a datagram no peer was found for, and logs it (rate-limited: a
    /// flood of garbage must not become a flood of log lines).
    fn rx_drop(&self, reason: DropReason, src: SocketAddr, now: Instant) {
        self.count_drop(reason);
        event_limited!(now, Level::DEBUG, target: "ferrowg::rx", %src, %reason, "datagram dropped");
    }

    /// Applies a run's counters, timers, roaming and session confirmation.
    fn finish_run(
        &self,
        r: RxRun,
        now: Instant,
        wall: SystemTime,
        scratch: &mut [u8],
        out: &mut dyn Output,
    ) {
        let RxRun { peer, keypair, src, bytes, plain, packets } = r;
        peer.counters.rx_packets.fetch_add(packets, Ordering::Relaxed);
        self.with_peer(&peer, now, scratch, out, |p| {
            p.on_data_received(&keypair, src, bytes, plain, now, wall);
        });
    }
}

/// Checks that the packet's source address belongs to `peer`.
fn check_source(
    routes: &Table<Arc<PeerSlot>>,
    peer: &Arc<PeerSlot>,
    p: &[u8],
) -> Result<(), DropReason> {
    let owner = match p.first().map(|b| b >> 4) {
        Some(4) => p.get(12..16).and_then(|s| s.try_into().ok()).and_then(|a| routes.lookup_v4(a)),
        Some(6) => p.get(8..24).and_then(|s| s.try_into().ok()).and_then(|a| routes.lookup_v6(a)),
        _ => return Err(DropReason::InvalidInnerPacket),
    };
    match owner {
        Some(o) if Arc::ptr_eq(o, peer) => Ok(()),
        _ => Err(DropReason::DisallowedSource),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interface::tx::tests::{routes, v4_packet, v6_packet};

    #[test]
    fn source_must_belong_to_the_sending_peer() {
        let (t, a, b) = routes();
        assert_eq!(check_source(&t, &a, &v4_packet([10, 2, 3, 4], [1; 4])), Ok(()));
        // In A's /8 but B's more specific /16: not A's.
        assert_eq!(
            check_source(&t, &a, &v4_packet([10, 1, 3, 4], [1; 4])),
            Err(DropReason::DisallowedSource)
        );
        assert_eq!(
            check_source(&t, &b, &v4_packet([192, 168, 0, 1], [1; 4])),
            Err(DropReason::DisallowedSource)
        );
        let mut src = [0u8; 16];
        src[0] = 0xfd;
        src[15] = 9;
        assert_eq!(check_source(&t, &b, &v6_packet(src, [0; 16])), Ok(()));
        assert_eq!(
            check_source(&t, &a, &v6_packet(src, [0; 16])),
            Err(DropReason::DisallowedSource)
        );
        assert_eq!(check_source(&t, &a, &[0x70; 40]), Err(DropReason::InvalidInnerPacket));
    }
}
