//! Ordered parallel crypto: the kernel's serial queue + parallel queue. An experiment
//! the engine does not use (it re-joins fanned-out batches instead); kept here, out of
//! `ferrowg-core`, for the `queue` bench's `ordered` group (was `core/src/queue/ordered.rs`).
//!
//! Each peer owns a [`Flow`] (the serial queue): a ring of slots indexed by a per-flow
//! sequence number. [`Ordered::submit`] stores a job in the next slot and puts a
//! [`Ticket`] (flow, sequence) on the device-wide parallel ring. Any worker calling
//! [`Ordered::work`] takes a ticket, processes the job outside every lock and marks the
//! slot done. The flow's consumer ([`Flow::pop_ready`]) releases jobs only from the head
//! slot, so they leave in submission order however the workers raced.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use ferrowg_core::queue::{LockFreeRing, Ring};

/// Where [`Ordered::submit`] runs a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// Process the job now, on the calling thread (low load: no hand-off, no wake-up).
    Inline,
    /// Hand the job to the workers. Falls back to inline when the parallel ring is full.
    Parallel,
}

/// The job could not be queued because its flow already holds `capacity` unreleased jobs.
#[derive(Debug, thiserror::Error)]
#[error("flow queue is full")]
pub struct FlowFull<J>(
    /// The job, handed back to the caller.
    pub J,
);

/// A device-wide parallel queue plus the processing step the workers apply to every job.
pub struct Ordered<J, F> {
    parallel: LockFreeRing<Ticket<J>>,
    process: F,
}

/// One job's place in the parallel queue: which flow, which sequence number.
pub struct Ticket<J> {
    flow: Arc<Flow<J>>,
    seq: u64,
}

/// One peer's serial queue: jobs in submission order, released only when done.
pub struct Flow<J> {
    id: u64,
    slots: Box<[Mutex<Slot<J>>]>,
    /// Producer side: the next sequence number to assign.
    tail: Mutex<u64>,
    /// Consumer side: the next sequence number to release.
    head: Mutex<u64>,
    /// A copy of `head` that producers read without taking the consumer lock.
    released: AtomicU64,
}

enum Slot<J> {
    Empty,
    Queued(J),
    Processing,
    Done(J),
}

impl<J: Send, F: Fn(&mut J) + Send + Sync> Ordered<J, F> {
    /// A parallel queue of (at least) `capacity` tickets whose workers apply `process`.
    pub fn new(capacity: usize, process: F) -> Self {
        Self { parallel: LockFreeRing::with_capacity(capacity), process }
    }

    /// Queues `job` at the end of `flow` and returns its sequence number. With
    /// [`Dispatch::Inline`] (or a full parallel ring) the job is processed before this
    /// returns; it is still released only after the flow's earlier jobs.
    /// `process` must not submit to the same flow (it runs under the flow's producer lock).
    pub fn submit(
        &self,
        flow: &Arc<Flow<J>>,
        job: J,
        dispatch: Dispatch,
    ) -> Result<u64, FlowFull<J>> {
        let mut tail = flow.tail.lock();
        let seq = *tail;
        if seq.wrapping_sub(flow.released.load(Ordering::Acquire)) >= flow.slots.len() as u64 {
            return Err(FlowFull(job));
        }
        let slot = flow.slot(seq);
        let job = match dispatch {
            Dispatch::Inline => Some(job),
            Dispatch::Parallel => {
                *slot.lock() = Slot::Queued(job);
                match self.parallel.push(Ticket { flow: Arc::clone(flow), seq }) {
                    Ok(()) => None,
                    Err(_) => match std::mem::replace(&mut *slot.lock(), Slot::Processing) {
                        Slot::Queued(job) => Some(job),
                        // Unreachable: no ticket exists, so no worker saw this slot.
                        other => {
                            *slot.lock() = other;
                            None
                        }
                    },
                }
            }
        };
        if let Some(mut job) = job {
            (self.process)(&mut job);
            *slot.lock() = Slot::Done(job);
        }
        *tail = seq.wrapping_add(1);
        Ok(seq)
    }

    /// Worker step: processes one queued job. Returns the flow it belonged to (so the
    /// caller can wake that flow's consumer), or `None` when nothing was queued.
    pub fn work(&self) -> Option<Arc<Flow<J>>> {
        let ticket = self.parallel.pop()?;
        self.run(&ticket);
        Some(ticket.flow)
    }

    /// Worker step for up to `max` jobs at once (one claim on the parallel ring).
    /// `scratch` is reused between calls to avoid allocating; `done` is called with each
    /// finished job's flow. Returns how many jobs were processed.
    pub fn work_batch(
        &self,
        max: usize,
        scratch: &mut Vec<Ticket<J>>,
        mut done: impl FnMut(&Arc<Flow<J>>),
    ) -> usize {
        scratch.clear();
        let n = self.parallel.pop_batch(scratch, max);
        for ticket in scratch.drain(..) {
            self.run(&ticket);
            done(&ticket.flow);
        }
        n
    }

    /// The number of jobs waiting for a worker (a snapshot).
    pub fn pending(&self) -> usize {
        self.parallel.len()
    }

    fn run(&self, ticket: &Ticket<J>) {
        let slot = ticket.flow.slot(ticket.seq);
        let job = match std::mem::replace(&mut *slot.lock(), Slot::Processing) {
            Slot::Queued(job) => job,
            // Unreachable: each ticket exists once and only tickets move Queued jobs.
            other => {
                *slot.lock() = other;
                return;
            }
        };
        let mut job = job;
        (self.process)(&mut job);
        *slot.lock() = Slot::Done(job);
    }
}

impl<J> Flow<J> {
    /// A serial queue with `id` (the engine's peer id) holding at most `capacity` jobs
    /// between submission and release.
    pub fn new(id: u64, capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            id,
            slots: (0..capacity.max(1)).map(|_| Mutex::new(Slot::Empty)).collect(),
            tail: Mutex::new(0),
            head: Mutex::new(0),
            released: AtomicU64::new(0),
        })
    }

    /// The id given at creation.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Releases the oldest job if it is done; `None` if the flow is empty or its oldest
    /// job is still queued or being processed.
    pub fn pop_ready(&self) -> Option<J> {
        let mut head = self.head.lock();
        let job = {
            let mut slot = self.slot(*head).lock();
            match std::mem::replace(&mut *slot, Slot::Empty) {
                Slot::Done(job) => job,
                other => {
                    *slot = other;
                    return None;
                }
            }
        };
        *head = head.wrapping_add(1);
        self.released.store(*head, Ordering::Release);
        Some(job)
    }

    /// Releases up to `max` done jobs in order into `out`. Returns how many.
    pub fn drain_ready(&self, out: &mut Vec<J>, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Some(job) = self.pop_ready() else { break };
            out.push(job);
            n += 1;
        }
        n
    }

    /// Jobs submitted and not yet released (a snapshot).
    pub fn len(&self) -> usize {
        let tail = *self.tail.lock();
        tail.wrapping_sub(self.released.load(Ordering::Acquire)) as usize
    }

    /// Whether every submitted job has been released.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most jobs the flow holds between submission and release.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    fn slot(&self, seq: u64) -> &Mutex<Slot<J>> {
        &self.slots[(seq % self.slots.len() as u64) as usize]
    }
}

impl<J> Ticket<J> {
    /// The flow this job belongs to.
    pub fn flow(&self) -> &Arc<Flow<J>> {
        &self.flow
    }

    /// The job's sequence number within its flow.
    pub fn seq(&self) -> u64 {
        self.seq
    }
}

impl<J, F> std::fmt::Debug for Ordered<J, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ordered").field("parallel", &self.parallel).finish_non_exhaustive()
    }
}

impl<J> std::fmt::Debug for Flow<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flow").field("id", &self.id).field("capacity", &self.slots.len()).finish()
    }
}

impl<J> std::fmt::Debug for Ticket<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket").field("flow", &self.flow.id).field("seq", &self.seq).finish()
    }
}
