//! How many workers to run: a pure function of measured crypto busy time and `now`.
//!
//! Load is measured in cores: crypto busy time (summed over the I/O thread and all
//! workers) divided by the elapsed time, smoothed. Scaling up is immediate, because a
//! saturated pipeline adds latency at once; scaling down waits until the lower threshold
//! has held for `down_hold` and then steps one worker at a time. The gap between the two
//! thresholds plus the hold is the hysteresis.

use std::time::{Duration, Instant};

/// The scaler's thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScalerParams {
    /// The most workers (from [`super::Placement::max_workers`]); 0 keeps crypto inline.
    pub max_workers: usize,
    /// Leave inline mode when crypto needs more than this share of one core.
    pub fan_out_load: f64,
    /// Return to inline mode when crypto needs less than this share of one core.
    pub fan_in_load: f64,
    /// Add workers when the load per worker exceeds this.
    pub high_utilization: f64,
    /// Remove a worker when the others could carry the load at no more than this each.
    pub low_utilization: f64,
    /// How long the low condition must hold before each step down.
    pub down_hold: Duration,
    /// Weight of the newest sample in the smoothed load (1.0 = no smoothing).
    pub smoothing: f64,
}

impl ScalerParams {
    /// Defaults for `max_workers` workers: fan out above 0.5 core, in below 0.2; add a
    /// worker above 80 % each, remove one when the rest would sit below 50 %; 1 s hold.
    pub fn new(max_workers: usize) -> Self {
        Self {
            max_workers,
            fan_out_load: 0.5,
            fan_in_load: 0.2,
            high_utilization: 0.8,
            low_utilization: 0.5,
            down_hold: Duration::from_secs(1),
            smoothing: 0.5,
        }
    }
}

/// The worker-count state machine. Starts inline (0 workers).
#[derive(Debug, Clone)]
pub struct Scaler {
    params: ScalerParams,
    workers: usize,
    load: Option<f64>,
    last: Option<Instant>,
    low_since: Option<Instant>,
}

impl Scaler {
    /// A scaler in inline mode.
    pub fn new(params: ScalerParams) -> Self {
        Self { params, workers: 0, load: None, last: None, low_since: None }
    }

    /// Feeds the crypto busy time accumulated since the previous call and returns the
    /// worker count to run from now on (0 = inline on the I/O thread). The first call
    /// only starts the measurement window.
    pub fn update(&mut self, now: Instant, crypto_busy: Duration) -> usize {
        let Some(last) = self.last.replace(now) else {
            return self.workers;
        };
        let elapsed = now.saturating_duration_since(last);
        if elapsed.is_zero() {
            return self.workers;
        }
        let sample = crypto_busy.as_secs_f64() / elapsed.as_secs_f64();
        let load = match self.load {
            None => sample,
            Some(old) => old + (sample - old) * self.params.smoothing.clamp(0.0, 1.0),
        };
        self.load = Some(load);

        let p = &self.params;
        let up = self.target_up(load);
        if up > self.workers {
            self.workers = up;
            self.low_since = None;
            return self.workers;
        }
        if self.target_down(load) < self.workers {
            match self.low_since {
                None => self.low_since = Some(now),
                Some(since) if now.saturating_duration_since(since) >= p.down_hold => {
                    self.workers -= 1;
                    self.low_since = if self.workers > 0 { Some(now) } else { None };
                }
                Some(_) => {}
            }
        } else {
            self.low_since = None;
        }
        self.workers
    }

    /// The current worker count (0 = inline).
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The smoothed load in cores (`None` before the second [`Scaler::update`]).
    pub fn load(&self) -> Option<f64> {
        self.load
    }

    /// The parameters in use.
    pub fn params(&self) -> &ScalerParams {
        &self.params
    }

    /// The count the load asks for when rising.
    fn target_up(&self, load: f64) -> usize {
        let p = &self.params;
        if self.workers == 0 && load <= p.fan_out_load {
            return 0;
        }
        let wanted = (load / p.high_utilization).ceil();
        (wanted as usize).clamp(1, p.max_workers.max(1)).min(p.max_workers)
    }

    /// The count the load would still be served well by when falling.
    fn target_down(&self, load: f64) -> usize {
        let p = &self.params;
        if load < p.fan_in_load {
            return 0;
        }
        let enough = (load / p.low_utilization).ceil() as usize;
        enough.clamp(1, p.max_workers.max(1)).min(p.max_workers)
    }
}
