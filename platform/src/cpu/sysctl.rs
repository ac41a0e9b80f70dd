//! macOS CPU topology from sysctl values: `hw.nperflevels`, `hw.perflevelN.logicalcpu`
//! and `hw.perflevelN.physicalcpu` (Apple silicon: level 0 = performance cores, higher
//! levels = efficiency cores), else `hw.physicalcpu` / `hw.logicalcpu` (Intel Macs).
//!
//! macOS does not expose which CPU number is which kind, and cannot pin threads anyway,
//! so CPUs are numbered level by level, performance first. Each perf level is its own
//! cache cluster (`l3`); SMT siblings (Intel) share `core`. One NUMA node.

use ferrowg_core::sched::{CoreKind, CpuTopology, LogicalCpu};

/// Most perf levels read (Apple ships two today).
const MAX_LEVELS: usize = 8;

/// The sysctl values the topology is built from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SysctlValues {
    /// `hw.logicalcpu`.
    pub logical: usize,
    /// `hw.physicalcpu`.
    pub physical: usize,
    /// `hw.perflevelN.{logicalcpu,physicalcpu}` for N = 0.., empty on Intel Macs.
    pub perf_levels: Vec<PerfLevel>,
}

/// One performance level's CPU counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerfLevel {
    /// `hw.perflevelN.logicalcpu`.
    pub logical: usize,
    /// `hw.perflevelN.physicalcpu`.
    pub physical: usize,
}

impl SysctlValues {
    /// Collects the values through `read(name)`, which returns `None` for a missing name
    /// (the sysctl call on macOS, a map in tests).
    pub fn read_with(read: impl Fn(&str) -> Option<usize>) -> Self {
        let levels = read("hw.nperflevels").unwrap_or(0).min(MAX_LEVELS);
        let perf_levels = (0..levels)
            .map_while(|n| {
                Some(PerfLevel {
                    logical: read(&format!("hw.perflevel{n}.logicalcpu"))?,
                    physical: read(&format!("hw.perflevel{n}.physicalcpu"))?,
                })
            })
            .collect();
        Self {
            logical: read("hw.logicalcpu").unwrap_or(0),
            physical: read("hw.physicalcpu").unwrap_or(0),
            perf_levels,
        }
    }

    /// Parses `sysctl hw` output (`name: value` lines; other lines are ignored).
    pub fn parse(text: &str) -> Self {
        let pairs: Vec<(&str, usize)> = text
            .lines()
            .filter_map(|l| {
                let (k, v) = l.split_once(':')?;
                Some((k.trim(), v.trim().parse().ok()?))
            })
            .collect();
        Self::read_with(|name| pairs.iter().find(|(k, _)| *k == name).map(|&(_, v)| v))
    }
}

/// Builds the topology: one entry per logical CPU.
pub fn topology(values: &SysctlValues) -> CpuTopology {
    let levels: Vec<PerfLevel> = if values.perf_levels.iter().any(|l| l.logical > 0) {
        values.perf_levels.clone()
    } else {
        vec![PerfLevel { logical: values.logical, physical: values.physical }]
    };
    let mut cpus = Vec::new();
    let mut core_base = 0;
    for (level, counts) in levels.iter().enumerate() {
        let physical = counts.physical.clamp(1, counts.logical.max(1));
        let threads_per_core = counts.logical.div_ceil(physical).max(1);
        for i in 0..counts.logical {
            cpus.push(LogicalCpu {
                id: cpus.len(),
                core: core_base + i / threads_per_core,
                numa_node: 0,
                l3: level,
                kind: if level == 0 { CoreKind::Performance } else { CoreKind::Efficiency },
                group: 0,
            });
        }
        core_base += counts.logical.div_ceil(threads_per_core);
    }
    CpuTopology { cpus }
}
