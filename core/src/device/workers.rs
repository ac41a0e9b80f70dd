//! Crypto fan-out: a large TX or RX batch is split into per-packet jobs (seal or open)
//! that workers, and the submitting I/O thread itself, take from a shared ring; each
//! finished job goes back to its submitter's own completion ring. The submitter waits
//! until every buffer is back and only then sends the batch (TX) or checks and delivers
//! it (RX) in its original order, so packets of a peer never leave out of order. Small
//! batches are handled inline (no hand-off, no wake-up).

use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::Thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::records::{EngineCounters, MAX_BATCH, POLL_INTERVAL};
use super::{DeviceOptions, RingKind, WorkerMode};
use crate::error::DropReason;
use crate::interface::{seal, OpenRec, SealRec};
use crate::io::Clock;
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

/// Which thread submitted a job (each has its own completion ring).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Tx,
    Rx,
}

/// What a job does to its buffer.
enum Work {
    /// Seal `len` plaintext bytes at `DATA_HEADER_LEN` with `counter`.
    Seal { len: usize, counter: u64, mtu: usize, out_len: usize },
    /// Open the `len`-byte data message at the start of the buffer.
    Open { len: usize, result: Result<(u64, Range<usize>), DropReason> },
}

/// One packet handed to a worker, owning its buffer while away.
struct Job {
    rec: usize,
    side: Side,
    buf: Vec<u8>,
    keypair: Arc<Keypair>,
    work: Work,
}

impl Job {
    fn run(&mut self) {
        match &mut self.work {
            Work::Seal { len, counter, mtu, out_len } => {
                *out_len = seal(&self.keypair, *counter, &mut self.buf, *len, *mtu);
            }
            Work::Open { len, result } => {
                *result = match self.buf.get_mut(..*len) {
                    Some(dgram) => self.keypair.open(dgram),
                    None => Err(DropReason::WrongLength),
                };
            }
        }
    }
}

/// The worker pool (possibly empty).
pub(crate) struct Workers {
    count: usize,
    always: bool,
    threshold: usize,
    jobs: Box<dyn Ring<Job>>,
    done_tx: Box<dyn Ring<Job>>,
    done_rx: Box<dyn Ring<Job>>,
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

fn ring(kind: RingKind, capacity: usize) -> Box<dyn Ring<Job>> {
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
            // Both I/O threads may have a whole batch out at once.
            jobs: ring(opts.ring, 2 * MAX_BATCH),
            done_tx: ring(opts.ring, MAX_BATCH),
            done_rx: ring(opts.ring, MAX_BATCH),
            threads: Mutex::new(Vec::new()),
            running: AtomicBool::new(true),
        }
    }

    /// Records a started worker thread (for wake-ups).
    pub(crate) fn register(&self, thread: Thread) {
        self.threads.lock().push(thread);
    }

    /// A worker thread's loop.
    pub(crate) fn work(&self) {
        while self.running.load(Ordering::Relaxed) {
            match self.jobs.pop() {
                Some(mut job) => {
                    job.run();
                    self.complete(job);
                }
                None => std::thread::park_timeout(POLL_INTERVAL),
            }
        }
    }

    /// Hands a finished job back to the thread that submitted it.
    fn complete(&self, job: Job) {
        let done = match job.side {
            Side::Tx => &self.done_tx,
            Side::Rx => &self.done_rx,
        };
        let mut job = job;
        // A submitter has at most one batch out and its ring holds a whole batch, so
        // this never waits; still, never lose a buffer.
        while let Err(j) = done.push(job) {
            job = j;
            std::thread::yield_now();
        }
    }

    /// After `outstanding` jobs of `side` were queued: wakes workers, helps with the
    /// queue (running other side's jobs too, and returning them), and hands each of this
    /// side's finished jobs to `finish`.
    fn collect(
        &self,
        side: Side,
        mut outstanding: usize,
        active: usize,
        mut finish: impl FnMut(Job),
    ) {
        for t in self.threads.lock().iter().take(outstanding.min(active)) {
            t.unpark();
        }
        let done = match side {
            Side::Tx => &self.done_tx,
            Side::Rx => &self.done_rx,
        };
        while outstanding > 0 {
            if let Some(mut job) = self.jobs.pop() {
                job.run();
                if job.side != side {
                    self.complete(job);
                    continue;
                }
                outstanding -= 1;
                finish(job);
            } else if let Some(job) = done.pop() {
                outstanding -= 1;
                finish(job);
            } else {
                std::thread::yield_now();
            }
        }
    }

    /// Feeds the auto scaler with a batch's crypto time.
    fn account(&self, clock: &dyn Clock, started: Option<Instant>, fanned: bool, active: usize) {
        let (Some(auto), Some(started)) = (&self.auto, started) else { return };
        let now = clock.now();
        let mut a = auto.lock();
        // Wall time of the batch times the threads that worked on it.
        let threads = if fanned { 1 + active as u32 } else { 1 };
        a.busy += now.saturating_duration_since(started) * threads;
        let due = a.since.is_none_or(|t| now.saturating_duration_since(t) >= SCALE_INTERVAL);
        if due {
            let busy = std::mem::take(&mut a.busy);
            a.since = Some(now);
            let n = a.scaler.update(now, busy);
            self.active.store(n.min(self.count), Ordering::Relaxed);
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
        clock: &dyn Clock,
        counters: &EngineCounters,
        bufs: &mut [Vec<u8>],
        recs: &mut [SealRec],
        mtu: usize,
    ) {
        let active = self.active();
        let fan_out = active > 0 && (self.always || recs.len() >= self.threshold);
        let started = self.auto.as_ref().map(|_| clock.now());
        if !fan_out {
            counters.inline_batches.fetch_add(1, Ordering::Relaxed);
            for r in recs.iter_mut() {
                if let Some(buf) = bufs.get_mut(r.slot) {
                    r.seal(buf, mtu);
                }
            }
            self.account(clock, started, false, active);
            return;
        }
        counters.fanout_batches.fetch_add(1, Ordering::Relaxed);
        let mut outstanding = 0;
        for (i, r) in recs.iter_mut().enumerate() {
            let Some(slot) = bufs.get_mut(r.slot) else { continue };
            let job = Job {
                rec: i,
                side: Side::Tx,
                buf: std::mem::take(slot),
                keypair: r.keypair.clone(),
                work: Work::Seal { len: r.len, counter: r.counter, mtu, out_len: 0 },
            };
            match self.jobs.push(job) {
                Ok(()) => outstanding += 1,
                Err(mut job) => {
                    job.run();
                    if let Work::Seal { out_len, .. } = job.work {
                        r.out_len = out_len;
                    }
                    *slot = job.buf;
                }
            }
        }
        self.collect(Side::Tx, outstanding, active, |job| {
            if let Some(r) = recs.get_mut(job.rec) {
                if let Work::Seal { out_len, .. } = job.work {
                    r.out_len = out_len;
                }
                if let Some(slot) = bufs.get_mut(r.slot) {
                    *slot = job.buf;
                }
            }
        });
        self.account(clock, started, true, active);
    }

    /// Opens (authenticates and decrypts in place) every record's datagram in `bufs`,
    /// inline or fanned out; results land in `OpenRec::result`, in record order.
    pub(crate) fn open(&self, clock: &dyn Clock, bufs: &mut [Vec<u8>], recs: &mut [OpenRec]) {
        let active = self.active();
        let fan_out = active > 0 && (self.always || recs.len() >= self.threshold);
        let started = self.auto.as_ref().map(|_| clock.now());
        if !fan_out {
            for r in recs.iter_mut() {
                match bufs.get_mut(r.slot) {
                    Some(buf) => r.open(buf),
                    None => r.result = Err(DropReason::WrongLength),
                }
            }
            self.account(clock, started, false, active);
            return;
        }
        let mut outstanding = 0;
        for (i, r) in recs.iter_mut().enumerate() {
            let Some(slot) = bufs.get_mut(r.slot) else { continue };
            let job = Job {
                rec: i,
                side: Side::Rx,
                buf: std::mem::take(slot),
                keypair: r.keypair.clone(),
                work: Work::Open { len: r.len, result: Err(DropReason::DecryptFailed) },
            };
            match self.jobs.push(job) {
                Ok(()) => outstanding += 1,
                Err(mut job) => {
                    job.run();
                    if let Work::Open { result, .. } = job.work {
                        r.result = result;
                    }
                    *slot = job.buf;
                }
            }
        }
        self.collect(Side::Rx, outstanding, active, |job| {
            if let Some(r) = recs.get_mut(job.rec) {
                if let Work::Open { result, .. } = job.work {
                    r.result = result;
                }
                if let Some(slot) = bufs.get_mut(r.slot) {
                    *slot = job.buf;
                }
            }
        });
        self.account(clock, started, true, active);
    }
}
