//! Where an [`super::Interface`]'s datagrams and events go.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tracing::Level;

use super::slot::PeerSlot;
use crate::error::DropReason;
use crate::keys::PublicKey;
use crate::logging::event_limited;
use crate::messages::MESSAGE_TYPE_DATA;
use crate::peer::{Peer as ProtoPeer, PeerEvent};

/// The caller's side of an [`super::Interface`] call: sends datagrams the protocol
/// produced (handshake messages, cookie replies, keepalives, staged packets) and
/// receives events. Bulk data does not pass here: it stays in the caller's batch
/// buffers ([`super::SealRec`]).
pub trait Output {
    /// Sends one datagram to `dst`; returns false when there is nothing to send it on
    /// (counted as [`DropReason::NoEndpoint`]).
    fn transmit(&mut self, dst: SocketAddr, datagram: &[u8]) -> bool;
    /// Something happened to `peer` (called with no lock held).
    fn event(&mut self, peer: &PublicKey, event: PeerEvent);
}

/// Sends everything the protocol state queued and collects its events.
pub(super) fn flush(
    slot: &PeerSlot,
    p: &mut ProtoPeer,
    now: Instant,
    scratch: &mut [u8],
    out: &mut dyn Output,
    events: &mut Vec<PeerEvent>,
) {
    while let Some(o) = p.poll_transmit(now, scratch) {
        let Some(data) = scratch.get(..o.len) else { continue };
        if out.transmit(o.dst, data) {
            if data.first() == Some(&MESSAGE_TYPE_DATA) {
                slot.counters.tx_packets.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            slot.counters.drop(DropReason::NoEndpoint);
        }
    }
    while let Some(e) = p.poll_event() {
        if matches!(e, PeerEvent::HandshakeComplete { .. }) {
            slot.counters.handshakes.fetch_add(1, Ordering::Relaxed);
        }
        events.push(e);
    }
}

/// The `tracing` event for a peer event (rate-limited per kind: a peer's handshakes and
/// roaming follow network input).
pub(super) fn log_event(peer: &PublicKey, event: &PeerEvent, now: Instant) {
    match event {
        PeerEvent::HandshakeComplete { initiator } => event_limited!(
            now, Level::DEBUG, target: "ferrowg::handshake",
            %peer, initiator, "handshake complete"
        ),
        PeerEvent::EndpointChanged(endpoint) => event_limited!(
            now, Level::INFO, target: "ferrowg::peer",
            %peer, %endpoint, "endpoint changed"
        ),
        PeerEvent::SessionExpired => event_limited!(
            now, Level::DEBUG, target: "ferrowg::peer", %peer, "session keys expired"
        ),
        PeerEvent::Unreachable => event_limited!(
            now, Level::INFO, target: "ferrowg::handshake",
            %peer, "handshake did not complete; giving up until there is traffic"
        ),
    }
}
