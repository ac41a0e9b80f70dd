//! The engine's leaf module: batch limits, the records that travel between its threads
//! and its own counters. Imports nothing from its siblings.

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use crate::io::Transport;
use crate::messages::INITIATION_LEN;

/// How long a blocking NIC or UDP read waits before re-checking for shutdown.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Largest batch the I/O threads use.
pub(crate) const MAX_BATCH: usize = 128;
/// Handshake messages the control thread handles per loop turn (timers run in between).
pub(crate) const HANDSHAKE_BATCH: usize = 32;

/// One handshake message copied off the RX path (fixed size: no allocation).
pub(crate) struct HandshakeJob {
    pub(crate) data: [u8; INITIATION_LEN],
    pub(crate) len: usize,
    pub(crate) src: SocketAddr,
}

/// The transport currently open (a sized wrapper so it can sit in an `ArcSwap`).
pub(crate) struct TransportSlot(pub(crate) Arc<dyn Transport>);

/// Counters of the engine itself (the protocol's are the interface's).
#[derive(Default)]
pub(crate) struct EngineCounters {
    pub(crate) handshake_overflows: AtomicU64,
    pub(crate) fanout_batches: AtomicU64,
    pub(crate) inline_batches: AtomicU64,
    pub(crate) codel_drops: AtomicU64,
    pub(crate) tx_queued: AtomicU64,
    pub(crate) io_handovers: AtomicU64,
}

/// An empty vector with `v`'s allocation, for elements of another lifetime: the I/O
/// threads rebuild their per-batch lists of buffer slices in it without allocating
/// (std collects in place when the layouts match) and without building a whole
/// `MAX_BATCH` array for every batch.
/// Only meant for `A` and `B` that differ in lifetimes (else it would allocate).
pub(crate) fn recycle<A, B>(mut v: Vec<A>) -> Vec<B> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}
