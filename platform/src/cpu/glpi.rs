//! Windows CPU topology from the buffer `GetLogicalProcessorInformationEx(RelationAll)`
//! fills: a sequence of variable-length `SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX`
//! records. Parsed from bytes with the documented 64-bit layout, so it is tested on any
//! host and never trusts a length it has not checked.
//!
//! Record header: `Relationship: u32`, `Size: u32`. Then, by relationship:
//! - `RelationProcessorCore` (0) and `RelationProcessorPackage` (3): `Flags: u8`,
//!   `EfficiencyClass: u8`, 20 reserved bytes, `GroupCount: u16` at offset 30,
//!   `GROUP_AFFINITY[GroupCount]` at 32.
//! - `RelationNumaNode` (1): `NodeNumber: u32` at 8, `GroupCount: u16` at 30 (0 on
//!   Windows before 20H2, meaning one), masks at 32.
//! - `RelationCache` (2): `Level: u8` at 8, `GroupCount: u16` at 38 (0 meaning one), masks
//!   at 40.
//!
//! `GROUP_AFFINITY` is `Mask: u64`, `Group: u16`, 6 reserved bytes (16 bytes). A CPU's
//! `id` is `group * 64 + bit`; higher `EfficiencyClass` is faster, so cores below the
//! best class are efficiency cores.

use std::collections::HashMap;

use ferrowg_core::sched::{CpuTopology, LogicalCpu};

/// Logical CPUs per Windows processor group (bits in a `KAFFINITY`).
pub const CPUS_PER_GROUP: usize = 64;

/// `LOGICAL_PROCESSOR_RELATIONSHIP` values.
pub mod relation {
    /// `RelationProcessorCore`.
    pub const PROCESSOR_CORE: u32 = 0;
    /// `RelationNumaNode`.
    pub const NUMA_NODE: u32 = 1;
    /// `RelationCache`.
    pub const CACHE: u32 = 2;
    /// `RelationProcessorPackage`.
    pub const PROCESSOR_PACKAGE: u32 = 3;
}

const HEADER: usize = 8;
const PROC_GROUP_COUNT: usize = 30;
const PROC_MASKS: usize = 32;
const CACHE_GROUP_COUNT: usize = 38;
const CACHE_MASKS: usize = 40;
const GROUP_AFFINITY_LEN: usize = 16;

/// Builds the topology from a `GetLogicalProcessorInformationEx(RelationAll)` buffer.
/// Malformed trailing records are ignored; CPUs come from the processor-core records.
pub fn parse(buf: &[u8]) -> CpuTopology {
    let mut cpus: Vec<LogicalCpu> = Vec::new();
    let mut efficiency: HashMap<usize, u8> = HashMap::new();
    let mut node_of = HashMap::new();
    let mut l3_of = HashMap::new();
    let mut package_of = HashMap::new();
    let (mut l3_count, mut package_count) = (0, 0);

    let mut rest = buf;
    while let Some(size) = u32_at(rest, 4).map(|s| s as usize) {
        let Some(record) = rest.get(..size).filter(|_| size >= HEADER) else { break };
        rest = &rest[size..];
        let Some(kind) = u32_at(record, 0) else { break };
        match kind {
            relation::PROCESSOR_CORE => {
                let core = cpus.iter().map(|c| c.core + 1).max().unwrap_or(0);
                let class = record.get(9).copied().unwrap_or(0);
                for (group, id) in cpu_ids(record, PROC_GROUP_COUNT, PROC_MASKS, false) {
                    efficiency.insert(id, class);
                    cpus.push(LogicalCpu { id, core, group, ..LogicalCpu::default() });
                }
            }
            relation::NUMA_NODE => {
                let node = u32_at(record, 8).unwrap_or(0) as usize;
                for (_, id) in cpu_ids(record, PROC_GROUP_COUNT, PROC_MASKS, true) {
                    node_of.insert(id, node);
                }
            }
            relation::CACHE if record.get(8) == Some(&3) => {
                for (_, id) in cpu_ids(record, CACHE_GROUP_COUNT, CACHE_MASKS, true) {
                    l3_of.insert(id, l3_count);
                }
                l3_count += 1;
            }
            relation::PROCESSOR_PACKAGE => {
                for (_, id) in cpu_ids(record, PROC_GROUP_COUNT, PROC_MASKS, false) {
                    package_of.insert(id, package_count);
                }
                package_count += 1;
            }
            _ => {}
        }
    }
    for cpu in &mut cpus {
        cpu.numa_node = node_of.get(&cpu.id).copied().unwrap_or(0);
        cpu.l3 = match l3_of.get(&cpu.id) {
            Some(&l3) => l3,
            None => package_of.get(&cpu.id).copied().unwrap_or(0),
        };
    }
    super::classify_by_score(&mut cpus, |c| efficiency.get(&c.id).copied().unwrap_or(0).into());
    cpus.sort_by_key(|c| c.id);
    CpuTopology { cpus }
}

/// The `(group, id)` of every CPU in the record's `GROUP_AFFINITY` array. With
/// `zero_means_one`, a `GroupCount` of 0 is read as one mask (older Windows).
fn cpu_ids(
    record: &[u8],
    count_at: usize,
    masks_at: usize,
    zero_means_one: bool,
) -> Vec<(u16, usize)> {
    let mut count = u16_at(record, count_at).unwrap_or(0) as usize;
    if count == 0 && zero_means_one {
        count = 1;
    }
    let mut out = Vec::new();
    for i in 0..count {
        let at = masks_at + i * GROUP_AFFINITY_LEN;
        let (Some(mask), Some(group)) = (u64_at(record, at), u16_at(record, at + 8)) else { break };
        for bit in (0..CPUS_PER_GROUP).filter(|b| mask & (1u64 << b) != 0) {
            out.push((group, group as usize * CPUS_PER_GROUP + bit));
        }
    }
    out
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(*b.get(at..)?.first_chunk()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(*b.get(at..)?.first_chunk()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(*b.get(at..)?.first_chunk()?))
}
