//! The wintun session ring, the parts that do not touch Windows (tested on every host):
//! its size (wintun accepts a power of two from 128 KiB to 64 MiB) and the batch loops —
//! [`read_batch`] takes every packet already in the receive ring and waits on the ring's
//! event at most once per batch, [`write_batch`] writes a batch into the send ring and
//! stops at the first packet that does not fit (the ring is shared memory: no system call
//! per packet, only the wait when it is empty).

/// One step of reading the receive ring.
#[derive(Debug, PartialEq, Eq)]
pub enum RingRead<P> {
    /// A packet was taken from the ring.
    Packet(P),
    /// The ring is empty.
    Empty,
}

/// How a wait on the ring's read event ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingWait {
    /// The driver put packets into the ring.
    Ready,
    /// The timeout passed.
    TimedOut,
    /// The tunnel is shutting down.
    Shutdown,
}

/// What [`read_batch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadOutcome {
    /// Packets copied (their lengths are in `sizes[..got]`).
    pub got: usize,
    /// Packets dropped: larger than the buffer they would go to.
    pub dropped: usize,
    /// Whether the tunnel is shutting down.
    pub shutdown: bool,
}

/// Fills `bufs` from the receive ring: `next` takes one packet (its bytes via
/// `AsRef<[u8]>`, released when dropped), `wait` blocks on the read event. Every packet
/// already queued is taken without waiting; `wait` is called at most once, and only
/// when the ring was empty before the first packet.
pub fn read_batch<P: AsRef<[u8]>, E>(
    bufs: &mut [&mut [u8]],
    sizes: &mut [usize],
    mut next: impl FnMut() -> Result<RingRead<P>, E>,
    mut wait: impl FnMut() -> Result<RingWait, E>,
) -> Result<ReadOutcome, E> {
    let want = bufs.len().min(sizes.len());
    let mut out = ReadOutcome::default();
    let mut waited = false;
    while out.got < want {
        match next()? {
            RingRead::Packet(p) => {
                let bytes = p.as_ref();
                match bufs[out.got].get_mut(..bytes.len()) {
                    Some(dst) => {
                        dst.copy_from_slice(bytes);
                        sizes[out.got] = bytes.len();
                        out.got += 1;
                    }
                    None => out.dropped += 1,
                }
            }
            RingRead::Empty if out.got > 0 || waited => break,
            RingRead::Empty => {
                waited = true;
                match wait()? {
                    RingWait::Ready => {}
                    RingWait::TimedOut => break,
                    RingWait::Shutdown => {
                        out.shutdown = true;
                        break;
                    }
                }
            }
        }
    }
    Ok(out)
}

/// wintun's largest packet (`WINTUN_MAX_IP_PACKET_SIZE`).
pub const MAX_PACKET: usize = 0xFFFF;

/// What [`write_batch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOutcome {
    /// Packets consumed from the front of the batch (written or dropped).
    pub done: usize,
    /// Packets dropped: larger than wintun accepts.
    pub dropped: usize,
}

/// Writes `packets` into the send ring in order with `put` (allocate, copy, release),
/// skipping (and counting) packets wintun cannot carry; stops at the first `put`
/// error — a full ring — and returns it only if nothing was consumed before it.
pub fn write_batch<E>(
    packets: &[&[u8]],
    mut put: impl FnMut(&[u8]) -> Result<(), E>,
) -> Result<WriteOutcome, E> {
    let mut out = WriteOutcome::default();
    for p in packets {
        if p.len() > MAX_PACKET || p.is_empty() {
            out.dropped += 1;
            out.done += 1;
            continue;
        }
        match put(p) {
            Ok(()) => out.done += 1,
            Err(e) if out.done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(out)
}

/// wintun's smallest ring (`WINTUN_MIN_RING_CAPACITY`).
pub const MIN_RING_CAPACITY: u32 = 0x2_0000;
/// wintun's largest ring (`WINTUN_MAX_RING_CAPACITY`).
pub const MAX_RING_CAPACITY: u32 = 0x400_0000;
/// Default ring: 8 MiB, several milliseconds at multi-Gb/s (wireguard-go's size; firezone
/// moved to 16 MiB for bursts, which [`ring_capacity`]`(16 << 20)` gives).
pub const DEFAULT_RING_CAPACITY: u32 = 0x80_0000;

/// The ring size wintun gets for a requested size in bytes: the largest power of two not
/// above the request, clamped to wintun's limits.
pub fn ring_capacity(requested: u64) -> u32 {
    let clamped = requested.clamp(u64::from(MIN_RING_CAPACITY), u64::from(MAX_RING_CAPACITY));
    let pow2 = 1u64 << (63 - clamped.leading_zeros());
    pow2 as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::collections::VecDeque;

    fn ring(sizes: &[usize]) -> VecDeque<Vec<u8>> {
        sizes.iter().enumerate().map(|(i, n)| vec![i as u8; *n]).collect()
    }

    #[test]
    fn read_takes_everything_queued_without_waiting() {
        let mut q = ring(&[100, 200, 300]);
        let mut store = vec![vec![0u8; 1500]; 8];
        let mut bufs: Vec<&mut [u8]> = store.iter_mut().map(|b| b.as_mut_slice()).collect();
        let mut sizes = [0; 8];
        let mut waits = 0;
        let out = read_batch::<_, ()>(
            &mut bufs,
            &mut sizes,
            || Ok(q.pop_front().map_or(RingRead::Empty, RingRead::Packet)),
            || {
                waits += 1;
                Ok(RingWait::Ready)
            },
        )
        .unwrap();
        assert_eq!(out, ReadOutcome { got: 3, dropped: 0, shutdown: false });
        assert_eq!(&sizes[..3], &[100, 200, 300]);
        assert_eq!(waits, 0, "packets were queued: no wait");
        assert_eq!(store[2][..300], [2u8; 300]);
    }

    #[test]
    fn read_waits_once_then_takes_the_whole_burst() {
        let mut q: VecDeque<Vec<u8>> = VecDeque::new();
        let mut store = vec![vec![0u8; 64]; 4];
        let mut bufs: Vec<&mut [u8]> = store.iter_mut().map(|b| b.as_mut_slice()).collect();
        let mut sizes = [0; 4];
        let mut waits = 0;
        let q = std::cell::RefCell::new(&mut q);
        let out = read_batch::<_, ()>(
            &mut bufs,
            &mut sizes,
            || Ok(q.borrow_mut().pop_front().map_or(RingRead::Empty, RingRead::Packet)),
            || {
                waits += 1;
                // The driver writes a burst of six (one too big) while we wait.
                q.borrow_mut().extend(ring(&[10, 20, 100, 30, 40, 50]));
                Ok(RingWait::Ready)
            },
        )
        .unwrap();
        assert_eq!(waits, 1);
        assert_eq!(out, ReadOutcome { got: 4, dropped: 1, shutdown: false });
        assert_eq!(sizes, [10, 20, 30, 40]);
        assert_eq!(q.borrow().len(), 1, "the rest waits for the next batch");
    }

    #[test]
    fn read_stops_after_one_empty_wait_or_on_shutdown() {
        let mut store = vec![vec![0u8; 64]; 2];
        let mut bufs: Vec<&mut [u8]> = store.iter_mut().map(|b| b.as_mut_slice()).collect();
        let mut sizes = [0; 2];
        let mut waits = 0;
        let empty = || Ok::<RingRead<Vec<u8>>, ()>(RingRead::Empty);
        let out = read_batch(&mut bufs, &mut sizes, empty, || {
            waits += 1;
            Ok(RingWait::Ready) // spurious wake-up
        })
        .unwrap();
        assert_eq!((out.got, waits), (0, 1), "a spurious wake-up does not wait again");
        let out = read_batch(&mut bufs, &mut sizes, empty, || Ok(RingWait::Shutdown)).unwrap();
        assert!(out.shutdown);
        let out = read_batch(&mut bufs, &mut sizes, empty, || Ok(RingWait::TimedOut)).unwrap();
        assert_eq!(out, ReadOutcome::default());
        let failing = read_batch(
            &mut bufs,
            &mut sizes,
            || Err::<RingRead<Vec<u8>>, _>(7),
            || Ok(RingWait::Ready),
        );
        assert_eq!(failing, Err(7));
    }

    #[test]
    fn write_stops_at_a_full_ring_and_skips_oversized_packets() {
        let big = vec![0u8; MAX_PACKET + 1];
        let a = [1u8; 100];
        let packets: Vec<&[u8]> = vec![&a, &big, &a, &a, &a];
        let mut ring_room = 2;
        let mut written = Vec::new();
        let out = write_batch(&packets, |p| {
            if ring_room == 0 {
                return Err("full");
            }
            ring_room -= 1;
            written.push(p.len());
            Ok(())
        })
        .unwrap();
        assert_eq!(out, WriteOutcome { done: 3, dropped: 1 });
        assert_eq!(written, [100, 100]);
        assert_eq!(write_batch(&packets[3..], |_| Err("full")), Err("full"));
        assert_eq!(write_batch::<()>(&[], |_| Ok(())).unwrap(), WriteOutcome::default());
    }

    #[test]
    fn ring_sizes_are_powers_of_two_within_wintun_limits() {
        assert_eq!(ring_capacity(u64::from(DEFAULT_RING_CAPACITY)), 8 << 20);
        assert_eq!(ring_capacity(16 << 20), 16 << 20);
        assert_eq!(ring_capacity((16 << 20) + 1), 16 << 20);
        assert_eq!(ring_capacity(12 << 20), 8 << 20);
        assert_eq!(ring_capacity(0), MIN_RING_CAPACITY);
        assert_eq!(ring_capacity(u64::MAX), MAX_RING_CAPACITY);
        assert_eq!(ring_capacity(u64::from(MIN_RING_CAPACITY) - 1), MIN_RING_CAPACITY);
    }
}
