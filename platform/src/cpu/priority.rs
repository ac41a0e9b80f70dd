//! [`PriorityHook`]: the engine's [`ThreadHook`] that runs the data-path threads (TX,
//! RX, crypto workers) ahead of ordinary processes ([`super::set_current_thread_realtime`]),
//! optionally after another hook (CPU pinning, a scheduler slice) ran.
//!
//! Why: under CPU contention a packet's latency through the tunnel is mostly the time
//! the receiving engine thread waits for a CPU while the kernel's socket buffer fills
//! (docs/performance.md, "Real-time priority for the data path"). The kernel's own
//! WireGuard decrypts in softirq context, which runs before any task; a real-time
//! policy is the nearest a userspace engine gets to that. The control thread
//! (handshakes, timers) keeps the normal policy.

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

/// Gives each data-path engine thread (see [`is_data_path`]) the real-time priority
/// `priority` as it starts, then calls the inner hook (if any). A refusal (no
/// privilege, another OS) is logged once per thread at info level; the thread runs
/// with the normal policy.
#[derive(Clone)]
pub struct PriorityHook {
    priority: u8,
    inner: Option<Arc<dyn ThreadHook>>,
}

/// The priority the daemon asks for by default: the lowest real-time one (1), above
/// every ordinary process, below interrupt threads (50) and audio servers.
pub const DEFAULT_RT_PRIORITY: u8 = 1;

impl PriorityHook {
    /// A hook giving data-path threads real-time priority `priority` (Linux SCHED_FIFO
    /// 1–99; 0 is raised to 1, above 99 lowered to 99).
    pub fn new(priority: u8) -> Self {
        Self { priority: priority.clamp(1, 99), inner: None }
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
}

impl std::fmt::Debug for PriorityHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PriorityHook")
            .field("priority", &self.priority)
            .field("inner", &self.inner.is_some())
            .finish()
    }
}

impl ThreadHook for PriorityHook {
    fn on_thread_start(&self, role: ThreadRole, cpu: Option<LogicalCpu>) {
        if is_data_path(role) {
            if let Err(e) = super::set_current_thread_realtime(self.priority) {
                tracing::info!(?role, "cannot set real-time priority {}: {e}", self.priority);
            }
        }
        if let Some(inner) = &self.inner {
            inner.on_thread_start(role, cpu);
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

    #[test]
    fn priority_is_clamped_to_the_real_time_range() {
        assert_eq!(PriorityHook::new(0).priority(), 1);
        assert_eq!(PriorityHook::new(DEFAULT_RT_PRIORITY).priority(), 1);
        assert_eq!(PriorityHook::new(40).priority(), 40);
        assert_eq!(PriorityHook::new(200).priority(), 99);
    }
}
