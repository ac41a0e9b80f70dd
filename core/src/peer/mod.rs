//! One peer's protocol state: handshake, keypairs, timers, staged packets, endpoint.
//!
//! [`Peer`] is sans-IO in the quinn style. Inputs are `handle_*` / [`Peer::encapsulate`]
//! calls, outputs are `poll_*` calls; `now` (monotonic), the wall time (for TAI64N only)
//! and randomness (an RNG given at construction) are passed in. Nothing here reads a
//! clock, opens a socket or spawns a thread.
//!
//! # Single-threaded use (tests, simple embedders)
//!
//! ```text
//! packet from the NIC   → peer.encapsulate(packet, out, now, wall)  → datagram in `out`, or staged
//! datagram from the net → peer.handle_datagram(buf, src, now, wall) → IP packet range in `buf`
//! at poll_timeout()     → peer.handle_timeout(now, wall)
//! after every call      → while let Some(t) = peer.poll_transmit(now, buf) { send buf[..t.len] to t.dst }
//!                         while let Some(e) = peer.poll_event() { … }
//! ```
//!
//! # Many peers ([`crate::interface::Interface`])
//!
//! An interface keeps each peer behind a lock in a slot of its own and makes the
//! interface-wide decisions around it (routing, the receiver-index table, MAC1/MAC2 and
//! cookies, the rate limiter, the source check, timers). It uses the split API:
//! [`Peer::sendable_keypair`] / [`Peer::stage_packet`] / [`Peer::on_data_sent`] on
//! send, [`Peer::on_data_received`] after a data message was opened and passed the
//! replay window, [`Peer::handle_initiation`] / [`Peer::handle_response`] /
//! [`Peer::handle_cookie_reply`] after the MACs were checked, and
//! [`Peer::handle_timeout`] when [`Peer::poll_timeout`] is due, flushing
//! [`Peer::poll_transmit`] and [`Peer::poll_event`] after each. With
//! [`Peer::set_defer_initiations`] the data-path hooks only mark an initiation wanted;
//! the interface creates it off the data path.

mod protocol;
mod session;
#[cfg(test)]
mod tests;
mod wake;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rand_core::CryptoRngCore;

use crate::cookie::{CookieChecker, CookieGenerator};
use crate::error::{DropCounters, DropReason};
use crate::keypair::Keypair;
use crate::keys::{PresharedKey, PrivateKey, PublicKey};
use crate::messages::{
    Message, COOKIE_REPLY_LEN, DATA_HEADER_LEN, INITIATION_LEN, MESSAGE_TYPE_DATA,
    REJECT_AFTER_MESSAGES, RESPONSE_LEN,
};
use crate::noise::{self, InitiationSent, LocalStatic, RemoteStatic};
use crate::timers::{TimerAction, TimerKind, Timers};
pub use protocol::inner_packet_len;
use session::Keypairs;

/// The interface's own identity, shared by all its peers: the static key pair and the
/// cookie checker for incoming handshake messages.
pub struct Identity {
    local: LocalStatic,
    checker: CookieChecker,
}

impl Identity {
    /// Derives the public key and the MAC/cookie keys from the private key.
    pub fn new(private: &PrivateKey) -> Self {
        let local = LocalStatic::new(private);
        let checker = CookieChecker::new(local.public_key());
        Self { local, checker }
    }
    /// The interface's public key.
    pub fn public_key(&self) -> &PublicKey {
        self.local.public_key()
    }
    /// The static key material the handshake needs.
    pub fn local_static(&self) -> &LocalStatic {
        &self.local
    }
    /// Checks MACs of incoming handshake messages and makes cookie replies.
    pub fn cookie_checker(&self) -> &CookieChecker {
        &self.checker
    }
}

/// Hands out local session indices. The engine implements it over its index table so
/// indices never collide and it learns which peer owns which index;
/// [`RandomIndices`] is enough for a single peer.
pub trait IndexAllocator: Send + Sync {
    /// A fresh index not used by any other session or pending handshake.
    fn allocate(&self, rng: &mut dyn CryptoRngCore) -> u32;
    /// `index` is no longer used (its handshake or keypair was dropped).
    fn release(&self, index: u32);
}

/// Random 32-bit indices without bookkeeping (collisions are a single peer's own
/// business: at most a few live indices, 2^-32 each).
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIndices;

impl IndexAllocator for RandomIndices {
    fn allocate(&self, rng: &mut dyn CryptoRngCore) -> u32 {
        noise::random_index(rng)
    }
    fn release(&self, _index: u32) {}
}

/// What a peer is configured with.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// The peer's static public key.
    pub public_key: PublicKey,
    /// Optional pre-shared key.
    pub preshared_key: Option<PresharedKey>,
    /// Where to send until the peer is heard from (it then follows the peer).
    pub endpoint: Option<SocketAddr>,
    /// Persistent keepalive interval (`None` or zero: off).
    pub persistent_keepalive: Option<Duration>,
}

impl PeerConfig {
    /// A config with only the public key set.
    pub fn new(public_key: PublicKey) -> Self {
        Self { public_key, preshared_key: None, endpoint: None, persistent_keepalive: None }
    }
}

/// Something the embedder may want to know about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerEvent {
    /// A handshake completed and a new session is in use.
    HandshakeComplete {
        /// True if we initiated it.
        initiator: bool,
    },
    /// The peer's endpoint moved to a new address (roaming).
    EndpointChanged(SocketAddr),
    /// All session keys were zeroed after long inactivity.
    SessionExpired,
    /// Handshake attempts gave up after REKEY_ATTEMPT_TIME; staged packets were dropped.
    Unreachable,
}

/// A datagram written into the caller's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Outgoing {
    /// Where to send it.
    pub dst: SocketAddr,
    /// Its length at the start of the buffer.
    pub len: usize,
}

/// What an incoming datagram turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum Received {
    /// An IP packet for the NIC, at this range of the datagram buffer (padding removed).
    Packet(Range<usize>),
    /// An authenticated keepalive.
    Keepalive,
    /// A handshake message or cookie reply was consumed; flush `poll_transmit`.
    Handshake,
}

/// Traffic counters of one peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerStats {
    /// Bytes of data datagrams sent (with overhead), as `wg show` counts them.
    pub tx_bytes: u64,
    /// Bytes of authenticated data datagrams received (with overhead).
    pub rx_bytes: u64,
    /// Wall time of the last completed handshake.
    pub last_handshake: Option<SystemTime>,
}

enum Pending {
    Initiation([u8; INITIATION_LEN]),
    Response([u8; RESPONSE_LEN]),
    CookieReply([u8; COOKIE_REPLY_LEN], SocketAddr),
}

/// One peer's sans-IO protocol state.
pub struct Peer {
    identity: Arc<Identity>,
    remote: RemoteStatic,
    cookies: CookieGenerator,
    handshake: Option<InitiationSent>,
    keypairs: Keypairs,
    timers: Timers,
    staged: VecDeque<Vec<u8>>,
    pending: VecDeque<Pending>,
    events: VecDeque<PeerEvent>,
    endpoint: Option<SocketAddr>,
    rng: Box<dyn CryptoRngCore + Send + Sync>,
    indices: Arc<dyn IndexAllocator>,
    under_load: bool,
    stats: PeerStats,
    drops: DropCounters,
    /// The latest wall time an input gave us (for initiations started from `poll_transmit`).
    last_wall: SystemTime,
    /// Data-path hooks only mark an initiation as wanted (see [`Peer::set_defer_initiations`]).
    defer_initiations: bool,
    /// A deferred initiation waits for [`Peer::send_wanted_initiation`].
    initiation_wanted: bool,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("public_key", self.remote.public_key())
            .field("endpoint", &self.endpoint)
            .field("keypairs", &self.keypairs)
            .finish_non_exhaustive()
    }
}

impl Drop for Peer {
    /// Returns every index the peer still holds to its [`IndexAllocator`].
    fn drop(&mut self) {
        let held: Vec<u32> = self.local_indices().collect();
        for index in held {
            self.indices.release(index);
        }
    }
}

impl Peer {
    /// A peer of the interface `identity`. `rng` supplies ephemeral keys, indices,
    /// jitter and cookie nonces (seed it from the OS in production, fixed in tests).
    pub fn new(
        identity: Arc<Identity>,
        config: PeerConfig,
        indices: Arc<dyn IndexAllocator>,
        rng: Box<dyn CryptoRngCore + Send + Sync>,
    ) -> Self {
        let remote =
            RemoteStatic::new(&identity.local, config.public_key, config.preshared_key.as_ref());
        Self {
            cookies: CookieGenerator::new(&config.public_key),
            identity,
            remote,
            handshake: None,
            keypairs: Keypairs::default(),
            timers: Timers::new(config.persistent_keepalive),
            staged: VecDeque::new(),
            pending: VecDeque::new(),
            events: VecDeque::new(),
            endpoint: config.endpoint,
            rng,
            indices,
            under_load: false,
            stats: PeerStats::default(),
            drops: DropCounters::default(),
            last_wall: SystemTime::UNIX_EPOCH,
            defer_initiations: false,
            initiation_wanted: false,
        }
    }

    // ---- configuration and state ----------------------------------------------------

    /// The peer's static public key.
    pub fn public_key(&self) -> &PublicKey {
        self.remote.public_key()
    }
    /// The current endpoint.
    pub fn endpoint(&self) -> Option<SocketAddr> {
        self.endpoint
    }
    /// Sets the endpoint (configuration; roaming updates it by itself).
    pub fn set_endpoint(&mut self, endpoint: Option<SocketAddr>) {
        self.endpoint = endpoint;
    }
    /// The interface's private key changed: rebinds the handshake to the new identity,
    /// abandons the pending handshake and drops every session (the kernel expires them
    /// too); the next packet starts a new handshake.
    pub fn set_identity(&mut self, identity: Arc<Identity>) {
        self.remote.rebind(&identity.local);
        self.identity = identity;
        self.clear_handshake();
        for kp in self.keypairs.clear() {
            self.indices.release(kp.local_index());
        }
    }
    /// Replaces the pre-shared key (takes effect at the next handshake).
    pub fn set_preshared_key(&mut self, psk: Option<&PresharedKey>) {
        self.remote.set_preshared_key(psk);
    }
    /// Changes the persistent-keepalive interval.
    pub fn set_persistent_keepalive(&mut self, interval: Option<Duration>, now: Instant) {
        self.timers.set_persistent_keepalive(interval, now);
    }
    /// The interface came up: schedules the initial persistent keepalive if configured.
    pub fn on_interface_up(&mut self, now: Instant) {
        self.timers.on_interface_up(now);
    }
    /// With `defer` set, the data-path hooks ([`Peer::stage_packet`], [`Peer::on_data_sent`],
    /// [`Peer::on_data_received`]) no longer create a handshake initiation (two X25519
    /// operations) themselves: they record the request (resetting the attempt count,
    /// honouring the initiation rate limit) and [`Peer::wants_initiation`] turns true
    /// until [`Peer::send_wanted_initiation`] runs, typically on another thread.
    pub fn set_defer_initiations(&mut self, defer: bool) {
        self.defer_initiations = defer;
    }
    /// Whether a deferred initiation waits for [`Peer::send_wanted_initiation`].
    pub fn wants_initiation(&self) -> bool {
        self.initiation_wanted
    }
    /// Whether [`Peer::handle_datagram`] should demand MAC2 (answer with cookie replies).
    pub fn set_under_load(&mut self, under_load: bool) {
        self.under_load = under_load;
    }
    /// Traffic counters.
    pub fn stats(&self) -> &PeerStats {
        &self.stats
    }
    /// Packets this peer dropped by itself (staged overflow, no endpoint, ...).
    pub fn drop_counters(&self) -> &DropCounters {
        &self.drops
    }
    /// Packets waiting for a session.
    pub fn staged_len(&self) -> usize {
        self.staged.len()
    }
    /// The timers (read-only, for inspection).
    pub fn timers(&self) -> &Timers {
        &self.timers
    }

    /// The current keypair, if any (it may be expired; see [`Peer::sendable_keypair`]).
    pub fn current_keypair(&self) -> Option<&Arc<Keypair>> {
        self.keypairs.current.as_ref()
    }
    /// The current keypair if it may still send: younger than REJECT_AFTER_TIME and
    /// below REJECT_AFTER_MESSAGES.
    pub fn sendable_keypair(&self, now: Instant) -> Option<&Arc<Keypair>> {
        self.keypairs
            .current
            .as_ref()
            .filter(|k| !k.is_expired(now) && k.send_counter() < REJECT_AFTER_MESSAGES)
    }
    /// The keypair (current, previous or next) whose local index is `index`.
    pub fn keypair_by_index(&self, index: u32) -> Option<&Arc<Keypair>> {
        self.keypairs.by_index(index)
    }
    /// The local index of the pending initiation, if one is outstanding.
    pub fn pending_handshake_index(&self) -> Option<u32> {
        self.handshake.as_ref().map(|h| h.sender_index())
    }
    /// Local indices in use (keypairs and the pending handshake).
    pub fn local_indices(&self) -> impl Iterator<Item = u32> + '_ {
        self.keypairs.indices().chain(self.pending_handshake_index())
    }

    // ---- inputs -----------------------------------------------------------------------

    /// Encrypts one IP packet from the NIC into `out`. Returns the datagram to send, or
    /// `Ok(None)` if the packet was staged until a session exists (a handshake is then
    /// queued: flush [`Peer::poll_transmit`]). `out` needs [`crate::keypair::data_message_len`] bytes.
    pub fn encapsulate(
        &mut self,
        packet: &[u8],
        out: &mut [u8],
        now: Instant,
        wall: SystemTime,
    ) -> Result<Option<Outgoing>, DropReason> {
        if !self.staged.is_empty() || self.sendable_keypair(now).is_none() {
            self.stage_packet(packet, now, wall);
            return Ok(None);
        }
        let dst = self.endpoint.ok_or(DropReason::NoEndpoint)?;
        let body = out
            .get_mut(DATA_HEADER_LEN..DATA_HEADER_LEN + packet.len())
            .ok_or(DropReason::BufferTooSmall)?;
        body.copy_from_slice(packet);
        let len = self.seal_current(out, packet.len(), now, wall)?;
        Ok(Some(Outgoing { dst, len }))
    }

    /// Handles one datagram from `src`. Data is decrypted in place; the result says
    /// where the IP packet is. Errors are drop reasons for the caller's counters.
    pub fn handle_datagram(
        &mut self,
        datagram: &mut [u8],
        src: SocketAddr,
        now: Instant,
        wall: SystemTime,
    ) -> Result<Received, DropReason> {
        if datagram.first() == Some(&MESSAGE_TYPE_DATA) {
            return self.decapsulate(datagram, src, now, wall);
        }
        match Message::parse(datagram)? {
            Message::Initiation(m) => {
                self.check_macs(m.bytes(), m.sender_index, src, now)?;
                let received = noise::consume_initiation(&self.identity.local, &m)?;
                if received.remote_static() != self.remote.public_key() {
                    return Err(DropReason::UnknownPeer);
                }
                let result = self.handle_initiation(received, src, now);
                if !self.defer_initiations {
                    self.send_wanted_initiation(now, wall);
                }
                result?;
            }
            Message::Response(m) => {
                self.check_macs(m.bytes(), m.sender_index, src, now)?;
                self.handle_response(&m, src, now, wall)?;
            }
            Message::CookieReply(m) => self.handle_cookie_reply(&m, now)?,
            Message::Data(_) => return Err(DropReason::UnknownType),
        }
        Ok(Received::Handshake)
    }

    /// Runs the timers due at `now` and carries out their actions.
    pub fn handle_timeout(&mut self, now: Instant, wall: SystemTime) {
        while let Some(action) = self.timers.handle_timeout(now) {
            match action {
                TimerAction::RetransmitHandshake => self.send_initiation(now, wall, true),
                TimerAction::NewHandshake => self.send_initiation(now, wall, false),
                TimerAction::GiveUpHandshake => {
                    self.staged.clear();
                    self.events.push_back(PeerEvent::Unreachable);
                }
                TimerAction::SendKeepalive | TimerAction::SendPersistentKeepalive => {
                    self.send_keepalive(now, wall)
                }
                TimerAction::ZeroKeys => {
                    for kp in self.keypairs.clear() {
                        self.indices.release(kp.local_index());
                    }
                    self.clear_handshake();
                    self.events.push_back(PeerEvent::SessionExpired);
                }
            }
        }
    }

    // ---- outputs ----------------------------------------------------------------------

    /// The next datagram to send (handshake messages first, then staged packets), written
    /// to the start of `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Outgoing> {
        while let Some(p) = self.pending.pop_front() {
            let (bytes, dst): (&[u8], _) = match &p {
                Pending::Initiation(b) => (b, self.endpoint),
                Pending::Response(b) => (b, self.endpoint),
                Pending::CookieReply(b, to) => (b, Some(*to)),
            };
            let Some(dst) = dst else {
                self.drops.add(DropReason::NoEndpoint);
                continue;
            };
            let Some(out) = buf.get_mut(..bytes.len()) else {
                self.drops.add(DropReason::BufferTooSmall);
                continue;
            };
            out.copy_from_slice(bytes);
            return Some(Outgoing { dst, len: bytes.len() });
        }
        let dst = self.endpoint?;
        while self.sendable_keypair(now).is_some() {
            let packet = self.staged.pop_front()?;
            let Some(body) = buf.get_mut(DATA_HEADER_LEN..DATA_HEADER_LEN + packet.len()) else {
                self.drops.add(DropReason::BufferTooSmall);
                continue;
            };
            body.copy_from_slice(&packet);
            // Staged packets were already counted as wanting a handshake; the wall time
            // only matters for a rekey initiation, which then uses the latest one seen.
            match self.seal_current(buf, packet.len(), now, self.last_wall) {
                Ok(len) => return Some(Outgoing { dst, len }),
                Err(reason) => self.drops.add(reason),
            }
        }
        None
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }

    /// When [`Peer::handle_timeout`] must be called next, and why.
    pub fn poll_timeout(&self) -> Option<(Instant, TimerKind)> {
        self.timers.poll_timeout()
    }
}
