//! Zero heap allocations per data packet in steady state: a counting global allocator
//! watches this thread while two established peers exchange data both ways
//! (encapsulate, then decapsulate in place, plus the poll calls an embedder makes).
// A global allocator can only be written with `unsafe`; this test forwards every call
// to `System` unchanged and only counts.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ferrowg_core::keys::PrivateKey;
use ferrowg_core::peer::{Identity, Peer, PeerConfig, RandomIndices, Received};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

struct Counting;

thread_local! {
    static ENABLED: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    let _ = ENABLED.try_with(|on| {
        if on.get() {
            let _ = COUNT.try_with(|n| n.set(n.get() + 1));
        }
    });
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees carry over; `note` does not allocate (const thread-locals).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged; the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
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

/// Allocations made on this thread while running `f`.
fn count_allocs(f: impl FnOnce()) -> u64 {
    COUNT.with(|n| n.set(0));
    ENABLED.with(|on| on.set(true));
    f();
    ENABLED.with(|on| on.set(false));
    COUNT.with(|n| n.get())
}

#[allow(clippy::disallowed_methods)] // an arbitrary base instant for tests
fn base() -> Instant {
    Instant::now()
}

fn ipv4_packet(total: usize) -> Vec<u8> {
    let mut p = vec![0xab; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p
}

struct Pair {
    a: Peer,
    b: Peer,
    addr_a: SocketAddr,
    addr_b: SocketAddr,
    now: Instant,
    wall: SystemTime,
    out: Vec<u8>,
}

impl Pair {
    fn established() -> Self {
        let ia = Arc::new(Identity::new(&PrivateKey::from_bytes([1; 32])));
        let ib = Arc::new(Identity::new(&PrivateKey::from_bytes([2; 32])));
        let addr_a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let addr_b: SocketAddr = "127.0.0.1:2".parse().unwrap();
        let mut ca = PeerConfig::new(*ib.public_key());
        ca.endpoint = Some(addr_b);
        let rng = |s| Box::new(ChaCha20Rng::seed_from_u64(s));
        let a = Peer::new(ia.clone(), ca, Arc::new(RandomIndices), rng(1));
        let b = Peer::new(ib, PeerConfig::new(*ia.public_key()), Arc::new(RandomIndices), rng(2));
        let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut p = Pair { a, b, addr_a, addr_b, now: base(), wall, out: vec![0u8; 2048] };
        p.a_to_b(&ipv4_packet(100));
        p.settle();
        assert!(p.a.current_keypair().is_some() && p.b.current_keypair().is_some());
        p
    }

    fn settle(&mut self) {
        for _ in 0..8 {
            while let Some(t) = self.a.poll_transmit(self.now, &mut self.out) {
                let _ = self.b.handle_datagram(
                    &mut self.out[..t.len],
                    self.addr_a,
                    self.now,
                    self.wall,
                );
            }
            while let Some(t) = self.b.poll_transmit(self.now, &mut self.out) {
                let _ = self.a.handle_datagram(
                    &mut self.out[..t.len],
                    self.addr_b,
                    self.now,
                    self.wall,
                );
            }
            while self.a.poll_event().is_some() || self.b.poll_event().is_some() {}
        }
    }

    /// One packet a -> b; returns the delivered length (0 if staged/dropped).
    fn a_to_b(&mut self, packet: &[u8]) -> usize {
        match self.a.encapsulate(packet, &mut self.out, self.now, self.wall) {
            Ok(Some(t)) => {
                match self.b.handle_datagram(
                    &mut self.out[..t.len],
                    self.addr_a,
                    self.now,
                    self.wall,
                ) {
                    Ok(Received::Packet(r)) => r.len(),
                    _ => 0,
                }
            }
            _ => 0,
        }
    }

    fn b_to_a(&mut self, packet: &[u8]) -> usize {
        match self.b.encapsulate(packet, &mut self.out, self.now, self.wall) {
            Ok(Some(t)) => {
                match self.a.handle_datagram(
                    &mut self.out[..t.len],
                    self.addr_b,
                    self.now,
                    self.wall,
                ) {
                    Ok(Received::Packet(r)) => r.len(),
                    _ => 0,
                }
            }
            _ => 0,
        }
    }

    fn round(&mut self, packet: &[u8]) -> usize {
        self.now += Duration::from_millis(1);
        let n = self.a_to_b(packet) + self.b_to_a(packet);
        while self.a.poll_transmit(self.now, &mut self.out).is_some() {}
        while self.b.poll_transmit(self.now, &mut self.out).is_some() {}
        while self.a.poll_event().is_some() || self.b.poll_event().is_some() {}
        let _ = (self.a.poll_timeout(), self.b.poll_timeout());
        n
    }
}

#[test]
fn the_counter_counts() {
    let n = count_allocs(|| {
        let v = std::hint::black_box(vec![1u8; 10]);
        drop(v);
    });
    assert_eq!(n, 1);
}

#[test]
fn zero_allocations_per_data_packet_in_steady_state() {
    let mut p = Pair::established();
    let packet = ipv4_packet(1420);
    // Warm up: the first packets may grow queues once.
    for _ in 0..100 {
        assert_eq!(p.round(&packet), 2 * 1420);
    }
    let mut delivered = 0;
    let allocs = count_allocs(|| {
        for _ in 0..1000 {
            delivered += p.round(&packet);
        }
    });
    assert_eq!(delivered, 1000 * 2 * 1420, "every packet delivered");
    assert_eq!(allocs, 0, "heap allocations during 2000 data packets");
}
