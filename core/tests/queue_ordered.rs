//! Ordered parallel processing: many jobs over several flows, four workers with random
//! (seeded) per-job delays, inline and parallel dispatch mixed. Every job is processed
//! exactly once and each flow releases its jobs in submission order.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ferrowg_core::queue::{Dispatch, Flow, FlowFull, Ordered};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const FLOWS: usize = 8;
const JOBS_PER_FLOW: u64 = 2_000;
const WORKERS: usize = 4;
const TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug)]
struct Job {
    flow: u64,
    seq: u64,
    delay_us: u64,
    input: u64,
    output: Option<u64>,
    times_processed: u32,
    finished: u64,
}

fn transform(x: u64) -> u64 {
    x.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(17)
}

#[allow(clippy::disallowed_methods)] // a hang guard for the test, not protocol time
fn past(deadline: Instant) -> bool {
    Instant::now() > deadline
}

#[test]
fn order_kept_per_flow_under_parallel_workers() {
    #[allow(clippy::disallowed_methods)]
    let end = Instant::now() + TIMEOUT;
    let finish_counter = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&finish_counter);
    let ordered = Arc::new(Ordered::new(64, move |job: &mut Job| {
        if job.delay_us > 0 {
            thread::sleep(Duration::from_micros(job.delay_us));
        }
        job.output = Some(transform(job.input));
        job.times_processed += 1;
        job.finished = counter.fetch_add(1, Ordering::Relaxed);
    }));
    let flows: Vec<Arc<Flow<Job>>> = (0..FLOWS as u64).map(|id| Flow::new(id, 32)).collect();
    let stop = Arc::new(AtomicBool::new(false));

    let workers: Vec<_> = (0..WORKERS)
        .map(|w| {
            let (ordered, stop) = (Arc::clone(&ordered), Arc::clone(&stop));
            thread::spawn(move || {
                let mut scratch = Vec::new();
                let mut processed = 0usize;
                loop {
                    assert!(!past(end), "worker stuck");
                    let n = if w % 2 == 0 {
                        ordered.work().map_or(0, |_| 1)
                    } else {
                        ordered.work_batch(8, &mut scratch, |_| {})
                    };
                    processed += n;
                    if n == 0 {
                        if stop.load(Ordering::Acquire) && ordered.pending() == 0 {
                            break;
                        }
                        thread::yield_now();
                    }
                }
                processed
            })
        })
        .collect();

    // Two submitters, each owning half the flows, interleaving them at random.
    let submitters: Vec<_> = (0..2)
        .map(|s| {
            let ordered = Arc::clone(&ordered);
            let mine: Vec<_> = flows.iter().skip(s).step_by(2).cloned().collect();
            thread::spawn(move || {
                let mut rng = ChaCha8Rng::seed_from_u64(0x5eed + s as u64);
                let mut next = vec![0u64; mine.len()];
                let mut inline = 0usize;
                while next.iter().any(|&n| n < JOBS_PER_FLOW) {
                    assert!(!past(end), "submitter stuck");
                    let i = rng.gen_range(0..mine.len());
                    if next[i] == JOBS_PER_FLOW {
                        continue;
                    }
                    let flow = &mine[i];
                    let job = Job {
                        flow: flow.id(),
                        seq: next[i],
                        delay_us: if rng.gen_bool(0.2) { rng.gen_range(1..300) } else { 0 },
                        input: rng.gen(),
                        output: None,
                        times_processed: 0,
                        finished: 0,
                    };
                    let dispatch =
                        if rng.gen_bool(0.1) { Dispatch::Inline } else { Dispatch::Parallel };
                    match ordered.submit(flow, job, dispatch) {
                        Ok(seq) => {
                            assert_eq!(seq, next[i], "sequence numbers are per flow and dense");
                            next[i] += 1;
                            inline += (dispatch == Dispatch::Inline) as usize;
                        }
                        Err(FlowFull(job)) => {
                            assert_eq!(job.seq, next[i]);
                            thread::yield_now();
                        }
                    }
                }
                inline
            })
        })
        .collect();

    // Two consumers, each draining half the flows.
    let consumers: Vec<_> = (0..2)
        .map(|c| {
            let mine: Vec<_> = flows.iter().skip(c).step_by(2).cloned().collect();
            thread::spawn(move || {
                let mut released: Vec<Vec<Job>> = (0..mine.len()).map(|_| Vec::new()).collect();
                let mut out = Vec::new();
                while released.iter().any(|r| (r.len() as u64) < JOBS_PER_FLOW) {
                    assert!(!past(end), "consumer stuck");
                    let mut got = 0;
                    for (flow, released) in mine.iter().zip(&mut released) {
                        out.clear();
                        got += flow.drain_ready(&mut out, 16);
                        released.append(&mut out);
                    }
                    if got == 0 {
                        thread::yield_now();
                    }
                }
                mine.iter().map(|f| f.id()).zip(released).collect::<Vec<_>>()
            })
        })
        .collect();

    let inline: usize = submitters.into_iter().map(|h| h.join().unwrap()).sum();
    let results: Vec<(u64, Vec<Job>)> =
        consumers.into_iter().flat_map(|h| h.join().unwrap()).collect();
    stop.store(true, Ordering::Release);
    let per_worker: Vec<usize> = workers.into_iter().map(|h| h.join().unwrap()).collect();

    let total = FLOWS as u64 * JOBS_PER_FLOW;
    assert_eq!(finish_counter.load(Ordering::Relaxed), total, "each job processed once");
    // The rest ran inline because the parallel ring was full.
    assert!(per_worker.iter().sum::<usize>() + inline <= total as usize);
    assert!(inline > 0, "inline dispatch was exercised");
    assert!(per_worker.iter().all(|&n| n > 0), "every worker processed jobs: {per_worker:?}");
    assert_eq!(results.len(), FLOWS);
    let mut reordered_completions = 0;
    for (id, jobs) in &results {
        assert_eq!(jobs.len() as u64, JOBS_PER_FLOW);
        for (i, job) in jobs.iter().enumerate() {
            assert_eq!(job.flow, *id, "job released on the wrong flow");
            assert_eq!(job.seq, i as u64, "flow {id} released out of order");
            assert_eq!(job.times_processed, 1);
            assert_eq!(job.output, Some(transform(job.input)));
        }
        reordered_completions += jobs.windows(2).filter(|w| w[1].finished < w[0].finished).count();
    }
    // The workers really did finish jobs out of order, so ordering was the queue's work.
    assert!(reordered_completions > 0);
    for flow in &flows {
        assert!(flow.is_empty());
        assert!(flow.pop_ready().is_none());
    }
}

#[test]
fn head_of_line_blocks_release() {
    let ordered = Ordered::new(8, |job: &mut u32| *job += 1000);
    let flow = Flow::new(7, 4);
    assert_eq!(ordered.submit(&flow, 1, Dispatch::Parallel).unwrap(), 0);
    assert_eq!(ordered.submit(&flow, 2, Dispatch::Inline).unwrap(), 1);
    // Job 1 is done but job 0 still waits for a worker: nothing leaves.
    assert_eq!(flow.pop_ready(), None);
    assert_eq!(flow.len(), 2);
    assert_eq!(ordered.pending(), 1);
    assert_eq!(ordered.work().map(|f| f.id()), Some(7));
    assert_eq!(ordered.work().map(|f| f.id()), None);
    let mut out = Vec::new();
    assert_eq!(flow.drain_ready(&mut out, 10), 2);
    assert_eq!(out, vec![1001, 1002]);
}

#[test]
fn full_flow_hands_job_back_and_full_ring_runs_inline() {
    let ordered = Ordered::new(2, |job: &mut u32| *job *= 2);
    let flow = Flow::new(1, 3);
    for i in 0..3 {
        ordered.submit(&flow, i, Dispatch::Parallel).unwrap();
    }
    // The parallel ring holds 2; the third job ran inline on the submitting thread.
    assert_eq!(ordered.pending(), 2);
    match ordered.submit(&flow, 9, Dispatch::Parallel) {
        Err(FlowFull(job)) => assert_eq!(job, 9),
        Ok(seq) => panic!("accepted job {seq} into a full flow"),
    }
    while ordered.work().is_some() {}
    assert_eq!(flow.pop_ready(), Some(0));
    assert_eq!(ordered.submit(&flow, 9, Dispatch::Inline).unwrap(), 3);
    let mut out = Vec::new();
    flow.drain_ready(&mut out, 10);
    assert_eq!(out, vec![2, 4, 18]);
}
