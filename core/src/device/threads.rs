//! The engine's threads: spawning and stopping them, and the control thread's loop
//! (handshake messages from the RX thread's queue and every peer's timers, both handed
//! to the interface; all Diffie-Hellman work runs there, off the data path).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::records::{HandshakeJob, HANDSHAKE_BATCH, POLL_INTERVAL};
use super::state::Inner;
use super::{IoThreads, ThreadRole};
use crate::queue::Ring;

/// The control thread's loop.
fn run_control(inner: &Inner) {
    let mut scratch = vec![0u8; 65_536 + 64];
    let mut jobs: Vec<HandshakeJob> = Vec::with_capacity(HANDSHAKE_BATCH);
    while inner.running.load(Ordering::Relaxed) {
        if inner.is_suspended() {
            // No timers, no handshakes: the resume re-checks every peer.
            inner.drop_queued_handshakes();
            std::thread::park_timeout(POLL_INTERVAL);
            continue;
        }
        let now = inner.clock.now();
        let wall = inner.clock.wall();
        inner.iface.note_handshake_backlog(
            inner.handshakes.len(),
            inner.handshakes.capacity(),
            now,
        );
        jobs.clear();
        inner.handshakes.pop_batch(&mut jobs, HANDSHAKE_BATCH);
        let mut out = inner.output();
        for job in &jobs {
            let bytes = job.data.get(..job.len).unwrap_or_default();
            let _ = inner.iface.handle_handshake(bytes, job.src, now, wall, &mut scratch, &mut out);
        }
        let next = inner.iface.handle_timeouts(now, wall, &mut scratch, &mut out);
        drop(out);
        if jobs.is_empty() && inner.handshakes.is_empty() {
            let wait = next.map_or(POLL_INTERVAL, |at| at.min(POLL_INTERVAL));
            std::thread::park_timeout(wait.max(Duration::from_micros(100)));
        }
    }
}

/// Starts the engine's threads.
pub(crate) fn spawn_threads(inner: &Arc<Inner>) -> std::io::Result<Vec<JoinHandle<()>>> {
    let mut handles = Vec::new();
    let result = (|| {
        let i = inner.clone();
        let control =
            std::thread::Builder::new().name("ferrowg-control".into()).spawn(move || {
                i.thread_started(ThreadRole::Control);
                run_control(&i)
            })?;
        *inner.control_thread.lock() = Some(control.thread().clone());
        handles.push(control);
        let queued = inner.opts.codel || inner.opts.tx_queue;
        let shared = inner.opts.io_threads == IoThreads::Shared && !queued;
        if let Some(fd) = shared.then(|| super::io_loop::supported(inner)).flatten() {
            let split = Arc::new(super::io_loop::Split::default());
            // The helper first, so the I/O thread can wake it from its first turn.
            let (i, s) = (inner.clone(), split.clone());
            let helper =
                std::thread::Builder::new().name("ferrowg-io-nic".into()).spawn(move || {
                    i.thread_started(ThreadRole::Tx);
                    super::io_loop::run_helper(&i, &s)
                })?;
            split.set_helper(helper.thread().clone());
            handles.push(helper);
            let i = inner.clone();
            handles.push(std::thread::Builder::new().name("ferrowg-io".into()).spawn(
                move || {
                    i.thread_started(ThreadRole::Rx);
                    super::io_loop::run_io(&i, &split, fd)
                },
            )?);
            return spawn_workers(inner, &mut handles);
        }
        let i = inner.clone();
        handles.push(std::thread::Builder::new().name("ferrowg-tx".into()).spawn(move || {
            i.thread_started(ThreadRole::Tx);
            // One thread per direction has no saturation signal: it counts as saturated
            // for its whole life (`ThreadHook::on_saturation`).
            i.saturation(ThreadRole::Tx, true);
            if i.opts.codel || i.opts.tx_queue {
                super::txqueue::run_tx_queued(&i)
            } else {
                super::tx::run_tx(&i)
            }
        })?);
        let i = inner.clone();
        handles.push(std::thread::Builder::new().name("ferrowg-rx".into()).spawn(move || {
            i.thread_started(ThreadRole::Rx);
            i.saturation(ThreadRole::Rx, true);
            super::rx::run_rx(&i)
        })?);
        spawn_workers(inner, &mut handles)
    })();
    match result {
        Ok(()) => Ok(handles),
        Err(e) => {
            inner.begin_shutdown();
            for h in handles {
                let _ = h.join();
            }
            Err(e)
        }
    }
}

/// Starts the crypto workers.
fn spawn_workers(inner: &Arc<Inner>, handles: &mut Vec<JoinHandle<()>>) -> std::io::Result<()> {
    for n in 0..inner.workers.count() {
        let i = inner.clone();
        let h =
            std::thread::Builder::new().name(format!("ferrowg-crypto-{n}")).spawn(move || {
                i.thread_started(ThreadRole::Crypto(n));
                i.workers.work()
            })?;
        inner.workers.register(h.thread().clone());
        handles.push(h);
    }
    Ok(())
}

impl Inner {
    pub(crate) fn begin_shutdown(&self) {
        self.running.store(false, Ordering::Relaxed);
        self.wake_control();
        self.workers.shutdown();
    }

    /// After the threads are joined: drops sessions (zeroizing keys) and the transport.
    pub(crate) fn finish_shutdown(&self) {
        self.iface.clear_all_sessions();
        self.transport.store(None);
        *self.control_thread.lock() = None;
    }
}
