//! Per-source token buckets for handshake initiations under load.
//!
//! The engine asks [`RateLimiter::allow`] before doing the Diffie-Hellman work for a
//! handshake initiation that arrived while it is under load (after the cookie check). Each
//! source gets [`PACKETS_PER_SECOND`] with a burst of [`PACKETS_BURSTABLE`]; IPv4 sources
//! are keyed by address, IPv6 sources by their /64, because one host can trivially use a
//! whole /64. IPv4-mapped IPv6 addresses count as the IPv4 address (otherwise every IPv4
//! client of a dual-stack socket would share one /64 bucket).
//!
//! The table holds at most `max_entries` sources; a new source is refused while it is full
//! (and counted), known sources keep being served. Entries idle for [`ENTRY_TIMEOUT`] are
//! removed by [`RateLimiter::gc`], which the engine calls about once a second: after that
//! long an entry has refilled to its burst anyway, so forgetting it changes no decision.
//! The table is hashed with SipHash-2-4 under a key from the injected RNG, since the
//! sources are chosen by whoever sends packets.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand_core::{CryptoRng, RngCore};

use crate::peer_lookup::HashKey;

/// Sustained handshake initiations allowed per source per second.
pub const PACKETS_PER_SECOND: u64 = 20;

/// Initiations a source may send back to back after being idle.
pub const PACKETS_BURSTABLE: u64 = 5;

/// How long an entry must be idle before [`RateLimiter::gc`] removes it.
pub const ENTRY_TIMEOUT: Duration = Duration::from_secs(1);

/// Table size of [`RateLimiter::new`]: the kernel's ceiling (8192 buckets × 8). About
/// 5 MiB when full (131072 hashbrown buckets of 40 bytes plus control bytes).
pub const DEFAULT_MAX_ENTRIES: usize = 65_536;

/// Token cost of one initiation, in nanoseconds of refill time.
const PACKET_COST: u64 = 1_000_000_000 / PACKETS_PER_SECOND;

/// Bucket capacity, in nanoseconds of refill time.
const TOKEN_MAX: u64 = PACKET_COST * PACKETS_BURSTABLE;

/// Why an initiation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The source (IPv4 address or IPv6 /64) has used up its tokens.
    #[error("source is over its handshake rate")]
    TooFast,
    /// The source has no entry yet and the table is full.
    #[error("rate limiter table is full")]
    TableFull,
}

/// Counters since construction, plus the current table size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimiterStats {
    /// Sources currently tracked.
    pub entries: usize,
    /// Initiations allowed.
    pub allowed: u64,
    /// Initiations refused with [`Refused::TooFast`].
    pub refused_rate: u64,
    /// Initiations refused with [`Refused::TableFull`].
    pub refused_full: u64,
    /// Entries removed by [`RateLimiter::gc`].
    pub collected: u64,
}

/// Token buckets per source. Safe to share between threads (one internal mutex: it is
/// only consulted for initiations under load, a few per peer at most).
pub struct RateLimiter {
    max_entries: usize,
    inner: Mutex<Inner>,
}

impl RateLimiter {
    /// A limiter holding up to [`DEFAULT_MAX_ENTRIES`] sources, hashed under a secret key
    /// drawn from `rng`.
    pub fn new<R: RngCore + CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::with_max_entries(rng, DEFAULT_MAX_ENTRIES)
    }

    /// A limiter holding up to `max_entries` sources.
    pub fn with_max_entries<R: RngCore + CryptoRng + ?Sized>(
        rng: &mut R,
        max_entries: usize,
    ) -> Self {
        let inner = Inner {
            buckets: HashMap::with_hasher(HashKey::random(rng)),
            stats: RateLimiterStats::default(),
        };
        Self { max_entries, inner: Mutex::new(inner) }
    }

    /// Takes one token from `src`'s bucket at time `now`, or says why not.
    pub fn allow(&self, src: IpAddr, now: Instant) -> Result<(), Refused> {
        let source = Source::from(src);
        let mut inner = self.inner.lock();
        let Inner { buckets, stats } = &mut *inner;
        let full = buckets.len() >= self.max_entries;
        let verdict = match buckets.entry(source) {
            Entry::Occupied(b) => b.into_mut().take(now),
            Entry::Vacant(_) if full => Err(Refused::TableFull),
            Entry::Vacant(slot) => {
                slot.insert(Bucket { last: now, tokens: TOKEN_MAX - PACKET_COST });
                Ok(())
            }
        };
        match verdict {
            Ok(()) => stats.allowed += 1,
            Err(Refused::TooFast) => stats.refused_rate += 1,
            Err(Refused::TableFull) => stats.refused_full += 1,
        }
        verdict
    }

    /// Removes sources idle for at least [`ENTRY_TIMEOUT`] and gives memory back once the
    /// table has emptied out. Returns how many were removed.
    pub fn gc(&self, now: Instant) -> usize {
        let mut inner = self.inner.lock();
        let before = inner.buckets.len();
        inner.buckets.retain(|_, b| now.saturating_duration_since(b.last) < ENTRY_TIMEOUT);
        let removed = before - inner.buckets.len();
        inner.stats.collected += removed as u64;
        let (len, cap) = (inner.buckets.len(), inner.buckets.capacity());
        if cap > 64 && len < cap / 4 {
            inner.buckets.shrink_to(len * 2);
        }
        removed
    }

    /// Sources currently tracked.
    pub fn len(&self) -> usize {
        self.inner.lock().buckets.len()
    }

    /// True when no source is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counters and table size.
    pub fn stats(&self) -> RateLimiterStats {
        let inner = self.inner.lock();
        RateLimiterStats { entries: inner.buckets.len(), ..inner.stats }
    }
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("max_entries", &self.max_entries)
            .field("stats", &self.stats())
            .finish()
    }
}

struct Inner {
    buckets: HashMap<Source, Bucket, HashKey>,
    stats: RateLimiterStats,
}

/// What a bucket is keyed by: an IPv4 address or the upper 64 bits of an IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    V4(u32),
    V6(u64),
}

impl From<IpAddr> for Source {
    fn from(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(a) => Source::V4(u32::from(a)),
            IpAddr::V6(a) => Source::V6((u128::from(a) >> 64) as u64),
        }
    }
}

/// Tokens are nanoseconds of refill time: one initiation costs [`PACKET_COST`].
struct Bucket {
    last: Instant,
    tokens: u64,
}

impl Bucket {
    fn take(&mut self, now: Instant) -> Result<(), Refused> {
        let elapsed = now.saturating_duration_since(self.last).as_nanos();
        let elapsed = u64::try_from(elapsed).unwrap_or(u64::MAX).min(TOKEN_MAX);
        self.tokens = (self.tokens + elapsed).min(TOKEN_MAX);
        // Instants from several threads can arrive slightly out of order; never move back.
        self.last = self.last.max(now);
        if self.tokens < PACKET_COST {
            return Err(Refused::TooFast);
        }
        self.tokens -= PACKET_COST;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn limiter(max_entries: usize) -> RateLimiter {
        RateLimiter::with_max_entries(&mut ChaCha8Rng::seed_from_u64(0x1a7e), max_entries)
    }

    /// Only an origin for virtual time: no assertion depends on the real clock.
    #[allow(clippy::disallowed_methods)]
    fn origin() -> Instant {
        Instant::now()
    }

    const fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// The kernel's selftest/ratelimiter.c schedule: (wait before, expected verdict).
    const SCHEDULE: [(Duration, bool); 11] = [
        /* 0 */ (ms(0), true),
        /* 1 */ (ms(0), true),
        /* 2 */ (ms(0), true),
        /* 3 */ (ms(0), true),
        /* 4 */ (ms(0), true),
        /* 5 */ (ms(0), false),
        /* 6 */ (ms(1000 / PACKETS_PER_SECOND), true),
        /* 7 */ (ms(0), false),
        /* 8 */ (ms(2 * 1000 / PACKETS_PER_SECOND), true),
        /* 9 */ (ms(0), true),
        /* 10 */ (ms(0), false),
    ];

    fn v6(hi: u64, lo: u64) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from((u128::from(hi) << 64) | u128::from(lo)))
    }

    fn run_schedule(rl: &RateLimiter, start: Instant) -> Instant {
        let v4 = IpAddr::V4(Ipv4Addr::from(8182));
        let mut now = start;
        for (i, &(wait, expected)) in SCHEDULE.iter().enumerate() {
            now += wait;
            assert_eq!(rl.allow(v4, now).is_ok(), expected, "IPv4 step {i}");
            // A different source always gets through.
            let other = IpAddr::V4(Ipv4Addr::from(8182 + i as u32 + 1));
            assert_eq!(rl.allow(other, now), Ok(()), "IPv4 neighbour at step {i}");
            // Same /64, a new host part every step: one shared bucket.
            let lo = (i as u64) << 32 | i as u64;
            assert_eq!(rl.allow(v6(0x4bc_0004_69a4, lo), now).is_ok(), expected, "IPv6 step {i}");
            let other = v6(0x4bc_0004_69a4 + ((i as u64 + 1) << 32), lo);
            assert_eq!(rl.allow(other, now), Ok(()), "IPv6 other /64 at step {i}");
        }
        now
    }

    #[test]
    fn kernel_selftest_schedule() {
        let rl = limiter(DEFAULT_MAX_ENTRIES);
        let t0 = origin();
        let end = run_schedule(&rl, t0);
        let st = rl.stats();
        assert_eq!(st.refused_rate, 2 * 3, "3 refusals per family");
        assert_eq!(st.refused_full, 0);
        // The kernel runs the schedule again after collecting everything.
        assert_eq!(rl.gc(end + ENTRY_TIMEOUT), st.entries);
        assert!(rl.is_empty());
        run_schedule(&rl, end + ENTRY_TIMEOUT);
    }

    #[test]
    fn full_table_refuses_new_sources_only() {
        const MAX: usize = 1000;
        let rl = limiter(MAX);
        let t0 = origin();
        for i in 0..=MAX as u32 {
            let verdict = rl.allow(IpAddr::V4(Ipv4Addr::from(i)), t0);
            assert_eq!(verdict.is_ok(), i != MAX as u32, "source {i}");
        }
        assert_eq!(rl.allow(v6(1, 1), t0), Err(Refused::TableFull));
        assert_eq!(rl.stats().refused_full, 2);
        // Known sources are still served from their own buckets.
        assert_eq!(rl.allow(IpAddr::V4(Ipv4Addr::from(7)), t0), Ok(()));
        // Once idle entries are collected, new sources get in again.
        let later = t0 + ENTRY_TIMEOUT;
        assert_eq!(rl.gc(later), MAX);
        assert_eq!(rl.allow(v6(1, 1), later), Ok(()));
        assert_eq!(rl.len(), 1);
    }

    #[test]
    fn gc_keeps_recent_sources_and_forgetting_changes_nothing() {
        let rl = limiter(16);
        let t0 = origin();
        let (a, b) = (IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)), v6(0xfd18, 2));
        for _ in 0..PACKETS_BURSTABLE {
            assert_eq!(rl.allow(a, t0), Ok(()));
        }
        assert_eq!(rl.allow(a, t0), Err(Refused::TooFast));
        assert_eq!(rl.allow(b, t0 + ms(900)), Ok(()));
        assert_eq!(rl.gc(t0 + ms(999)), 0);
        assert_eq!(rl.gc(t0 + ms(1000)), 1, "only the idle source goes");
        assert_eq!(rl.len(), 1);
        // Forgotten or not, a source idle that long gets exactly its burst.
        let t1 = t0 + ms(1000);
        for _ in 0..PACKETS_BURSTABLE {
            assert_eq!(rl.allow(a, t1), Ok(()));
            assert_eq!(rl.allow(b, t1 + ms(1000)), Ok(()));
        }
        assert_eq!(rl.allow(a, t1), Err(Refused::TooFast));
        assert_eq!(rl.allow(b, t1 + ms(1000)), Err(Refused::TooFast));
    }

    #[test]
    fn sustained_rate_is_twenty_per_second() {
        let rl = limiter(16);
        let src = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 9));
        let t0 = origin();
        // One attempt per millisecond for 10 s.
        let allowed = (0..10_000u64).filter(|&t| rl.allow(src, t0 + ms(t)).is_ok()).count();
        assert_eq!(allowed as u64, PACKETS_BURSTABLE + 10 * PACKETS_PER_SECOND - 1);
    }

    #[test]
    fn mapped_ipv4_is_its_own_source_and_time_never_runs_backwards() {
        let rl = limiter(16);
        let t0 = origin() + ms(500);
        let mapped = |last: u8| IpAddr::V6(Ipv4Addr::new(198, 18, 0, last).to_ipv6_mapped());
        for _ in 0..PACKETS_BURSTABLE {
            assert_eq!(rl.allow(mapped(1), t0), Ok(()));
        }
        assert_eq!(rl.allow(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)), t0), Err(Refused::TooFast));
        assert_eq!(rl.allow(mapped(2), t0), Ok(()), "mapped IPv4 sources must not share a /64");
        // An older instant (another thread's) neither panics nor refills.
        assert_eq!(rl.allow(mapped(1), t0 - ms(400)), Err(Refused::TooFast));
        assert_eq!(rl.allow(mapped(1), t0 + ms(50)), Ok(()));
        assert_eq!(rl.allow(mapped(1), t0 + ms(50)), Err(Refused::TooFast));
    }
}
