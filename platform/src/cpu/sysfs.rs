//! Linux CPU topology from sysfs. The root (normally `/sys/devices`) is a parameter, so
//! tests read captured trees:
//!
//! - `system/cpu/online` — the CPU numbers (else the `cpuN` directories)
//! - `system/cpu/cpuN/topology/thread_siblings_list` — SMT siblings share a core (else
//!   `physical_package_id` + `core_id`)
//! - `system/cpu/cpuN/cache/indexK/{level,shared_cpu_list}` — the level-3 cache group
//! - `system/node/nodeM/cpulist` — NUMA membership
//! - `cpu_atom/cpus` (Intel hybrid: E-cores; `cpu_core/cpus` are the P-cores), else
//!   `system/cpu/cpuN/cpu_capacity` (Arm big.LITTLE) — core kind

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::Path;

use ferrowg_core::sched::{CoreKind, CpuTopology, LogicalCpu};

use crate::Error;

/// Where the kernel exposes the tree on a live system.
pub const SYSFS_DEVICES: &str = "/sys/devices";

/// Largest CPU number accepted in a list (guards against absurd ranges in bad input).
const MAX_CPU: usize = 1 << 16;

/// Reads the topology under `root` (a `/sys/devices`-shaped tree). With `allowed`, only
/// those CPU numbers are kept (the process affinity mask).
pub fn read_topology(root: &Path, allowed: Option<&[usize]>) -> Result<CpuTopology, Error> {
    let cpu_dir = root.join("system/cpu");
    let mut ids = match read_trimmed(&cpu_dir.join("online")) {
        Some(list) => parse_cpu_list(&list).ok_or(Error::NotFound("a valid system/cpu/online"))?,
        None => list_numbered(&cpu_dir, "cpu"),
    };
    if let Some(allowed) = allowed {
        ids.retain(|id| allowed.contains(id));
    }
    let numa = numa_nodes(&root.join("system/node"));
    let atoms = read_trimmed(&root.join("cpu_atom/cpus")).and_then(|s| parse_cpu_list(&s));

    let mut packages: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    let mut cpus = Vec::with_capacity(ids.len());
    let mut capacity = HashMap::new();
    for id in ids {
        let dir = cpu_dir.join(format!("cpu{id}"));
        let topo = dir.join("topology");
        let package = read_usize(&topo.join("physical_package_id")).unwrap_or(0);
        let core = first_of_list(&topo.join("thread_siblings_list"))
            .or_else(|| first_of_list(&topo.join("core_cpus_list")))
            .unwrap_or_else(|| {
                let core_id = read_usize(&topo.join("core_id")).unwrap_or(id);
                let next = MAX_CPU + packages.len();
                *packages.entry((package, core_id)).or_insert(next)
            });
        let l3 = l3_group(&dir).unwrap_or(MAX_CPU + package);
        if let Some(c) = read_usize(&dir.join("cpu_capacity")) {
            capacity.insert(id, c as u64);
        }
        let kind = match &atoms {
            Some(atoms) if atoms.contains(&id) => CoreKind::Efficiency,
            _ => CoreKind::Performance,
        };
        let numa_node = numa.get(&id).copied().unwrap_or(0);
        cpus.push(LogicalCpu { id, core, numa_node, l3, kind, group: 0 });
    }
    if atoms.is_none() && capacity.len() == cpus.len() {
        super::classify_by_score(&mut cpus, |c| capacity.get(&c.id).copied().unwrap_or(0));
    }
    renumber(&mut cpus);
    Ok(CpuTopology { cpus })
}

/// Parses a kernel CPU list such as `0-3,8,10-11` (an empty string is an empty list).
/// `None` for malformed input.
pub fn parse_cpu_list(s: &str) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.trim().is_empty()) {
        let part = part.trim();
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse().ok()?, b.trim().parse().ok()?),
            None => {
                let v: usize = part.parse().ok()?;
                (v, v)
            }
        };
        if lo > hi || hi >= MAX_CPU {
            return None;
        }
        out.extend(lo..=hi);
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

/// Makes `core` and `l3` small dense numbers (0, 1, ...) in order of first appearance.
fn renumber(cpus: &mut [LogicalCpu]) {
    let mut cores = HashMap::new();
    let mut l3s = HashMap::new();
    for cpu in cpus.iter_mut() {
        let n = cores.len();
        cpu.core = *cores.entry(cpu.core).or_insert(n);
        let n = l3s.len();
        cpu.l3 = *l3s.entry(cpu.l3).or_insert(n);
    }
}

/// The lowest CPU sharing this CPU's level-3 cache, as the group's name.
fn l3_group(cpu_dir: &Path) -> Option<usize> {
    for index in list_numbered(&cpu_dir.join("cache"), "index") {
        let dir = cpu_dir.join(format!("cache/index{index}"));
        if read_usize(&dir.join("level")) == Some(3) {
            return first_of_list(&dir.join("shared_cpu_list"));
        }
    }
    None
}

fn numa_nodes(node_dir: &Path) -> HashMap<usize, usize> {
    let mut map = HashMap::new();
    for node in list_numbered(node_dir, "node") {
        let path = node_dir.join(format!("node{node}/cpulist"));
        for cpu in read_trimmed(&path).and_then(|s| parse_cpu_list(&s)).unwrap_or_default() {
            map.insert(cpu, node);
        }
    }
    map
}

/// The numbers N of the entries named `{prefix}N` in `dir`, sorted.
fn list_numbered(dir: &Path, prefix: &str) -> Vec<usize> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<usize> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.strip_prefix(prefix)?.parse().ok())
        .collect();
    out.sort_unstable();
    out
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

fn read_usize(path: &Path) -> Option<usize> {
    read_trimmed(path)?.parse().ok()
}

fn first_of_list(path: &Path) -> Option<usize> {
    parse_cpu_list(&read_trimmed(path)?)?.first().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,8,10-11\n"), Some(vec![0, 1, 2, 3, 8, 10, 11]));
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("5"), Some(vec![5]));
        assert_eq!(parse_cpu_list("3,1-2,2"), Some(vec![1, 2, 3]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("a"), None);
        assert_eq!(parse_cpu_list("0-99999999"), None);
    }
}
