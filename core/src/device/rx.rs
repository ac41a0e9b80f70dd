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
    let mtu = inner.tun.mtu();
    let stride = tx_stride(mtu.max(1420)).max(2048);
    let batch = inner.opts.batch_size.clamp(1, MAX_BATCH);
    let mut bufs: Vec<Vec<u8>> = (0..batch).map(|_| vec![0u8; stride]).collect();
    let mut meta = [RecvMeta::default(); MAX_BATCH];
    let mut deliver: Vec<(usize, usize)> = Vec::with_capacity(batch);
    let mut opens: Vec<OpenRec> = Vec::with_capacity(batch);
    let mut scratch = vec![0u8; tx_stride(mtu)];
    let mut slice_store: Vec<&mut [u8]> = Vec::with_capacity(batch);
    let mut list_store: Vec<&[u8]> = Vec::with_capacity(batch);
    let mut codel = inner.opts.rx_codel.map(Codel::new);
    while inner.running.load(Ordering::Relaxed) {
        let Some(transport) = inner.transport() else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        let received = {
            let mut slices = recycle(std::mem::take(&mut slice_store));
            slices.extend(bufs.iter_mut().map(|b| b.as_mut_slice()));
            let Some(m) = meta.get_mut(..batch) else { return };
            let r = transport.0.recv_batch(&mut slices, m, POLL_INTERVAL);
            slice_store = recycle(slices);
            r
        };
        let n = match received {
            Ok(n) => n.min(batch),
            Err(e) => {
                drop(transport);
                inner.io_error("UDP receive", &e);
                continue;
            }
        };
        drop(transport);
        if n == 0 {
            continue;
        }
        let now = inner.clock.now();
        deliver.clear();
        opens.clear();
        let mut woke = false;
        let wall = codel.as_ref().map(|_| inner.clock.wall());
        // 1. Classify (read-only; no crypto yet).
        for (k, (buf, m)) in bufs.iter().zip(&meta).take(n).enumerate() {
            let Some(dgram) = buf.get(..m.len) else { continue };
            match inner.iface.classify(dgram, m.src, k, now) {
                Incoming::Data(rec) => {
                    // Receive-side CoDel: judged before the decryption it saves.
                    if let (Some(c), Some(wall), Some(at)) = (codel.as_mut(), wall, m.rx_time) {
                        let sojourn = wall.duration_since(at).unwrap_or_default();
                        // How much is queued behind it is unknown (the socket buffer's
                        // depth): every late message counts as part of a standing queue.
                        if m.len >= RX_CODEL_MIN_LEN && c.judge(now, sojourn, true) {
                            inner.counters.codel_drops.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    }
                    opens.push(rec)
                }
                Incoming::Handshake => {
                    queue_handshake(inner, dgram, m.src);
                    woke = true;
                }
                Incoming::Dropped => {}
            }
        }
        // 2. Decrypt in place, inline or on the workers.
        if !opens.is_empty() {
            inner.workers.open(&*inner.clock, &mut bufs, &mut opens);
            // 3. In arrival order: replay window, inner packet, source address, timers.
            let wall = inner.clock.wall();
            let mut out = inner.output();
            inner.iface.accept(&mut opens, &bufs, now, wall, &mut scratch, &mut out, &mut deliver);
        }
        if woke {
            inner.wake_control();
        }
        if !deliver.is_empty() {
            let mut list = recycle(std::mem::take(&mut list_store));
            list.extend(deliver.iter().map(|&(k, len)| {
                bufs.get(k)
                    .and_then(|b| b.get(DATA_HEADER_LEN..DATA_HEADER_LEN + len))
                    .unwrap_or_default()
            }));
            let sent = inner.tun.send_batch(&list);
            list_store = recycle(list);
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
