//! Bufferbloat control: CoDel (RFC 8289) and DQL-style byte limits.
//!
//! Both are pure state machines: the caller owns the queue and passes `now` in.
//! [`Codel`] decides at dequeue time which packets of a per-peer queue to drop;
//! [`Dql`] (Linux's dynamic queue limits) sizes the bytes in flight between two stages
//! from how many bytes the next stage completes per interval, instead of a fixed depth.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use ferrowg_core::aqm::{Codel, CodelParams, VecCodelQueue};
//!
//! # let t0 = Instant::now();
//! let mut codel = Codel::new(CodelParams::default());
//! let mut queue = VecCodelQueue::new();
//! queue.enqueue("packet", 1420, t0);
//! let mut recycle = |_dropped| {};
//! let sent = codel.dequeue(t0 + Duration::from_millis(1), &mut queue, &mut recycle);
//! assert_eq!(sent, Some("packet"));
//! assert_eq!(codel.dropped(), 0);
//! ```

mod codel;
#[cfg(test)]
mod codel_tests;
mod dql;
#[cfg(test)]
mod dql_tests;

pub use codel::{Codel, CodelParams, CodelQueue, VecCodelQueue};
pub use dql::{Dql, DqlParams};
