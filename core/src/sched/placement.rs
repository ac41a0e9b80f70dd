//! Where workers go: one NUMA node, its best L3 domain first, performance cores before
//! efficiency cores, one thread per physical core before any SMT sibling, and the I/O
//! thread's own CPU last.

use std::collections::BTreeMap;

use super::{CoreKind, CpuTopology, LogicalCpu};

/// Which CPUs [`plan`] may hand to workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacementPolicy {
    /// Use efficiency cores (after every performance core). Default: yes.
    pub efficiency_cores: bool,
    /// Use SMT siblings (after every physical core). Default: no, because a sibling
    /// shares the vector units that ChaCha20-Poly1305 saturates.
    pub smt_siblings: bool,
}

impl Default for PlacementPolicy {
    fn default() -> Self {
        Self { efficiency_cores: true, smt_siblings: false }
    }
}

/// The outcome of [`plan`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Placement {
    /// Where the I/O thread runs (`None` only for an empty topology).
    pub io_cpu: Option<LogicalCpu>,
    /// CPUs for workers 0, 1, 2, ... in the order they should be added; its length is the
    /// most workers worth running. Empty when a hand-off cannot help (one useful core).
    pub workers: Vec<LogicalCpu>,
}

impl Placement {
    /// The most workers worth running.
    pub fn max_workers(&self) -> usize {
        self.workers.len()
    }
}

/// Chooses the I/O thread's CPU and the worker CPUs for `topology`.
///
/// Only one NUMA node is used: the one with the most performance cores (then most cores,
/// then lowest id), so packet buffers never cross the interconnect. Within it, CPUs come
/// in this order: performance cores, then efficiency cores (each group starting with the
/// L3 domain that has the most such cores), then SMT siblings in the same order. The first
/// CPU hosts the I/O thread and is given to a worker last.
pub fn plan(topology: &CpuTopology, policy: PlacementPolicy) -> Placement {
    let Some(node) = best_node(&topology.cpus) else {
        return Placement::default();
    };
    let in_node: Vec<LogicalCpu> =
        topology.cpus.iter().copied().filter(|c| c.numa_node == node).collect();

    // L3 domains ranked by performance cores, then cores, then id.
    let mut l3_rank: Vec<(usize, usize, usize)> = group_cores(&in_node, |c| c.l3)
        .into_iter()
        .map(|(l3, cores)| (l3, count_kind(&cores, CoreKind::Performance), cores.len()))
        .collect();
    l3_rank.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
    let l3_order = |c: &LogicalCpu| l3_rank.iter().position(|r| r.0 == c.l3).unwrap_or(usize::MAX);

    // One primary thread per physical core (the lowest-numbered); the rest are siblings.
    let mut primaries = Vec::new();
    let mut siblings = Vec::new();
    for threads in group_threads(&in_node).into_values() {
        let mut threads = threads.into_iter();
        if let Some(first) = threads.next() {
            primaries.push(first);
        }
        siblings.extend(threads);
    }
    let kind_order = |c: &LogicalCpu| match c.kind {
        CoreKind::Performance => 0,
        CoreKind::Efficiency => 1,
    };
    let key = |c: &LogicalCpu| (kind_order(c), l3_order(c), c.core, c.id);
    primaries.sort_by_key(key);
    siblings.sort_by_key(key);

    let mut order: Vec<LogicalCpu> = primaries;
    if policy.smt_siblings {
        order.extend(siblings);
    }
    if !policy.efficiency_cores {
        order.retain(|c| c.kind == CoreKind::Performance);
        if order.is_empty() {
            // An all-efficiency machine still has to run somewhere.
            order = in_node
                .iter()
                .copied()
                .filter(|c| c.kind == CoreKind::Efficiency)
                .take(1)
                .collect();
        }
    }

    let io_cpu = order.first().copied();
    let mut workers = Vec::new();
    if order.len() >= 2 {
        workers.extend_from_slice(&order[1..]);
        workers.push(order[0]);
    }
    Placement { io_cpu, workers }
}

fn best_node(cpus: &[LogicalCpu]) -> Option<usize> {
    let nodes = group_cores(cpus, |c| c.numa_node);
    nodes
        .into_iter()
        .map(|(node, cores)| (node, count_kind(&cores, CoreKind::Performance), cores.len()))
        .max_by(|a, b| a.1.cmp(&b.1).then(a.2.cmp(&b.2)).then(b.0.cmp(&a.0)))
        .map(|(node, _, _)| node)
}

/// Physical cores (one representative thread each) grouped by `domain`.
fn group_cores(
    cpus: &[LogicalCpu],
    domain: impl Fn(&LogicalCpu) -> usize,
) -> BTreeMap<usize, Vec<LogicalCpu>> {
    let mut out: BTreeMap<usize, Vec<LogicalCpu>> = BTreeMap::new();
    for threads in group_threads(cpus).into_values() {
        if let Some(first) = threads.first() {
            out.entry(domain(first)).or_default().push(*first);
        }
    }
    out
}

/// Threads grouped by physical core, each group sorted by CPU id.
fn group_threads(cpus: &[LogicalCpu]) -> BTreeMap<(usize, usize), Vec<LogicalCpu>> {
    let mut out: BTreeMap<(usize, usize), Vec<LogicalCpu>> = BTreeMap::new();
    for cpu in cpus {
        // Core ids are only unique within a NUMA node on some systems.
        out.entry((cpu.numa_node, cpu.core)).or_default().push(*cpu);
    }
    for threads in out.values_mut() {
        threads.sort_by_key(|c| c.id);
    }
    out
}

fn count_kind(cores: &[LogicalCpu], kind: CoreKind) -> usize {
    cores.iter().filter(|c| c.kind == kind).count()
}
