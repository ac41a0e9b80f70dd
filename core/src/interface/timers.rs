//! Every peer's timers, driven by the caller's clock through
//! [`Interface::handle_timeouts`], and the interface coming up.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use super::{Interface, Output};

/// How often the rate limiter's table is swept.
const GC_INTERVAL: Duration = Duration::from_secs(1);

impl Interface {
    /// The interface is up: arms persistent keepalives (peers added later get theirs as
    /// they are added).
    pub fn interface_up(&self, now: Instant) {
        self.started.store(true, Ordering::Relaxed);
        for p in &self.snapshot.load().peers {
            let mut guard = p.proto.lock();
            if let Some(proto) = guard.as_mut() {
                proto.on_interface_up(now);
            }
            self.publish_deadline(p, guard.as_ref());
        }
    }

    /// Runs every due peer timer (retransmits, keepalives, rekeys, key expiry) and the
    /// handshake initiations the data path asked for; returns the time until the next
    /// deadline. Scans the peers only when the interface-wide minimum says one may be
    /// due (deadlines only move later on the data path, so the minimum is at worst
    /// early, which costs one idle scan).
    pub fn handle_timeouts(
        &self,
        now: Instant,
        wall: SystemTime,
        scratch: &mut [u8],
        out: &mut dyn Output,
    ) -> Option<Duration> {
        let ticks = self.ticks(now);
        if ticks.saturating_sub(self.last_gc.load(Ordering::Relaxed))
            >= GC_INTERVAL.as_nanos() as u64
        {
            self.last_gc.store(ticks, Ordering::Relaxed);
            self.ratelimiter.gc(now);
        }
        if self.min_deadline.load(Ordering::Acquire) > ticks {
            let next = self.min_deadline.load(Ordering::Acquire);
            return (next != u64::MAX).then(|| Duration::from_nanos(next.saturating_sub(ticks)));
        }
        self.min_deadline.store(u64::MAX, Ordering::Release);
        let snap = self.snapshot.load();
        let mut next = u64::MAX;
        for peer in &snap.peers {
            if peer.next_deadline.load(Ordering::Relaxed) <= ticks {
                self.control_peer(peer, now, wall, scratch, out, |p| p.handle_timeout(now, wall));
            }
            next = next.min(peer.next_deadline.load(Ordering::Relaxed));
        }
        self.min_deadline.fetch_min(next, Ordering::AcqRel);
        let next = self.min_deadline.load(Ordering::Acquire);
        (next != u64::MAX).then(|| Duration::from_nanos(next.saturating_sub(ticks)))
    }

    /// The host woke from sleep: every peer drops sessions older than
    /// REJECT_AFTER_TIME by the wall clock and initiates at once where packets wait or
    /// persistent keepalive is on (see `Peer::resume`), instead of waiting out timers
    /// from before the sleep.
    pub fn resume(&self, now: Instant, wall: SystemTime, scratch: &mut [u8], out: &mut dyn Output) {
        for peer in &self.snapshot.load().peers {
            self.control_peer(peer, now, wall, scratch, out, |p| p.resume(now, wall));
        }
        self.min_deadline.store(0, Ordering::Release);
    }
}
