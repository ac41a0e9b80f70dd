//! Criterion benchmark: the locked ring vs the lock-free ring vs crossbeam's ArrayQueue,
//! single-item and batched, 1 producer/1 consumer and 2/2, all in one run; and the
//! ordered pipeline (inline vs 1 and 2 workers) with a ~1 µs stand-in for sealing.
//!
//! `cargo bench -p ferrowg-core --bench queue -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs)]

#[allow(dead_code)] // the bench uses part of its API
mod ordered;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use crossbeam_queue::ArrayQueue;
use ferrowg_core::queue::{LockFreeRing, LockedRing, Ring};
use ordered::{Dispatch, Flow, Ordered};

/// Items moved per measured iteration.
const ITEMS: u64 = 200_000;
/// The kernel's MAX_QUEUED_PACKETS.
const CAPACITY: usize = 1024;
const BATCH: usize = 32;

/// crossbeam's ArrayQueue behind the same trait (batches are loops: it has no batch API).
struct Crossbeam(ArrayQueue<u64>);

impl Ring<u64> for Crossbeam {
    fn push(&self, item: u64) -> Result<(), u64> {
        self.0.push(item)
    }
    fn pop(&self) -> Option<u64> {
        self.0.pop()
    }
    fn push_batch(&self, items: &mut Vec<u64>) -> usize {
        let n = items.iter().take_while(|&&item| self.0.push(item).is_ok()).count();
        items.drain(..n);
        n
    }
    fn pop_batch(&self, out: &mut Vec<u64>, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Some(item) = self.0.pop() else { break };
            out.push(item);
            n += 1;
        }
        n
    }
    fn capacity(&self) -> usize {
        self.0.capacity()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Moves `ITEMS` u64s through `ring` with `pairs` producers and `pairs` consumers.
fn transfer<R: Ring<u64> + 'static>(ring: &Arc<R>, pairs: usize, batch: usize) {
    let per_producer = ITEMS / pairs as u64;
    let start = Arc::new(Barrier::new(2 * pairs));
    let done = Arc::new(AtomicBool::new(false));
    let producers: Vec<_> = (0..pairs)
        .map(|_| {
            let (ring, start) = (Arc::clone(ring), Arc::clone(&start));
            thread::spawn(move || {
                let mut buf = Vec::with_capacity(batch);
                let mut next = 0;
                start.wait();
                while next < per_producer {
                    if batch == 1 {
                        if ring.push(next).is_ok() {
                            next += 1;
                        } else {
                            thread::yield_now();
                        }
                    } else {
                        if buf.is_empty() {
                            let end = (next + batch as u64).min(per_producer);
                            buf.extend(next..end);
                        }
                        let n = ring.push_batch(&mut buf);
                        next += n as u64;
                        if n == 0 {
                            thread::yield_now();
                        }
                    }
                }
            })
        })
        .collect();
    let consumers: Vec<_> = (0..pairs)
        .map(|_| {
            let (ring, start, done) = (Arc::clone(ring), Arc::clone(&start), Arc::clone(&done));
            thread::spawn(move || {
                let mut out = Vec::with_capacity(batch);
                let mut sum = 0u64;
                start.wait();
                loop {
                    out.clear();
                    let n = if batch == 1 {
                        ring.pop().map(|v| out.push(v)).is_some() as usize
                    } else {
                        ring.pop_batch(&mut out, batch)
                    };
                    sum = sum.wrapping_add(out.iter().sum::<u64>());
                    if n == 0 {
                        if done.load(Ordering::Acquire) && ring.is_empty() {
                            break;
                        }
                        thread::yield_now();
                    }
                }
                sum
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    done.store(true, Ordering::Release);
    let total: u64 = consumers.into_iter().map(|c| c.join().unwrap()).sum();
    let expected = pairs as u64 * (per_producer * (per_producer - 1) / 2);
    assert_eq!(total, expected, "items lost in the benchmark");
}

fn rings(c: &mut Criterion) {
    let mut group = c.benchmark_group("ring");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ITEMS));
    for pairs in [1usize, 2] {
        for batch in [1usize, BATCH] {
            let case = format!("{pairs}p{pairs}c/batch{batch}");
            let locked = Arc::new(LockedRing::with_capacity(CAPACITY));
            group.bench_function(BenchmarkId::new("locked", &case), |b| {
                b.iter(|| transfer(&locked, pairs, batch))
            });
            let lockfree = Arc::new(LockFreeRing::with_capacity(CAPACITY));
            group.bench_function(BenchmarkId::new("lockfree", &case), |b| {
                b.iter(|| transfer(&lockfree, pairs, batch))
            });
            let crossbeam = Arc::new(Crossbeam(ArrayQueue::new(CAPACITY)));
            group.bench_function(BenchmarkId::new("crossbeam", &case), |b| {
                b.iter(|| transfer(&crossbeam, pairs, batch))
            });
        }
    }
    group.finish();
}

/// About 1 µs of dependent arithmetic, standing in for sealing one 1420-byte packet.
fn fake_seal(job: &mut u64) {
    let mut x = *job | 1;
    for _ in 0..1_000 {
        x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29) ^ 0x5bd1_e995;
    }
    *job = black_box(x);
}

const JOBS: u64 = 20_000;

/// One flow, `JOBS` jobs: submit, let `workers` threads process, release in order. With
/// `help`, the submitting thread processes queued jobs itself instead of yielding while
/// the flow's head is not done.
fn pipeline(workers: usize, help: bool) {
    let ordered = Arc::new(Ordered::new(CAPACITY, fake_seal));
    let flow = Flow::new(0, CAPACITY);
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<_> = (0..workers)
        .map(|_| {
            let (ordered, stop) = (Arc::clone(&ordered), Arc::clone(&stop));
            thread::spawn(move || {
                let mut scratch = Vec::new();
                while !stop.load(Ordering::Acquire) {
                    if ordered.work_batch(BATCH, &mut scratch, |_| {}) == 0 {
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    let dispatch = if workers == 0 { Dispatch::Inline } else { Dispatch::Parallel };
    let (mut submitted, mut released) = (0u64, 0u64);
    let mut out = Vec::with_capacity(BATCH);
    while released < JOBS {
        while submitted < JOBS && ordered.submit(&flow, submitted, dispatch).is_ok() {
            submitted += 1;
        }
        out.clear();
        released += flow.drain_ready(&mut out, CAPACITY) as u64;
        black_box(&out);
        if out.is_empty() && !(help && ordered.work().is_some()) {
            thread::yield_now();
        }
    }
    stop.store(true, Ordering::Release);
    for h in handles {
        h.join().unwrap();
    }
}

fn ordered(c: &mut Criterion) {
    let mut group = c.benchmark_group("ordered");
    group.sample_size(10);
    group.throughput(Throughput::Elements(JOBS));
    for workers in [0usize, 1, 2] {
        group.bench_function(BenchmarkId::new("workers", workers), |b| {
            b.iter(|| pipeline(workers, false))
        });
    }
    for workers in [1usize, 2] {
        group.bench_function(BenchmarkId::new("workers+help", workers), |b| {
            b.iter(|| pipeline(workers, true))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = rings, ordered
}
criterion_main!(benches);
