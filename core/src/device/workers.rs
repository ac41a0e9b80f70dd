//! Crypto fan-out: a large TX batch is split into per-packet seal jobs that workers
//! (and the TX thread itself) take from a shared ring; the TX thread waits until every
//! buffer is back and then sends the batch in its original order, so packets of a peer
//! never leave out of order. Small batches are sealed inline (no hand-off, no wake-up).

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{JoinHandle, Thread};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::datapath::{seal, SealRec};
use super::engine::{Inner, MAX_BATCH, POLL_INTERVAL};
use super::{DeviceOptions, RingKind, WorkerMode};
use crate::keypair::Keypair;
use crate::queue::{LockFreeRing, LockedRing, Ring};
use crate::sched::{plan, PlacementPolicy, Scaler, ScalerParams};

/// How often [`WorkerMode::Auto`] re-evaluates the worker count.
const SCALE_INTERVAL: Duration = Duration::from_millis(10);

/// [`WorkerMode::Auto`]'s measurement: crypto busy time fed to the hysteresis scaler.
struct AutoScale {
    scaler: Scaler,
    busy: Duration,
    since: Option<Instant>,
}

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
    /// `Some` in auto mode: how many workers the load currently justifies.
    auto: Option<Mutex<AutoScale>>,
    active: AtomicUsize,
}

/// How many workers `mode` asks for on `opts.topology`.
pub(crate) fn worker_count(opts: &DeviceOptions) -> usize {
    match opts.workers {
        WorkerMode::Inline => 0,
        WorkerMode::Fixed(n) => n.min(64),
        // `plan` keeps workers on one NUMA node, P-cores first, no SMT siblings; the TX
        // and RX threads already keep two of those cores busy under load.
        WorkerMode::Auto => {
            plan(&opts.topology, PlacementPolicy::default()).max_workers().saturating_sub(2).min(16)
        }
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
        let count = worker_count(opts);
        let auto = (matches!(opts.workers, WorkerMode::Auto) && count > 0).then(|| {
            Mutex::new(AutoScale {
                scaler: Scaler::new(ScalerParams::new(count)),
                busy: Duration::ZERO,
                since: None,
            })
        });
        let active = if auto.is_some() { 0 } else { count };
        Self {
            auto,
            active: AtomicUsize::new(active),
            count,
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
            let h = std::thread::Builder::new().name(format!("ferrowg-crypto-{i}")).spawn(
                move || {
                    inner.thread_started(super::ThreadRole::Crypto(i));
                    inner.workers.work()
                },
            )?;
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

    /// Worker threads in the pool.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Workers in use now (auto mode scales this with the load).
    pub(crate) fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
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
        let active = self.active();
        let fan_out = active > 0 && (self.always || recs.len() >= self.threshold);
        let started = self.auto.as_ref().map(|_| inner.clock.now());
        if fan_out {
            self.fan_out(inner, bufs, recs, mtu, active);
        } else {
            inner.counters.inline_batches.fetch_add(1, Ordering::Relaxed);
            for r in recs.iter_mut() {
                if let Some(buf) = bufs.get_mut(r.slot) {
                    r.out_len = seal(&r.keypair, r.counter, buf, r.len, mtu);
                }
            }
        }
        if let (Some(auto), Some(started)) = (&self.auto, started) {
            let now = inner.clock.now();
            let mut a = auto.lock();
            // Wall time of the batch times the threads that worked on it.
            let threads = if fan_out { 1 + active as u32 } else { 1 };
            a.busy += now.saturating_duration_since(started) * threads;
            let due = a.since.is_none_or(|t| now.saturating_duration_since(t) >= SCALE_INTERVAL);
            if due {
                let busy = std::mem::take(&mut a.busy);
                a.since = Some(now);
                let n = a.scaler.update(now, busy);
                self.active.store(n.min(self.count), Ordering::Relaxed);
            }
        }
    }

    fn fan_out(
        &self,
        inner: &Inner,
        bufs: &mut [Vec<u8>],
        recs: &mut [SealRec],
        mtu: usize,
        active: usize,
    ) {
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
        for t in self.threads.lock().iter().take(outstanding.min(active)) {
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
