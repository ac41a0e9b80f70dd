//! Host packet I/O: a [`Tun`] whose "OS side" is the app. The app pushes outgoing IP
//! packets in; packets from the tunnel go to a registered sink callback or, without one,
//! into a bounded queue the app pulls from.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use ferrowg_core::device::memory::{memory_tun, MemoryTun, TunHost};
use ferrowg_core::io::Tun;
use parking_lot::Mutex;

use crate::callback::Slot;

/// Packets queued in each direction.
const QUEUE: usize = 4096;

/// Receives the packets the tunnel delivers, in order, in batches. Called from the
/// engine's receive thread; must return quickly.
#[uniffi::export(with_foreign)]
pub trait PacketSink: Send + Sync {
    /// Decrypted IP packets for the app.
    fn on_packets(&self, packets: Vec<Vec<u8>>);
}

/// How packets reach a sink: the uniffi trait or a C function pointer.
pub(crate) trait RawPacketSink: Send + Sync {
    /// A batch of packets.
    fn deliver(&self, packets: &[&[u8]]);
}

struct ForeignSink(Arc<dyn PacketSink>);

impl RawPacketSink for ForeignSink {
    fn deliver(&self, packets: &[&[u8]]) {
        self.0.on_packets(packets.iter().map(|p| p.to_vec()).collect());
    }
}

/// Wraps a uniffi sink.
pub(crate) fn foreign_sink(sink: Arc<dyn PacketSink>) -> Arc<dyn RawPacketSink> {
    Arc::new(ForeignSink(sink))
}

/// Both sides of the host-mode NIC.
pub(crate) struct HostNic {
    queue: Arc<MemoryTun>,
    host: TunHost,
    sink: Slot<dyn RawPacketSink>,
    /// A packet that did not fit the caller's buffer, handed out by the next read.
    stash: Mutex<Option<Vec<u8>>>,
}

impl HostNic {
    pub(crate) fn new(mtu: usize) -> Arc<Self> {
        let (queue, host) = memory_tun(mtu, QUEUE);
        Arc::new(Self { queue, host, sink: Slot::new(), stash: Mutex::new(None) })
    }

    /// Pushes packets towards the tunnel, waiting up to `timeout` for room. Returns how
    /// many were accepted. Refuses the whole batch if a packet is empty or over the MTU.
    pub(crate) fn write<P: AsRef<[u8]>>(
        &self,
        packets: &[P],
        timeout: Duration,
    ) -> Result<usize, crate::TunnelError> {
        let mtu = self.queue.mtu();
        if let Some(p) = packets.iter().find(|p| p.as_ref().is_empty() || p.as_ref().len() > mtu) {
            return Err(crate::TunnelError::invalid(format!(
                "packet of {} bytes (must be 1 to MTU {mtu})",
                p.as_ref().len()
            )));
        }
        Ok(self.host.inject(packets, timeout))
    }

    /// Pulls up to `max` packets, waiting up to `timeout` for the first.
    pub(crate) fn read(&self, max: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if let Some(p) = self.stash.lock().take() {
            out.push(p);
        }
        let left = max.saturating_sub(out.len());
        if left > 0 {
            let wait = if out.is_empty() { timeout } else { Duration::ZERO };
            self.host.recv(&mut out, left, wait);
        }
        out
    }

    /// Pulls one packet into `buf`. `Ok(0)`: none within `timeout`. `Err(needed)`: the
    /// next packet needs a larger buffer (it stays queued).
    pub(crate) fn read_into(&self, buf: &mut [u8], timeout: Duration) -> Result<usize, usize> {
        let mut stash = self.stash.lock();
        if stash.is_none() {
            let mut out = Vec::with_capacity(1);
            self.host.recv(&mut out, 1, timeout);
            *stash = out.pop();
        }
        let Some(p) = stash.as_ref() else {
            return Ok(0);
        };
        let Some(dst) = buf.get_mut(..p.len()) else {
            return Err(p.len());
        };
        dst.copy_from_slice(p);
        let n = p.len();
        *stash = None;
        Ok(n)
    }

    pub(crate) fn set_sink(
        &self,
        sink: Option<Arc<dyn RawPacketSink>>,
    ) -> Result<(), crate::TunnelError> {
        self.sink.set(sink)
    }
}

/// The engine's view of a [`HostNic`].
pub(crate) struct HostTun(pub(crate) Arc<HostNic>);

impl Tun for HostTun {
    fn recv_batch(
        &self,
        bufs: &mut [&mut [u8]],
        sizes: &mut [usize],
        timeout: Duration,
    ) -> io::Result<usize> {
        self.0.queue.recv_batch(bufs, sizes, timeout)
    }

    fn send_batch(&self, packets: &[&[u8]]) -> io::Result<usize> {
        if self.0.sink.call(|s| s.deliver(packets)) {
            return Ok(packets.len());
        }
        self.0.queue.send_batch(packets)
    }

    fn mtu(&self) -> usize {
        self.0.queue.mtu()
    }
}
