//! Rate-limited `tracing` events: the one logging channel of core.
//!
//! Core emits `tracing` events (targets `ferrowg::handshake`, `ferrowg::rx`,
//! `ferrowg::peer`, `ferrowg::device`); the host chooses where they go (the FFI forwards
//! them to the app's log callback, the CLI prints them to stderr). Events that the
//! network can trigger go through `event_limited!`: at most [`BURST`] per
//! [`INTERVAL`] from each call site, like the kernel's `net_ratelimit`, and the first
//! event after a suppressed stretch carries `suppressed=N`. Core reads no clock: the
//! caller's `now` drives the window. No event carries key material: peers are named by
//! their public key.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Events one call site may emit per [`INTERVAL`] (the kernel's `net_ratelimit` burst).
pub const BURST: u32 = 10;
/// The window of [`BURST`] (the kernel's `net_ratelimit` interval).
pub const INTERVAL: Duration = Duration::from_secs(5);

/// A fixed-window limiter for one call site: [`BURST`] events per [`INTERVAL`], the
/// rest counted and reported with the next event let through.
pub(crate) struct RateLimit {
    window: Mutex<Window>,
}

struct Window {
    /// Start of the current window (`None` before the first event).
    start: Option<Instant>,
    /// Events let through in the current window.
    emitted: u32,
    /// Events held back since the last one let through.
    suppressed: u64,
}

impl RateLimit {
    /// A limiter that has let nothing through yet.
    pub(crate) const fn new() -> Self {
        Self { window: parking_lot::const_mutex(Window { start: None, emitted: 0, suppressed: 0 }) }
    }

    /// Whether an event at `now` may be emitted: `Some(n)` with the number suppressed
    /// since the last one emitted, `None` to hold it back. `now` may go backwards a
    /// little (threads read the clock at different times): that stays in the window.
    pub(crate) fn admit(&self, now: Instant) -> Option<u64> {
        let mut w = self.window.lock();
        let expired = w.start.is_none_or(|s| now.saturating_duration_since(s) >= INTERVAL);
        if expired {
            w.start = Some(now);
            w.emitted = 0;
        }
        if w.emitted < BURST {
            w.emitted += 1;
            Some(std::mem::take(&mut w.suppressed))
        } else {
            w.suppressed += 1;
            None
        }
    }
}

/// `tracing::event!` through a per-call-site [`RateLimit`] driven by `$now`:
/// `event_limited!(now, Level::DEBUG, target: "ferrowg::rx", %src, "dropped")`.
/// Nothing is counted while no subscriber wants the event.
macro_rules! event_limited {
    ($now:expr, $level:expr, target: $target:expr, $($rest:tt)+) => {{
        if ::tracing::enabled!(target: $target, $level) {
            static LIMIT: $crate::logging::RateLimit = $crate::logging::RateLimit::new();
            match LIMIT.admit($now) {
                Some(0) => ::tracing::event!(target: $target, $level, $($rest)+),
                Some(suppressed) => {
                    ::tracing::event!(target: $target, $level, suppressed, $($rest)+)
                }
                None => {}
            }
        }
    }};
}
pub(crate) use event_limited;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)] // an arbitrary base instant; virtual time after it
    fn burst_then_suppressed_then_summary() {
        let t0 = Instant::now();
        let l = RateLimit::new();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        for _ in 0..BURST {
            assert_eq!(l.admit(ms(0)), Some(0));
        }
        for _ in 0..25 {
            assert_eq!(l.admit(ms(3)), None);
        }
        // A clock read slightly earlier on another thread stays in the window.
        assert_eq!(l.admit(t0), None);
        assert_eq!(l.admit(ms(4_999)), None);
        // The next window: the first event carries the count of what was held back.
        assert_eq!(l.admit(ms(5_000)), Some(27));
        assert_eq!(l.admit(ms(5_001)), Some(0));
    }
}
