//! In-memory implementation of the virtual NIC, for tests, the demo and the FFI's host
//! mode.
//!
//! [`memory_tun`] makes a virtual NIC as a pair of bounded channels: the engine sees a
//! [`MemoryTun`]; the host side ([`TunHost`]) injects packets "from applications" and
//! receives the packets the engine delivers. Both directions apply backpressure instead
//! of dropping: a full queue makes the writer wait (bounded by a timeout). The portable
//! UDP transport over `std::net::UdpSocket` is `ferrowg_platform::std_udp` (core makes
//! no OS call).

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use crate::io::Tun;

/// How long the engine's write into a full [`MemoryTun`] waits for the host to drain it
/// before the rest of the batch is dropped (the engine counts them).
const TUN_WRITE_WAIT: Duration = Duration::from_millis(500);

/// Makes an in-memory virtual NIC with room for `capacity` packets in each direction.
pub fn memory_tun(mtu: usize, capacity: usize) -> (Arc<MemoryTun>, TunHost) {
    let shared = Arc::new(Channels {
        to_engine: Channel::new(capacity, mtu),
        to_host: Channel::new(capacity, mtu),
    });
    (Arc::new(MemoryTun { shared: shared.clone(), mtu }), TunHost { shared })
}

/// The engine's side of an in-memory NIC (implements [`Tun`]).
pub struct MemoryTun {
    shared: Arc<Channels>,
    mtu: usize,
}

/// The host's side of an in-memory NIC: what applications would write to and read from
/// the virtual interface.
#[derive(Clone)]
pub struct TunHost {
    shared: Arc<Channels>,
}

struct Channels {
    to_engine: Channel,
    to_host: Channel,
}

/// A bounded FIFO of packets with blocking push and pop. Packet buffers are recycled
/// through a free list, so steady traffic allocates nothing.
struct Channel {
    queue: Mutex<VecDeque<Vec<u8>>>,
    free: Mutex<Vec<Vec<u8>>>,
    capacity: usize,
    not_empty: Condvar,
    not_full: Condvar,
}

impl Channel {
    /// A channel whose free list starts with `capacity` buffers of `mtu` bytes, so even
    /// the first pass of a full queue allocates nothing.
    fn new(capacity: usize, mtu: usize) -> Self {
        let free = (0..capacity.max(1)).map(|_| Vec::with_capacity(mtu)).collect();
        Self {
            queue: Mutex::new(VecDeque::with_capacity(capacity.max(1))),
            free: Mutex::new(free),
            capacity: capacity.max(1),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
        }
    }

    /// Pushes packets in order, waiting up to `timeout` in total for room. Returns how
    /// many were pushed.
    fn push<P: AsRef<[u8]>>(&self, packets: &[P], timeout: Duration) -> usize {
        let mut q = self.queue.lock();
        let mut pushed = 0;
        let mut waited = false;
        while pushed < packets.len() {
            if q.len() >= self.capacity {
                if waited && q.len() >= self.capacity {
                    break;
                }
                self.not_empty.notify_all();
                let timed_out = self.not_full.wait_for(&mut q, timeout).timed_out();
                waited = timed_out;
                continue;
            }
            if let Some(p) = packets.get(pushed) {
                let mut buf = self.free.lock().pop().unwrap_or_default();
                buf.clear();
                buf.extend_from_slice(p.as_ref());
                q.push_back(buf);
            }
            pushed += 1;
        }
        drop(q);
        if pushed > 0 {
            self.not_empty.notify_all();
        }
        pushed
    }

    /// Pops up to `max` packets, waiting up to `timeout` for the first one.
    fn pop_with(&self, max: usize, timeout: Duration, mut f: impl FnMut(Vec<u8>)) -> usize {
        let mut q = self.queue.lock();
        if q.is_empty() && !timeout.is_zero() {
            let _ = self.not_empty.wait_for(&mut q, timeout);
        }
        let n = q.len().min(max);
        for p in q.drain(..n) {
            f(p);
        }
        drop(q);
        if n > 0 {
            self.not_full.notify_all();
        }
        n
    }

    fn len(&self) -> usize {
        self.queue.lock().len()
    }

    /// Keeps buffers for reuse (up to the channel's capacity).
    fn recycle(&self, bufs: impl Iterator<Item = Vec<u8>>) {
        let mut free = self.free.lock();
        for b in bufs {
            if free.len() >= self.capacity {
                break;
            }
            free.push(b);
        }
    }
}

impl Tun for MemoryTun {
    fn recv_batch(
        &self,
        bufs: &mut [&mut [u8]],
        sizes: &mut [usize],
        timeout: Duration,
    ) -> io::Result<usize> {
        let mut i = 0;
        let ch = &self.shared.to_engine;
        ch.pop_with(bufs.len().min(sizes.len()), timeout, |p| {
            if let (Some(buf), Some(size)) = (bufs.get_mut(i), sizes.get_mut(i)) {
                let n = p.len().min(buf.len());
                buf[..n].copy_from_slice(&p[..n]);
                *size = n;
                i += 1;
            }
            ch.recycle(std::iter::once(p));
        });
        Ok(i)
    }

    fn send_batch(&self, packets: &[&[u8]]) -> io::Result<usize> {
        Ok(self.shared.to_host.push(packets, TUN_WRITE_WAIT))
    }

    fn mtu(&self) -> usize {
        self.mtu
    }
}

impl TunHost {
    /// Injects packets as if applications sent them into the interface, in order.
    /// Waits up to `timeout` for room; returns how many were accepted.
    pub fn inject<P: AsRef<[u8]>>(&self, packets: &[P], timeout: Duration) -> usize {
        self.shared.to_engine.push(packets, timeout)
    }

    /// Receives up to `max` packets the engine delivered, waiting up to `timeout` for the
    /// first. Appends them to `out`; returns how many.
    pub fn recv(&self, out: &mut Vec<Vec<u8>>, max: usize, timeout: Duration) -> usize {
        self.shared.to_host.pop_with(max, timeout, |p| out.push(p))
    }

    /// Hands received packet buffers back for reuse (optional; saves an allocation per
    /// packet). Empties `bufs`.
    pub fn recycle(&self, bufs: &mut Vec<Vec<u8>>) {
        self.shared.to_host.recycle(bufs.drain(..));
    }

    /// Packets injected but not yet read by the engine.
    pub fn pending_to_engine(&self) -> usize {
        self.shared.to_engine.len()
    }

    /// Packets delivered by the engine but not yet received by the host.
    pub fn pending_to_host(&self) -> usize {
        self.shared.to_host.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_tun_is_fifo_and_batched() {
        let (tun, host) = memory_tun(1420, 4);
        let pkts: Vec<Vec<u8>> = (0..6u8).map(|i| vec![i; 10 + usize::from(i)]).collect();
        // Capacity 4: the first four go in at once, the rest time out.
        assert_eq!(host.inject(&pkts, Duration::from_millis(20)), 4);
        let mut a = [0u8; 64];
        let mut b = [0u8; 64];
        let mut c = [0u8; 64];
        let mut sizes = [0usize; 3];
        let n = tun.recv_batch(&mut [&mut a, &mut b, &mut c], &mut sizes, Duration::ZERO).unwrap();
        assert_eq!((n, sizes), (3, [10, 11, 12]));
        assert_eq!(a[..10], [0u8; 10]);
        assert_eq!(c[..12], [2u8; 12]);
        assert_eq!(tun.send_batch(&[&a[..10], &b[..11]]).unwrap(), 2);
        let mut out = Vec::new();
        assert_eq!(host.recv(&mut out, 8, Duration::ZERO), 2);
        assert_eq!(out[1], vec![1u8; 11]);
        assert_eq!(host.pending_to_engine(), 1);
    }
}
