//! Loom model tests of the lock-free ring's sequence protocol:
//! `RUSTFLAGS="--cfg loom" cargo test -p ferrowg-core --release --lib queue::loom`.

use loom::sync::Arc;
use loom::thread;

use super::{LockFreeRing, Ring};

/// Two producers race for a 2-slot ring while a consumer pops: nothing lost, nothing
/// duplicated, each producer's items in order.
#[test]
fn two_producers_one_consumer() {
    loom::model(|| {
        let ring = Arc::new(LockFreeRing::with_capacity(2));
        let producers: Vec<_> = (0..2u32)
            .map(|p| {
                let ring = Arc::clone(&ring);
                thread::spawn(move || {
                    let mut pushed = 0;
                    for i in 0..2u32 {
                        if ring.push(p * 10 + i).is_ok() {
                            pushed += 1;
                        } else {
                            break;
                        }
                    }
                    pushed
                })
            })
            .collect();
        let mut got = Vec::new();
        for _ in 0..2 {
            if let Some(v) = ring.pop() {
                got.push(v);
            }
        }
        let pushed: u32 = producers.into_iter().map(|h| h.join().unwrap()).sum();
        while let Some(v) = ring.pop() {
            got.push(v);
        }
        assert_eq!(got.len() as u32, pushed);
        for p in 0..2u32 {
            let mine: Vec<u32> = got.iter().copied().filter(|v| v / 10 == p).collect();
            let expected: Vec<u32> = (0..mine.len() as u32).map(|i| p * 10 + i).collect();
            assert_eq!(mine, expected);
        }
    });
}

/// A batched push races a batched pop across the wrap point of a 2-slot ring.
#[test]
fn batch_push_batch_pop_wrap() {
    loom::model(|| {
        let ring = Arc::new(LockFreeRing::with_capacity(2));
        ring.push(0u32).unwrap();
        assert_eq!(ring.pop(), Some(0));
        let producer = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || {
                let mut items = vec![1u32, 2, 3];
                let n = ring.push_batch(&mut items);
                (n, items)
            })
        };
        let consumer = {
            let ring = Arc::clone(&ring);
            thread::spawn(move || {
                let mut out = Vec::new();
                ring.pop_batch(&mut out, 2);
                out
            })
        };
        let (n, left) = producer.join().unwrap();
        let mut out = consumer.join().unwrap();
        assert_eq!(n, 2, "an empty 2-slot ring takes 2 of 3");
        assert_eq!(left, vec![3]);
        while let Some(v) = ring.pop() {
            out.push(v);
        }
        assert_eq!(out, vec![1, 2]);
    });
}

/// Two consumers race for items already in the ring: each item taken exactly once.
#[test]
fn two_consumers() {
    loom::model(|| {
        let ring = Arc::new(LockFreeRing::with_capacity(2));
        ring.push(1u32).unwrap();
        ring.push(2u32).unwrap();
        let consumers: Vec<_> = (0..2)
            .map(|_| {
                let ring = Arc::clone(&ring);
                thread::spawn(move || ring.pop())
            })
            .collect();
        let mut got: Vec<u32> = consumers.into_iter().filter_map(|h| h.join().unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, vec![1, 2]);
        assert!(ring.pop().is_none());
    });
}
