//! The TX thread: NIC batch → route ([`Interface::route_batch`]) → per-peer runs
//! ([`Interface::prepare_tx`]) → seal (inline or on the workers) → one UDP batch in
//! the original order.
//!
//! The thread owns its buffers for the whole run: one per batch slot, with room for the
//! data header in front of the packet and padding plus tag behind it, so packets are
//! sealed in place and nothing is allocated per packet.
//!
//! [`Interface::route_batch`]: crate::interface::Interface::route_batch
//! [`Interface::prepare_tx`]: crate::interface::Interface::prepare_tx

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use super::records::{recycle, MAX_BATCH, POLL_INTERVAL};
use super::state::Inner;
use crate::error::DropReason;
use crate::interface::{tx_stride, PeerSlot, SealRec};
use crate::io::Transmit;
use crate::messages::DATA_HEADER_LEN;

/// The TX thread's loop.
pub(crate) fn run_tx(inner: &Inner) {
    let mtu = inner.tun.mtu();
    let stride = tx_stride(mtu);
    let batch = inner.opts.batch_size.clamp(1, MAX_BATCH);
    let mut bufs: Vec<Vec<u8>> = (0..batch).map(|_| vec![0u8; stride]).collect();
    let mut sizes = [0usize; MAX_BATCH];
    let mut targets: Vec<Option<Arc<PeerSlot>>> = Vec::with_capacity(batch);
    let mut recs: Vec<SealRec> = Vec::with_capacity(batch);
    let mut scratch = vec![0u8; stride];
    let mut slice_store: Vec<&mut [u8]> = Vec::with_capacity(batch);
    while inner.running.load(Ordering::Relaxed) {
        let received = {
            let mut slices = recycle(std::mem::take(&mut slice_store));
            slices
                .extend(bufs.iter_mut().map(|b| {
                    b.get_mut(DATA_HEADER_LEN..DATA_HEADER_LEN + mtu).unwrap_or_default()
                }));
            let Some(z) = sizes.get_mut(..batch) else { return };
            let r = inner.tun.recv_batch(&mut slices, z, POLL_INTERVAL);
            slice_store = recycle(slices);
            r
        };
        let n = match received {
            Ok(n) => n.min(batch),
            Err(e) => {
                inner.io_error("NIC read", &e);
                continue;
            }
        };
        if n == 0 {
            continue;
        }
        let now = inner.clock.now();
        inner.iface.route_batch(&bufs, &sizes, n, &mut targets);
        send_runs(inner, &mut bufs, &sizes, n, &targets, &mut recs, &mut scratch, now, mtu);
    }
}

/// Prepares the first `n` routed packets (counters or staging, per run of a peer), seals
/// them and sends the sealed ones as one UDP batch (in their original order).
#[allow(clippy::too_many_arguments)]
pub(crate) fn send_runs(
    inner: &Inner,
    bufs: &mut [Vec<u8>],
    sizes: &[usize],
    n: usize,
    targets: &[Option<Arc<PeerSlot>>],
    recs: &mut Vec<SealRec>,
    scratch: &mut [u8],
    now: Instant,
    mtu: usize,
) {
    let wall = inner.clock.wall();
    let mut out = inner.output();
    inner.iface.prepare_tx(bufs, sizes, n, targets, mtu, now, wall, scratch, &mut out, recs);
    if recs.is_empty() {
        return;
    }
    inner.workers.seal(&*inner.clock, &inner.counters, bufs, recs, mtu);
    send_sealed(inner, bufs, recs);
}

fn send_sealed(inner: &Inner, bufs: &[Vec<u8>], recs: &[SealRec]) {
    let Some(transport) = inner.transport() else {
        for _ in recs {
            inner.iface.count_drop(DropReason::NoEndpoint);
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
        inner.io_error("UDP send", &e);
    }
}
