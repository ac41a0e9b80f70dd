//! [`PriorityHook`]: the engine's [`ThreadHook`] that runs the data-path threads (TX,
//! RX, crypto workers) ahead of ordinary processes ([`super::set_current_thread_realtime`]),
//! for their whole life or only while the tunnel is saturated ([`Raise`]), optionally
//! after another hook (CPU pinning, a scheduler slice) ran.
//!
//! Why: under CPU contention a packet's latency through the tunnel is mostly the time
//! the receiving engine thread waits for a CPU while the kernel's socket buffer fills
//! (docs/performance.md, "Real-time priority for the data path"). The kernel's own
//! WireGuard decrypts in softirq context, which runs before any task; a real-time
//! policy is the nearest a userspace engine gets to that. The control thread
//! (handshakes, timers) keeps the normal policy.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ferrowg_core::device::{ThreadHook, ThreadRole};
use ferrowg_core::sched::LogicalCpu;

/// Whether a thread of `role` carries packets (and so gets the real-time policy).
pub fn is_data_path(role: ThreadRole) -> bool {
    match role {
        ThreadRole::Tx | ThreadRole::Rx | ThreadRole::Crypto(_) => true,
        ThreadRole::Control => false,
    }
}

/// When [`PriorityHook`] raises a packet thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Raise {
    /// From the thread's start, for its whole life.
    Always,
    /// Only while the tunnel is saturated (`ThreadHook::on_saturation`: the shared I/O
    /// thread and its NIC helper from the hand-over of the NIC direction until 200 ms
    /// after it ended). At rates the thread keeps up with, it waits for a CPU like any
    /// thread, and so finds larger batches per wake-up: the real-time policy costs CPU
    /// per byte there (docs/performance.md) and buys nothing, since no queue stands.
    /// One thread per direction reports saturation from its start (no signal), and
    /// crypto workers are raised from their start: both are raised for life.
    WhenSaturated,
}

/// Gives data-path engine threads (see [`is_data_path`]) the real-time priority
/// `priority`, [`Raise::Always`] or [`Raise::WhenSaturated`], after the inner hook (if
/// any) ran. A refusal (no privilege) is logged once, at info level, and not asked
/// again: the threads keep the normal policy.
#[derive(Clone)]
pub struct PriorityHook {
    priority: u8,
    raise: Raise,
    refused: Arc<AtomicBool>,
    inner: Option<Arc<dyn ThreadHook>>,
}

/// The priority the daemon asks for by default: the lowest real-time one (1), above
/// every ordinary process, below interrupt threads (50) and audio servers.
pub const DEFAULT_RT_PRIORITY: u8 = 1;

impl PriorityHook {
    /// A hook giving data-path threads real-time priority `priority` for their whole
    /// life (Linux SCHED_FIFO 1–99; 0 is raised to 1, above 99 lowered to 99).
    pub fn new(priority: u8) -> Self {
        Self {
            priority: priority.clamp(1, 99),
            raise: Raise::Always,
            refused: Arc::default(),
            inner: None,
        }
    }

    /// The same, but only while the tunnel is saturated ([`Raise::WhenSaturated`]).
    pub fn when_saturated(priority: u8) -> Self {
        Self { raise: Raise::WhenSaturated, ..Self::new(priority) }
    }

    /// Also runs `inner` (e.g. [`super::PinningHook`]) on every thread.
    pub fn with_inner(mut self, inner: Arc<dyn ThreadHook>) -> Self {
        self.inner = Some(inner);
        self
    }

    /// The priority asked for.
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// When threads are raised.
    pub fn raise(&self) -> Raise {
        self.raise
    }

    fn set(&self, role: ThreadRole, raised: bool) {
        if !is_data_path(role) || self.refused.load(Ordering::Relaxed) {
            return;
        }
        let done = if raised {
            super::set_current_thread_realtime(self.priority)
        } else {
            super::set_current_thread_normal()
        };
        if let Err(e) = done {
            if !self.refused.swap(true, Ordering::Relaxed) {
                tracing::info!(?role, "cannot set real-time priority {}: {e}", self.priority);
            }
        }
    }
}

impl std::fmt::Debug for PriorityHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PriorityHook")
            .field("priority", &self.priority)
            .field("raise", &self.raise)
            .field("inner", &self.inner.is_some())
            .finish()
    }
}

/// The inner hook runs first: a scheduler slice (`sched_setattr` with `SCHED_OTHER`)
/// set after the raise would undo it.
impl ThreadHook for PriorityHook {
    fn on_thread_start(&self, role: ThreadRole, cpu: Option<LogicalCpu>) {
        if let Some(inner) = &self.inner {
            inner.on_thread_start(role, cpu);
        }
        // Crypto workers run only on work a packet thread hands them, and a raised
        // packet thread waiting for a normal worker would spin ahead of it: raised from
        // the start in both modes.
        if self.raise == Raise::Always || matches!(role, ThreadRole::Crypto(_)) {
            self.set(role, true);
        }
    }

    fn on_saturation(&self, role: ThreadRole, saturated: bool) {
        if let Some(inner) = &self.inner {
            inner.on_saturation(role, saturated);
        }
        if self.raise == Raise::WhenSaturated {
            self.set(role, saturated);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_packet_threads_are_raised() {
        assert!(is_data_path(ThreadRole::Tx));
        assert!(is_data_path(ThreadRole::Rx));
        assert!(is_data_path(ThreadRole::Crypto(3)));
        assert!(!is_data_path(ThreadRole::Control));
    }

    /// Windows (run under wine in CI): raised is `THREAD_PRIORITY_HIGHEST` (2), back
    /// to normal is 0; the control thread is left alone.
    #[cfg(windows)]
    #[test]
    fn windows_threads_are_raised_and_lowered() {
        let seen = std::thread::spawn(|| {
            let prio = || super::super::current_thread_priority().unwrap().1;
            let hook = PriorityHook::when_saturated(1);
            let start = prio();
            hook.on_saturation(ThreadRole::Rx, true);
            let raised = prio();
            hook.on_saturation(ThreadRole::Rx, false);
            let lowered = prio();
            hook.on_saturation(ThreadRole::Control, true);
            let control = prio();
            PriorityHook::new(1).on_thread_start(ThreadRole::Tx, None);
            [start, raised, lowered, control, prio()]
        })
        .join()
        .unwrap();
        assert_eq!(seen, [0, 2, 0, 0, 2]);
    }

    #[test]
    fn priority_is_clamped_to_the_real_time_range() {
        assert_eq!(PriorityHook::new(0).priority(), 1);
        assert_eq!(PriorityHook::new(DEFAULT_RT_PRIORITY).priority(), 1);
        assert_eq!(PriorityHook::new(40).priority(), 40);
        assert_eq!(PriorityHook::new(200).priority(), 99);
    }
}
