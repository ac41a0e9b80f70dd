//! The peer's protocol steps (kernel `send.c` / `receive.c` per peer), including the
//! lower-level entry points the threaded engine calls directly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::{Peer, PeerEvent, Pending, Received};
use crate::cookie::MacState;
use crate::error::DropReason;
use crate::keypair::Keypair;
use crate::messages::{
    CookieReply, Response, COOKIE_REPLY_LEN, INITIATION_LEN, MAX_STAGED_PACKETS, RESPONSE_LEN,
};
use crate::noise::{self, InitiationReceived};
use crate::timers::{random_jitter, should_rekey_on_send};

/// Length of the IP packet at the start of a decrypted payload (padding excluded):
/// 0 for a keepalive, the IPv4 total length or 40 + the IPv6 payload length otherwise.
pub fn inner_packet_len(plain: &[u8]) -> Result<usize, DropReason> {
    let Some(&first) = plain.first() else {
        return Ok(0);
    };
    let len = match first >> 4 {
        4 => {
            let b = plain.get(2..4).ok_or(DropReason::InvalidInnerPacket)?;
            let len = usize::from(u16::from_be_bytes([b[0], b[1]]));
            if len < 20 {
                return Err(DropReason::InvalidInnerPacket);
            }
            len
        }
        6 => {
            let b = plain.get(4..6).ok_or(DropReason::InvalidInnerPacket)?;
            40 + usize::from(u16::from_be_bytes([b[0], b[1]]))
        }
        _ => return Err(DropReason::InvalidInnerPacket),
    };
    if len > plain.len() {
        return Err(DropReason::InvalidInnerPacket);
    }
    Ok(len)
}

impl Peer {
    /// Consumes a verified-MAC initiation from this peer (its static key was learned by
    /// [`noise::consume_initiation`]), queues the response and returns the new keypair
    /// (it waits as `next` until the initiator's first data message).
    pub fn handle_initiation(
        &mut self,
        received: InitiationReceived,
        src: SocketAddr,
        now: Instant,
    ) -> Result<Arc<Keypair>, DropReason> {
        let consumed = match received.finish(&mut self.remote, now) {
            Ok(consumed) => consumed,
            Err(DropReason::InitiationFlood) => {
                self.on_superseded_response(now);
                return Err(DropReason::InitiationFlood);
            }
            Err(reason) => return Err(reason),
        };
        self.timers.on_any_authenticated_packet_received(now);
        self.timers.on_any_authenticated_packet_traversal(now);
        self.set_endpoint_from(src);

        let index = self.indices.allocate(&mut *self.rng);
        let mut out = [0u8; RESPONSE_LEN];
        let keys = match consumed.create_response(&self.remote, index, &mut *self.rng, &mut out) {
            Ok(keys) => keys,
            Err(reason) => {
                self.indices.release(index);
                return Err(reason);
            }
        };
        self.cookies.write_macs(&mut out, now);
        // A crossing initiation of ours stays pending (see `wake`): the kernel drops it
        // here (CREATED_INITIATION becomes CONSUMED_INITIATION), but if the initiation we
        // answer is stale (it waited in our socket buffer while we slept), its initiator
        // ignores our response and only the answer to ours can still start a session.
        let kp = Arc::new(Keypair::new(&keys, now));
        self.install(kp.clone());
        self.pending.push_back(Pending::Response(out));
        self.timers.on_any_authenticated_packet_traversal(now);
        self.timers.on_any_authenticated_packet_sent(now);
        self.timers.on_handshake_response_sent(now);
        self.timers.on_session_derived(now);
        Ok(kp)
    }

    /// Consumes a verified-MAC response to our pending initiation: the new keypair becomes
    /// current at once, staged packets (or a keepalive) are queued.
    pub fn handle_response(
        &mut self,
        msg: &Response<'_>,
        src: SocketAddr,
        now: Instant,
        wall: SystemTime,
    ) -> Result<Arc<Keypair>, DropReason> {
        self.last_wall = wall;
        let state = self.handshake.take().ok_or(DropReason::UnexpectedHandshake)?;
        let keys = match state.consume_response(&self.identity.local, &self.remote, msg) {
            Ok(keys) => keys,
            Err((state, reason)) => {
                self.handshake = Some(state);
                return Err(reason);
            }
        };
        let kp = Arc::new(Keypair::new(&keys, now));
        self.install(kp.clone());
        self.timers.on_any_authenticated_packet_received(now);
        self.timers.on_any_authenticated_packet_traversal(now);
        self.timers.on_handshake_complete(now);
        self.timers.on_session_derived(now);
        self.timers.set_new_handshake_jitter(random_jitter(&mut *self.rng));
        self.stats.last_handshake = Some(wall);
        self.set_endpoint_from(src);
        self.events.push_back(PeerEvent::HandshakeComplete { initiator: true });
        // Confirms the session to the responder (the kernel's send_keepalive).
        if self.staged.is_empty() {
            self.staged.push_back(Vec::new());
        }
        Ok(kp)
    }

    /// Consumes a cookie reply to our last handshake message.
    pub fn handle_cookie_reply(
        &mut self,
        msg: &CookieReply<'_>,
        now: Instant,
    ) -> Result<(), DropReason> {
        let ours = self.pending_handshake_index() == Some(msg.receiver_index)
            || self.keypairs.next.as_ref().is_some_and(|k| k.local_index() == msg.receiver_index);
        if !ours {
            return Err(DropReason::UnexpectedHandshake);
        }
        self.cookies.consume_reply(msg, now)
    }

    /// Stages a packet until a session exists (at most 128; the oldest is dropped) and
    /// starts a handshake if there is no usable session.
    pub fn stage_packet(&mut self, packet: &[u8], now: Instant, wall: SystemTime) {
        if self.staged.len() >= MAX_STAGED_PACKETS {
            self.staged.pop_front();
            self.drops.add(DropReason::StagedQueueFull);
        }
        self.staged.push_back(packet.to_vec());
        if self.sendable_keypair(now).is_none() {
            self.want_initiation(now, wall);
        }
    }

    /// Timer and counter hooks after data was sent under `kp` (the engine calls this
    /// once per packet or per batch). `plaintext_len == 0` means a keepalive.
    pub fn on_data_sent(
        &mut self,
        kp: &Keypair,
        datagram_len: usize,
        plaintext_len: usize,
        now: Instant,
        wall: SystemTime,
    ) {
        let rekey = should_rekey_on_send(kp.is_initiator(), kp.age(now), kp.send_counter());
        self.after_send(rekey, datagram_len, plaintext_len, now, wall);
    }

    fn after_send(
        &mut self,
        rekey: bool,
        datagram_len: usize,
        plaintext_len: usize,
        now: Instant,
        wall: SystemTime,
    ) {
        self.stats.tx_bytes += datagram_len as u64;
        self.timers.on_any_authenticated_packet_traversal(now);
        self.timers.on_any_authenticated_packet_sent(now);
        if plaintext_len > 0 {
            self.timers.on_data_sent(now);
        }
        if rekey {
            self.want_initiation(now, wall);
        }
    }

    /// Timer, rotation and roaming hooks after a data message under `kp` authenticated
    /// and passed the replay check. `plaintext_len == 0` means a keepalive.
    pub fn on_data_received(
        &mut self,
        kp: &Arc<Keypair>,
        src: SocketAddr,
        datagram_len: usize,
        plaintext_len: usize,
        now: Instant,
        wall: SystemTime,
    ) {
        self.after_receive(kp.local_index(), src, datagram_len, plaintext_len, now, wall);
    }

    fn after_receive(
        &mut self,
        index: u32,
        src: SocketAddr,
        datagram_len: usize,
        plaintext_len: usize,
        now: Instant,
        wall: SystemTime,
    ) {
        self.last_wall = wall;
        self.stats.rx_bytes += datagram_len as u64;
        if let Some(dropped) = self.keypairs.received_with(index) {
            if let Some(old) = dropped {
                self.indices.release(old.local_index());
            }
            self.timers.on_handshake_complete(now);
            self.timers.set_new_handshake_jitter(random_jitter(&mut *self.rng));
            self.stats.last_handshake = Some(wall);
            self.events.push_back(PeerEvent::HandshakeComplete { initiator: false });
        }
        if let Some((initiator, age)) =
            self.keypairs.current.as_ref().map(|k| (k.is_initiator(), k.age(now)))
        {
            if self.timers.take_lastminute_handshake(initiator, age) {
                self.want_initiation(now, wall);
            }
        }
        self.timers.on_any_authenticated_packet_received(now);
        self.timers.on_any_authenticated_packet_traversal(now);
        self.set_endpoint_from(src);
        if plaintext_len > 0 {
            self.timers.on_data_received(now);
        }
    }

    /// Queues a handshake initiation unless one was sent less than REKEY_TIMEOUT ago.
    /// `is_retry` is false for a newly wanted handshake (resets the attempt count).
    pub fn send_initiation(&mut self, now: Instant, wall: SystemTime, is_retry: bool) {
        self.last_wall = wall;
        if !is_retry {
            self.timers.on_handshake_requested();
        }
        if self.timers.initiation_rate_limited(now) {
            return;
        }
        self.clear_handshake();
        let index = self.indices.allocate(&mut *self.rng);
        let mut out = [0u8; INITIATION_LEN];
        let created = noise::create_initiation(
            &self.identity.local,
            &self.remote,
            index,
            wall,
            &mut *self.rng,
            &mut out,
        );
        let Ok(state) = created else {
            // Only a low-order peer key gets here; retrying cannot help.
            self.indices.release(index);
            self.drops.add(DropReason::LowOrderKey);
            return;
        };
        self.cookies.write_macs(&mut out, now);
        self.handshake = Some(state);
        self.pending.push_back(Pending::Initiation(out));
        self.timers.on_any_authenticated_packet_traversal(now);
        self.timers.on_any_authenticated_packet_sent(now);
        let jitter = random_jitter(&mut *self.rng);
        self.timers.on_handshake_initiated(now, jitter);
    }

    /// Creates the initiation a data-path hook deferred (see
    /// [`Peer::set_defer_initiations`]), unless one went out meanwhile (rate limit).
    pub fn send_wanted_initiation(&mut self, now: Instant, wall: SystemTime) {
        if std::mem::take(&mut self.initiation_wanted) {
            // The request was already counted when it was deferred.
            self.send_initiation(now, wall, true);
        }
    }

    /// A new handshake is wanted: sent now, or deferred to [`Peer::send_wanted_initiation`].
    fn want_initiation(&mut self, now: Instant, wall: SystemTime) {
        if !self.defer_initiations {
            return self.send_initiation(now, wall, false);
        }
        self.last_wall = wall;
        self.timers.on_handshake_requested();
        if !self.timers.initiation_rate_limited(now) {
            self.initiation_wanted = true;
        }
    }

    /// Queues a keepalive (an empty data packet); without a session this starts a
    /// handshake and the keepalive waits staged.
    pub fn send_keepalive(&mut self, now: Instant, wall: SystemTime) {
        if self.staged.is_empty() {
            self.stage_packet(&[], now, wall);
        }
    }

    // ---- internals ---------------------------------------------------------------------

    pub(super) fn decapsulate(
        &mut self,
        datagram: &mut [u8],
        src: SocketAddr,
        now: Instant,
        wall: SystemTime,
    ) -> Result<Received, DropReason> {
        let index = crate::messages::Data::parse(datagram)?.receiver_index;
        let kp = self.keypairs.by_index(index).ok_or(DropReason::UnknownIndex)?;
        if kp.is_expired(now) {
            return Err(DropReason::KeyExpired);
        }
        let (counter, range) = kp.open(datagram)?;
        if !kp.accept_counter(counter) {
            return Err(DropReason::Replay);
        }
        let plain = datagram.get(range.clone()).ok_or(DropReason::TooShort)?;
        let inner = inner_packet_len(plain);
        let plaintext_len = plain.len();
        self.after_receive(index, src, datagram.len(), plaintext_len, now, wall);
        match inner? {
            0 => Ok(Received::Keepalive),
            len => Ok(Received::Packet(range.start..range.start + len)),
        }
    }

    /// Seals `buf[16..16 + len]` with the current keypair and runs the send hooks.
    pub(super) fn seal_current(
        &mut self,
        buf: &mut [u8],
        len: usize,
        now: Instant,
        wall: SystemTime,
    ) -> Result<usize, DropReason> {
        let kp = self.sendable_keypair(now).ok_or(DropReason::KeyExpired)?;
        let counter = kp.next_send_counter().ok_or(DropReason::CounterExhausted)?;
        let n = kp.seal(counter, buf, len)?;
        let rekey = should_rekey_on_send(kp.is_initiator(), kp.age(now), kp.send_counter());
        self.after_send(rekey, n, len, now, wall);
        Ok(n)
    }

    /// MAC1 always; under load also MAC2, answering a missing one with a cookie reply.
    pub(super) fn check_macs(
        &mut self,
        msg: &[u8],
        sender_index: u32,
        src: SocketAddr,
        now: Instant,
    ) -> Result<(), DropReason> {
        let checker = &self.identity.checker;
        if !self.under_load {
            return if checker.check_mac1(msg) { Ok(()) } else { Err(DropReason::InvalidMac1) };
        }
        match checker.check_macs(msg, src, now, &mut *self.rng) {
            MacState::Invalid => Err(DropReason::InvalidMac1),
            MacState::ValidMac1AndMac2 => Ok(()),
            MacState::ValidMac1 => {
                let mut reply = [0u8; COOKIE_REPLY_LEN];
                checker.create_reply(msg, sender_index, src, now, &mut *self.rng, &mut reply)?;
                self.pending.push_back(Pending::CookieReply(reply, src));
                Err(DropReason::CookieRequired)
            }
        }
    }

    fn install(&mut self, kp: Arc<Keypair>) {
        for old in self.keypairs.add(kp) {
            self.indices.release(old.local_index());
        }
    }

    pub(super) fn clear_handshake(&mut self) {
        if let Some(h) = self.handshake.take() {
            self.indices.release(h.sender_index());
        }
    }

    fn set_endpoint_from(&mut self, src: SocketAddr) {
        if self.endpoint != Some(src) {
            self.endpoint = Some(src);
            self.events.push_back(PeerEvent::EndpointChanged(src));
        }
    }
}
