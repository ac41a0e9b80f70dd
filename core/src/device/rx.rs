//! The RX thread: UDP batch → classify ([`Interface::classify`]: handshake messages are
//! copied into a bounded queue for the control thread, so a flood can only fill that
//! queue, never stall data) → open (inline or on the workers) → accept
//! ([`Interface::accept`], in arrival order) → one NIC batch.
//!
//! [`Interface::classify`]: crate::interface::Interface::classify
//! [`Interface::accept`]: crate::interface::Interface::accept

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::records::{recycle, HandshakeJob, MAX_BATCH, POLL_INTERVAL};
use super::state::Inner;
use super::RX_CODEL_MIN_LEN;
use crate::aqm::Codel;
use crate::interface::{tx_stride, Incoming, OpenRec};
use crate::io::RecvMeta;
use crate::messages::{DATA_HEADER_LEN, INITIATION_LEN};
use crate::queue::Ring;

/// The RX thread's loop.
pub(crate) fn run_rx(inner: &Inner) {
    let mut rx = RxLoop::new(inner);
    while inner.running.load(Ordering::Relaxed) {
        rx.step(inner, POLL_INTERVAL);
    }
}

/// The receive direction's buffers and state, driven one batch at a time by [`run_rx`]
/// or by the shared I/O thread (`io_loop`).
pub(crate) struct RxLoop {
    batch: usize,
    bufs: Vec<Vec<u8>>,
    meta: [RecvMeta; MAX_BATCH],
    deliver: Vec<(usize, usize)>,
    opens: Vec<OpenRec>,
    scratch: Vec<u8>,
    slice_store: Vec<&'static mut [u8]>,
    list_store: Vec<&'static [u8]>,
    codel: Option<Codel>,
}

impl RxLoop {
    /// Buffers for one batch of the largest datagrams the NIC's MTU allows.
    pub(crate) fn new(inner: &Inner) -> RxLoop {
        let mtu = inner.tun.mtu();
        let stride = tx_stride(mtu.max(1420)).max(2048);
        let batch = inner.opts.batch_size.clamp(1, MAX_BATCH);
        RxLoop {
            batch,
            bufs: (0..batch).map(|_| vec![0u8; stride]).collect(),
            meta: [RecvMeta::default(); MAX_BATCH],
            deliver: Vec::with_capacity(batch),
            opens: Vec::with_capacity(batch),
            scratch: vec![0u8; tx_stride(mtu)],
            slice_store: Vec::with_capacity(batch),
            list_store: Vec::with_capacity(batch),
            codel: inner.opts.rx_codel.map(Codel::new),
        }
    }

    /// Receives one UDP batch (waiting at most `timeout` for it), handles it and writes
    /// what it carried to the NIC. Returns how many datagrams arrived.
    pub(crate) fn step(&mut self, inner: &Inner, timeout: Duration) -> usize {
        let Some(transport) = inner.transport() else {
            std::thread::sleep(timeout.min(Duration::from_millis(5)));
            return 0;
        };
        let batch = self.batch;
        let received = {
            let mut slices = recycle(std::mem::take(&mut self.slice_store));
            slices.extend(self.bufs.iter_mut().map(|b| b.as_mut_slice()));
            let Some(m) = self.meta.get_mut(..batch) else { return 0 };
            let r = transport.0.recv_batch(&mut slices, m, timeout);
            self.slice_store = recycle(slices);
            r
        };
        let n = match received {
            Ok(n) => n.min(batch),
            Err(e) => {
                drop(transport);
                inner.io_error("UDP receive", &e);
                return 0;
            }
        };
        drop(transport);
        if n == 0 {
            return 0;
        }
        self.handle(inner, n);
        n
    }

    fn handle(&mut self, inner: &Inner, n: usize) {
        let now = inner.clock.now();
        self.deliver.clear();
        self.opens.clear();
        let mut woke = false;
        let wall = self.codel.as_ref().map(|_| inner.clock.wall());
        // 1. Classify (read-only; no crypto yet).
        for (k, (buf, m)) in self.bufs.iter().zip(&self.meta).take(n).enumerate() {
            let Some(dgram) = buf.get(..m.len) else { continue };
            match inner.iface.classify(dgram, m.src, k, now) {
                Incoming::Data(rec) => {
                    // Receive-side CoDel: judged before the decryption it saves.
                    if let (Some(c), Some(wall), Some(at)) = (self.codel.as_mut(), wall, m.rx_time)
                    {
                        let sojourn = wall.duration_since(at).unwrap_or_default();
                        // How much is queued behind it is unknown (the socket buffer's
                        // depth): every late message counts as part of a standing queue.
                        if m.len >= RX_CODEL_MIN_LEN && c.judge(now, sojourn, true) {
                            inner.counters.codel_drops.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    }
                    self.opens.push(rec)
                }
                Incoming::Handshake => {
                    queue_handshake(inner, dgram, m.src);
                    woke = true;
                }
                Incoming::Dropped => {}
            }
        }
        // 2. Decrypt in place, inline or on the workers.
        if !self.opens.is_empty() {
            inner.workers.open(&*inner.clock, &mut self.bufs, &mut self.opens);
            // 3. In arrival order: replay window, inner packet, source address, timers.
            let wall = inner.clock.wall();
            let mut out = inner.output();
            inner.iface.accept(
                &mut self.opens,
                &self.bufs,
                now,
                wall,
                &mut self.scratch,
                &mut out,
                &mut self.deliver,
            );
        }
        if woke {
            inner.wake_control();
        }
        if !self.deliver.is_empty() {
            let mut list = recycle(std::mem::take(&mut self.list_store));
            let bufs = &self.bufs;
            list.extend(self.deliver.iter().map(|&(k, len)| {
                bufs.get(k)
                    .and_then(|b| b.get(DATA_HEADER_LEN..DATA_HEADER_LEN + len))
                    .unwrap_or_default()
            }));
            let sent = inner.tun.send_batch(&list);
            self.list_store = recycle(list);
            if let Err(e) = sent {
                inner.io_error("NIC write", &e);
            }
        }
    }
}

/// Copies a handshake message into the control thread's queue (fixed-size job: no
/// allocation); a full queue refuses it.
fn queue_handshake(inner: &Inner, dgram: &[u8], src: SocketAddr) {
    let mut job = HandshakeJob { data: [0; INITIATION_LEN], len: dgram.len(), src };
    if let Some(d) = job.data.get_mut(..dgram.len()) {
        d.copy_from_slice(dgram);
    }
    if inner.handshakes.push(job).is_err() {
        inner.counters.handshake_overflows.fetch_add(1, Ordering::Relaxed);
    }
}
