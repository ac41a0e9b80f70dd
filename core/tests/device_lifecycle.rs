//! Start and stop 200 times under traffic: every thread is joined (counted in
//! /proc/self/task) and nothing deadlocks (each round has a time bound).
//! Kept alone in its own test binary so no other test's threads disturb the count.
#![allow(clippy::disallowed_methods)]

mod device_support;

use std::time::Duration;

use device_support::*;
use ferrowg_core::device::{DeviceOptions, WorkerMode};

#[test]
fn start_stop_200_times_under_traffic() {
    // Threads are counted through /proc/self/task: Linux only (elsewhere, e.g. Windows
    // under wine, the 200 start/stop rounds still run, without the leak count).
    let counted = cfg!(target_os = "linux");
    let baseline = thread_count();
    assert!(!counted || baseline > 0, "/proc/self/task not readable");
    let mut delivered_rounds = 0;
    for round in 0..200u32 {
        let workers = match round % 3 {
            0 => WorkerMode::Inline,
            1 => WorkerMode::Fixed(1),
            _ => WorkerMode::Fixed(2),
        };
        let o = |seed: u8| DeviceOptions { workers, ..opts(seed) };
        let started = now();
        let (a, b) = pair(o(round as u8), o(round as u8 ^ 0x80));
        assert!(
            !counted || thread_count() > baseline,
            "engine threads not visible in /proc/self/task"
        );
        // Traffic in both directions, not waiting for it: stop must cope with packets
        // in every stage (staged, in the rings, in the NIC queues).
        let burst: Vec<_> = (0..64)
            .map(|i| packet(B_V4.into(), A_V4.into(), 0, i, 200 + i as usize * 17))
            .collect();
        b.host.inject(&burst, Duration::from_secs(1));
        if round % 4 == 0 {
            // Every fourth round, wait until traffic flows so stop happens mid-session.
            let mut got = Vec::new();
            let deadline = now() + Duration::from_secs(10);
            while got.is_empty() && now() < deadline {
                a.host.recv(&mut got, 64, Duration::from_millis(10));
            }
            if !got.is_empty() {
                delivered_rounds += 1;
                let back: Vec<_> =
                    (0..64).map(|i| packet(A_V4.into(), B_V4.into(), 1, i, 1420)).collect();
                a.host.inject(&back, Duration::from_secs(1));
            }
        }
        if round % 2 == 0 {
            a.device.stop();
            b.device.stop();
        } else {
            drop(b);
            drop(a);
        }
        assert!(
            now().duration_since(started) < Duration::from_secs(30),
            "round {round} took too long (stop hung?)"
        );
        if counted {
            // pthread_join returns once the kernel cleared the thread's tid, which is
            // before the task leaves /proc/self/task: give the kernel a moment to reap.
            let reap_deadline = now() + Duration::from_secs(5);
            while thread_count() != baseline && now() < reap_deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            assert_eq!(thread_count(), baseline, "threads leaked after round {round}");
        }
    }
    assert_eq!(delivered_rounds, 50, "traffic did not flow in every checked round");
}
