//! CPU topology parsers against captured sysfs trees (tests/data, written by
//! make_trees.py), captured macOS sysctl text, and synthesized Windows
//! GetLogicalProcessorInformationEx buffers; plus the live Linux reader.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use ferrowg_core::sched::{CoreKind, CpuTopology};
use ferrowg_platform::cpu::{glpi, sysctl, sysfs};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

/// CPU ids grouped by a key, as sorted sets, so tests compare partitions, not numbering.
fn groups(
    topo: &CpuTopology,
    key: impl Fn(&ferrowg_core::sched::LogicalCpu) -> usize,
) -> BTreeSet<Vec<usize>> {
    let mut map: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for c in &topo.cpus {
        map.entry(key(c)).or_default().push(c.id);
    }
    map.into_values().collect()
}

fn set(v: &[&[usize]]) -> BTreeSet<Vec<usize>> {
    v.iter().map(|g| g.to_vec()).collect()
}

#[test]
fn two_socket_smt_numa() {
    let topo = sysfs::read_topology(&data("linux-2socket-smt"), None).unwrap();
    assert_eq!(topo.cpus.iter().map(|c| c.id).collect::<Vec<_>>(), (0..8).collect::<Vec<_>>());
    assert_eq!(groups(&topo, |c| c.core), set(&[&[0, 4], &[1, 5], &[2, 6], &[3, 7]]));
    assert_eq!(groups(&topo, |c| c.numa_node), set(&[&[0, 1, 4, 5], &[2, 3, 6, 7]]));
    assert_eq!(groups(&topo, |c| c.l3), set(&[&[0, 1, 4, 5], &[2, 3, 6, 7]]));
    assert!(topo.cpus.iter().all(|c| c.kind == CoreKind::Performance && c.group == 0));
    // Node numbers are the kernel's, not renumbered.
    assert_eq!(topo.cpus[2].numa_node, 1);
}

#[test]
fn affinity_mask_limits_the_cpus() {
    let topo = sysfs::read_topology(&data("linux-2socket-smt"), Some(&[1, 2, 5, 42])).unwrap();
    assert_eq!(topo.cpus.iter().map(|c| c.id).collect::<Vec<_>>(), vec![1, 2, 5]);
    assert_eq!(groups(&topo, |c| c.core), set(&[&[1, 5], &[2]]));
}

#[test]
fn intel_hybrid_marks_atom_cpus_as_efficiency() {
    let topo = sysfs::read_topology(&data("linux-hybrid"), None).unwrap();
    assert_eq!(topo.cpus.len(), 16);
    let e: Vec<usize> =
        topo.cpus.iter().filter(|c| c.kind == CoreKind::Efficiency).map(|c| c.id).collect();
    assert_eq!(e, (8..16).collect::<Vec<_>>());
    // 4 SMT P-cores and 8 single-thread E-cores: 12 cores.
    assert_eq!(groups(&topo, |c| c.core).len(), 12);
    assert!(groups(&topo, |c| c.core).contains(&vec![0, 1]));
    assert_eq!(groups(&topo, |c| c.l3).len(), 1);
}

#[test]
fn big_little_by_capacity_without_l3_or_nodes() {
    let topo = sysfs::read_topology(&data("linux-big-little"), None).unwrap();
    let kinds: Vec<CoreKind> = topo.cpus.iter().map(|c| c.kind).collect();
    assert_eq!(&kinds[..4], &[CoreKind::Efficiency; 4]);
    assert_eq!(&kinds[4..], &[CoreKind::Performance; 4]);
    assert_eq!(groups(&topo, |c| c.core).len(), 8);
    assert!(topo.cpus.iter().all(|c| c.numa_node == 0));
    // No L3: the package is the cache domain.
    assert_eq!(groups(&topo, |c| c.l3).len(), 1);
}

#[test]
fn captured_dev_machine() {
    let topo = sysfs::read_topology(&data("linux-2vcpu"), None).unwrap();
    assert_eq!(topo.cpus.len(), 2);
    assert_eq!(groups(&topo, |c| c.core), set(&[&[0], &[1]]));
    assert_eq!(groups(&topo, |c| c.l3), set(&[&[0, 1]]));
}

#[test]
fn missing_tree_is_empty_not_a_panic() {
    let topo = sysfs::read_topology(&data("does-not-exist"), None).unwrap();
    assert!(topo.cpus.is_empty());
}

#[cfg(any(target_os = "linux", windows))]
#[test]
fn live_topology_matches_this_process() {
    let topo = ferrowg_platform::cpu::topology().unwrap();
    let n = std::thread::available_parallelism().unwrap().get();
    assert_eq!(topo.cpus.len(), n);
    let first = topo.cpus[0];
    // Pinning runs in a fresh thread so the test harness thread keeps its mask.
    let seen_after = std::thread::spawn(move || {
        ferrowg_platform::cpu::pin_current_thread(&first).unwrap();
        ferrowg_platform::cpu::topology().unwrap()
    })
    .join()
    .unwrap();
    // On Linux the topology follows the thread's affinity mask, so a pinned thread sees
    // exactly its CPU.
    if cfg!(target_os = "linux") {
        let ids: Vec<usize> = seen_after.cpus.iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![first.id]);
    }
    // Beyond CPU_SETSIZE on Linux; a processor group that does not exist on Windows.
    let bogus = ferrowg_core::sched::LogicalCpu { id: 1 << 20, group: 999, ..first };
    assert!(ferrowg_platform::cpu::pin_current_thread(&bogus).is_err());
}

const M1_PRO: &str = "\
hw.ncpu: 10
hw.physicalcpu: 10
hw.logicalcpu: 10
hw.nperflevels: 2
hw.perflevel0.physicalcpu: 8
hw.perflevel0.logicalcpu: 8
hw.perflevel0.name: Performance
hw.perflevel1.physicalcpu: 2
hw.perflevel1.logicalcpu: 2
hw.perflevel1.name: Efficiency
";

const INTEL_MAC: &str = "\
hw.ncpu: 8
hw.physicalcpu: 4
hw.logicalcpu: 8
";

#[test]
fn apple_silicon_perf_levels() {
    let values = sysctl::SysctlValues::parse(M1_PRO);
    assert_eq!(values.perf_levels.len(), 2);
    let topo = sysctl::topology(&values);
    assert_eq!(topo.cpus.len(), 10);
    let e = topo.cpus.iter().filter(|c| c.kind == CoreKind::Efficiency).count();
    assert_eq!(e, 2);
    assert_eq!(groups(&topo, |c| c.core).len(), 10);
    assert_eq!(groups(&topo, |c| c.l3).len(), 2);
}

#[test]
fn intel_mac_smt_without_perf_levels() {
    let topo = sysctl::topology(&sysctl::SysctlValues::parse(INTEL_MAC));
    assert_eq!(topo.cpus.len(), 8);
    assert!(topo.cpus.iter().all(|c| c.kind == CoreKind::Performance));
    assert_eq!(groups(&topo, |c| c.core), set(&[&[0, 1], &[2, 3], &[4, 5], &[6, 7]]));
}

/// Appends a GetLogicalProcessorInformationEx record in the documented x64 layout.
fn record(buf: &mut Vec<u8>, relation: u32, body: &[u8], count_at: usize, masks: &[(u64, u16)]) {
    let masks_at = count_at + 2;
    let size = masks_at + 16 * masks.len();
    let start = buf.len();
    buf.extend_from_slice(&relation.to_le_bytes());
    buf.extend_from_slice(&(size as u32).to_le_bytes());
    buf.extend_from_slice(body);
    buf.resize(start + count_at, 0);
    buf.extend_from_slice(&(masks.len() as u16).to_le_bytes());
    for &(mask, group) in masks {
        buf.extend_from_slice(&mask.to_le_bytes());
        buf.extend_from_slice(&group.to_le_bytes());
        buf.extend_from_slice(&[0; 6]);
    }
}

fn core(buf: &mut Vec<u8>, efficiency: u8, mask: u64, group: u16) {
    let smt = u8::from(mask.count_ones() > 1);
    record(buf, glpi::relation::PROCESSOR_CORE, &[smt, efficiency], 30, &[(mask, group)]);
}

#[test]
fn windows_hybrid_two_groups() {
    let mut buf = Vec::new();
    // Group 0: two SMT P-cores (class 1) and two E-cores (class 0); group 1: one P-core.
    core(&mut buf, 1, 0b0011, 0);
    core(&mut buf, 1, 0b1100, 0);
    core(&mut buf, 0, 0b1_0000, 0);
    core(&mut buf, 0, 0b10_0000, 0);
    core(&mut buf, 1, 0b11, 1);
    record(&mut buf, glpi::relation::NUMA_NODE, &0u32.to_le_bytes(), 30, &[(0b11_1111, 0)]);
    record(&mut buf, glpi::relation::NUMA_NODE, &1u32.to_le_bytes(), 30, &[(0b11, 1)]);
    record(&mut buf, glpi::relation::CACHE, &[3], 38, &[(0b11_1111, 0)]);
    record(&mut buf, glpi::relation::CACHE, &[2], 38, &[(0b11, 1)]);
    record(&mut buf, glpi::relation::CACHE, &[3], 38, &[(0b11, 1)]);
    let topo = glpi::parse(&buf);
    let ids: Vec<usize> = topo.cpus.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![0, 1, 2, 3, 4, 5, 64, 65]);
    assert_eq!(groups(&topo, |c| c.core), set(&[&[0, 1], &[2, 3], &[4], &[5], &[64, 65]]));
    assert_eq!(groups(&topo, |c| c.numa_node), set(&[&[0, 1, 2, 3, 4, 5], &[64, 65]]));
    assert_eq!(groups(&topo, |c| c.l3), set(&[&[0, 1, 2, 3, 4, 5], &[64, 65]]));
    assert_eq!(groups(&topo, |c| c.group as usize), set(&[&[0, 1, 2, 3, 4, 5], &[64, 65]]));
    let e: Vec<usize> =
        topo.cpus.iter().filter(|c| c.kind == CoreKind::Efficiency).map(|c| c.id).collect();
    assert_eq!(e, vec![4, 5]);
}

#[test]
fn windows_truncated_buffer_keeps_whole_records_only() {
    let mut buf = Vec::new();
    core(&mut buf, 0, 0b11, 0);
    core(&mut buf, 0, 0b1100, 0);
    let whole = glpi::parse(&buf);
    assert_eq!(whole.cpus.len(), 4);
    for cut in 0..buf.len() {
        let topo = glpi::parse(&buf[..cut]);
        assert!(topo.cpus.len() <= 2, "cut at {cut}");
    }
    // A record claiming size 0 must not loop forever.
    let mut zero = vec![0u8; 8];
    zero.extend_from_slice(&buf);
    assert!(glpi::parse(&zero).cpus.is_empty());
}
