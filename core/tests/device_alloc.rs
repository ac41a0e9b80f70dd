//! Zero heap allocations per packet in the engine's steady state: a counting global
//! allocator watches the whole process while two devices carry traffic both ways. The
//! in-memory NIC recycles its buffers (`TunHost::recycle`), so what is left is the
//! engine itself. Alone in its binary so no other test allocates meanwhile.
// A global allocator can only be written with `unsafe`; this one forwards every call to
// `System` unchanged and only counts.
#![allow(unsafe_code, clippy::disallowed_methods)]

mod device_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use device_support::*;
use ferrowg_core::device::{DeviceOptions, WorkerMode};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees carry over; the counter is a plain atomic (no allocation).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as above; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_traffic_allocates_nothing_per_packet() {
    for (workers, codel) in
        [(WorkerMode::Inline, false), (WorkerMode::Fixed(1), false), (WorkerMode::Inline, true)]
    {
        let o = |seed| DeviceOptions { workers, codel, ..opts(seed) };
        let (a, b) = pair(o(0x51), o(0x52));
        let ab: Vec<_> = (0..32).map(|i| packet(A_V4.into(), B_V4.into(), 0, i, 1420)).collect();
        let ba: Vec<_> = (0..32).map(|i| packet(B_V4.into(), A_V4.into(), 0, i, 600)).collect();
        let stop = AtomicBool::new(false);
        let delivered = AtomicU64::new(0);
        let (allocs, packets) = std::thread::scope(|s| {
            for host in [&a.host, &b.host] {
                let (stop, delivered) = (&stop, &delivered);
                s.spawn(move || {
                    let mut got = Vec::with_capacity(256);
                    while !stop.load(Ordering::Relaxed) {
                        host.recycle(&mut got);
                        let n = host.recv(&mut got, 256, Duration::from_millis(5));
                        delivered.fetch_add(n as u64, Ordering::Relaxed);
                    }
                });
            }
            let stop_i = &stop;
            let (ah, bh) = (&a.host, &b.host);
            s.spawn(move || {
                // Both directions; B first so A learns B's endpoint.
                while !stop_i.load(Ordering::Relaxed) {
                    bh.inject(&ba, Duration::from_millis(5));
                    ah.inject(&ab, Duration::from_millis(5));
                    std::thread::sleep(Duration::from_micros(200));
                }
            });
            // Warm up: handshakes, buffer pools and queues reach their steady sizes.
            let deadline = now() + Duration::from_secs(30);
            while delivered.load(Ordering::Relaxed) < 20_000 && now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let (a0, d0) = (ALLOCS.load(Ordering::Relaxed), delivered.load(Ordering::Relaxed));
            while delivered.load(Ordering::Relaxed) < d0 + 50_000
                && now() < deadline + Duration::from_secs(30)
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            let (a1, d1) = (ALLOCS.load(Ordering::Relaxed), delivered.load(Ordering::Relaxed));
            stop.store(true, Ordering::Relaxed);
            (a1 - a0, d1 - d0)
        });
        assert!(packets >= 50_000, "{workers:?}/codel {codel}: only {packets} packets delivered");
        // Timer and event bookkeeping may allocate now and then, never per packet.
        assert!(
            allocs * 100 < packets,
            "{workers:?}/codel {codel}: {allocs} allocations for {packets} packets"
        );
        println!("{workers:?}/codel {codel}: {allocs} allocations for {packets} packets");
    }
}
