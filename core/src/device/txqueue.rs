//! The queued TX path ([`super::DeviceOptions::codel`] / `tx_queue`): the TX thread
//! moves packets from the NIC into per-peer queues and sends from them round robin.
//! With CoDel it drains the NIC eagerly, so a standing queue forms inside the engine
//! where CoDel sees and controls it (bounded by the buffer pool). Without CoDel the bytes
//! held are bounded by a DQL limit fed by what the UDP stage completes, instead of a
//! fixed packet depth. Buffers come from a pool allocated once, so the path allocates
//! nothing per packet.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::records::{MAX_BATCH, POLL_INTERVAL};
use super::state::Inner;
use super::tx::send_runs;
use crate::aqm::{Codel, CodelParams, CodelQueue, Dql, DqlParams, VecCodelQueue};
use crate::interface::{tx_stride, PeerSlot, SealRec};
use crate::messages::DATA_HEADER_LEN;

/// Buffers in the pool: the most packets the engine holds queued at once.
const POOL: usize = 2048;
/// Target duration of one send round (see `budget`).
const SEND_ROUND: Duration = Duration::from_millis(1);

/// One peer's queue and its CoDel state.
struct PeerQueue {
    peer: Arc<PeerSlot>,
    queue: VecCodelQueue<(Vec<u8>, usize)>,
    codel: Codel,
}

/// The queued TX loop.
pub(crate) fn run_tx_queued(inner: &Inner) {
    let mtu = inner.tun.mtu();
    let stride = tx_stride(mtu);
    let batch = inner.opts.batch_size.clamp(1, MAX_BATCH);
    let mut pool: Vec<Vec<u8>> = (0..POOL).map(|_| vec![0u8; stride]).collect();
    let mut reading: Vec<Vec<u8>> = Vec::with_capacity(MAX_BATCH);
    let mut sending: Vec<Vec<u8>> = Vec::with_capacity(MAX_BATCH);
    let mut sizes = [0usize; MAX_BATCH];
    let mut targets: Vec<Option<Arc<PeerSlot>>> = Vec::with_capacity(MAX_BATCH);
    let mut recs: Vec<SealRec> = Vec::with_capacity(MAX_BATCH);
    let mut scratch = vec![0u8; stride];
    let mut queues: Vec<PeerQueue> = Vec::new();
    let mut rr = 0usize;
    let params = CodelParams { max_packet: mtu, ..inner.opts.codel_params };
    let dql_params = DqlParams {
        min_limit: (batch * (mtu + DATA_HEADER_LEN)) as u64,
        max_limit: (POOL * mtu) as u64,
        hold_time: Duration::from_secs(1),
    };
    let mut dql = Dql::new(dql_params, inner.clock.now());
    let mut queued = 0usize;
    // Packets per send round, adapted so one round keeps the UDP stage busy for about
    // SEND_ROUND (BQL-style): a slow link gets small rounds, so packets wait in the
    // CoDel queue (where their sojourn is measured) rather than in a long batch.
    let mut budget = batch;
    while inner.running.load(Ordering::Relaxed) {
        // Read phase: everything the NIC has, while buffers and the DQL limit allow.
        let mut wait = if queued == 0 { POLL_INTERVAL } else { Duration::ZERO };
        loop {
            let want = batch.min(pool.len());
            // With CoDel the queue itself is the managed buffer (bounded by the pool):
            // drain the NIC so the standing queue forms where CoDel sees it. Without
            // CoDel, DQL keeps the engine's share of the queue to what the UDP stage
            // completes per round.
            if want == 0 || (!inner.opts.codel && dql.avail() <= 0) {
                break;
            }
            reading.extend(pool.drain(pool.len() - want..));
            let n = {
                let mut it = reading.iter_mut();
                let mut slices: [&mut [u8]; MAX_BATCH] = std::array::from_fn(|_| {
                    it.next()
                        .and_then(|b| b.get_mut(DATA_HEADER_LEN..DATA_HEADER_LEN + mtu))
                        .unwrap_or_default()
                });
                let (Some(s), Some(z)) = (slices.get_mut(..want), sizes.get_mut(..want)) else {
                    break;
                };
                match inner.tun.recv_batch(s, z, wait) {
                    Ok(n) => n.min(want),
                    Err(e) => {
                        inner.io_error("NIC read", &e);
                        0
                    }
                }
            };
            wait = Duration::ZERO;
            let now = inner.clock.now();
            for (k, buf) in reading.drain(..).enumerate() {
                let len = sizes.get(k).copied().unwrap_or(0);
                if k >= n {
                    pool.push(buf);
                    continue;
                }
                let pkt = buf.get(DATA_HEADER_LEN..DATA_HEADER_LEN + len).unwrap_or_default();
                let Some(peer) = inner.iface.route(pkt) else {
                    pool.push(buf);
                    continue;
                };
                let q = match queues.iter().position(|q| Arc::ptr_eq(&q.peer, &peer)) {
                    Some(i) => &mut queues[i],
                    None => {
                        queues.push(PeerQueue {
                            peer,
                            queue: VecCodelQueue::new(),
                            codel: Codel::new(params),
                        });
                        let last = queues.len() - 1;
                        &mut queues[last]
                    }
                };
                q.queue.enqueue((buf, len), len, now);
                dql.queued(len as u64);
                queued += 1;
            }
            if n < want {
                break;
            }
        }
        inner.counters.tx_queued.store(queued as u64, Ordering::Relaxed);
        if queued == 0 {
            continue;
        }
        // Send phase: one batch, round robin over the peers with packets.
        let now = inner.clock.now();
        targets.clear();
        let mut sent_bytes = 0u64;
        // Each visit takes a contiguous share, so a peer's packets form one run.
        let share = (budget / queues.len().max(1)).max(1);
        let mut idle_rounds = 0;
        while sending.len() < budget && idle_rounds < queues.len() {
            rr = (rr + 1) % queues.len().max(1);
            let Some(q) = queues.get_mut(rr) else { break };
            let removed = inner.iface.is_removed(&q.peer);
            let mut took = 0;
            while took < share && sending.len() < budget {
                let item = if inner.opts.codel {
                    q.codel.dequeue(now, &mut q.queue, |(buf, len)| {
                        pool.push(buf);
                        queued -= 1;
                        dql.completed(len as u64, now);
                        inner.counters.codel_drops.fetch_add(1, Ordering::Relaxed);
                    })
                } else {
                    q.queue.dequeue().map(|(item, _)| item)
                };
                let Some((buf, len)) = item else { break };
                queued -= 1;
                sent_bytes += len as u64;
                if let Some(z) = sizes.get_mut(sending.len()) {
                    *z = len;
                }
                sending.push(buf);
                targets.push((!removed).then(|| q.peer.clone()));
                took += 1;
            }
            idle_rounds = if took > 0 { 0 } else { idle_rounds + 1 };
        }
        let n = sending.len();
        send_runs(inner, &mut sending, &sizes, n, &targets, &mut recs, &mut scratch, now, mtu);
        let took = inner.clock.now().saturating_duration_since(now);
        if took > SEND_ROUND * 2 && budget > 1 {
            budget /= 2;
        } else if took < SEND_ROUND / 2 && n >= budget {
            budget = (budget * 2).min(batch);
        }
        pool.append(&mut sending);
        dql.completed(sent_bytes, now);
        queues.retain(|q| !q.queue.is_empty() || !inner.iface.is_removed(&q.peer));
        if queues.len() > 1024 {
            queues.retain(|q| !q.queue.is_empty());
        }
    }
    for q in &mut queues {
        while q.queue.dequeue().is_some() {}
    }
}
