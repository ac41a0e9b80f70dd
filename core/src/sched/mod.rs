//! Worker count and placement from a [`CpuTopology`] value that `ferrowg-platform` fills
//! in (Linux /sys, macOS sysctl hw.perflevel*, Windows GetLogicalProcessorInformationEx).
//!
//! Two pure pieces, internal to the engine (public with the `internals` feature): `plan`
//! turns a topology into a `Placement` (the I/O thread's CPU and the CPUs workers are
//! added on, best first), and `Scaler` decides from measured crypto busy time and `now`
//! how many of those workers to run (0 = crypto inline on the I/O thread), with
//! hysteresis so the count does not flap.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use ferrowg_core::sched::{plan, CpuTopology, PlacementPolicy, Scaler, ScalerParams};
//!
//! let placement = plan(&CpuTopology::uniform(4), PlacementPolicy::default());
//! let mut scaler = Scaler::new(ScalerParams::new(placement.max_workers()));
//! # let start = Instant::now();
//! // Every ~100 ms: feed the crypto busy time measured since the previous call.
//! scaler.update(start, Duration::ZERO);
//! let now = start + Duration::from_millis(100);
//! let workers = scaler.update(now, Duration::from_millis(150)); // 1.5 cores busy
//! assert_eq!(workers, 2); // run workers on placement.workers[..2]
//! ```

mod placement;
#[cfg_attr(not(feature = "internals"), allow(dead_code))] // accessors the tests read
mod scaler;
#[cfg(test)]
mod tests;

// The engine's internals: public only with the `internals` feature (benches, tests).
#[cfg(feature = "internals")]
pub use placement::{plan, Placement, PlacementPolicy};
#[cfg(not(feature = "internals"))]
pub(crate) use placement::{plan, Placement, PlacementPolicy};
#[cfg(feature = "internals")]
pub use scaler::{Scaler, ScalerParams};
#[cfg(not(feature = "internals"))]
pub(crate) use scaler::{Scaler, ScalerParams};

/// The kind of a core on a hybrid CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CoreKind {
    /// A performance core (or any core on a non-hybrid CPU).
    #[default]
    Performance,
    /// An efficiency core (Apple "perflevel1", Intel E-core, Windows lower efficiency class).
    Efficiency,
}

/// One logical CPU (a hardware thread) as the OS numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LogicalCpu {
    /// OS CPU number (Linux cpuN; on Windows the index within all groups).
    pub id: usize,
    /// Physical core this thread belongs to (SMT siblings share it).
    pub core: usize,
    /// NUMA node.
    pub numa_node: usize,
    /// Last-level cache domain (L3 group).
    pub l3: usize,
    /// Performance or efficiency core.
    pub kind: CoreKind,
    /// Windows processor group (0 elsewhere).
    pub group: u16,
}

/// The machine's CPUs as the scheduler sees them. `cpus` only lists CPUs the process may
/// run on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CpuTopology {
    /// Every usable logical CPU.
    pub cpus: Vec<LogicalCpu>,
}

impl CpuTopology {
    /// A flat topology of `n` independent cores: one NUMA node, one L3, all performance.
    pub fn uniform(n: usize) -> Self {
        Self {
            cpus: (0..n).map(|i| LogicalCpu { id: i, core: i, ..LogicalCpu::default() }).collect(),
        }
    }
}
