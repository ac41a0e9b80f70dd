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
use std::time::{Duration, Instant};

use super::records::{recycle, MAX_BATCH, POLL_INTERVAL};
use super::state::Inner;
use crate::error::DropReason;
use crate::interface::{tx_stride, PeerSlot, SealRec};
use crate::io::Transmit;
use crate::messages::DATA_HEADER_LEN;

/// The TX thread's loop.
pub(crate) fn run_tx(inner: &Inner) {
    let mut tx = TxLoop::new(inner);
    while inner.running.load(Ordering::Relaxed) {
        tx.step(inner, POLL_INTERVAL);
    }
}

/// The transmit direction's buffers, driven one batch at a time by [`run_tx`] or by the
/// shared I/O thread (`io_loop`).
pub(crate) struct TxLoop {
    mtu: usize,
    batch: usize,
    bufs: Vec<Vec<u8>>,
    sizes: [usize; MAX_BATCH],
    targets: Vec<Option<Arc<PeerSlot>>>,
    recs: Vec<SealRec>,
    scratch: Vec<u8>,
    slice_store: Vec<&'static mut [u8]>,
}

impl TxLoop {
    /// Buffers for one batch of NIC packets, each with room for the data header in
    /// front and padding plus tag behind.
    pub(crate) fn new(inner: &Inner) -> TxLoop {
        let mtu = inner.tun.mtu();
        let stride = tx_stride(mtu);
        let batch = inner.opts.batch_size.clamp(1, MAX_BATCH);
        TxLoop {
            mtu,
            batch,
            bufs: (0..batch).map(|_| vec![0u8; stride]).collect(),
            sizes: [0usize; MAX_BATCH],
            targets: Vec::with_capacity(batch),
            recs: Vec::with_capacity(batch),
            scratch: vec![0u8; stride],
            slice_store: Vec::with_capacity(batch),
        }
    }

    /// Reads one NIC batch (waiting at most `timeout` for it), seals it and sends it.
    /// Returns how many packets were read.
    pub(crate) fn step(&mut self, inner: &Inner, timeout: Duration) -> usize {
        let (mtu, batch) = (self.mtu, self.batch);
        let received =
            {
                let mut slices = recycle(std::mem::take(&mut self.slice_store));
                slices.extend(self.bufs.iter_mut().map(|b| {
                    b.get_mut(DATA_HEADER_LEN..DATA_HEADER_LEN + mtu).unwrap_or_default()
                }));
                let Some(z) = self.sizes.get_mut(..batch) else { return 0 };
                let r = inner.tun.recv_batch(&mut slices, z, timeout);
                self.slice_store = recycle(slices);
                r
            };
        let n = match received {
            Ok(n) => n.min(batch),
            Err(e) => {
                inner.io_error("NIC read", &e);
                return 0;
            }
        };
        if n == 0 {
            return 0;
        }
        let now = inner.clock.now();
        inner.iface.route_batch(&self.bufs, &self.sizes, n, &mut self.targets);
        send_runs(
            inner,
            &mut self.bufs,
            &self.sizes,
            n,
            &self.targets,
            &mut self.recs,
            &mut self.scratch,
            now,
            mtu,
        );
        n
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
