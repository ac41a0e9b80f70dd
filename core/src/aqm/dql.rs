//! Dynamic queue limits, ported from Linux `lib/dynamic_queue_limits.c`.
//!
//! The producer calls [`Dql::queued`] for each batch it hands to the next stage and stops
//! while [`Dql::avail`] is negative; the next stage calls [`Dql::completed`] with the
//! bytes it finished since its last call. Each completion is one interval: if the queue
//! ran dry while it was over the limit, the limit was too small and grows by what was
//! completed; if the queue stayed busy, the smallest slack (excess bytes beyond twice what
//! was completed) seen over `hold_time` is trimmed off the limit.

use std::time::{Duration, Instant};

/// DQL's bounds and hold time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DqlParams {
    /// The limit never goes below this many bytes.
    pub min_limit: u64,
    /// The limit never goes above this many bytes.
    pub max_limit: u64,
    /// How long slack is observed before the limit is lowered (Linux: 1 s).
    pub hold_time: Duration,
}

impl Default for DqlParams {
    fn default() -> Self {
        Self { min_limit: 0, max_limit: 1 << 28, hold_time: Duration::from_secs(1) }
    }
}

/// DQL's state for one stage boundary. Totals are cumulative byte counts.
#[derive(Debug, Clone)]
pub struct Dql {
    params: DqlParams,
    limit: u64,
    num_queued: u64,
    num_completed: u64,
    last_obj_cnt: u64,
    prev_ovlimit: u64,
    prev_num_queued: u64,
    prev_last_obj_cnt: u64,
    lowest_slack: u64,
    slack_start_time: Instant,
}

impl Dql {
    /// A limit starting at `params.min_limit`, observing slack from `now`.
    pub fn new(params: DqlParams, now: Instant) -> Self {
        Self {
            params,
            limit: params.min_limit,
            num_queued: 0,
            num_completed: 0,
            last_obj_cnt: 0,
            prev_ovlimit: 0,
            prev_num_queued: 0,
            prev_last_obj_cnt: 0,
            lowest_slack: u64::MAX,
            slack_start_time: now,
        }
    }

    /// Records `bytes` handed to the next stage.
    pub fn queued(&mut self, bytes: u64) {
        self.last_obj_cnt = bytes;
        self.num_queued += bytes;
    }

    /// Bytes that may still be queued before the limit; negative when over it (the
    /// producer should then stop until the next completion).
    pub fn avail(&self) -> i64 {
        let limit_end = self.num_completed + self.limit;
        limit_end as i64 - self.num_queued as i64
    }

    /// Bytes queued and not yet completed.
    pub fn in_flight(&self) -> u64 {
        self.num_queued - self.num_completed
    }

    /// The current limit in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Records `bytes` completed by the next stage since the last call (clamped to what is
    /// in flight) and adapts the limit.
    pub fn completed(&mut self, bytes: u64, now: Instant) {
        let count = bytes.min(self.in_flight());
        let num_queued = self.num_queued;
        let completed = self.num_completed + count;
        let mut limit = self.limit;
        let mut ovlimit = (num_queued - self.num_completed).saturating_sub(limit);
        let inprogress = num_queued - completed;
        let prev_inprogress = self.prev_num_queued.saturating_sub(self.num_completed);
        let all_prev_completed = completed >= self.prev_num_queued;

        if (ovlimit > 0 && inprogress == 0) || (self.prev_ovlimit > 0 && all_prev_completed) {
            // Starved: over the limit last interval and now empty (or possibly emptied
            // between completion and the next enqueue). Grow by what was sent and
            // completed in the last interval plus the previous over-limit.
            limit += completed.saturating_sub(self.prev_num_queued) + self.prev_ovlimit;
            self.slack_start_time = now;
            self.lowest_slack = u64::MAX;
        } else if inprogress > 0 && prev_inprogress > 0 && !all_prev_completed {
            // Busy the whole interval: the excess over twice the completed bytes is
            // slack; lower the limit by the smallest slack seen over the hold time.
            let slack =
                (limit + self.prev_ovlimit).saturating_sub(2 * (completed - self.num_completed));
            let slack_last_objs = if self.prev_ovlimit > 0 {
                self.prev_last_obj_cnt.saturating_sub(self.prev_ovlimit)
            } else {
                0
            };
            self.lowest_slack = self.lowest_slack.min(slack.max(slack_last_objs));
            if now.saturating_duration_since(self.slack_start_time) > self.params.hold_time {
                limit = limit.saturating_sub(self.lowest_slack);
                self.slack_start_time = now;
                self.lowest_slack = u64::MAX;
            }
        }

        // Not `clamp`: that panics if a config ever gives min > max.
        limit = limit.max(self.params.min_limit).min(self.params.max_limit);
        if limit != self.limit {
            self.limit = limit;
            ovlimit = 0;
        }
        self.prev_ovlimit = ovlimit;
        self.prev_last_obj_cnt = self.last_obj_cnt;
        self.num_completed = completed;
        self.prev_num_queued = num_queued;
    }
}
