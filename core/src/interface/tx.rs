//! Sending: route a NIC batch by destination (read-only), then per run of one peer,
//! under its lock, take counters for the packets (or stage them behind a handshake).
//! The caller seals the records ([`super::SealRec::seal`]) and sends them in order.

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::batch::{padded_len, SealRec};
use super::slot::PeerSlot;
use super::{output, Interface, Output};
use crate::allowedips::Table;
use crate::error::DropReason;
use crate::messages::{AEAD_TAG_LEN, DATA_HEADER_LEN};

impl Interface {
    /// The route stage for a NIC batch: for each of the first `n` packets (at
    /// `bufs[k][DATA_HEADER_LEN..][..sizes[k]]`) the peer its destination routes to,
    /// or `None` (dropped and counted). Replaces `targets`.
    pub fn route_batch(
        &self,
        bufs: &[Vec<u8>],
        sizes: &[usize],
        n: usize,
        targets: &mut Vec<Option<Arc<PeerSlot>>>,
    ) {
        let snap = self.snapshot.load();
        targets.clear();
        for (buf, &len) in bufs.iter().zip(sizes).take(n) {
            let pkt = buf.get(DATA_HEADER_LEN..DATA_HEADER_LEN + len).unwrap_or_default();
            targets.push(self.route_one(&snap.routes, pkt));
        }
    }

    /// [`Interface::route_batch`] for one packet (the queued TX path routes as it reads).
    pub fn route(&self, pkt: &[u8]) -> Option<Arc<PeerSlot>> {
        self.route_one(&self.snapshot.load().routes, pkt)
    }

    fn route_one(&self, routes: &Table<Arc<PeerSlot>>, pkt: &[u8]) -> Option<Arc<PeerSlot>> {
        match route_by_dst(routes, pkt) {
            Ok(p) => Some(p.clone()),
            Err(reason) => {
                self.count_drop(reason);
                None
            }
        }
    }

    /// Whether the peer was removed from the configuration (its queued packets go).
    pub fn is_removed(&self, peer: &PeerSlot) -> bool {
        peer.removed.load(Ordering::Relaxed)
    }

    /// The prepare stage for a routed batch: groups the first `n` packets into runs of
    /// the same peer and, once per run under the peer's lock, takes a counter for each
    /// packet (appending a [`SealRec`]) or stages the run behind a handshake. Timers
    /// and counters are applied per run; what the protocol sends by itself (a staged
    /// packet, an initiation) leaves through `out`. Replaces `recs`.
    #[allow(clippy::too_many_arguments)]
    pub fn prepare_tx(
        &self,
        bufs: &[Vec<u8>],
        sizes: &[usize],
        n: usize,
        targets: &[Option<Arc<PeerSlot>>],
        mtu: usize,
        now: Instant,
        wall: SystemTime,
        scratch: &mut [u8],
        out: &mut dyn Output,
        recs: &mut Vec<SealRec>,
    ) {
        recs.clear();
        let mut i = 0;
        while i < n {
            let Some(peer) = targets.get(i).cloned().flatten() else {
                i += 1;
                continue;
            };
            let mut j = i + 1;
            while targets.get(j).is_some_and(|t| t.as_ref().is_some_and(|p| Arc::ptr_eq(p, &peer)))
            {
                j += 1;
            }
            self.tx_run(&peer, bufs, sizes, i..j, mtu, now, wall, scratch, out, recs);
            i = j;
        }
    }

    /// Handles consecutive packets for one peer: stage them or take their counters.
    #[allow(clippy::too_many_arguments)]
    fn tx_run(
        &self,
        peer: &Arc<PeerSlot>,
        bufs: &[Vec<u8>],
        sizes: &[usize],
        range: Range<usize>,
        mtu: usize,
        now: Instant,
        wall: SystemTime,
        scratch: &mut [u8],
        out: &mut dyn Output,
        recs: &mut Vec<SealRec>,
    ) {
        let packets = range.clone().filter_map(|k| {
            let len = *sizes.get(k)?;
            Some((k, len, bufs.get(k)?.get(DATA_HEADER_LEN..DATA_HEADER_LEN + len)?))
        });
        let mut events = Vec::new();
        {
            let mut guard = peer.proto.lock();
            let Some(p) = guard.as_mut() else {
                for _ in range {
                    peer.counters.drop(DropReason::NoEndpoint);
                }
                return;
            };
            let ready = p.sendable_keypair(now).cloned().zip(p.endpoint());
            match ready {
                Some((kp, dst)) if p.staged_len() == 0 => {
                    let (mut bytes, mut plain, mut count) = (0, 0, 0);
                    for (slot, len, _) in packets {
                        let Some(counter) = kp.next_send_counter() else {
                            peer.counters.drop(DropReason::CounterExhausted);
                            continue;
                        };
                        bytes += DATA_HEADER_LEN + padded_len(len, mtu) + AEAD_TAG_LEN;
                        plain += len.max(1);
                        count += 1;
                        let keypair = kp.clone();
                        recs.push(SealRec { slot, len, counter, dst, keypair, out_len: 0 });
                    }
                    peer.counters.tx_packets.fetch_add(count, Ordering::Relaxed);
                    // Timers and counters for the whole run at once; a rekey initiation
                    // it asks for is flushed below.
                    if count > 0 {
                        p.on_data_sent(&kp, bytes, plain, now, wall);
                    }
                }
                _ => {
                    for (_, _, pkt) in packets {
                        p.stage_packet(pkt, now, wall);
                    }
                }
            }
            output::flush(peer, p, now, scratch, out, &mut events);
            self.publish_deadline(peer, Some(p));
        }
        for e in events {
            output::log_event(&peer.public_key, &e, now);
            out.event(&peer.public_key, e);
        }
    }
}

/// The peer an outgoing IP packet goes to.
pub(crate) fn route_by_dst<'a>(
    routes: &'a Table<Arc<PeerSlot>>,
    pkt: &[u8],
) -> Result<&'a Arc<PeerSlot>, DropReason> {
    match pkt.first().map(|b| b >> 4) {
        Some(4) => {
            let dst: &[u8; 4] = pkt
                .get(16..20)
                .and_then(|s| s.try_into().ok())
                .ok_or(DropReason::InvalidInnerPacket)?;
            routes.lookup_v4(dst).ok_or(DropReason::NoRoute)
        }
        Some(6) => {
            let dst: &[u8; 16] = pkt
                .get(24..40)
                .and_then(|s| s.try_into().ok())
                .ok_or(DropReason::InvalidInnerPacket)?;
            routes.lookup_v6(dst).ok_or(DropReason::NoRoute)
        }
        _ => Err(DropReason::InvalidInnerPacket),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::allowedips::Prefix;
    use crate::keys::PublicKey;

    pub(crate) fn v4_packet(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&40u16.to_be_bytes());
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        p
    }

    pub(crate) fn v6_packet(src: [u8; 16], dst: [u8; 16]) -> Vec<u8> {
        let mut p = vec![0u8; 48];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&8u16.to_be_bytes());
        p[8..24].copy_from_slice(&src);
        p[24..40].copy_from_slice(&dst);
        p
    }

    type Routes = (Table<Arc<PeerSlot>>, Arc<PeerSlot>, Arc<PeerSlot>);

    pub(crate) fn routes() -> Routes {
        let (a, b) = (
            Arc::new(PeerSlot::new(PublicKey([1; 32]))),
            Arc::new(PeerSlot::new(PublicKey([2; 32]))),
        );
        let mut t = Table::new();
        let p = |s: &str| s.parse::<Prefix>().unwrap();
        t.insert(p("10.0.0.0/8"), a.clone()).unwrap();
        t.insert(p("10.1.0.0/16"), b.clone()).unwrap();
        t.insert(p("fd00::/64"), b.clone()).unwrap();
        (t, a, b)
    }

    #[test]
    fn route_by_destination_longest_prefix() {
        let (t, a, b) = routes();
        let to = |dst| route_by_dst(&t, &v4_packet([9; 4], dst)).map(Arc::as_ptr);
        assert_eq!(to([10, 2, 0, 1]), Ok(Arc::as_ptr(&a)));
        assert_eq!(to([10, 1, 0, 1]), Ok(Arc::as_ptr(&b)));
        assert_eq!(to([11, 0, 0, 1]), Err(DropReason::NoRoute));
        let fd = |last| {
            let mut x = [0u8; 16];
            x[0] = 0xfd;
            x[15] = last;
            x
        };
        let r = route_by_dst(&t, &v6_packet(fd(1), fd(2))).map(Arc::as_ptr);
        assert_eq!(r, Ok(Arc::as_ptr(&b)));
        assert_eq!(route_by_dst(&t, &[0x45, 0, 0]).err(), Some(DropReason::InvalidInnerPacket));
        assert_eq!(route_by_dst(&t, &[]).err(), Some(DropReason::InvalidInnerPacket));
        assert_eq!(route_by_dst(&t, &[0x20; 40]).err(), Some(DropReason::InvalidInnerPacket));
    }
}
