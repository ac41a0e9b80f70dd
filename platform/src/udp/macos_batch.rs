//! macOS `sendmsg_x`/`recvmsg_x` batching (the private but stable calls Tailscale and
//! firezone use): the pure parts, tested on every host — when `recvmsg_x` may be used
//! (not before macOS 15.6: older kernels leak a socket lock in it), how a batch is cut
//! into `msghdr_x` calls, and what to do with `sendmsg_x`'s result, which cannot report
//! a partial send.
//!
//! `sendmsg_x` returns how many messages it queued, or -1 with no count at all: after an
//! error we cannot know whether a prefix went out. The datagrams are WireGuard packets,
//! whose receivers drop replays by counter, so re-sending a prefix that did go out is
//! harmless, while losing the rest is not: on -1 the rest is re-sent one datagram at a
//! time with plain `sendmsg`, and the batch path is switched off after repeated errors.

/// Most messages per `sendmsg_x`/`recvmsg_x` call (what Tailscale and firezone use).
pub const MAX_BATCH: usize = 64;

/// A macOS release as `kern.osproductversion` gives it (`"15.6"`, `"15.6.1"`, `"26.0"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MacVersion(pub u32, pub u32, pub u32);

impl MacVersion {
    /// Parses `"major.minor[.patch]"` (trailing whitespace/NUL allowed); `None` otherwise.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim_end_matches(['\0', '\n', ' ']);
        let mut it = s.split('.');
        let num = |p: Option<&str>| -> Option<u32> {
            let p = p?;
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse().ok()
        };
        let major = num(it.next())?;
        let minor = num(it.next())?;
        let patch = match it.next() {
            None => 0,
            p => num(p)?,
        };
        if it.next().is_some() {
            return None;
        }
        Some(Self(major, minor, patch))
    }
}

/// The first release whose `recvmsg_x` does not leak the socket lock.
pub const RECVMSG_X_SAFE_FROM: MacVersion = MacVersion(15, 6, 0);

/// Whether to receive with `recvmsg_x`: only on 15.6 or later; an unknown version means
/// no (the per-datagram path is always correct).
pub fn recvmsg_x_allowed(version: Option<MacVersion>) -> bool {
    version.is_some_and(|v| v >= RECVMSG_X_SAFE_FROM)
}

/// The calls a send batch of `n` datagrams takes: ranges of at most [`MAX_BATCH`].
pub fn chunks(n: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..n).step_by(MAX_BATCH).map(move |s| s..(s + MAX_BATCH).min(n))
}

/// What to do after one `sendmsg_x` call on `len` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendStep {
    /// All sent.
    Done,
    /// `sent` went out; call again for the rest (starting at `sent`).
    Continue {
        /// Messages queued by this call.
        sent: usize,
    },
    /// The socket buffer is full and nothing was queued: wait for writability, then
    /// call again for the same messages.
    WouldBlock,
    /// An error without a count: re-send all `len` messages one by one with `sendmsg`
    /// (a prefix may be duplicated; WireGuard's replay window drops duplicates).
    FallbackEach,
}

/// Maps `sendmsg_x`'s return value (`Ok(n)` for n ≥ 0, `Err(errno)` for -1) on a call
/// of `len` messages to the next step.
pub fn send_step(result: Result<usize, i32>, len: usize) -> SendStep {
    const EAGAIN: i32 = 35; // macOS EAGAIN == EWOULDBLOCK
    match result {
        Ok(n) if n >= len => SendStep::Done,
        // A zero count without an error would loop forever: treat it like an error.
        Ok(0) => SendStep::FallbackEach,
        Ok(n) => SendStep::Continue { sent: n },
        Err(EAGAIN) => SendStep::WouldBlock,
        Err(_) => SendStep::FallbackEach,
    }
}

/// Switches the batch path off after `limit` consecutive `FallbackEach` outcomes (some
/// error the batch call keeps hitting that single sends do not); a full batch resets it.
#[derive(Debug, Clone)]
pub struct BatchHealth {
    failures: u32,
    limit: u32,
    enabled: bool,
}

impl BatchHealth {
    /// A health record allowing `limit - 1` consecutive failures.
    pub fn new(limit: u32) -> Self {
        Self { failures: 0, limit: limit.max(1), enabled: true }
    }

    /// Whether batch calls are (still) used.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Records a step; returns true when this switched batching off.
    pub fn record(&mut self, step: SendStep) -> bool {
        match step {
            SendStep::Done | SendStep::Continue { .. } => self.failures = 0,
            SendStep::WouldBlock => {}
            SendStep::FallbackEach if self.enabled => {
                self.failures += 1;
                if self.failures >= self.limit {
                    self.enabled = false;
                    return true;
                }
            }
            SendStep::FallbackEach => {}
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_gate_recvmsg_x() {
        assert_eq!(MacVersion::parse("15.6"), Some(MacVersion(15, 6, 0)));
        assert_eq!(MacVersion::parse("15.6.1\0"), Some(MacVersion(15, 6, 1)));
        assert_eq!(MacVersion::parse("26.0\n"), Some(MacVersion(26, 0, 0)));
        for bad in ["", "15", "15.", "15.x", "a.b", "15.6.1.2", "-1.0", "15.+6"] {
            assert_eq!(MacVersion::parse(bad), None, "{bad:?}");
        }
        assert!(!recvmsg_x_allowed(MacVersion::parse("15.5.9")));
        assert!(!recvmsg_x_allowed(MacVersion::parse("14.7")));
        assert!(recvmsg_x_allowed(MacVersion::parse("15.6")));
        assert!(recvmsg_x_allowed(MacVersion::parse("26.1")));
        assert!(!recvmsg_x_allowed(None));
    }

    #[test]
    fn batches_are_cut_in_calls_of_at_most_64() {
        assert_eq!(chunks(0).count(), 0);
        assert_eq!(chunks(64).collect::<Vec<_>>(), vec![0..64]);
        assert_eq!(chunks(130).collect::<Vec<_>>(), vec![0..64, 64..128, 128..130]);
    }

    #[test]
    fn partial_and_failed_sends() {
        assert_eq!(send_step(Ok(10), 10), SendStep::Done);
        assert_eq!(send_step(Ok(4), 10), SendStep::Continue { sent: 4 });
        assert_eq!(send_step(Ok(0), 10), SendStep::FallbackEach);
        assert_eq!(send_step(Err(35), 10), SendStep::WouldBlock);
        assert_eq!(send_step(Err(55), 10), SendStep::FallbackEach); // ENOBUFS
        assert_eq!(send_step(Ok(0), 0), SendStep::Done);
    }

    /// Drives a batch through a fake `sendmsg_x` that queues at most 3 per call and
    /// fails once: every datagram goes out at least once, in order.
    #[test]
    fn a_batch_completes_through_partial_sends_and_one_error() {
        let n = 10;
        let mut wire: Vec<usize> = Vec::new();
        let mut calls = 0;
        let mut start = 0;
        while start < n {
            calls += 1;
            let result = if calls == 3 { Err(5) } else { Ok((n - start).min(3)) };
            if let Ok(k) = result {
                wire.extend(start..start + k);
            }
            match send_step(result, n - start) {
                SendStep::Done => break,
                SendStep::Continue { sent } => start += sent,
                SendStep::WouldBlock => {}
                SendStep::FallbackEach => {
                    wire.extend(start..n);
                    break;
                }
            }
        }
        let mut uniq = wire.clone();
        uniq.dedup();
        assert_eq!(uniq, (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn batching_switches_off_after_repeated_failures() {
        let mut h = BatchHealth::new(3);
        assert!(!h.record(SendStep::FallbackEach));
        assert!(!h.record(SendStep::FallbackEach));
        assert!(!h.record(SendStep::Done)); // resets
        assert!(!h.record(SendStep::FallbackEach));
        assert!(!h.record(SendStep::WouldBlock));
        assert!(!h.record(SendStep::FallbackEach));
        assert!(h.record(SendStep::FallbackEach));
        assert!(!h.enabled());
        assert!(!h.record(SendStep::FallbackEach));
    }
}
