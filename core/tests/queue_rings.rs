//! Randomized multi-thread tests for both rings: every item delivered exactly once,
//! nothing lost or duplicated, and each consumer sees each producer's items in order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use ferrowg_core::queue::{LockFreeRing, LockedRing, Ring};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const TIMEOUT: Duration = Duration::from_secs(60);

/// (producer, sequence number within that producer)
type Item = (usize, u64);

#[allow(clippy::disallowed_methods)] // a hang guard for the test, not protocol time
fn deadline() -> Instant {
    Instant::now() + TIMEOUT
}

#[allow(clippy::disallowed_methods)]
fn past(deadline: Instant) -> bool {
    Instant::now() > deadline
}

/// Runs `producers` × `consumers` threads over `ring`, each producer pushing `per_producer`
/// items in random batch sizes (seeded), and checks the delivery invariants.
fn stress<R: Ring<Item> + 'static>(
    ring: R,
    producers: usize,
    consumers: usize,
    per_producer: u64,
    seed: u64,
) {
    let ring = Arc::new(ring);
    let start = Arc::new(Barrier::new(producers + consumers));
    let producers_done = Arc::new(AtomicBool::new(false));
    let end = deadline();

    let producer_handles: Vec<_> = (0..producers)
        .map(|p| {
            let (ring, start) = (Arc::clone(&ring), Arc::clone(&start));
            thread::spawn(move || {
                let mut rng = ChaCha8Rng::seed_from_u64(seed ^ ((p as u64) << 8));
                let mut next = 0u64;
                let mut batch = Vec::new();
                start.wait();
                while next < per_producer {
                    assert!(!past(end), "producer {p} stuck at {next}");
                    if rng.gen_bool(0.5) {
                        match ring.push((p, next)) {
                            Ok(()) => next += 1,
                            Err(item) => {
                                assert_eq!(item, (p, next), "push handed back a different item");
                                thread::yield_now();
                            }
                        }
                    } else {
                        let want = rng.gen_range(1..=40).min(per_producer - next);
                        batch.extend((next..next + want).map(|s| (p, s)));
                        let pushed = ring.push_batch(&mut batch);
                        assert_eq!(batch.len() as u64, want - pushed as u64, "batch not drained");
                        if let Some(&first_left) = batch.first() {
                            assert_eq!(
                                first_left,
                                (p, next + pushed as u64),
                                "leftover not the tail"
                            );
                        }
                        next += pushed as u64;
                        batch.clear();
                        if pushed == 0 {
                            thread::yield_now();
                        }
                    }
                }
            })
        })
        .collect();

    let consumer_handles: Vec<_> = (0..consumers)
        .map(|c| {
            let (ring, start, done) =
                (Arc::clone(&ring), Arc::clone(&start), Arc::clone(&producers_done));
            thread::spawn(move || {
                let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xc0 ^ ((c as u64) << 16));
                let mut seen = Vec::new();
                let mut last: Vec<Option<u64>> = vec![None; producers];
                let mut out = Vec::new();
                start.wait();
                loop {
                    assert!(!past(end), "consumer {c} stuck");
                    out.clear();
                    let max = rng.gen_range(1..=40);
                    let got = if rng.gen_bool(0.5) {
                        match ring.pop() {
                            Some(item) => {
                                out.push(item);
                                1
                            }
                            None => 0,
                        }
                    } else {
                        ring.pop_batch(&mut out, max)
                    };
                    assert_eq!(got, out.len());
                    assert!(got <= max);
                    for &(p, s) in &out {
                        if let Some(prev) = last[p] {
                            assert!(s > prev, "consumer {c}: producer {p} item {s} after {prev}");
                        }
                        last[p] = Some(s);
                        seen.push((p, s));
                    }
                    if got == 0 {
                        // Stop only once producers are done and the ring is drained.
                        if done.load(Ordering::Acquire) && ring.is_empty() {
                            break;
                        }
                        thread::yield_now();
                    }
                }
                seen
            })
        })
        .collect();

    for h in producer_handles {
        h.join().unwrap();
    }
    producers_done.store(true, Ordering::Release);
    let mut all: Vec<Item> = consumer_handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    all.sort_unstable();
    let expected: Vec<Item> =
        (0..producers).flat_map(|p| (0..per_producer).map(move |s| (p, s))).collect();
    assert_eq!(all.len(), expected.len(), "lost or duplicated items");
    assert!(all == expected, "delivered set differs from pushed set");
    assert!(ring.is_empty());
}

#[test]
fn lockfree_1p1c() {
    stress(LockFreeRing::with_capacity(16), 1, 1, 50_000, 1);
}

#[test]
fn lockfree_4p4c_small_ring() {
    stress(LockFreeRing::with_capacity(8), 4, 4, 20_000, 2);
}

#[test]
fn lockfree_3p2c() {
    stress(LockFreeRing::with_capacity(64), 3, 2, 30_000, 3);
}

#[test]
fn locked_1p1c() {
    stress(LockedRing::with_capacity(16), 1, 1, 50_000, 4);
}

#[test]
fn locked_4p4c_small_ring() {
    stress(LockedRing::with_capacity(7), 4, 4, 20_000, 5);
}

/// Sequential semantics shared by both rings: capacity, full, empty, batch boundaries.
fn sequential<R: Ring<u32>>(ring: R, capacity: usize) {
    assert_eq!(ring.capacity(), capacity);
    assert!(ring.is_empty());
    assert_eq!(ring.pop(), None);
    for i in 0..capacity as u32 {
        ring.push(i).unwrap();
    }
    assert_eq!(ring.len(), capacity);
    assert_eq!(ring.push(99), Err(99));
    let mut more = vec![100, 101];
    assert_eq!(ring.push_batch(&mut more), 0);
    assert_eq!(more, vec![100, 101]);
    assert_eq!(ring.pop(), Some(0));
    assert_eq!(ring.push_batch(&mut more), 1);
    assert_eq!(more, vec![101]);
    let mut out = Vec::new();
    assert_eq!(ring.pop_batch(&mut out, 3), 3);
    assert_eq!(out, vec![1, 2, 3]);
    assert_eq!(ring.pop_batch(&mut out, 0), 0);
    assert_eq!(ring.pop_batch(&mut out, usize::MAX), capacity - 3);
    let mut expected: Vec<u32> = (1..capacity as u32).collect();
    expected.push(100);
    assert_eq!(out, expected);
    assert!(ring.is_empty());
    // Wrap around several laps.
    for lap in 0..10u32 {
        let want: Vec<u32> = (0..capacity as u32 - 1).map(|i| lap * 100 + i).collect();
        let mut batch = want.clone();
        assert_eq!(ring.push_batch(&mut batch), capacity - 1);
        assert!(batch.is_empty());
        out.clear();
        assert_eq!(ring.pop_batch(&mut out, capacity), capacity - 1);
        assert_eq!(out, want);
    }
}

#[test]
fn lockfree_sequential() {
    sequential(LockFreeRing::with_capacity(8), 8);
    // Capacity rounds up to a power of two.
    assert_eq!(Ring::<u32>::capacity(&LockFreeRing::<u32>::with_capacity(5)), 8);
}

#[test]
fn locked_sequential() {
    sequential(LockedRing::with_capacity(5), 5);
}

#[test]
fn lockfree_drops_leftover_items() {
    let marker = Arc::new(());
    {
        let ring = LockFreeRing::with_capacity(4);
        for _ in 0..3 {
            ring.push(Arc::clone(&marker)).unwrap();
        }
        drop(ring.pop());
        assert_eq!(Arc::strong_count(&marker), 3);
    }
    assert_eq!(Arc::strong_count(&marker), 1, "ring drop leaked or double-dropped items");
}
