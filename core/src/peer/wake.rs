//! Waking up after a stall (a suspended laptop, a stopped process): the peer on the other
//! side gave up long ago, so what waited in the socket buffer and the sessions from
//! before must not hold the first new packet back for REKEY_TIMEOUT.
//!
//! Two ways in:
//! - by itself: a newer initiation from the peer right behind the one we just answered
//!   (inside the 20 ms flood limit, so it is dropped) proves that the answered one was
//!   stale: the initiator keeps state only for its latest initiation and ignores our
//!   response. That response then no longer rate-limits our own initiation, so data
//!   waiting for a session starts a handshake at once instead of after REKEY_TIMEOUT
//!   (the kernel and wireguard-go count responses in `last_sent_handshake`; queued
//!   initiations are exactly the case where that costs a 5 s stall).
//! - our own initiation survives answering the peer's: when the application sent first
//!   on waking (an initiation of ours is in flight) and only then the stale initiations
//!   are read, answering the oldest does not drop our pending handshake (the kernel's
//!   single handshake slot would, and the peer's answer to ours would then be refused,
//!   leaving the packet to wait REKEY_TIMEOUT). The answer to ours completes a session
//!   as usual; crossing initiations between live peers converge the same way in one
//!   round trip. Every session still comes from a complete authenticated handshake.
//! - explicitly: [`Peer::resume`], from the embedder's suspend/resume notification.

use std::time::{Instant, SystemTime};

use super::Peer;
use crate::messages::REJECT_AFTER_TIME;

impl Peer {
    /// The host slept or the process was stopped. Every session is suspect: keys whose
    /// handshake is older than REJECT_AFTER_TIME by the wall clock are dropped (the
    /// monotonic clock may not have counted the sleep), a pending handshake is
    /// abandoned, no earlier handshake message rate-limits the next initiation, and one
    /// is sent at once if packets wait or persistent keepalive is on.
    pub fn resume(&mut self, now: Instant, wall: SystemTime) {
        self.last_wall = wall;
        let old = self
            .stats
            .last_handshake
            .is_none_or(|t| wall.duration_since(t).map_or(true, |age| age >= REJECT_AFTER_TIME));
        if old {
            for kp in self.keypairs.clear() {
                self.indices.release(kp.local_index());
            }
        }
        self.clear_handshake();
        self.timers.forget_sent_handshakes();
        let wants = !self.staged.is_empty() || self.timers.persistent_keepalive().is_some();
        if wants && self.sendable_keypair(now).is_none() {
            self.send_initiation(now, wall, false);
        } else if self.timers.persistent_keepalive().is_some() {
            self.send_keepalive(now, wall);
        }
    }

    /// An authenticated initiation newer than the one we answered came inside the flood
    /// limit: our response went to a stale initiation (see the module docs).
    pub(super) fn on_superseded_response(&mut self, now: Instant) {
        if self.keypairs.next.is_none() {
            return;
        }
        self.timers.forget_response_sent();
        if !self.staged.is_empty()
            && self.sendable_keypair(now).is_none()
            && self.handshake.is_none()
        {
            self.timers.on_handshake_requested();
            if !self.timers.initiation_rate_limited(now) {
                self.initiation_wanted = true;
            }
        }
    }
}
