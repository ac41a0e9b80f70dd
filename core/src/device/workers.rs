//! Crypto fan-out: a large TX batch is split into per-packet seal jobs that workers
//! (and the TX thread itself) take from a shared ring; the TX thread waits until every
//! buffer is back and then sends the batch in its original order, so packets of a peer
//! never leave out of order. Small batches are sealed inline (no hand-off, no wake-up).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, Thread};

use parking_lot::Mutex;

use super::datapath::{seal, SealRec};
use super::engine::{Inner, MAX_BATCH, POLL_INTERVAL};
use super::{DeviceOptions, RingKind, WorkerMode};
use crate::keypair::Keypair;
use crate::queue::{LockFreeRing, LockedRing, Ring};

/// One packet handed to a worker, owning its buffer while away.
struct SealJob {
    rec: usize,
    buf: Vec<u8>,
    len: usize,
    counter: u64,
    mtu: usize,
    keypair: Arc<Keypair>,
    out_len: usize,
}

impl SealJob {
    fn run(&mut self) {
        self.out_len = seal(&self.keypair, self.counter, &mut self.buf, self.len, self.mtu);
    }
}

/// The worker pool (possibly empty).
pub(crate) struct Workers {
    count: usize,
    always: bool,
    threshold: usize,
    jobs: Box<dyn Ring<SealJob>>,
    done: Box<dyn Ring<SealJob>>,
    threads: Mutex<Vec<Thread>>,
    running: AtomicBool,
}

/// How many workers `mode` asks for on `opts.topology`.
pub(crate) fn worker_count(opts: &DeviceOptions) -> usize {
    match opts.workers {
        WorkerMode::Inline => 0,
        WorkerMode::Fixed(n) => n.min(64),
        // The TX and RX threads already keep two cores busy under load.
        WorkerMode::Auto => opts.topology.cpus.len().saturating_sub(2).min(16),
    }
}

fn ring(kind: RingKind, capacity: usize) -> Box<dyn Ring<SealJob>> {
    match kind {
        RingKind::Locked => Box::new(LockedRing::with_capacity(capacity)),
        RingKind::LockFree => Box::new(LockFreeRing::with_capacity(capacity)),
    }
}

impl Workers {
    pub(crate) fn new(opts: &DeviceOptions) -> Self {
        Self {
            count: worker_count(opts),
            always: matches!(opts.workers, WorkerMode::Fixed(_)),
            threshold: opts.fanout_threshold.max(1),
            jobs: ring(opts.ring, MAX_BATCH),
            done: ring(opts.ring, MAX_BATCH),
            threads: Mutex::new(Vec::new()),
            running: AtomicBool::new(true),
        }
    }

    pub(crate) fn spawn(&self, inner: &Arc<Inner>) -> io::Result<Vec<JoinHandle<()>>> {
        let mut handles = Vec::with_capacity(self.count);
        for i in 0..self.count {
            let inner = inner.clone();
            let h = std::thread::Builder::new()
                .name(format!("ferrowg-crypto-{i}"))
                .spawn(move || inner.workers.work())?;
            self.threads.lock().push(h.thread().clone());
            handles.push(h);
        }
        Ok(handles)
    }

    fn work(&self) {
        while self.running.load(Ordering::Relaxed) {
            match self.jobs.pop() {
                Some(mut job) => {
                    job.run();
                    if let Err(job) = self.done.push(job) {
                        // Cannot happen (one batch in flight, rings hold a whole batch),
                        // but never lose a buffer: wait for room.
                        let mut job = job;
                        loop {
                            std::thread::yield_now();
                            match self.done.push(job) {
                                Ok(()) => break,
                                Err(j) => job = j,
                            }
                        }
                    }
                }
                None => std::thread::park_timeout(POLL_INTERVAL),
            }
        }
    }

    pub(crate) fn shutdown(&self) {
        self.running.store(false, Ordering::Relaxed);
        for t in self.threads.lock().iter() {
            t.unpark();
        }
    }

    /// Seals every record's packet in `bufs`, inline or fanned out.
    pub(crate) fn seal(
        &self,
        inner: &Inner,
        bufs: &mut [Vec<u8>],
        recs: &mut [SealRec],
        mtu: usize,
    ) {
        let fan_out = self.count > 0 && (self.always || recs.len() >= self.threshold);
        if !fan_out {
            inner.counters.inline_batches.fetch_add(1, Ordering::Relaxed);
            for r in recs.iter_mut() {
                if let Some(buf) = bufs.get_mut(r.slot) {
                    r.out_len = seal(&r.keypair, r.counter, buf, r.len, mtu);
                }
            }
            return;
        }
        inner.counters.fanout_batches.fetch_add(1, Ordering::Relaxed);
        let mut outstanding = 0;
        for (i, r) in recs.iter_mut().enumerate() {
            let Some(slot) = bufs.get_mut(r.slot) else { continue };
            let job = SealJob {
                rec: i,
                buf: std::mem::take(slot),
                len: r.len,
                counter: r.counter,
                mtu,
                keypair: r.keypair.clone(),
                out_len: 0,
            };
            match self.jobs.push(job) {
                Ok(()) => outstanding += 1,
                Err(mut job) => {
                    job.run();
                    r.out_len = job.out_len;
                    *slot = job.buf;
                }
            }
        }
        for t in self.threads.lock().iter().take(outstanding) {
            t.unpark();
        }
        // Help with the batch, then collect what the workers finished.
        while outstanding > 0 {
            let job = match self.jobs.pop() {
                Some(mut job) => {
                    job.run();
                    job
                }
                None => match self.done.pop() {
                    Some(job) => job,
                    None => {
                        std::thread::yield_now();
                        continue;
                    }
                },
            };
            outstanding -= 1;
            if let Some(r) = recs.get_mut(job.rec) {
                r.out_len = job.out_len;
                if let Some(slot) = bufs.get_mut(r.slot) {
                    *slot = job.buf;
                }
            }
        }
    }
}
