//! The TX thread (NIC → peers → UDP) and the RX thread (UDP → peers → NIC).
//!
//! Both own their buffers for the whole run: one buffer per batch slot, with room for
//! the data header in front of the packet and padding plus tag behind it, so packets
//! are sealed and opened in place and nothing is allocated per packet.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::control::{flush, with_peer, HandshakeJob};
use super::engine::{Inner, Snapshot, MAX_BATCH, POLL_INTERVAL};
use super::peer::Peer;
use super::workers::OpenRec;
use super::DeviceEvent;
use crate::allowedips::Table;
use crate::error::DropReason;
use crate::io::{RecvMeta, Transmit};
use crate::keypair::{Keypair, DATA_OVERHEAD};
use crate::messages::{
    AEAD_TAG_LEN, DATA_HEADER_LEN, DATA_MIN_LEN, INITIATION_LEN, MESSAGE_PADDING_MULTIPLE,
    MESSAGE_TYPE_COOKIE_REPLY, MESSAGE_TYPE_DATA, MESSAGE_TYPE_INITIATION, MESSAGE_TYPE_RESPONSE,
};
use crate::peer::inner_packet_len;
use crate::queue::Ring;

/// Plaintext length after zero padding to a multiple of 16, never beyond the MTU
/// (whitepaper section 5.4.6).
pub(crate) fn padded_len(len: usize, mtu: usize) -> usize {
    let padded = len.next_multiple_of(MESSAGE_PADDING_MULTIPLE);
    if len <= mtu {
        padded.min(mtu)
    } else {
        padded
    }
}

/// Seals `len` bytes at `buf[DATA_HEADER_LEN..]` in place; returns the datagram length.
pub(crate) fn seal(kp: &Keypair, counter: u64, buf: &mut [u8], len: usize, mtu: usize) -> usize {
    let total = DATA_OVERHEAD + padded_len(len, mtu);
    buf.get_mut(..total).and_then(|b| kp.seal(counter, b, len).ok()).unwrap_or(0)
}

/// Bytes per TX buffer: header, the largest packet, padding and tag, rounded to 64.
pub(crate) fn tx_stride(mtu: usize) -> usize {
    (DATA_HEADER_LEN + mtu + 16 + AEAD_TAG_LEN).div_ceil(64) * 64
}

/// One packet of a TX batch ready to be sealed.
pub(crate) struct SealRec {
    pub(crate) slot: usize,
    pub(crate) len: usize,
    pub(crate) counter: u64,
    pub(crate) dst: SocketAddr,
    pub(crate) keypair: Arc<Keypair>,
    /// Datagram length once sealed (0: dropped).
    pub(crate) out_len: usize,
}

/// The TX thread's loop.
pub(crate) fn run_tx(inner: &Inner) {
    let mtu = inner.tun.mtu();
    let stride = tx_stride(mtu);
    let batch = inner.opts.batch_size.clamp(1, MAX_BATCH);
    let mut bufs: Vec<Vec<u8>> = (0..batch).map(|_| vec![0u8; stride]).collect();
    let mut sizes = [0usize; MAX_BATCH];
    let mut targets: Vec<Option<Arc<Peer>>> = Vec::with_capacity(batch);
    let mut recs: Vec<SealRec> = Vec::with_capacity(batch);
    let mut scratch = vec![0u8; stride];
    while inner.running.load(Ordering::Relaxed) {
        let n = {
            let mut it = bufs.iter_mut();
            let mut slices: [&mut [u8]; MAX_BATCH] = std::array::from_fn(|_| {
                it.next()
                    .and_then(|b| b.get_mut(DATA_HEADER_LEN..DATA_HEADER_LEN + mtu))
                    .unwrap_or_default()
            });
            let (Some(s), Some(z)) = (slices.get_mut(..batch), sizes.get_mut(..batch)) else {
                return;
            };
            match inner.tun.recv_batch(s, z, POLL_INTERVAL) {
                Ok(n) => n.min(batch),
                Err(e) => {
                    io_error(inner, "NIC read", &e);
                    continue;
                }
            }
        };
        if n == 0 {
            continue;
        }
        let now = inner.clock.now();
        let snap = inner.snapshot.load();
        targets.clear();
        for (buf, &len) in bufs.iter().zip(&sizes).take(n) {
            let pkt = buf.get(DATA_HEADER_LEN..DATA_HEADER_LEN + len).unwrap_or_default();
            let peer = route_by_dst(&snap.routes, pkt);
            match &peer {
                Ok(_) => {}
                Err(reason) => inner.counters.drop(*reason),
            }
            targets.push(peer.ok().cloned());
        }
        send_runs(inner, &mut bufs, &sizes, n, &targets, &mut recs, &mut scratch, now, mtu);
    }
}

/// Groups the first `n` packets into runs of the same peer, stages or seals them, and
/// sends the sealed ones as one UDP batch (in their original order).
#[allow(clippy::too_many_arguments)]
pub(crate) fn send_runs(
    inner: &Inner,
    bufs: &mut [Vec<u8>],
    sizes: &[usize],
    n: usize,
    targets: &[Option<Arc<Peer>>],
    recs: &mut Vec<SealRec>,
    scratch: &mut [u8],
    now: Instant,
    mtu: usize,
) {
    recs.clear();
    let mut i = 0;
    while i < n {
        let Some(peer) = targets.get(i).cloned().flatten() else {
            i += 1;
            continue;
        };
        let mut j = i + 1;
        while targets.get(j).is_some_and(|t| t.as_ref().is_some_and(|p| Arc::ptr_eq(p, &peer))) {
            j += 1;
        }
        tx_run(inner, &peer, bufs, sizes, i..j, now, mtu, recs, scratch);
        i = j;
    }
    if recs.is_empty() {
        return;
    }
    inner.workers.seal(inner, bufs, recs, mtu);
    send_sealed(inner, bufs, recs);
}

/// Handles consecutive packets for one peer: stage them or take their counters.
#[allow(clippy::too_many_arguments)]
fn tx_run(
    inner: &Inner,
    peer: &Arc<Peer>,
    bufs: &[Vec<u8>],
    sizes: &[usize],
    range: std::ops::Range<usize>,
    now: Instant,
    mtu: usize,
    recs: &mut Vec<SealRec>,
    scratch: &mut [u8],
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
                    recs.push(SealRec { slot, len, counter, dst, keypair: kp.clone(), out_len: 0 });
                }
                peer.counters.tx_packets.fetch_add(count, Ordering::Relaxed);
                // Timers and counters for the whole run at once; a rekey initiation it
                // asks for is flushed below.
                if count > 0 {
                    p.on_data_sent(&kp, bytes, plain, now, inner.clock.wall());
                }
            }
            _ => {
                let wall = inner.clock.wall();
                for (_, _, pkt) in packets {
                    p.stage_packet(pkt, now, wall);
                }
            }
        }
        flush(inner, peer, p, now, scratch, &mut events);
        inner.publish_deadline(peer, Some(p));
    }
    for e in events {
        inner.emit(e);
    }
}

fn send_sealed(inner: &Inner, bufs: &[Vec<u8>], recs: &[SealRec]) {
    let Some(transport) = inner.transport() else {
        for _ in recs {
            inner.counters.drop(DropReason::NoEndpoint);
        }
        return;
    };
    let mut it = recs.iter().filter(|r| r.out_len > 0);
    let mut count = 0;
    let dummy = SocketAddr::from(([0, 0, 0, 0], 0));
    let list: [Transmit<'_>; MAX_BATCH] = std::array::from_fn(|_| match it.next() {
        Some(r) => {
            count += 1;
            let data = bufs.get(r.slot).and_then(|b| b.get(..r.out_len)).unwrap_or_default();
            Transmit { dst: r.dst, data }
        }
        None => Transmit { dst: dummy, data: &[] },
    });
    let list = list.get(..count).unwrap_or_default();
    if let Err(e) = transport.0.send_batch(list) {
        io_error(inner, "UDP send", &e);
    }
}

pub(crate) fn io_error(inner: &Inner, what: &str, e: &std::io::Error) {
    if inner.running.load(Ordering::Relaxed) {
        inner.emit(DeviceEvent::Error { message: format!("{what}: {e}") });
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The peer an outgoing IP packet goes to.
pub(crate) fn route_by_dst<'a>(
    routes: &'a Table<Arc<Peer>>,
    pkt: &[u8],
) -> Result<&'a Arc<Peer>, DropReason> {
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

/// Checks that the packet's source address belongs to `peer`.
fn check_source(routes: &Table<Arc<Peer>>, peer: &Arc<Peer>, p: &[u8]) -> Result<(), DropReason> {
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

/// Per-peer bookkeeping of consecutive RX packets, applied once per run.
struct RxRun {
    peer: Arc<Peer>,
    keypair: Arc<Keypair>,
    src: SocketAddr,
    bytes: usize,
    plain: usize,
    packets: u64,
}

/// The RX thread's loop.
pub(crate) fn run_rx(inner: &Inner) {
    let mtu = inner.tun.mtu();
    let stride = tx_stride(mtu.max(1420)).max(2048);
    let batch = inner.opts.batch_size.clamp(1, MAX_BATCH);
    let mut bufs: Vec<Vec<u8>> = (0..batch).map(|_| vec![0u8; stride]).collect();
    let mut meta = [RecvMeta::default(); MAX_BATCH];
    let mut deliver: Vec<(usize, usize)> = Vec::with_capacity(batch);
    let mut opens: Vec<OpenRec> = Vec::with_capacity(batch);
    let mut scratch = vec![0u8; tx_stride(mtu)];
    while inner.running.load(Ordering::Relaxed) {
        let Some(transport) = inner.transport() else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        let n = {
            let mut it = bufs.iter_mut();
            let mut slices: [&mut [u8]; MAX_BATCH] =
                std::array::from_fn(|_| it.next().map(|b| b.as_mut_slice()).unwrap_or_default());
            let (Some(s), Some(m)) = (slices.get_mut(..batch), meta.get_mut(..batch)) else {
                return;
            };
            match transport.0.recv_batch(s, m, POLL_INTERVAL) {
                Ok(n) => n.min(batch),
                Err(e) => {
                    drop(transport);
                    io_error(inner, "UDP receive", &e);
                    continue;
                }
            }
        };
        drop(transport);
        if n == 0 {
            continue;
        }
        let now = inner.clock.now();
        let snap = inner.snapshot.load();
        deliver.clear();
        opens.clear();
        let mut woke = false;
        // 1. Classify; look data messages up by receiver index (no crypto yet).
        for (k, (buf, m)) in bufs.iter_mut().zip(&meta).take(n).enumerate() {
            let Some(dgram) = buf.get_mut(..m.len) else { continue };
            match dgram.first().copied() {
                Some(MESSAGE_TYPE_DATA) => {}
                Some(
                    MESSAGE_TYPE_INITIATION | MESSAGE_TYPE_RESPONSE | MESSAGE_TYPE_COOKIE_REPLY,
                ) => {
                    queue_handshake(inner, dgram, m.src);
                    woke = true;
                    continue;
                }
                _ => {
                    inner.counters.drop(DropReason::UnknownType);
                    continue;
                }
            }
            match rx_lookup(inner, dgram, now) {
                Ok((peer, keypair)) => opens.push(OpenRec {
                    slot: k,
                    len: m.len,
                    src: m.src,
                    peer,
                    keypair,
                    result: Err(DropReason::DecryptFailed),
                }),
                Err(None) => {}
                Err(Some(reason)) => inner.counters.drop(reason),
            }
        }
        // 2. Decrypt in place, inline or on the workers.
        if !opens.is_empty() {
            inner.workers.open(inner, &mut bufs, &mut opens);
        }
        // 3. In arrival order: replay window, inner packet, source address, bookkeeping.
        let mut run: Option<RxRun> = None;
        for rec in opens.drain(..) {
            let slot = rec.slot;
            let Some(dgram) = bufs.get(slot).and_then(|b| b.get(..rec.len)) else { continue };
            match rx_accept(inner, &snap, rec, dgram, now, &mut run, &mut scratch) {
                Ok(0) => {}
                Ok(len) => deliver.push((slot, len)),
                Err(()) => {}
            }
        }
        if let Some(r) = run.take() {
            finish_run(inner, r, now, &mut scratch);
        }
        if woke {
            inner.wake_control();
        }
        if !deliver.is_empty() {
            let mut it = deliver.iter();
            let mut count = 0;
            let list: [&[u8]; MAX_BATCH] = std::array::from_fn(|_| match it.next() {
                Some(&(k, len)) => {
                    count += 1;
                    bufs.get(k)
                        .and_then(|b| b.get(DATA_HEADER_LEN..DATA_HEADER_LEN + len))
                        .unwrap_or_default()
                }
                None => &[],
            });
            if let Some(list) = list.get(..count) {
                if let Err(e) = inner.tun.send_batch(list) {
                    io_error(inner, "NIC write", &e);
                }
            }
        }
    }
}

fn queue_handshake(inner: &Inner, dgram: &[u8], src: SocketAddr) {
    if dgram.len() > INITIATION_LEN {
        inner.counters.drop(DropReason::WrongLength);
        return;
    }
    let mut job = HandshakeJob { data: [0; INITIATION_LEN], len: dgram.len(), src };
    if let Some(d) = job.data.get_mut(..dgram.len()) {
        d.copy_from_slice(dgram);
    }
    if inner.handshakes.push(job).is_err() {
        inner.counters.handshake_overflows.fetch_add(1, Ordering::Relaxed);
    }
}

/// Finds the keypair a data message is addressed to. `Err(Some(reason))`: a drop not
/// charged to a peer; `Err(None)`: a drop already charged to one.
fn rx_lookup(
    inner: &Inner,
    dgram: &[u8],
    now: Instant,
) -> Result<(Arc<Peer>, Arc<Keypair>), Option<DropReason>> {
    if dgram.len() < DATA_MIN_LEN {
        return Err(Some(DropReason::WrongLength));
    }
    let header: &[u8; DATA_HEADER_LEN] = dgram
        .get(..DATA_HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(Some(DropReason::TooShort))?;
    if header[1..4] != [0, 0, 0] {
        return Err(Some(DropReason::ReservedNonZero));
    }
    let index = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let entry = inner.indices.get(index).ok_or(Some(DropReason::UnknownIndex))?;
    let Some(keypair) = entry.keypair else {
        return Err(Some(DropReason::UnknownIndex));
    };
    if keypair.is_expired(now) {
        entry.peer.counters.drop(DropReason::KeyExpired);
        return Err(None);
    }
    Ok((entry.peer, keypair))
}

/// After decryption: replay window, run bookkeeping, inner packet and source checks.
/// `Ok(len)`: an inner packet of `len` bytes at `dgram[DATA_HEADER_LEN..]` to deliver
/// (0 for a keepalive); `Err(())`: dropped and counted.
fn rx_accept(
    inner: &Inner,
    snap: &Snapshot,
    rec: OpenRec,
    dgram: &[u8],
    now: Instant,
    run: &mut Option<RxRun>,
    scratch: &mut [u8],
) -> Result<usize, ()> {
    let OpenRec { peer, keypair, src, result, .. } = rec;
    let fail = |reason: DropReason| peer.counters.drop(reason);
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
            finish_run(inner, r, now, scratch);
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

/// Applies a run's counters, timers, roaming and session confirmation.
fn finish_run(inner: &Inner, r: RxRun, now: Instant, scratch: &mut [u8]) {
    let RxRun { peer, keypair, src, bytes, plain, packets } = r;
    peer.counters.rx_packets.fetch_add(packets, Ordering::Relaxed);
    let wall = inner.clock.wall();
    with_peer(inner, &peer, now, scratch, |p| {
        p.on_data_received(&keypair, src, bytes, plain, now, wall);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allowedips::Prefix;
    use crate::keys::PublicKey;

    fn v4_packet(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&40u16.to_be_bytes());
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        p
    }

    fn v6_packet(src: [u8; 16], dst: [u8; 16]) -> Vec<u8> {
        let mut p = vec![0u8; 48];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&8u16.to_be_bytes());
        p[8..24].copy_from_slice(&src);
        p[24..40].copy_from_slice(&dst);
        p
    }

    fn routes() -> (Table<Arc<Peer>>, Arc<Peer>, Arc<Peer>) {
        let (a, b) =
            (Arc::new(Peer::new(PublicKey([1; 32]))), Arc::new(Peer::new(PublicKey([2; 32]))));
        let mut t = Table::new();
        let p = |s: &str| s.parse::<Prefix>().unwrap();
        t.insert(p("10.0.0.0/8"), a.clone()).unwrap();
        t.insert(p("10.1.0.0/16"), b.clone()).unwrap();
        t.insert(p("fd00::/64"), b.clone()).unwrap();
        (t, a, b)
    }

    #[test]
    fn padding_table() {
        // (len, mtu, padded)
        for (len, mtu, want) in [
            (0, 1420, 0),
            (1, 1420, 16),
            (16, 1420, 16),
            (17, 1420, 32),
            (1409, 1420, 1420),
            (1420, 1420, 1420),
            (1419, 1419, 1419),
            (1500, 1420, 1504),
        ] {
            assert_eq!(padded_len(len, mtu), want, "len {len} mtu {mtu}");
        }
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
