//! The virtual clock: simulated time is an offset from an arbitrary base instant, so a
//! simulated hour takes as long as the work done in it, and runs are reproducible.

use std::time::{Duration, Instant, SystemTime};

/// Wall time at the start of every simulation (for TAI64N timestamps only).
const WALL_BASE_SECS: u64 = 1_764_000_000;

/// Monotonic and wall time of the simulation; only [`Clock::advance_to`] moves it.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: Instant,
    elapsed: Duration,
}

impl Clock {
    /// A clock at simulated time zero.
    #[allow(clippy::disallowed_methods)] // an arbitrary base instant; only offsets matter
    pub fn new() -> Self {
        Self { base: Instant::now(), elapsed: Duration::ZERO }
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The monotonic `now` handed to the peers.
    pub fn now(&self) -> Instant {
        self.base + self.elapsed
    }

    /// The wall time handed to the peers (moves with the monotonic time).
    pub fn wall(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(WALL_BASE_SECS) + self.elapsed
    }

    /// Simulated time of a peer's `Instant` (e.g. a timer deadline).
    pub fn offset_of(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.base)
    }

    /// Moves time forward to `t`; never backwards.
    pub fn advance_to(&mut self, t: Duration) {
        assert!(t >= self.elapsed, "virtual time must not go backwards");
        self.elapsed = t;
    }
}
