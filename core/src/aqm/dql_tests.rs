//! DQL: the Linux algorithm's growth, slack trimming and bounds, step by step, plus a
//! simulated link it must size itself to.

use std::time::{Duration, Instant};

use super::{Dql, DqlParams};

#[allow(clippy::disallowed_methods)] // an arbitrary origin for the virtual timeline
fn origin() -> Instant {
    Instant::now()
}

fn params(min_limit: u64, max_limit: u64) -> DqlParams {
    DqlParams { min_limit, max_limit, hold_time: Duration::from_secs(1) }
}

#[test]
fn starts_at_min_limit() {
    let dql = Dql::new(params(3000, 100_000), origin());
    assert_eq!(dql.limit(), 3000);
    assert_eq!(dql.avail(), 3000);
    assert_eq!(dql.in_flight(), 0);
}

#[test]
fn starvation_grows_limit_by_completed_bytes() {
    let t0 = origin();
    let mut dql = Dql::new(params(0, 100_000), t0);
    // Limit 0: one object puts us over; it completes and the queue is empty: starved.
    dql.queued(1000);
    assert_eq!(dql.avail(), -1000);
    dql.completed(1000, t0);
    // limit += completed - prev_num_queued (1000 - 0) + prev_ovlimit (0)
    assert_eq!(dql.limit(), 1000);
    assert_eq!(dql.avail(), 1000);
    // Fill to over the limit again (avail 1000 -> 0 -> -1000), all complete: starved.
    dql.queued(1000);
    dql.queued(1000);
    assert_eq!(dql.avail(), -1000);
    dql.completed(2000, t0);
    // limit += (3000 - 1000) + 0
    assert_eq!(dql.limit(), 3000);
    assert_eq!(dql.in_flight(), 0);
}

#[test]
fn limit_clamped_to_bounds() {
    let t0 = origin();
    let mut dql = Dql::new(params(0, 1500), t0);
    dql.queued(1000);
    dql.completed(1000, t0);
    dql.queued(1000);
    dql.queued(1000);
    dql.completed(2000, t0);
    assert_eq!(dql.limit(), 1500);
    // A misconfigured min > max must not panic; max wins.
    let mut odd = Dql::new(params(5000, 1000), t0);
    odd.queued(6000);
    odd.completed(6000, t0);
    assert_eq!(odd.limit(), 1000);
}

#[test]
fn completion_beyond_in_flight_is_clamped() {
    let t0 = origin();
    let mut dql = Dql::new(params(2000, 100_000), t0);
    dql.queued(500);
    dql.completed(10_000, t0);
    assert_eq!(dql.in_flight(), 0);
    assert_eq!(dql.avail(), 2000);
}

/// Keeps the queue busy but completing far less than the limit: the limit holds for
/// `hold_time`, then drops by the lowest slack seen.
#[test]
fn slack_trimmed_only_after_hold_time() {
    let t0 = origin();
    let mut dql = Dql::new(params(0, 100_000), t0);
    dql.queued(10_000);
    dql.completed(10_000, t0);
    assert_eq!(dql.limit(), 10_000);
    let mut now = t0;
    let mut shrunk_at = None;
    for tick in 1..=150u32 {
        now = t0 + Duration::from_millis(10 * u64::from(tick));
        while dql.avail() >= 0 {
            dql.queued(1000);
        }
        dql.completed(1000, now);
        assert!(dql.in_flight() > 0, "the queue stayed busy");
        if dql.limit() < 10_000 && shrunk_at.is_none() {
            shrunk_at = Some(now);
        }
    }
    let shrunk_at = shrunk_at.expect("limit was trimmed");
    assert!(shrunk_at > t0 + Duration::from_secs(1), "trimmed before the hold time");
    assert!(shrunk_at <= t0 + Duration::from_millis(1020));
    // Slack is measured against twice the bytes completed per interval (2 × 1000).
    assert!(dql.limit() >= 2000, "limit {} fell below 2 × completed", dql.limit());
    assert!(now > shrunk_at);
}

/// A link that completes `rate` bytes per 1 ms tick, fed by a producer that queues
/// 1500-byte packets while `avail() >= 0`. The limit must grow from 0 to cover a tick's
/// worth of bytes (else the link idles) without running far beyond it.
#[test]
fn converges_on_simulated_link() {
    for rate in [3_000u64, 20_000, 150_000] {
        let t0 = origin();
        let mut dql = Dql::new(params(0, 1 << 24), t0);
        let mut idle_ticks_late = 0;
        let mut max_in_flight_late = 0;
        for tick in 1..=5_000u64 {
            while dql.avail() >= 0 {
                dql.queued(1500);
            }
            let in_flight = dql.in_flight();
            let done = in_flight.min(rate);
            if tick > 3_000 {
                idle_ticks_late += (done < rate) as u32;
                max_in_flight_late = max_in_flight_late.max(in_flight);
            }
            dql.completed(done, t0 + Duration::from_millis(tick));
        }
        assert_eq!(idle_ticks_late, 0, "rate {rate}: link starved in steady state");
        assert!(dql.limit() >= rate - 1500, "rate {rate}: limit {} too small", dql.limit());
        assert!(
            max_in_flight_late <= 3 * rate + 3000,
            "rate {rate}: {max_in_flight_late} bytes in flight is bloat"
        );
    }
}
