//! The shared I/O thread ([`IoThreads::Shared`]): one thread runs both directions, a UDP
//! batch ([`RxLoop`]) then a NIC batch ([`TxLoop`]), neither waiting; only when both
//! came back empty does it sleep, on the NIC's descriptor and the sockets at once
//! ([`Transport::wait_with`]). What a NIC write provokes at once — the ACK of the data
//! just delivered, the data an ACK releases — is read on the next turn without waking
//! another thread: fewer wake-ups and context switches per round trip.
//!
//! One thread is also one scheduler share and one core. When the loop has found work on
//! `DeviceOptions::io_split_after` turns in a row (a saturated tunnel), it hands the NIC direction to a
//! helper thread and keeps the UDP direction; the helper serves the NIC until the UDP side
//! has been idle for [`JOIN_AFTER`]. A lock taken for each NIC batch keeps the two from
//! ever reading the NIC at once (no reordering), and whichever holds it is blocked on the
//! NIC, so a packet there is never left waiting. Both threads tell the thread hook when
//! the hand-over starts and when it has been over for [`SATURATION_HOLD`]
//! (`ThreadHook::on_saturation`): the daemon raises their priority for that time.
//!
//! [`IoThreads::Shared`]: super::IoThreads::Shared
//! [`Transport::wait_with`]: crate::io::Transport::wait_with

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use super::records::POLL_INTERVAL;
use super::rx::RxLoop;
use super::state::Inner;
use super::tx::TxLoop;
use super::ThreadRole;

/// How long the UDP side must be idle before the NIC direction comes back.
pub(crate) const JOIN_AFTER: Duration = Duration::from_millis(2);
/// The parked helper's backstop wake-up (an idle tunnel's only wake-up from it).
const HELPER_BACKSTOP: Duration = Duration::from_secs(1);
/// How long the thread waits on the NIC alone while no transport can wait with it
/// (mid-rebind, suspended): short, because datagrams are not watched meanwhile.
const NIC_ONLY_WAIT: Duration = Duration::from_millis(5);
/// How long a thread stays in the saturated state (`ThreadHook::on_saturation`) after
/// its hand-over ended: a brief lull does not drop its priority. Without it, raising
/// only while saturated let 1 ping in 3 runs wait 5–6 ms; with it, none above 1.2 ms
/// (docs/performance.md, run X).
pub(crate) const SATURATION_HOLD: Duration = Duration::from_millis(200);

/// What the shared thread and its helper share.
#[derive(Default)]
pub(crate) struct Split {
    /// The helper serves the NIC direction.
    active: AtomicBool,
    /// Held for every NIC batch, by whichever thread reads it.
    nic: Mutex<()>,
    /// The helper, to wake it.
    helper: Mutex<Option<std::thread::Thread>>,
}

impl Split {
    /// Records the helper thread (to wake it).
    pub(crate) fn set_helper(&self, t: std::thread::Thread) {
        *self.helper.lock() = Some(t);
    }

    fn wake_helper(&self) {
        if let Some(t) = self.helper.lock().as_ref() {
            t.unpark();
        }
    }
}

/// The NIC's descriptor when `inner`'s NIC and current transport can be waited on
/// together.
pub(crate) fn supported(inner: &Inner) -> Option<i32> {
    let fd = inner.tun.wait_fd()?;
    let transport = inner.transport()?;
    transport.0.wait_with(fd, Duration::ZERO)?.ok()?;
    Some(fd)
}

/// The shared I/O thread's loop; `nic_fd` is the NIC's [`crate::io::Tun::wait_fd`].
pub(crate) fn run_io(inner: &Inner, split: &Split, nic_fd: i32) {
    let mut rx = RxLoop::new(inner);
    let mut tx = TxLoop::new(inner);
    let mut busy = 0u32;
    let hold = SATURATION_HOLD;
    let mut raised = false;
    let mut lower_at: Option<std::time::Instant> = None;
    while inner.running.load(Ordering::Relaxed) {
        if let Some(t) = lower_at {
            if inner.clock.now() >= t {
                inner.saturation(ThreadRole::Rx, false);
                (raised, lower_at) = (false, None);
            }
        }
        if split.active.load(Ordering::Acquire) {
            // The helper has the NIC: wait on the sockets alone, and take the NIC back
            // once they have been quiet for a while.
            if rx.step(inner, JOIN_AFTER) == 0 {
                split.active.store(false, Ordering::Release);
                lower_at = Some(inner.clock.now() + hold);
                busy = 0;
            }
            continue;
        }
        let mut got = rx.step(inner, Duration::ZERO);
        let nic_free = match split.nic.try_lock() {
            Some(_nic) => {
                got += tx.step(inner, Duration::ZERO);
                true
            }
            None => false,
        };
        if got > 0 {
            busy += 1;
            let split_after = inner.opts.io_split_after;
            if split_after > 0 && busy >= split_after {
                split.active.store(true, Ordering::Release);
                inner.counters.io_handovers.fetch_add(1, Ordering::Relaxed);
                split.wake_helper();
                lower_at = None;
                if !raised {
                    inner.saturation(ThreadRole::Rx, true);
                    raised = true;
                }
            }
            continue;
        }
        busy = 0;
        if !nic_free {
            // The helper is finishing its last NIC batch: wait on the sockets meanwhile.
            rx.step(inner, JOIN_AFTER);
            continue;
        }
        let waited = inner.transport().and_then(|t| t.0.wait_with(nic_fd, POLL_INTERVAL));
        match waited {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                inner.io_error("waiting for packets", &e);
                std::thread::sleep(Duration::from_millis(1));
            }
            None => {
                let _nic = split.nic.lock();
                tx.step(inner, NIC_ONLY_WAIT);
            }
        }
    }
    split.wake_helper();
}

/// The helper's loop: parked until the shared thread hands it the NIC direction.
pub(crate) fn run_helper(inner: &Inner, split: &Split) {
    let mut tx = TxLoop::new(inner);
    let hold = SATURATION_HOLD;
    let mut raised = false;
    while inner.running.load(Ordering::Relaxed) {
        if !split.active.load(Ordering::Acquire) {
            if raised {
                std::thread::park_timeout(hold);
                if !split.active.load(Ordering::Acquire) {
                    inner.saturation(ThreadRole::Tx, false);
                    raised = false;
                }
                continue;
            }
            // Woken by the hand-over and at shutdown; the timeout is only a backstop.
            std::thread::park_timeout(HELPER_BACKSTOP);
            continue;
        }
        let _nic = split.nic.lock();
        if !raised {
            inner.saturation(ThreadRole::Tx, true);
            raised = true;
        }
        while split.active.load(Ordering::Acquire) && inner.running.load(Ordering::Relaxed) {
            tx.step(inner, JOIN_AFTER);
        }
    }
}
