//! [`PinningHook`]: the engine's [`ThreadHook`] that places each thread on the CPU the
//! scheduler's plan chose for it.

use std::sync::atomic::{AtomicU64, Ordering};

use ferrowg_core::device::{ThreadHook, ThreadRole};
use ferrowg_core::sched::LogicalCpu;

use super::pin_current_thread;

/// Pins every engine thread that the plan gave a CPU to that CPU with
/// [`pin_current_thread`] (Linux affinity, Windows group affinity, macOS QoS class);
/// threads without one (the control thread) stay where the OS puts them.
///
/// Pass it as `DeviceOptions::thread_hook` together with `DeviceOptions::topology`
/// from [`super::topology`], so the plan only names CPUs this process may use. A
/// failed pin is logged and counted, and the thread runs unpinned.
#[derive(Debug, Default)]
pub struct PinningHook {
    pinned: AtomicU64,
    failed: AtomicU64,
}

impl PinningHook {
    /// A hook with zeroed counters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Threads pinned so far.
    pub fn pinned(&self) -> u64 {
        self.pinned.load(Ordering::Relaxed)
    }

    /// Threads the OS refused to pin so far.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
}

impl ThreadHook for PinningHook {
    fn on_thread_start(&self, role: ThreadRole, cpu: Option<LogicalCpu>) {
        let Some(cpu) = cpu else { return };
        match pin_current_thread(&cpu) {
            Ok(()) => {
                self.pinned.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(?role, cpu = cpu.id, "engine thread pinned");
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(?role, cpu = cpu.id, "cannot pin engine thread: {e}");
            }
        }
    }
}
