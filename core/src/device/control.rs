//! The control thread: handshake messages (with the under-load cookie logic and the
//! per-source rate limiter), handshake requests from the data path, and every peer's
//! timers. Everything that costs a Diffie-Hellman runs here, off the data path.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::engine::{Inner, Local, POLL_INTERVAL};
use super::peer::{IndexEntry, Peer, PeerState};
use super::session::Session;
use super::DeviceEvent;
use crate::cookie::MacState;
use crate::error::DropReason;
use crate::io::Transmit;
use crate::messages::{
    CookieReply, Initiation, Message, Response, COOKIE_REPLY_LEN, DATA_HEADER_LEN, INITIATION_LEN,
    MAX_STAGED_PACKETS, RESPONSE_LEN,
};
use crate::queue::Ring;
use crate::timers::{random_jitter, TimerAction};

/// How long the device stays "under load" after the handshake queue was last busy.
const UNDER_LOAD_HOLD: Duration = Duration::from_secs(1);
/// Handshake messages handled per loop turn (timers and requests run in between).
const HANDSHAKE_BATCH: usize = 32;

/// One handshake message copied off the RX path (fixed size: no allocation).
pub(crate) struct HandshakeJob {
    pub(crate) data: [u8; INITIATION_LEN],
    pub(crate) len: usize,
    pub(crate) src: SocketAddr,
}

/// The control thread's loop.
pub(crate) fn run(inner: &Inner) {
    let mut scratch = vec![0u8; DATA_HEADER_LEN + 65_536 + 64];
    let mut jobs: Vec<HandshakeJob> = Vec::with_capacity(HANDSHAKE_BATCH);
    let mut last_gc = inner.clock.now();
    while inner.running.load(Ordering::Relaxed) {
        let now = inner.clock.now();
        let queued = inner.handshakes.len();
        if queued >= inner.handshakes.capacity() / 8 {
            let until = inner.ticks(now).saturating_add(UNDER_LOAD_HOLD.as_nanos() as u64);
            inner.under_load_until.store(until, Ordering::Relaxed);
        }
        let under_load = inner.under_load_until.load(Ordering::Relaxed) > inner.ticks(now);
        jobs.clear();
        inner.handshakes.pop_batch(&mut jobs, HANDSHAKE_BATCH);
        let busy = !jobs.is_empty();
        for job in &jobs {
            inner.counters.handshakes_processed.fetch_add(1, Ordering::Relaxed);
            if let Err(reason) = handle_handshake(inner, job, under_load, now, &mut scratch) {
                inner.counters.drop(reason);
            }
        }
        while let Some(peer) = inner.handshake_requests.pop() {
            peer.handshake_queued.store(false, Ordering::Relaxed);
            if !peer.removed.load(Ordering::Relaxed) {
                let mut st = peer.state.lock();
                st.timers.on_handshake_requested();
                if !st.timers.initiation_rate_limited(now) {
                    send_initiation(inner, &peer, &mut st, now);
                }
                peer.publish_deadline(&st, inner.base);
            }
        }
        let next = run_timers(inner, now, &mut scratch);
        if now.saturating_duration_since(last_gc) >= Duration::from_secs(1) {
            inner.ratelimiter.gc(now);
            last_gc = now;
        }
        if !busy && inner.handshakes.is_empty() && inner.handshake_requests.is_empty() {
            let wait = next.map_or(POLL_INTERVAL, |at| at.min(POLL_INTERVAL));
            std::thread::park_timeout(wait.max(Duration::from_micros(100)));
        }
    }
}

/// Expires due timers of every peer; returns the time until the next deadline.
fn run_timers(inner: &Inner, now: Instant, scratch: &mut [u8]) -> Option<Duration> {
    let snap = inner.snapshot.load();
    let ticks = inner.ticks(now);
    let mut next = u64::MAX;
    for peer in &snap.peers {
        let at = peer.next_deadline.load(Ordering::Relaxed);
        if at <= ticks {
            handle_timers(inner, peer, now, scratch);
        }
        next = next.min(peer.next_deadline.load(Ordering::Relaxed));
    }
    (next != u64::MAX).then(|| Duration::from_nanos(next.saturating_sub(ticks)))
}

fn handle_timers(inner: &Inner, peer: &Arc<Peer>, now: Instant, scratch: &mut [u8]) {
    let mut keepalive = false;
    let mut events = Vec::new();
    {
        let mut st = peer.state.lock();
        while let Some(action) = st.timers.handle_timeout(now) {
            match action {
                TimerAction::RetransmitHandshake => send_initiation(inner, peer, &mut st, now),
                TimerAction::NewHandshake => {
                    st.timers.on_handshake_requested();
                    send_initiation(inner, peer, &mut st, now);
                }
                TimerAction::GiveUpHandshake => {
                    if let Some(p) = st.pending.take() {
                        inner.indices.remove(p.sender_index());
                    }
                    let dropped = std::mem::take(&mut peer.tx.lock().staged);
                    for _ in 0..dropped.len() {
                        peer.counters.drop(DropReason::NoEndpoint);
                    }
                    events.push(DeviceEvent::PeerUnreachable { peer: peer.public_key });
                }
                TimerAction::SendKeepalive | TimerAction::SendPersistentKeepalive => {
                    keepalive = true;
                }
                TimerAction::ZeroKeys => {
                    if let Some(p) = st.pending.take() {
                        inner.indices.remove(p.sender_index());
                    }
                    let had = st.current.is_some() || st.previous.is_some() || st.next.is_some();
                    for s in [st.current.take(), st.previous.take(), st.next.take()]
                        .into_iter()
                        .flatten()
                    {
                        inner.indices.remove(s.local_index);
                    }
                    peer.send_session.store(None);
                    if had {
                        events.push(DeviceEvent::SessionExpired { peer: peer.public_key });
                    }
                }
            }
        }
        peer.publish_deadline(&st, inner.base);
    }
    if keepalive {
        send_keepalive(inner, peer, now, scratch);
    }
    for e in events {
        inner.emit(e);
    }
}

/// Queues a handshake request for the control thread (from any thread).
pub(crate) fn request_handshake(inner: &Inner, peer: &Arc<Peer>) {
    if !peer.handshake_queued.swap(true, Ordering::AcqRel) {
        if inner.handshake_requests.push(peer.clone()).is_err() {
            peer.handshake_queued.store(false, Ordering::Relaxed);
        }
        inner.wake_control();
    }
}

/// Sends an initiation to the peer's endpoint (a new one or a retry).
fn send_initiation(inner: &Inner, peer: &Arc<Peer>, st: &mut PeerState, now: Instant) {
    let snap = inner.snapshot.load();
    let (Some(local), Some(remote)) = (snap.local.as_ref(), st.remote.as_ref()) else {
        return;
    };
    if let Some(p) = st.pending.take() {
        inner.indices.remove(p.sender_index());
    }
    let mut rng = inner.rng.lock();
    let entry = IndexEntry { peer: peer.clone(), session: None };
    let Ok(index) = inner.indices.insert_new(&mut *rng, entry) else { return };
    let mut msg = [0u8; INITIATION_LEN];
    let wall = inner.clock.wall();
    match crate::noise::create_initiation(&local.noise, remote, index, wall, &mut *rng, &mut msg) {
        Ok(sent) => st.pending = Some(sent),
        Err(reason) => {
            inner.indices.remove(index);
            peer.counters.drop(reason);
            return;
        }
    }
    let jitter = random_jitter(&mut *rng);
    drop(rng);
    st.cookie.write_macs(&mut msg, now);
    st.timers.on_any_authenticated_packet_traversal(now);
    st.timers.on_any_authenticated_packet_sent(now);
    st.timers.on_handshake_initiated(now, jitter);
    match peer.endpoint() {
        Some(dst) => send_one(inner, dst, &msg),
        None => peer.counters.drop(DropReason::NoEndpoint),
    }
}

fn send_one(inner: &Inner, dst: SocketAddr, data: &[u8]) {
    if let Some(t) = inner.transport() {
        let _ = t.0.send_batch(&[Transmit { dst, data }]);
    }
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
    let local = snap.local.as_ref().ok_or(DropReason::UnknownPeer)?;
    match Message::parse(bytes)? {
        Message::Initiation(msg) => {
            check_macs(inner, local, bytes, msg.sender_index, job.src, under_load, now)?;
            handle_initiation(inner, local, &msg, job.src, now)
        }
        Message::Response(msg) => {
            check_macs(inner, local, bytes, msg.sender_index, job.src, under_load, now)?;
            handle_response(inner, local, &msg, job.src, now, scratch)
        }
        Message::CookieReply(msg) => handle_cookie_reply(inner, &msg, now),
        Message::Data(_) => Err(DropReason::UnknownType),
    }
}

/// MAC1 always; under load also MAC2 (else a cookie reply) and the rate limiter.
fn check_macs(
    inner: &Inner,
    local: &Local,
    bytes: &[u8],
    sender_index: u32,
    src: SocketAddr,
    under_load: bool,
    now: Instant,
) -> Result<(), DropReason> {
    if !under_load {
        return if local.checker.check_mac1(bytes) { Ok(()) } else { Err(DropReason::InvalidMac1) };
    }
    let mut rng = inner.rng.lock();
    match local.checker.check_macs(bytes, src, now, &mut *rng) {
        MacState::Invalid => Err(DropReason::InvalidMac1),
        MacState::ValidMac1 => {
            let mut reply = [0u8; COOKIE_REPLY_LEN];
            local.checker.create_reply(bytes, sender_index, src, now, &mut *rng, &mut reply)?;
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

fn handle_initiation(
    inner: &Inner,
    local: &Local,
    msg: &Initiation<'_>,
    src: SocketAddr,
    now: Instant,
) -> Result<(), DropReason> {
    let received = crate::noise::consume_initiation(&local.noise, msg)?;
    let peer = inner.by_key.get(received.remote_static()).ok_or(DropReason::UnknownPeer)?;
    let mut st = peer.state.lock();
    let remote = st.remote.as_mut().ok_or(DropReason::UnknownPeer)?;
    let consumed = received.finish(remote, now)?;
    let mut rng = inner.rng.lock();
    let entry = IndexEntry { peer: peer.clone(), session: None };
    let index =
        inner.indices.insert_new(&mut *rng, entry).map_err(|_| DropReason::BufferTooSmall)?;
    let mut out = [0u8; RESPONSE_LEN];
    let remote = st.remote.as_ref().ok_or(DropReason::UnknownPeer)?;
    let keys = match consumed.create_response(remote, index, &mut *rng, &mut out) {
        Ok(k) => k,
        Err(e) => {
            inner.indices.remove(index);
            return Err(e);
        }
    };
    drop(rng);
    let session = Arc::new(Session::new(&keys, now));
    let _ = inner
        .indices
        .replace(index, IndexEntry { peer: peer.clone(), session: Some(session.clone()) });
    if let Some(old) = st.next.replace(session) {
        inner.indices.remove(old.local_index);
    }
    if let Some(old) = st.previous.take() {
        inner.indices.remove(old.local_index);
    }
    st.cookie.write_macs(&mut out, now);
    st.timers.on_any_authenticated_packet_traversal(now);
    st.timers.on_any_authenticated_packet_received(now);
    st.timers.on_session_derived(now);
    st.timers.on_any_authenticated_packet_sent(now);
    st.timers.on_handshake_response_sent(now);
    peer.publish_deadline(&st, inner.base);
    drop(st);
    let changed = set_endpoint(&peer, src);
    send_one(inner, src, &out);
    if changed {
        inner.emit(DeviceEvent::EndpointChanged { peer: peer.public_key, endpoint: src });
    }
    Ok(())
}

fn handle_response(
    inner: &Inner,
    local: &Local,
    msg: &Response<'_>,
    src: SocketAddr,
    now: Instant,
    scratch: &mut [u8],
) -> Result<(), DropReason> {
    let entry = inner.indices.get(msg.receiver_index).ok_or(DropReason::UnknownIndex)?;
    if entry.session.is_some() {
        return Err(DropReason::UnexpectedHandshake);
    }
    let peer = entry.peer;
    let mut st = peer.state.lock();
    let pending = st.pending.take().ok_or(DropReason::UnexpectedHandshake)?;
    let remote = st.remote.as_ref().ok_or(DropReason::UnknownPeer)?;
    let keys = match pending.consume_response(&local.noise, remote, msg) {
        Ok(keys) => keys,
        Err((back, reason)) => {
            st.pending = Some(back);
            return Err(reason);
        }
    };
    let session = Arc::new(Session::new(&keys, now));
    let entry = IndexEntry { peer: peer.clone(), session: Some(session.clone()) };
    if inner.indices.replace(keys.local_index, entry).is_err() {
        return Err(DropReason::UnexpectedHandshake);
    }
    // Initiator rotation (kernel noise.c): a pending `next` is newer than `current`.
    if let Some(n) = st.next.take() {
        if let Some(p) = st.previous.replace(n) {
            inner.indices.remove(p.local_index);
        }
        if let Some(c) = st.current.take() {
            inner.indices.remove(c.local_index);
        }
    } else {
        let old_current = st.current.take();
        if let Some(p) = std::mem::replace(&mut st.previous, old_current) {
            inner.indices.remove(p.local_index);
        }
    }
    st.current = Some(session.clone());
    peer.send_session.store(Some(session));
    st.last_handshake = Some(inner.clock.wall());
    st.timers.on_any_authenticated_packet_traversal(now);
    st.timers.on_any_authenticated_packet_received(now);
    st.timers.on_handshake_complete(now);
    st.timers.on_session_derived(now);
    peer.publish_deadline(&st, inner.base);
    drop(st);
    peer.counters.handshakes.fetch_add(1, Ordering::Relaxed);
    let changed = set_endpoint(&peer, src);
    if flush_staged(inner, &peer, now, scratch) == 0 {
        // Confirms the session to the responder (it may not send before this).
        send_keepalive(inner, &peer, now, scratch);
    }
    inner.emit(DeviceEvent::HandshakeComplete { peer: peer.public_key });
    if changed {
        inner.emit(DeviceEvent::EndpointChanged { peer: peer.public_key, endpoint: src });
    }
    Ok(())
}

fn handle_cookie_reply(
    inner: &Inner,
    msg: &CookieReply<'_>,
    now: Instant,
) -> Result<(), DropReason> {
    let entry = inner.indices.get(msg.receiver_index).ok_or(DropReason::UnknownIndex)?;
    let mut st = entry.peer.state.lock();
    st.cookie.consume_reply(msg, now)
}

/// Sets the endpoint; true if it changed.
pub(crate) fn set_endpoint(peer: &Peer, src: SocketAddr) -> bool {
    let mut ep = peer.endpoint.lock();
    if *ep == Some(src) {
        return false;
    }
    *ep = Some(src);
    true
}

/// Seals one packet already at `scratch[DATA_HEADER_LEN..DATA_HEADER_LEN + len]` and
/// sends it. Returns whether it was handed to the transport.
fn seal_and_send(
    inner: &Inner,
    peer: &Peer,
    session: &Session,
    dst: SocketAddr,
    scratch: &mut [u8],
    len: usize,
) -> bool {
    let Some(counter) = session.next_counter() else {
        peer.counters.drop(DropReason::CounterExhausted);
        return false;
    };
    match session.seal(counter, scratch, len, inner.tun.mtu()) {
        Ok(n) => {
            if let Some(data) = scratch.get(..n) {
                send_one(inner, dst, data);
                peer.counters.tx_bytes.fetch_add(n as u64, Ordering::Relaxed);
                peer.counters.tx_packets.fetch_add(1, Ordering::Relaxed);
            }
            true
        }
        Err(reason) => {
            peer.counters.drop(reason);
            false
        }
    }
}

/// Sends the staged packets under the current session, oldest first. Returns how many.
pub(crate) fn flush_staged(
    inner: &Inner,
    peer: &Arc<Peer>,
    now: Instant,
    scratch: &mut [u8],
) -> usize {
    let mut sent = 0;
    let mut data = false;
    {
        let mut tx = peer.tx.lock();
        let session = peer.send_session.load_full();
        let (Some(session), Some(dst)) = (session, peer.endpoint()) else { return 0 };
        if !session.can_send(now) {
            return 0;
        }
        while let Some(pkt) = tx.staged.pop_front() {
            let Some(room) = scratch.get_mut(DATA_HEADER_LEN..DATA_HEADER_LEN + pkt.len()) else {
                peer.counters.drop(DropReason::PacketTooLarge);
                continue;
            };
            room.copy_from_slice(&pkt);
            if seal_and_send(inner, peer, &session, dst, scratch, pkt.len()) {
                sent += 1;
                data |= !pkt.is_empty();
            }
        }
    }
    if sent > 0 {
        let mut st = peer.state.lock();
        st.timers.on_any_authenticated_packet_traversal(now);
        st.timers.on_any_authenticated_packet_sent(now);
        if data {
            st.timers.on_data_sent(now);
        }
        peer.publish_deadline(&st, inner.base);
    }
    sent
}

/// Sends a keepalive (an empty data packet), staging it behind a handshake when there
/// is no usable session.
pub(crate) fn send_keepalive(inner: &Inner, peer: &Arc<Peer>, now: Instant, scratch: &mut [u8]) {
    {
        let mut tx = peer.tx.lock();
        let session = peer.send_session.load_full().filter(|s| s.can_send(now));
        if session.is_none() || !tx.staged.is_empty() {
            if tx.staged.is_empty() {
                tx.staged.push_back(Vec::new());
            }
            drop(tx);
            if session.is_some() {
                flush_staged(inner, peer, now, scratch);
            } else {
                request_handshake(inner, peer);
            }
            return;
        }
        let (Some(session), Some(dst)) = (session, peer.endpoint()) else { return };
        if !seal_and_send(inner, peer, &session, dst, scratch, 0) {
            return;
        }
    }
    let mut st = peer.state.lock();
    st.timers.on_any_authenticated_packet_traversal(now);
    st.timers.on_any_authenticated_packet_sent(now);
    peer.publish_deadline(&st, inner.base);
}

/// Stages a packet copy behind a handshake, dropping the oldest when full.
pub(crate) fn stage(peer: &Peer, staged: &mut std::collections::VecDeque<Vec<u8>>, pkt: &[u8]) {
    if staged.len() >= MAX_STAGED_PACKETS {
        staged.pop_front();
        peer.counters.drop(DropReason::StagedQueueFull);
    }
    staged.push_back(pkt.to_vec());
}
