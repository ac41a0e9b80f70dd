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

/// Callbacks that panicked (a Rust panic, or a Swift/Kotlin/Python exception that uniffi
/// turns into one); each was contained and the engine went on. A C++ exception is not
/// one of them: Rust cannot catch it, and the process aborts.
pub(crate) static CALLBACK_PANICS: AtomicU64 = AtomicU64::new(0);

/// Whether the current thread is running a ferrowg callback.
pub(crate) fn in_callback() -> bool {
    DEPTH.with(|d| d.get() > 0)
}

/// Runs app code outside a [`Slot`] (e.g. the socket protector) with the same rules:
/// marked as a callback, panics contained and counted (`None`).
pub(crate) fn guard<R>(f: impl FnOnce() -> R) -> Option<R> {
    DEPTH.with(|d| d.set(d.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    if result.is_err() {
        CALLBACK_PANICS.fetch_add(1, Ordering::Relaxed);
    }
    result.ok()
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
        // A plain read queues behind a waiting `set`, so busy callers cannot starve it.
        // Inside another callback this thread may already hold a read lock (of this
        // slot, with a writer queued behind it): only then read recursively.
        let guard = if in_callback() { self.current.read_recursive() } else { self.current.read() };
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    trait Count: Send + Sync {
        fn hit(&self);
    }

    struct Counter(AtomicU64);

    impl Count for Counter {
        fn hit(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn no_call_after_unregister_returns() {
        let slot: Arc<Slot<dyn Count>> = Arc::new(Slot::new());
        let stop = Arc::new(AtomicBool::new(false));
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let (slot, stop) = (slot.clone(), stop.clone());
                std::thread::spawn(move || {
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
                    while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
                        slot.call(|c| c.hit());
                    }
                })
            })
            .collect();
        for _ in 0..50 {
            let counter = Arc::new(Counter(AtomicU64::new(0)));
            slot.set(Some(counter.clone())).unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while counter.0.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
                std::thread::yield_now();
            }
            assert!(counter.0.load(Ordering::SeqCst) > 0, "callers never called");
            slot.set(None).unwrap();
            let frozen = counter.0.load(Ordering::SeqCst);
            for _ in 0..1000 {
                std::thread::yield_now();
            }
            assert_eq!(counter.0.load(Ordering::SeqCst), frozen);
        }
        stop.store(true, Ordering::Relaxed);
        for c in callers {
            c.join().unwrap();
        }
    }

    struct Reenter(Arc<Slot<dyn Count>>, AtomicU64);

    impl Count for Reenter {
        fn hit(&self) {
            if matches!(self.0.set(None), Err(TunnelError::Reentrant)) {
                self.1.fetch_add(1, Ordering::SeqCst);
            }
            panic!("callback panics");
        }
    }

    #[test]
    fn reentrant_set_refused_and_panic_contained() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let other: Arc<Slot<dyn Count>> = Arc::new(Slot::new());
        let slot: Slot<dyn Count> = Slot::new();
        let cb = Arc::new(Reenter(other, AtomicU64::new(0)));
        slot.set(Some(cb.clone())).unwrap();
        let before = CALLBACK_PANICS.load(Ordering::SeqCst);
        assert!(slot.call(|c| c.hit()));
        std::panic::set_hook(prev);
        assert_eq!(cb.1.load(Ordering::SeqCst), 1);
        assert!(CALLBACK_PANICS.load(Ordering::SeqCst) > before);
        assert!(!in_callback());
    }
}
