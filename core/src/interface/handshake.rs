//! Handshake messages: the under-load decision, MAC1/MAC2, cookie replies, the
//! per-source rate limiter, then dispatch to the responder or initiator step of the
//! peer the message belongs to. All Diffie-Hellman work of an interface happens here
//! or in [`super::Interface::handle_timeouts`].

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tracing::Level;

use super::slot::{IndexEntry, PeerSlot};
use super::{Interface, Output, UNDER_LOAD_HOLD};
use crate::cookie::MacState;
use crate::error::DropReason;
use crate::keypair::Keypair;
use crate::logging::event_limited;
use crate::messages::{Message, COOKIE_REPLY_LEN};
use crate::peer::Identity;

/// Handshake counters of an interface.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HandshakeCounters {
    /// Handshake messages handled.
    pub processed: u64,
    /// Cookie replies sent (the interface was under load).
    pub cookie_replies: u64,
    /// Initiations whose MACs passed and that went on to the Diffie-Hellman step.
    pub initiations_consumed: u64,
}

impl Interface {
    /// Tells the interface how many handshake messages wait to be handled out of how
    /// many it may queue: at 1/8 of the capacity it is "under load" (MAC2 demanded,
    /// cookie replies, rate limiting) for [`UNDER_LOAD_HOLD`].
    pub fn note_handshake_backlog(&self, queued: usize, capacity: usize, now: Instant) {
        if queued >= capacity / 8 {
            let until = self.ticks(now).saturating_add(UNDER_LOAD_HOLD.as_nanos() as u64);
            self.under_load_until.fetch_max(until, Ordering::Relaxed);
        }
    }

    /// Whether the interface is under load at `now`.
    pub fn under_load(&self, now: Instant) -> bool {
        self.under_load_until.load(Ordering::Relaxed) > self.ticks(now)
    }

    /// The handshake counters.
    pub fn handshake_counters(&self) -> HandshakeCounters {
        let c = &self.counters;
        HandshakeCounters {
            processed: c.handshakes_processed.load(Ordering::Relaxed),
            cookie_replies: c.cookie_replies.load(Ordering::Relaxed),
            initiations_consumed: c.initiations_consumed.load(Ordering::Relaxed),
        }
    }

    /// Handles one handshake message (initiation, response or cookie reply) from `src`.
    /// Replies and what the handshake releases (staged packets, a confirming
    /// keepalive) leave through `out`. A refused message is counted and its reason
    /// returned. `scratch` must hold a data message of the largest staged packet.
    pub fn handle_handshake(
        &self,
        bytes: &[u8],
        src: SocketAddr,
        now: Instant,
        wall: SystemTime,
        scratch: &mut [u8],
        out: &mut dyn Output,
    ) -> Result<(), DropReason> {
        self.counters.handshakes_processed.fetch_add(1, Ordering::Relaxed);
        let r = self.dispatch(bytes, src, now, wall, scratch, out);
        if let Err(reason) = r {
            self.count_drop(reason);
            event_limited!(
                now, Level::DEBUG, target: "ferrowg::handshake",
                %src, %reason, "handshake message dropped"
            );
        }
        r
    }

    fn dispatch(
        &self,
        bytes: &[u8],
        src: SocketAddr,
        now: Instant,
        wall: SystemTime,
        scratch: &mut [u8],
        out: &mut dyn Output,
    ) -> Result<(), DropReason> {
        let snap = self.snapshot.load();
        let identity = snap.identity.as_ref().ok_or(DropReason::UnknownPeer)?;
        let under_load = self.under_load(now);
        match Message::parse(bytes)? {
            Message::Initiation(msg) => {
                self.check_macs(identity, bytes, msg.sender_index, src, under_load, now, out)?;
                self.counters.initiations_consumed.fetch_add(1, Ordering::Relaxed);
                let received = crate::noise::consume_initiation(identity.local_static(), &msg)?;
                let peer =
                    self.by_key.get(received.remote_static()).ok_or(DropReason::UnknownPeer)?;
                let registered = self.control_peer(&peer, now, wall, scratch, out, |p| {
                    // Registered before the response is flushed: the initiator's first
                    // data message may come back at once.
                    p.handle_initiation(received, src, now).map(|kp| self.register(&peer, kp))
                });
                registered.ok_or(DropReason::UnknownPeer)?
            }
            Message::Response(msg) => {
                self.check_macs(identity, bytes, msg.sender_index, src, under_load, now, out)?;
                let entry = self.indices.get(msg.receiver_index).ok_or(DropReason::UnknownIndex)?;
                if entry.keypair.is_some() {
                    return Err(DropReason::UnexpectedHandshake);
                }
                let peer = entry.peer;
                // The keypair is registered before the staged packets and the confirming
                // keepalive are flushed, so the answer finds it.
                let registered = self.control_peer(&peer, now, wall, scratch, out, |p| {
                    p.handle_response(&msg, src, now, wall).map(|kp| self.register(&peer, kp))
                });
                registered.ok_or(DropReason::UnknownPeer)?
            }
            Message::CookieReply(msg) => {
                let entry = self.indices.get(msg.receiver_index).ok_or(DropReason::UnknownIndex)?;
                self.control_peer(&entry.peer, now, wall, scratch, out, |p| {
                    p.handle_cookie_reply(&msg, now)
                })
                .ok_or(DropReason::UnknownPeer)?
            }
            Message::Data(_) => Err(DropReason::UnknownType),
        }
    }

    /// Points the keypair's index at it, so data under it finds the peer.
    fn register(&self, peer: &Arc<PeerSlot>, kp: Arc<Keypair>) {
        let index = kp.local_index();
        let entry = IndexEntry { peer: peer.clone(), keypair: Some(kp) };
        let _ = self.indices.replace(index, entry);
    }

    /// MAC1 always; under load also MAC2 (else a cookie reply) and the rate limiter.
    #[allow(clippy::too_many_arguments)]
    fn check_macs(
        &self,
        identity: &Identity,
        bytes: &[u8],
        sender_index: u32,
        src: SocketAddr,
        under_load: bool,
        now: Instant,
        out: &mut dyn Output,
    ) -> Result<(), DropReason> {
        let checker = identity.cookie_checker();
        if !under_load {
            return if checker.check_mac1(bytes) { Ok(()) } else { Err(DropReason::InvalidMac1) };
        }
        let mut rng = self.rng.lock();
        match checker.check_macs(bytes, src, now, &mut *rng) {
            MacState::Invalid => Err(DropReason::InvalidMac1),
            MacState::ValidMac1 => {
                let mut reply = [0u8; COOKIE_REPLY_LEN];
                checker.create_reply(bytes, sender_index, src, now, &mut *rng, &mut reply)?;
                drop(rng);
                let _ = out.transmit(src, &reply);
                self.counters.cookie_replies.fetch_add(1, Ordering::Relaxed);
                Err(DropReason::CookieRequired)
            }
            MacState::ValidMac1AndMac2 => {
                drop(rng);
                self.ratelimiter.allow(src.ip(), now).map_err(|_| DropReason::RateLimited)
            }
        }
    }
}
