//! [`SliceHook`]: the engine's [`ThreadHook`] that gives every engine thread a short
//! scheduler slice ([`super::set_current_thread_slice`]), optionally after another hook
//! (CPU pinning) ran.

use std::sync::Arc;
use std::time::Duration;

use ferrowg_core::device::{ThreadHook, ThreadRole};
use ferrowg_core::sched::LogicalCpu;

/// Sets a short scheduler slice on each engine thread as it starts, then calls the
/// inner hook (if any). A refusal is logged; the thread runs with the default slice.
#[derive(Clone)]
pub struct SliceHook {
    slice: Duration,
    inner: Option<Arc<dyn ThreadHook>>,
}

impl SliceHook {
    /// A hook giving every engine thread `slice` (the kernel clamps it to 0.1–100 ms).
    pub fn new(slice: Duration) -> Self {
        Self { slice, inner: None }
    }

    /// Also runs `inner` (e.g. [`super::PinningHook`]) on every thread.
    pub fn with_inner(mut self, inner: Arc<dyn ThreadHook>) -> Self {
        self.inner = Some(inner);
        self
    }

    /// The slice asked for.
    pub fn slice(&self) -> Duration {
        self.slice
    }
}

impl std::fmt::Debug for SliceHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SliceHook")
            .field("slice", &self.slice)
            .field("inner", &self.inner.is_some())
            .finish()
    }
}

impl ThreadHook for SliceHook {
    fn on_thread_start(&self, role: ThreadRole, cpu: Option<LogicalCpu>) {
        if let Err(e) = super::set_current_thread_slice(self.slice) {
            tracing::info!(?role, "cannot set the scheduler slice: {e}");
        }
        if let Some(inner) = &self.inner {
            inner.on_thread_start(role, cpu);
        }
    }

    fn on_saturation(&self, role: ThreadRole, saturated: bool) {
        if let Some(inner) = &self.inner {
            inner.on_saturation(role, saturated);
        }
    }
}
