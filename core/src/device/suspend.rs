//! Suspend and resume: while suspended the engine has no transport (the UDP socket is
//! closed, its port remembered), the control thread runs no timers and drops handshake
//! messages, so nothing stale fires and nothing goes out; resuming reopens the socket on
//! the same port (see `Device::resume` for the protocol side).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::records::{HandshakeJob, TransportSlot, HANDSHAKE_BATCH};
use super::state::Inner;
use super::DeviceError;
use crate::queue::Ring;

/// Waits (bounded, 2 s) until no thread still holds a closed transport, so its port is
/// free and nothing more is sent on it.
pub(crate) fn wait_released(old: &Arc<TransportSlot>) {
    for _ in 0..2000 {
        if Arc::strong_count(old) == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

impl Inner {
    /// Closes the transport and stops timers; false if already suspended.
    pub(crate) fn suspend(&self) -> bool {
        let _guard = self.config_lock.lock();
        if self.suspended.swap(true, Ordering::AcqRel) {
            return false;
        }
        if let Some(old) = self.transport.swap(None) {
            self.parked_port.store(old.0.local_port(), Ordering::Relaxed);
            wait_released(&old);
        }
        self.drop_queued_handshakes();
        self.wake_control();
        true
    }

    /// Whether `suspend` ran without a resume since.
    pub(crate) fn is_suspended(&self) -> bool {
        self.suspended.load(Ordering::Acquire)
    }

    /// Ends a suspend (if any) and reopens the transport on the same port.
    pub(crate) fn unsuspend_and_rebind(&self) -> Result<(), DeviceError> {
        let _guard = self.config_lock.lock();
        self.drop_queued_handshakes();
        self.suspended.store(false, Ordering::Release);
        self.rebind_locked()
    }

    /// Handshake messages read before a suspend are stale once it ends.
    pub(crate) fn drop_queued_handshakes(&self) {
        let mut jobs: Vec<HandshakeJob> = Vec::with_capacity(HANDSHAKE_BATCH);
        for _ in 0..=self.handshakes.capacity() / HANDSHAKE_BATCH.max(1) {
            jobs.clear();
            self.handshakes.pop_batch(&mut jobs, HANDSHAKE_BATCH);
            if jobs.is_empty() {
                break;
            }
        }
    }
}
