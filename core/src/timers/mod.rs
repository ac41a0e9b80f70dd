//! The whitepaper timers as a pure state machine of events and `now`.
//!
//! [`Timers`] follows the kernel's `timers.c`: the peer reports what happened through
//! the `on_*` hooks (named after the kernel's `wg_timers_*`), asks [`Timers::poll_timeout`]
//! when to wake up, and at that time calls [`Timers::handle_timeout`] until it returns
//! `None`, carrying out each [`TimerAction`]. Nothing here reads the clock or an RNG:
//! `now` and the jitter are passed in; [`random_jitter`] draws one from the caller's RNG.
//!
//! Where the peer calls the hooks (as the kernel does):
//! - before sending or after receiving any authenticated packet (handshake, data,
//!   keepalive): [`Timers::on_any_authenticated_packet_traversal`];
//! - after sending one: [`Timers::on_any_authenticated_packet_sent`]; after sending a
//!   data packet that is not a keepalive also [`Timers::on_data_sent`];
//! - after receiving one: [`Timers::on_any_authenticated_packet_received`]; for a
//!   non-empty data packet also [`Timers::on_data_received`];
//! - whenever a new (not retried) handshake is wanted, even if the initiation is then
//!   not sent because of the rate limit: [`Timers::on_handshake_requested`]
//!   (the kernel's `send_queued_handshake_initiation(peer, is_retry = false)`);
//! - after sending an initiation: [`Timers::on_handshake_initiated`];
//! - after sending a response: [`Timers::on_handshake_response_sent`];
//! - after a response was consumed, or on the first data packet under a new key as
//!   responder: [`Timers::on_handshake_complete`];
//! - after deriving a session (creating a response, or consuming one):
//!   [`Timers::on_session_derived`].

use std::time::{Duration, Instant};

use rand_core::RngCore;

use crate::messages::{
    KEEPALIVE_TIMEOUT, MAX_TIMER_HANDSHAKES, REJECT_AFTER_TIME, REKEY_AFTER_MESSAGES,
    REKEY_AFTER_TIME, REKEY_TIMEOUT, REKEY_TIMEOUT_JITTER_MAX, ZERO_KEYS_AFTER,
};

/// The five per-peer timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKind {
    /// No response to our initiation after `REKEY_TIMEOUT` + jitter.
    RetransmitHandshake,
    /// Data received and nothing sent back for `KEEPALIVE_TIMEOUT`.
    SendKeepalive,
    /// Data sent and nothing received for `KEEPALIVE_TIMEOUT + REKEY_TIMEOUT` + jitter.
    NewHandshake,
    /// No new session for `ZERO_KEYS_AFTER` (3 × `REJECT_AFTER_TIME`).
    ZeroKeys,
    /// The configured persistent-keepalive interval passed without any traffic.
    PersistentKeepalive,
}

impl TimerKind {
    const ALL: [TimerKind; 5] = [
        TimerKind::RetransmitHandshake,
        TimerKind::SendKeepalive,
        TimerKind::NewHandshake,
        TimerKind::ZeroKeys,
        TimerKind::PersistentKeepalive,
    ];
}

/// What the peer must do because a timer expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerAction {
    /// Forget the endpoint's cached local source address, send a new initiation (a
    /// retry: do not call `on_handshake_requested`), then call `on_handshake_initiated`.
    /// The attempt count was already incremented.
    RetransmitHandshake,
    /// The handshake failed for good: drop the staged packets. The keepalive timer was
    /// cancelled and the zero-keys timer armed (if it was not) already.
    GiveUpHandshake,
    /// Send a keepalive (an empty data packet).
    SendKeepalive,
    /// We sent data and heard nothing back: forget the endpoint's cached local source
    /// address and start a new handshake. The attempt count was already reset.
    NewHandshake,
    /// Erase the handshake state and every keypair of the peer.
    ZeroKeys,
    /// Send a keepalive because the persistent-keepalive interval passed.
    SendPersistentKeepalive,
}

/// One peer's timers (the kernel's `timer_*` fields of `struct wg_peer`).
#[derive(Debug, Clone)]
pub struct Timers {
    deadlines: [Option<Instant>; TimerKind::ALL.len()],
    persistent_keepalive: Option<Duration>,
    handshake_attempts: u32,
    need_another_keepalive: bool,
    sent_lastminute_handshake: bool,
    new_handshake_jitter: Duration,
    last_sent_handshake: Option<Instant>,
    last_sent_initiation: Option<Instant>,
}

impl Timers {
    /// No timer armed. `persistent_keepalive` of `None` or zero disables it; see
    /// [`Timers::on_interface_up`] for the keepalive the kernel sends on start.
    pub fn new(persistent_keepalive: Option<Duration>) -> Self {
        Self {
            deadlines: [None; TimerKind::ALL.len()],
            persistent_keepalive: persistent_keepalive.filter(|d| !d.is_zero()),
            handshake_attempts: 0,
            need_another_keepalive: false,
            sent_lastminute_handshake: false,
            new_handshake_jitter: Duration::ZERO,
            last_sent_handshake: None,
            last_sent_initiation: None,
        }
    }

    /// Changes the persistent-keepalive interval (`None` or zero: off). Turning it on
    /// from off schedules a keepalive at `now`, as the kernel sends one right away;
    /// turning it off cancels the pending one; changing a non-zero interval takes
    /// effect at the next packet traversal.
    pub fn set_persistent_keepalive(&mut self, interval: Option<Duration>, now: Instant) {
        let interval = interval.filter(|d| !d.is_zero());
        match (self.persistent_keepalive, interval) {
            (None, Some(_)) => self.arm(TimerKind::PersistentKeepalive, Some(now)),
            (_, None) => self.disarm(TimerKind::PersistentKeepalive),
            (Some(_), Some(_)) => {}
        }
        self.persistent_keepalive = interval;
    }

    /// The persistent-keepalive interval, if enabled.
    pub fn persistent_keepalive(&self) -> Option<Duration> {
        self.persistent_keepalive
    }

    /// The interface came up: if a persistent keepalive is configured, schedules one
    /// at `now` (the kernel sends one to every such peer when the device opens).
    pub fn on_interface_up(&mut self, now: Instant) {
        if self.persistent_keepalive.is_some() {
            self.arm(TimerKind::PersistentKeepalive, Some(now));
        }
    }

    /// The interface went down or the peer is being removed: cancels every timer.
    pub fn stop(&mut self) {
        self.deadlines = [None; TimerKind::ALL.len()];
    }

    /// Sets the jitter (clamped to `REKEY_TIMEOUT_JITTER_MAX`) that [`Timers::on_data_sent`]
    /// adds when it arms the new-handshake timer; zero until set. Draw it from the
    /// peer's RNG (e.g. with [`random_jitter`]) and refresh it as often as convenient,
    /// for instance whenever a handshake completes.
    pub fn set_new_handshake_jitter(&mut self, jitter: Duration) {
        self.new_handshake_jitter = jitter.min(REKEY_TIMEOUT_JITTER_MAX);
    }

    /// An authenticated data packet (not a keepalive) was sent: unless already armed,
    /// arms the new-handshake timer at `now + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT` plus
    /// the jitter given to [`Timers::set_new_handshake_jitter`].
    pub fn on_data_sent(&mut self, now: Instant) {
        if self.deadline(TimerKind::NewHandshake).is_none() {
            let delay = KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + self.new_handshake_jitter;
            self.arm(TimerKind::NewHandshake, now.checked_add(delay));
        }
    }

    /// An authenticated data packet (not a keepalive) was received: arms the keepalive
    /// timer at `now + KEEPALIVE_TIMEOUT`, or if it is already armed, asks for one
    /// more keepalive after it fires.
    pub fn on_data_received(&mut self, now: Instant) {
        if self.deadline(TimerKind::SendKeepalive).is_none() {
            self.arm(TimerKind::SendKeepalive, now.checked_add(KEEPALIVE_TIMEOUT));
        } else {
            self.need_another_keepalive = true;
        }
    }

    /// Any authenticated packet (handshake, data or keepalive) was sent: cancels the
    /// keepalive timer, since the peer just heard from us.
    pub fn on_any_authenticated_packet_sent(&mut self, _now: Instant) {
        self.disarm(TimerKind::SendKeepalive);
    }

    /// Any authenticated packet was received: cancels the new-handshake timer.
    pub fn on_any_authenticated_packet_received(&mut self, _now: Instant) {
        self.disarm(TimerKind::NewHandshake);
    }

    /// Any authenticated packet is about to be sent or was received: if persistent
    /// keepalive is on, pushes it to `now + interval`.
    pub fn on_any_authenticated_packet_traversal(&mut self, now: Instant) {
        if let Some(interval) = self.persistent_keepalive {
            self.arm(TimerKind::PersistentKeepalive, now.checked_add(interval));
        }
    }

    /// A new handshake is wanted (staged packet without a session, rekey on send or
    /// receive), as opposed to a retransmission: resets the attempt count. Call it even
    /// if the initiation is then suppressed by [`Timers::initiation_rate_limited`].
    pub fn on_handshake_requested(&mut self) {
        self.handshake_attempts = 0;
    }

    /// A handshake initiation was sent: (re)arms the retransmit timer at
    /// `now + REKEY_TIMEOUT + jitter` (jitter clamped to `REKEY_TIMEOUT_JITTER_MAX`).
    pub fn on_handshake_initiated(&mut self, now: Instant, jitter: Duration) {
        self.last_sent_handshake = Some(now);
        self.last_sent_initiation = Some(now);
        let delay = REKEY_TIMEOUT + jitter.min(REKEY_TIMEOUT_JITTER_MAX);
        self.arm(TimerKind::RetransmitHandshake, now.checked_add(delay));
    }

    /// A handshake response was sent: counts for [`Timers::initiation_rate_limited`].
    pub fn on_handshake_response_sent(&mut self, now: Instant) {
        self.last_sent_handshake = Some(now);
    }

    /// The response we sent answered an initiation now known to be stale (its initiator
    /// has moved on): it no longer holds back our own initiation, only our last
    /// initiation does.
    pub fn forget_response_sent(&mut self) {
        self.last_sent_handshake = self.last_sent_initiation;
    }

    /// After a stall (suspend, SIGSTOP): no sent handshake holds back the next initiation.
    pub fn forget_sent_handshakes(&mut self) {
        self.last_sent_handshake = None;
        self.last_sent_initiation = None;
    }

    /// True while less than `REKEY_TIMEOUT` has passed since we last sent an initiation
    /// or response: the kernel sends no initiation then.
    pub fn initiation_rate_limited(&self, now: Instant) -> bool {
        self.last_sent_handshake
            .is_some_and(|sent| now.saturating_duration_since(sent) < REKEY_TIMEOUT)
    }

    /// A handshake completed (response consumed, or first data under a new key as
    /// responder): stops retransmitting and resets the attempt count.
    pub fn on_handshake_complete(&mut self, _now: Instant) {
        self.disarm(TimerKind::RetransmitHandshake);
        self.handshake_attempts = 0;
        self.sent_lastminute_handshake = false;
    }

    /// A session was derived: (re)arms the zero-keys timer at `now + ZERO_KEYS_AFTER`.
    pub fn on_session_derived(&mut self, now: Instant) {
        self.arm(TimerKind::ZeroKeys, now.checked_add(ZERO_KEYS_AFTER));
    }

    /// Receive-side rekey with the kernel's once-per-handshake latch: true (and latched)
    /// when [`should_rekey_on_receive`] holds and no such last-minute handshake was
    /// requested since the last completed handshake.
    pub fn take_lastminute_handshake(&mut self, is_initiator: bool, key_age: Duration) -> bool {
        if self.sent_lastminute_handshake || !should_rekey_on_receive(is_initiator, key_age) {
            return false;
        }
        self.sent_lastminute_handshake = true;
        true
    }

    /// The earliest armed deadline and its timer.
    pub fn poll_timeout(&self) -> Option<(Instant, TimerKind)> {
        TimerKind::ALL.iter().filter_map(|&kind| self.deadline(kind).map(|at| (at, kind))).min()
    }

    /// The deadline of one timer, if armed.
    pub fn deadline(&self, kind: TimerKind) -> Option<Instant> {
        self.deadlines[kind as usize]
    }

    /// Expires the earliest timer whose deadline is at or before `now` and returns what
    /// to do about it; `None` when no timer is due. Call repeatedly until `None`.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<TimerAction> {
        let (at, kind) = self.poll_timeout()?;
        if at > now {
            return None;
        }
        self.disarm(kind);
        Some(match kind {
            TimerKind::RetransmitHandshake => {
                if self.handshake_attempts > MAX_TIMER_HANDSHAKES {
                    self.disarm(TimerKind::SendKeepalive);
                    if self.deadline(TimerKind::ZeroKeys).is_none() {
                        self.arm(TimerKind::ZeroKeys, now.checked_add(ZERO_KEYS_AFTER));
                    }
                    TimerAction::GiveUpHandshake
                } else {
                    self.handshake_attempts += 1;
                    TimerAction::RetransmitHandshake
                }
            }
            TimerKind::SendKeepalive => {
                if self.need_another_keepalive {
                    self.need_another_keepalive = false;
                    self.arm(TimerKind::SendKeepalive, now.checked_add(KEEPALIVE_TIMEOUT));
                }
                TimerAction::SendKeepalive
            }
            TimerKind::NewHandshake => {
                self.handshake_attempts = 0;
                TimerAction::NewHandshake
            }
            TimerKind::ZeroKeys => TimerAction::ZeroKeys,
            TimerKind::PersistentKeepalive => TimerAction::SendPersistentKeepalive,
        })
    }

    /// Retransmissions of the current handshake so far (the kernel's
    /// `timer_handshake_attempts`). The kernel gives up at the retransmit timeout that
    /// finds it above `MAX_TIMER_HANDSHAKES`: after 20 initiations, about 100 s + jitter.
    pub fn handshake_attempts(&self) -> u32 {
        self.handshake_attempts
    }

    fn arm(&mut self, kind: TimerKind, at: Option<Instant>) {
        self.deadlines[kind as usize] = at;
    }

    fn disarm(&mut self, kind: TimerKind) {
        self.deadlines[kind as usize] = None;
    }
}

/// Whether sending under the current keypair should start a new handshake: after more
/// than `REKEY_AFTER_MESSAGES` messages, or as initiator once the key is
/// `REKEY_AFTER_TIME` old. `send_counter` is the keypair's next sending nonce (the
/// number of messages sent under it); `key_age` is measured from the key's creation.
pub fn should_rekey_on_send(is_initiator: bool, key_age: Duration, send_counter: u64) -> bool {
    send_counter > REKEY_AFTER_MESSAGES || (is_initiator && key_age >= REKEY_AFTER_TIME)
}

/// Whether receiving data under the current keypair should start a new handshake: as
/// initiator, once the key is `REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT`
/// (165 s) old, so a new key exists before this one is rejected. The kernel does this
/// at most once per handshake; [`Timers::take_lastminute_handshake`] adds that latch.
pub fn should_rekey_on_receive(is_initiator: bool, key_age: Duration) -> bool {
    is_initiator && key_age >= REJECT_AFTER_TIME - KEEPALIVE_TIMEOUT - REKEY_TIMEOUT
}

/// A uniformly random jitter in `[0, REKEY_TIMEOUT_JITTER_MAX)` from the caller's RNG.
pub fn random_jitter<R: RngCore + ?Sized>(rng: &mut R) -> Duration {
    let max = REKEY_TIMEOUT_JITTER_MAX.as_nanos() as u64;
    Duration::from_nanos(rng.next_u64() % max)
}

#[cfg(test)]
mod tests;
