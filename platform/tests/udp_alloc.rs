//! Linux: receiving with UDP GRO allocates nothing per datagram in steady state, also
//! when the coalesced runs hold more segments than the caller asks for at once (the
//! rest is handed out from the transport's scratch buffers by the next call).
#![cfg(target_os = "linux")]
// A global allocator can only be written with `unsafe`; this one forwards every call to
// the system allocator and only counts.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ferrowg_core::io::{RecvMeta, Transmit, Transport};
use ferrowg_platform::udp::UdpTransport;

/// Counts allocations made by the thread that set `COUNTING`.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn gro_receive_in_small_batches_allocates_nothing() {
    let tx = UdpTransport::bind(0).unwrap();
    let rx = UdpTransport::bind(0).unwrap();
    let dst = SocketAddr::from((Ipv4Addr::LOCALHOST, rx.local_port()));
    let data: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 1200]).collect();
    let list: Vec<Transmit<'_>> = data.iter().map(|d| Transmit { dst, data: d }).collect();
    let mut storage = vec![[0u8; 1500]; 16];
    let mut meta = [RecvMeta::default(); 16];
    let mut round = |count: bool| -> usize {
        let mut sent = 0;
        while sent < list.len() {
            sent += tx.send_batch(&list[sent..]).unwrap();
        }
        let mut got = 0;
        COUNTING.store(count, Ordering::Relaxed);
        for _ in 0..100 {
            if got >= list.len() {
                break;
            }
            let mut bufs: [&mut [u8]; 16] = {
                let mut it = storage.iter_mut();
                std::array::from_fn(|_| &mut it.next().unwrap()[..])
            };
            got += rx.recv_batch(&mut bufs, &mut meta, Duration::from_secs(2)).unwrap();
        }
        COUNTING.store(false, Ordering::Relaxed);
        got
    };
    // Warm-up: the scratch buffers are allocated by the first GRO receive.
    assert_eq!(round(false), 64);
    ALLOCS.store(0, Ordering::Relaxed);
    for _ in 0..20 {
        assert_eq!(round(true), 64);
    }
    assert_eq!(ALLOCS.load(Ordering::Relaxed), 0, "allocations while receiving");
}
