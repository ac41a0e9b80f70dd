//! Callback slots: calls from engine threads, and (un)registration that waits for calls
//! in flight, so nothing is called after the unregistering call returns.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::error::TunnelError;

thread_local! {
    /// How many ferrowg callbacks this thread is inside of.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// Callbacks that panicked (a Rust panic or a foreign exception surfacing as one); each
/// was contained and the engine went on.
pub(crate) static CALLBACK_PANICS: AtomicU64 = AtomicU64::new(0);

/// Whether the current thread is running a ferrowg callback.
pub(crate) fn in_callback() -> bool {
    DEPTH.with(|d| d.get() > 0)
}

/// One registered callback (or none).
pub(crate) struct Slot<T: ?Sized> {
    current: RwLock<Option<Arc<T>>>,
}

impl<T: ?Sized> Slot<T> {
    /// An empty slot.
    pub(crate) fn new() -> Self {
        Self { current: RwLock::new(None) }
    }

    /// Replaces the callback. Waits for calls of the old one in progress on other
    /// threads; after it returns the old callback is never called again. Refused from
    /// inside a callback, where waiting could deadlock.
    pub(crate) fn set(&self, callback: Option<Arc<T>>) -> Result<(), TunnelError> {
        if in_callback() {
            return Err(TunnelError::Reentrant);
        }
        let old = std::mem::replace(&mut *self.current.write(), callback);
        drop(old);
        Ok(())
    }

    /// Calls `f` with the callback, if one is registered; returns whether one was. A
    /// panic in the callback is contained and counted.
    pub(crate) fn call(&self, f: impl FnOnce(&T)) -> bool {
        let guard = self.current.read_recursive();
        let Some(cb) = guard.as_deref() else {
            return false;
        };
        DEPTH.with(|d| d.set(d.get() + 1));
        let result = catch_unwind(AssertUnwindSafe(|| f(cb)));
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
        if result.is_err() {
            CALLBACK_PANICS.fetch_add(1, Ordering::Relaxed);
        }
        true
    }
}
