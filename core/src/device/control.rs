//! The control thread: handshake messages (with the under-load cookie logic and the
//! per-source rate limiter), and every peer's timers. The responder's Diffie-Hellman
//! work runs here, off the data path.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::engine::{Inner, POLL_INTERVAL};
use super::peer::{IndexEntry, Peer};
use super::DeviceEvent;
use crate::cookie::MacState;
use crate::error::DropReason;
use crate::io::Transmit;
use crate::keypair::Keypair;
use crate::messages::{Message, COOKIE_REPLY_LEN, INITIATION_LEN};
use crate::peer::{Identity, Peer as ProtoPeer, PeerEvent};
use crate::queue::Ring;

/// How long the device stays "under load" after the handshake queue was last busy.
const UNDER_LOAD_HOLD: Duration = Duration::from_secs(1);
/// Handshake messages handled per loop turn (timers run in between).
const HANDSHAKE_BATCH: usize = 32;

/// One handshake message copied off the RX path (fixed size: no allocation).
pub(crate) struct HandshakeJob {
    pub(crate) data: [u8; INITIATION_LEN],
    pub(crate) len: usize,
    pub(crate) src: SocketAddr,
}

/// The control thread's loop.
pub(crate) fn run(inner: &Inner) {
    let mut scratch = vec![0u8; 65_536 + 64];
    let mut jobs: Vec<HandshakeJob> = Vec::with_capacity(HANDSHAKE_BATCH);
    let mut last_gc = inner.clock.now();
    while inner.running.load(Ordering::Relaxed) {
        let now = inner.clock.now();
        if inner.handshakes.len() >= inner.handshakes.capacity() / 8 {
            let until = inner.ticks(now).saturating_add(UNDER_LOAD_HOLD.as_nanos() as u64);
            inner.under_load_until.store(until, Ordering::Relaxed);
        }
        let under_load = inner.under_load_until.load(Ordering::Relaxed) > inner.ticks(now);
        jobs.clear();
        inner.handshakes.pop_batch(&mut jobs, HANDSHAKE_BATCH);
        for job in &jobs {
            inner.counters.handshakes_processed.fetch_add(1, Ordering::Relaxed);
            if let Err(reason) = handle_handshake(inner, job, under_load, now, &mut scratch) {
                inner.counters.drop(reason);
            }
        }
        let next = run_timers(inner, now, &mut scratch);
        if now.saturating_duration_since(last_gc) >= Duration::from_secs(1) {
            inner.ratelimiter.gc(now);
            last_gc = now;
        }
        if jobs.is_empty() && inner.handshakes.is_empty() {
            let wait = next.map_or(POLL_INTERVAL, |at| at.min(POLL_INTERVAL));
            std::thread::park_timeout(wait.max(Duration::from_micros(100)));
        }
    }
}

/// Expires due timers; returns the time until the next deadline. Scans the peers only
/// when the device-wide minimum says one may be due (deadlines only move later on the
/// data path, so the minimum is at worst early, which costs one idle scan).
fn run_timers(inner: &Inner, now: Instant, scratch: &mut [u8]) -> Option<Duration> {
    let ticks = inner.ticks(now);
    if inner.min_deadline.load(Ordering::Acquire) > ticks {
        let next = inner.min_deadline.load(Ordering::Acquire);
        return (next != u64::MAX).then(|| Duration::from_nanos(next.saturating_sub(ticks)));
    }
    inner.min_deadline.store(u64::MAX, Ordering::Release);
    let snap = inner.snapshot.load();
    let mut next = u64::MAX;
    for peer in &snap.peers {
        if peer.next_deadline.load(Ordering::Relaxed) <= ticks {
            let wall = inner.clock.wall();
            with_peer(inner, peer, now, scratch, |p| p.handle_timeout(now, wall));
        }
        next = next.min(peer.next_deadline.load(Ordering::Relaxed));
    }
    inner.min_deadline.fetch_min(next, Ordering::AcqRel);
    let next = inner.min_deadline.load(Ordering::Acquire);
    (next != u64::MAX).then(|| Duration::from_nanos(next.saturating_sub(ticks)))
}

/// Runs `f` on the peer's protocol state under its lock, then sends what it queued,
/// republishes its timer deadline and reports its events (after unlocking).
pub(crate) fn with_peer<R>(
    inner: &Inner,
    peer: &Arc<Peer>,
    now: Instant,
    scratch: &mut [u8],
    f: impl FnOnce(&mut ProtoPeer) -> R,
) -> Option<R> {
    let mut events: Vec<DeviceEvent> = Vec::new();
    let r = {
        let mut guard = peer.proto.lock();
        let p = guard.as_mut()?;
        let r = f(p);
        flush(inner, peer, p, now, scratch, &mut events);
        inner.publish_deadline(peer, Some(p));
        r
    };
    for e in events {
        inner.emit(e);
    }
    Some(r)
}

/// Sends everything the protocol state queued (handshake messages, staged packets) and
/// collects its events.
pub(crate) fn flush(
    inner: &Inner,
    peer: &Peer,
    p: &mut ProtoPeer,
    now: Instant,
    scratch: &mut [u8],
    events: &mut Vec<DeviceEvent>,
) {
    let transport = inner.transport();
    while let Some(out) = p.poll_transmit(now, scratch) {
        let Some(data) = scratch.get(..out.len) else { continue };
        match &transport {
            Some(t) => {
                let _ = t.0.send_batch(&[Transmit { dst: out.dst, data }]);
                if data.first() == Some(&crate::messages::MESSAGE_TYPE_DATA) {
                    peer.counters.tx_packets.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => peer.counters.drop(DropReason::NoEndpoint),
        }
    }
    let key = peer.public_key;
    while let Some(e) = p.poll_event() {
        events.push(match e {
            PeerEvent::HandshakeComplete { .. } => {
                peer.counters.handshakes.fetch_add(1, Ordering::Relaxed);
                DeviceEvent::HandshakeComplete { peer: key }
            }
            PeerEvent::EndpointChanged(endpoint) => {
                DeviceEvent::EndpointChanged { peer: key, endpoint }
            }
            PeerEvent::SessionExpired => DeviceEvent::SessionExpired { peer: key },
            PeerEvent::Unreachable => DeviceEvent::PeerUnreachable { peer: key },
        });
    }
}

fn send_one(inner: &Inner, dst: SocketAddr, data: &[u8]) {
    if let Some(t) = inner.transport() {
        let _ = t.0.send_batch(&[Transmit { dst, data }]);
    }
}

/// Points the keypair's index at it, so data under it finds the peer.
fn register(inner: &Inner, peer: &Arc<Peer>, kp: Arc<Keypair>) {
    let index = kp.local_index();
    let entry = IndexEntry { peer: peer.clone(), keypair: Some(kp) };
    let _ = inner.indices.replace(index, entry);
}

fn handle_handshake(
    inner: &Inner,
    job: &HandshakeJob,
    under_load: bool,
    now: Instant,
    scratch: &mut [u8],
) -> Result<(), DropReason> {
    let bytes = job.data.get(..job.len).ok_or(DropReason::WrongLength)?;
    let snap = inner.snapshot.load();
    let identity = snap.identity.as_ref().ok_or(DropReason::UnknownPeer)?;
    match Message::parse(bytes)? {
        Message::Initiation(msg) => {
            check_macs(inner, identity, bytes, msg.sender_index, job.src, under_load, now)?;
            let received = crate::noise::consume_initiation(identity.local_static(), &msg)?;
            let peer = inner.by_key.get(received.remote_static()).ok_or(DropReason::UnknownPeer)?;
            let registered = with_peer(inner, &peer, now, scratch, |p| {
                // Registered before the response is flushed: the initiator's first data
                // message may come back at once.
                p.handle_initiation(received, job.src, now).map(|kp| register(inner, &peer, kp))
            });
            registered.ok_or(DropReason::UnknownPeer)?
        }
        Message::Response(msg) => {
            check_macs(inner, identity, bytes, msg.sender_index, job.src, under_load, now)?;
            let entry = inner.indices.get(msg.receiver_index).ok_or(DropReason::UnknownIndex)?;
            if entry.keypair.is_some() {
                return Err(DropReason::UnexpectedHandshake);
            }
            let wall = inner.clock.wall();
            let peer = entry.peer;
            // The keypair is registered before the staged packets and the confirming
            // keepalive are flushed, so the answer finds it.
            let registered = with_peer(inner, &peer, now, scratch, |p| {
                p.handle_response(&msg, job.src, now, wall).map(|kp| register(inner, &peer, kp))
            });
            registered.ok_or(DropReason::UnknownPeer)?
        }
        Message::CookieReply(msg) => {
            let entry = inner.indices.get(msg.receiver_index).ok_or(DropReason::UnknownIndex)?;
            with_peer(inner, &entry.peer, now, scratch, |p| p.handle_cookie_reply(&msg, now))
                .ok_or(DropReason::UnknownPeer)?
        }
        Message::Data(_) => Err(DropReason::UnknownType),
    }
}

/// MAC1 always; under load also MAC2 (else a cookie reply) and the rate limiter.
fn check_macs(
    inner: &Inner,
    identity: &Identity,
    bytes: &[u8],
    sender_index: u32,
    src: SocketAddr,
    under_load: bool,
    now: Instant,
) -> Result<(), DropReason> {
    let checker = identity.cookie_checker();
    if !under_load {
        return if checker.check_mac1(bytes) { Ok(()) } else { Err(DropReason::InvalidMac1) };
    }
    let mut rng = inner.rng.lock();
    match checker.check_macs(bytes, src, now, &mut *rng) {
        MacState::Invalid => Err(DropReason::InvalidMac1),
        MacState::ValidMac1 => {
            let mut reply = [0u8; COOKIE_REPLY_LEN];
            checker.create_reply(bytes, sender_index, src, now, &mut *rng, &mut reply)?;
            drop(rng);
            send_one(inner, src, &reply);
            inner.counters.cookie_replies.fetch_add(1, Ordering::Relaxed);
            Err(DropReason::CookieRequired)
        }
        MacState::ValidMac1AndMac2 => {
            drop(rng);
            inner.ratelimiter.allow(src.ip(), now).map_err(|_| DropReason::RateLimited)
        }
    }
}
