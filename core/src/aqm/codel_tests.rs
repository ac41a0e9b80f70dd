//! CoDel timelines following RFC 8289's pseudo-code step by step.

use std::time::{Duration, Instant};

use super::{Codel, CodelParams, VecCodelQueue};

fn ms(n: f64) -> Duration {
    Duration::from_secs_f64(n / 1000.0)
}

#[allow(clippy::disallowed_methods)] // an arbitrary origin for the virtual timeline
fn origin() -> Instant {
    Instant::now()
}

/// A queue of `n` 1000-byte packets numbered 0.., all enqueued at `t0`.
fn backlog(t0: Instant, n: u32) -> VecCodelQueue<u32> {
    let mut q = VecCodelQueue::new();
    for i in 0..n {
        q.enqueue(i, 1000, t0);
    }
    q
}

struct Step {
    at_ms: f64,
    delivered: Option<u32>,
    dropped_total: u64,
    dropping: bool,
    count: u32,
}

fn run(codel: &mut Codel, q: &mut VecCodelQueue<u32>, t0: Instant, steps: &[Step]) -> Vec<u32> {
    let mut drops = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let got = codel.dequeue(t0 + ms(s.at_ms), q, |p| drops.push(p));
        assert_eq!(got, s.delivered, "step {i} at {} ms: delivered", s.at_ms);
        assert_eq!(codel.dropped(), s.dropped_total, "step {i}: dropped total");
        assert_eq!(codel.dropped(), drops.len() as u64, "step {i}: drop callback count");
        assert_eq!(codel.dropping(), s.dropping, "step {i}: dropping state");
        assert_eq!(codel.count(), s.count, "step {i}: count");
    }
    drops
}

#[test]
fn below_target_never_drops() {
    let t0 = origin();
    let mut codel = Codel::new(CodelParams::default());
    let mut q = VecCodelQueue::new();
    // Each packet waits 4 ms (< 5 ms target) for 2 s.
    for i in 0..500u32 {
        let enq = t0 + ms(f64::from(i) * 4.0);
        q.enqueue(i, 1400, enq);
        q.enqueue(i + 10_000, 1400, enq);
        let now = enq + ms(4.0);
        assert_eq!(codel.dequeue(now, &mut q, |_| panic!("dropped")), Some(i));
        assert_eq!(codel.dequeue(now, &mut q, |_| panic!("dropped")), Some(i + 10_000));
    }
    assert_eq!(codel.dropped(), 0);
}

#[test]
fn drop_schedule_follows_control_law() {
    let t0 = origin();
    let mut codel = Codel::new(CodelParams::default());
    let mut q = backlog(t0, 100);
    let s = |at_ms, delivered, dropped_total, dropping, count| Step {
        at_ms,
        delivered: Some(delivered),
        dropped_total,
        dropping,
        count,
    };
    let drops = run(
        &mut codel,
        &mut q,
        t0,
        &[
            // Sojourn 10 ms > target: first_above_time = 110 ms, no drop yet.
            s(10.0, 0, 0, false, 0),
            s(60.0, 1, 0, false, 0),
            s(109.9, 2, 0, false, 0),
            // Above target for a whole interval: drop one, deliver the next, count = 1,
            // next drop at 110 + 100/sqrt(1) = 210 ms.
            s(110.0, 4, 1, true, 1),
            s(209.0, 5, 1, true, 1),
            // 210: drop, count 2, next at 210 + 100/sqrt(2) = 280.71 ms.
            s(210.0, 7, 2, true, 2),
            s(280.0, 8, 2, true, 2),
            // 280.71: drop, count 3, next at 280.71 + 100/sqrt(3) = 338.45 ms.
            s(281.0, 10, 3, true, 3),
            s(338.0, 11, 3, true, 3),
            s(338.5, 13, 4, true, 4),
        ],
    );
    assert_eq!(drops, vec![3, 6, 9, 12]);
    let expected_next = 110.0 + 100.0 * (1.0 + 1.0 / 2f64.sqrt() + 1.0 / 3f64.sqrt() + 0.5);
    let next = codel.drop_next().unwrap().duration_since(t0).as_secs_f64() * 1000.0;
    assert!((next - expected_next).abs() < 1e-3, "drop_next {next} vs {expected_next}");
}

#[test]
fn late_dequeue_drops_every_overdue_packet_at_once() {
    let t0 = origin();
    let mut codel = Codel::new(CodelParams::default());
    let mut q = backlog(t0, 200);
    let mut drops = Vec::new();
    assert_eq!(codel.dequeue(t0 + ms(10.0), &mut q, |p| drops.push(p)), Some(0));
    assert_eq!(codel.dequeue(t0 + ms(110.0), &mut q, |p| drops.push(p)), Some(2));
    assert_eq!(drops, vec![1]);
    // Nobody dequeues until 1000 ms: the while loop drops until drop_next passes now.
    let mut due = 210.0;
    let mut expected_drops = 1;
    let mut count = 1.0;
    while due <= 1000.0 {
        expected_drops += 1;
        count += 1.0;
        due += 100.0 / f64::sqrt(count);
    }
    let got = codel.dequeue(t0 + ms(1000.0), &mut q, |p| drops.push(p)).unwrap();
    assert_eq!(codel.dropped(), expected_drops);
    assert_eq!(drops.len() as u64, expected_drops);
    assert_eq!(got, 2 + expected_drops as u32, "delivers the packet after the dropped run");
    assert!(codel.drop_next().unwrap() > t0 + ms(1000.0));
}

#[test]
fn leaves_dropping_when_sojourn_falls_below_target() {
    let t0 = origin();
    let mut codel = Codel::new(CodelParams::default());
    let mut q = backlog(t0, 5);
    let mut drops = 0;
    codel.dequeue(t0 + ms(10.0), &mut q, |_| drops += 1);
    codel.dequeue(t0 + ms(110.0), &mut q, |_| drops += 1);
    assert!(codel.dropping());
    // Fresh packets with 1 ms sojourn: the next dequeue leaves dropping, no drop.
    let mut fresh = VecCodelQueue::new();
    for i in 0..3u32 {
        fresh.enqueue(100 + i, 1000, t0 + ms(299.0));
    }
    assert_eq!(codel.dequeue(t0 + ms(300.0), &mut fresh, |_| drops += 1), Some(100));
    assert!(!codel.dropping());
    assert_eq!(drops, 1);
}

#[test]
fn one_mtu_backlog_is_never_dropped() {
    let t0 = origin();
    let params = CodelParams { max_packet: 1500, ..CodelParams::default() };
    let mut codel = Codel::new(params);
    let mut q = VecCodelQueue::new();
    // A slow link: one packet in the queue at a time, each waiting 50 ms.
    for i in 0..100u32 {
        q.enqueue(i, 1400, t0 + ms(f64::from(i) * 50.0));
        q.enqueue(i + 1000, 1400, t0 + ms(f64::from(i) * 50.0));
        let now = t0 + ms(f64::from(i) * 50.0 + 50.0);
        // The second dequeue leaves 0 bytes (<= max_packet); the first leaves 1400.
        assert_eq!(codel.dequeue(now, &mut q, |_| panic!("dropped")), Some(i));
        assert_eq!(codel.dequeue(now, &mut q, |_| panic!("dropped")), Some(i + 1000));
    }
    // A growing standing queue (two in, one out per 50 ms) keeps more than one MTU
    // queued, so the same controller does drop.
    let mut q = VecCodelQueue::new();
    let mut dropped = 0;
    for i in 0..100u32 {
        let now = t0 + ms(5000.0 + f64::from(i) * 50.0);
        q.enqueue(i * 2, 1400, now);
        q.enqueue(i * 2 + 1, 1400, now);
        codel.dequeue(now + ms(50.0), &mut q, |_| dropped += 1);
    }
    assert!(dropped > 0);
}

#[test]
fn empty_queue_resets_state() {
    let t0 = origin();
    let mut codel = Codel::new(CodelParams::default());
    let mut q = backlog(t0, 5);
    codel.dequeue(t0 + ms(10.0), &mut q, |_| {});
    codel.dequeue(t0 + ms(110.0), &mut q, |_| {});
    assert!(codel.dropping());
    assert_eq!(codel.dequeue(t0 + ms(120.0), &mut VecCodelQueue::<u32>::new(), |_| {}), None);
    assert!(!codel.dropping());
    // A new standing queue must again persist a full interval before any drop.
    let mut q = backlog(t0 + ms(200.0), 10);
    assert!(codel.dequeue(t0 + ms(210.0), &mut q, |_| panic!("dropped")).is_some());
    assert!(codel.dequeue(t0 + ms(309.0), &mut q, |_| panic!("dropped")).is_some());
    let mut drops = 0;
    assert!(codel.dequeue(t0 + ms(310.0), &mut q, |_| drops += 1).is_some());
    assert_eq!(drops, 1);
}

#[test]
fn reentering_soon_resumes_previous_drop_rate() {
    let t0 = origin();
    let mut codel = Codel::new(CodelParams::default());
    let mut q = backlog(t0, 400);
    let mut sink = |_| {};
    codel.dequeue(t0 + ms(10.0), &mut q, &mut sink);
    codel.dequeue(t0 + ms(110.0), &mut q, &mut sink); // count 1
    codel.dequeue(t0 + ms(210.0), &mut q, &mut sink); // count 2
    codel.dequeue(t0 + ms(281.0), &mut q, &mut sink); // count 3
    codel.dequeue(t0 + ms(339.0), &mut q, &mut sink); // count 4
    assert_eq!(codel.count(), 4);
    // Sojourn drops below target: leave dropping (count stays 4, last_count was 1).
    let mut fresh = VecCodelQueue::new();
    fresh.enqueue(9_000, 1000, t0 + ms(349.0));
    fresh.enqueue(9_001, 1000, t0 + ms(349.0));
    fresh.enqueue(9_002, 1000, t0 + ms(349.0));
    codel.dequeue(t0 + ms(350.0), &mut fresh, &mut sink);
    assert!(!codel.dropping());
    // Standing queue again, within 16 intervals of drop_next: count = delta = 4 - 1 = 3.
    let mut q = backlog(t0 + ms(400.0), 50);
    codel.dequeue(t0 + ms(410.0), &mut q, &mut sink);
    codel.dequeue(t0 + ms(510.0), &mut q, &mut sink);
    assert!(codel.dropping());
    assert_eq!(codel.count(), 3);
    let next = codel.drop_next().unwrap().duration_since(t0).as_secs_f64() * 1000.0;
    assert!((next - (510.0 + 100.0 / 3f64.sqrt())).abs() < 1e-3);
}

/// RFC 8289's pseudo-code transcribed literally (times in ns, 0 meaning "unset"), used as
/// a reference for randomized traces.
struct Reference {
    queue: std::collections::VecDeque<(u32, u64, u64)>,
    bytes: u64,
    first_above_time: u64,
    drop_next: u64,
    count: u32,
    lastcount: u32,
    dropping: bool,
    dropped: Vec<u32>,
}

const TARGET: u64 = 5_000_000;
const INTERVAL: u64 = 100_000_000;
const MAXPACKET: u64 = 1500;

impl Reference {
    fn dodequeue(&mut self, now: u64) -> (Option<u32>, bool) {
        let Some((id, size, tstamp)) = self.queue.pop_front() else {
            self.first_above_time = 0;
            return (None, false);
        };
        self.bytes -= size;
        let mut ok_to_drop = false;
        if now - tstamp < TARGET || self.bytes <= MAXPACKET {
            self.first_above_time = 0;
        } else if self.first_above_time == 0 {
            self.first_above_time = now + INTERVAL;
        } else if now >= self.first_above_time {
            ok_to_drop = true;
        }
        (Some(id), ok_to_drop)
    }

    fn control_law(t: u64, count: u32) -> u64 {
        t + Duration::from_nanos(INTERVAL).div_f64(f64::from(count).sqrt()).as_nanos() as u64
    }

    fn dequeue(&mut self, now: u64) -> Option<u32> {
        let mut r = self.dodequeue(now);
        if r.0.is_none() {
            self.dropping = false;
            return None;
        }
        if self.dropping {
            if !r.1 {
                self.dropping = false;
            }
            while now >= self.drop_next && self.dropping {
                self.dropped.push(r.0.unwrap());
                self.count += 1;
                r = self.dodequeue(now);
                if !r.1 {
                    self.dropping = false;
                } else {
                    self.drop_next = Self::control_law(self.drop_next, self.count);
                }
            }
        } else if r.1 {
            self.dropped.push(r.0.unwrap());
            r = self.dodequeue(now);
            self.dropping = true;
            let delta = self.count.wrapping_sub(self.lastcount);
            self.count = 1;
            // Linux's signed comparison: a drop_next in the future counts as recent.
            if delta > 1 && (now as i64 - self.drop_next as i64) < 16 * INTERVAL as i64 {
                self.count = delta;
            }
            self.drop_next = Self::control_law(now, self.count);
            self.lastcount = self.count;
        }
        r.0
    }
}

#[test]
fn matches_literal_rfc_transcription_on_random_traces() {
    use rand::{Rng, SeedableRng};
    for seed in 0..40u64 {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let t0 = origin();
        let mut codel = Codel::new(CodelParams::default());
        let mut q = VecCodelQueue::new();
        let mut reference = Reference {
            queue: Default::default(),
            bytes: 0,
            first_above_time: 0,
            drop_next: 0,
            count: 0,
            lastcount: 0,
            dropping: false,
            dropped: Vec::new(),
        };
        let mut dropped = Vec::new();
        // Start at 1 s so the reference's 0 sentinel never collides with a real time.
        let mut now_ns = 1_000_000_000u64;
        let mut next_id = 0u32;
        // Phases of overload and underload so the controller enters and leaves dropping.
        let overload: f64 = rng.gen_range(1.2..4.0);
        for step in 0..20_000u32 {
            now_ns += rng.gen_range(50_000..400_000);
            let arrivals_per_dequeue: f64 = if (step / 2_000) % 2 == 0 { overload } else { 0.6 };
            let mut arrivals = arrivals_per_dequeue.floor() as u32;
            if rng.gen_bool(arrivals_per_dequeue.fract()) {
                arrivals += 1;
            }
            for _ in 0..arrivals {
                let size = rng.gen_range(60..1500u64);
                q.enqueue(next_id, size as usize, t0 + Duration::from_nanos(now_ns));
                reference.queue.push_back((next_id, size, now_ns));
                reference.bytes += size;
                next_id += 1;
            }
            let now = t0 + Duration::from_nanos(now_ns);
            let got = codel.dequeue(now, &mut q, |p| dropped.push(p));
            let want = reference.dequeue(now_ns);
            assert_eq!(got, want, "seed {seed} step {step}: delivered");
            assert_eq!(dropped, reference.dropped, "seed {seed} step {step}: drops");
            assert_eq!(codel.dropping(), reference.dropping, "seed {seed} step {step}");
            assert_eq!(codel.count(), reference.count, "seed {seed} step {step}");
        }
        assert!(!dropped.is_empty(), "seed {seed}: the trace never made CoDel drop");
    }
}

/// `judge` (one call per packet taken from a queue the caller cannot see) drops exactly
/// the packets `dequeue` drops on the same timeline: random arrivals, one delivery per
/// step, the whole run compared packet by packet.
#[test]
fn judge_matches_dequeue_packet_for_packet() {
    let params = CodelParams { target: ms(5.0), interval: ms(100.0), max_packet: 1000 };
    for seed in 1..=20u64 {
        let t0 = origin();
        let mut state = seed;
        let mut rand = move |n: u64| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 33) % n
        };
        let mut reference = Codel::new(params);
        let mut judged = Codel::new(params);
        let mut q_ref: VecCodelQueue<u32> = VecCodelQueue::new();
        let mut q_judge: std::collections::VecDeque<(u32, Instant)> = Default::default();
        let (mut ref_out, mut judge_out) = (Vec::new(), Vec::new());
        let mut next = 0u32;
        let mut now = t0;
        for _ in 0..3000 {
            now += ms(rand(40) as f64 / 10.0);
            for _ in 0..rand(3) {
                q_ref.enqueue(next, 1000, now);
                q_judge.push_back((next, now));
                next += 1;
            }
            let mut dropped = Vec::new();
            let got = reference.dequeue(now, &mut q_ref, |p| dropped.push(p));
            ref_out.extend(dropped.into_iter().map(|p| (p, false)));
            ref_out.extend(got.map(|p| (p, true)));
            while let Some((p, at)) = q_judge.pop_front() {
                // `dequeue` looks at the bytes left after taking the packet: more than
                // one MTU means at least two packets behind it.
                let more = q_judge.len() >= 2;
                if judged.judge(now, now.saturating_duration_since(at), more) {
                    judge_out.push((p, false));
                } else {
                    judge_out.push((p, true));
                    break;
                }
            }
        }
        assert!(reference.dropped() > 0, "seed {seed}: the timeline never built a queue");
        assert_eq!(ref_out, judge_out, "seed {seed}");
        assert_eq!(reference.dropped(), judged.dropped(), "seed {seed}");
    }
}
