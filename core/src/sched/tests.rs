//! Placement on synthetic topologies and the scaler's hysteresis on synthetic load.

use std::time::{Duration, Instant};

use super::*;

fn cpu(id: usize, core: usize, numa_node: usize, l3: usize, kind: CoreKind) -> LogicalCpu {
    LogicalCpu { id, core, numa_node, l3, kind, group: 0 }
}

fn ids(cpus: &[LogicalCpu]) -> Vec<usize> {
    cpus.iter().map(|c| c.id).collect()
}

#[test]
fn empty_topology_has_no_placement() {
    let p = plan(&CpuTopology::default(), PlacementPolicy::default());
    assert_eq!(p, Placement::default());
    assert_eq!(p.max_workers(), 0);
}

#[test]
fn one_core_stays_inline() {
    let p = plan(&CpuTopology::uniform(1), PlacementPolicy::default());
    assert_eq!(p.io_cpu.map(|c| c.id), Some(0));
    assert_eq!(p.max_workers(), 0, "a worker on the I/O thread's only core cannot help");
}

#[test]
fn two_cores_use_the_other_core_first() {
    let p = plan(&CpuTopology::uniform(2), PlacementPolicy::default());
    assert_eq!(p.io_cpu.map(|c| c.id), Some(0));
    assert_eq!(ids(&p.workers), vec![1, 0]);
}

fn two_nodes_of_eight() -> CpuTopology {
    CpuTopology { cpus: (0..16).map(|i| cpu(i, i, i / 8, i / 8, CoreKind::Performance)).collect() }
}

#[test]
fn two_numa_nodes_stay_on_one() {
    let p = plan(&two_nodes_of_eight(), PlacementPolicy::default());
    assert_eq!(p.max_workers(), 8);
    assert!(p.workers.iter().all(|c| c.numa_node == 0));
    assert_eq!(ids(&p.workers), vec![1, 2, 3, 4, 5, 6, 7, 0]);
}

#[test]
fn numa_node_with_more_usable_cores_wins() {
    // The process may only run on 3 CPUs of node 0 but all 8 of node 1.
    let mut topo = two_nodes_of_eight();
    topo.cpus.retain(|c| c.numa_node == 1 || c.id < 3);
    let p = plan(&topo, PlacementPolicy::default());
    assert_eq!(p.io_cpu.map(|c| c.numa_node), Some(1));
    assert_eq!(p.max_workers(), 8);
    assert!(p.workers.iter().all(|c| c.numa_node == 1));
}

#[test]
fn preferred_l3_domain_first() {
    // One node, two L3 domains (CCXs): 0-3 share L3 0, 4-9 share L3 1.
    let topo = CpuTopology {
        cpus: (0..10).map(|i| cpu(i, i, 0, usize::from(i >= 4), CoreKind::Performance)).collect(),
    };
    let p = plan(&topo, PlacementPolicy::default());
    assert_eq!(ids(&p.workers), vec![5, 6, 7, 8, 9, 0, 1, 2, 3, 4]);
    assert_eq!(p.io_cpu.map(|c| c.l3), Some(1));
}

fn hybrid_4p_4e() -> CpuTopology {
    // Like Apple M1 numbering: efficiency cores first (0-3), performance 4-7, separate L2/L3.
    CpuTopology {
        cpus: (0..8)
            .map(|i| {
                let kind = if i < 4 { CoreKind::Efficiency } else { CoreKind::Performance };
                cpu(i, i, 0, usize::from(i >= 4), kind)
            })
            .collect(),
    }
}

#[test]
fn hybrid_prefers_performance_cores() {
    let p = plan(&hybrid_4p_4e(), PlacementPolicy::default());
    assert_eq!(p.io_cpu.map(|c| c.kind), Some(CoreKind::Performance));
    assert_eq!(ids(&p.workers), vec![5, 6, 7, 0, 1, 2, 3, 4]);
    let p = plan(&hybrid_4p_4e(), PlacementPolicy { efficiency_cores: false, smt_siblings: false });
    assert_eq!(ids(&p.workers), vec![5, 6, 7, 4]);
}

#[test]
fn all_efficiency_cores_still_run() {
    let topo =
        CpuTopology { cpus: (0..2).map(|i| cpu(i, i, 0, 0, CoreKind::Efficiency)).collect() };
    let p = plan(&topo, PlacementPolicy { efficiency_cores: false, smt_siblings: false });
    assert_eq!(p.io_cpu.map(|c| c.id), Some(0));
    assert_eq!(p.max_workers(), 0);
}

fn smt_4x2() -> CpuTopology {
    // Linux numbering: CPUs 0-3 are the first threads of cores 0-3, 4-7 their siblings.
    CpuTopology { cpus: (0..8).map(|i| cpu(i, i % 4, 0, 0, CoreKind::Performance)).collect() }
}

#[test]
fn smt_siblings_not_used_by_default() {
    let p = plan(&smt_4x2(), PlacementPolicy::default());
    assert_eq!(ids(&p.workers), vec![1, 2, 3, 0]);
}

#[test]
fn smt_siblings_used_last() {
    let p = plan(&smt_4x2(), PlacementPolicy { efficiency_cores: true, smt_siblings: true });
    assert_eq!(ids(&p.workers), vec![1, 2, 3, 4, 5, 6, 7, 0]);
}

#[test]
fn hybrid_with_smt_performance_siblings_after_efficiency_cores() {
    // Intel-style: 2 P cores with 2 threads each (0-3), 4 E cores (4-7).
    let mut cpus: Vec<LogicalCpu> =
        (0..4).map(|i| cpu(i, i / 2, 0, 0, CoreKind::Performance)).collect();
    cpus.extend((4..8).map(|i| cpu(i, i - 2, 0, 0, CoreKind::Efficiency)));
    let p =
        plan(&CpuTopology { cpus }, PlacementPolicy { efficiency_cores: true, smt_siblings: true });
    assert_eq!(ids(&p.workers), vec![2, 4, 5, 6, 7, 1, 3, 0]);
}

// ---- Scaler ----

#[allow(clippy::disallowed_methods)] // an arbitrary origin for the virtual timeline
fn origin() -> Instant {
    Instant::now()
}

/// Feeds `load` cores of busy time every 100 ms for `secs`, returns the worker counts.
fn drive(scaler: &mut Scaler, now: &mut Instant, load: f64, secs: f64) -> Vec<usize> {
    let tick = Duration::from_millis(100);
    let steps = (secs * 10.0).round() as usize;
    (0..steps)
        .map(|_| {
            *now += tick;
            scaler.update(*now, tick.mul_f64(load))
        })
        .collect()
}

fn no_smoothing(max_workers: usize) -> ScalerParams {
    ScalerParams { smoothing: 1.0, ..ScalerParams::new(max_workers) }
}

#[test]
fn low_rate_stays_inline() {
    let mut now = origin();
    let mut s = Scaler::new(ScalerParams::new(8));
    s.update(now, Duration::ZERO);
    assert!(drive(&mut s, &mut now, 0.3, 10.0).iter().all(|&w| w == 0));
}

#[test]
fn fans_out_as_load_rises() {
    let mut now = origin();
    let mut s = Scaler::new(no_smoothing(8));
    s.update(now, Duration::ZERO);
    assert_eq!(drive(&mut s, &mut now, 0.6, 0.1), vec![1]); // ceil(0.6 / 0.8)
    assert_eq!(drive(&mut s, &mut now, 1.0, 0.1), vec![2]); // ceil(1.0 / 0.8)
    assert_eq!(drive(&mut s, &mut now, 3.5, 0.1), vec![5]); // ceil(3.5 / 0.8)
                                                            // Saturated workers report load == workers: each step asks for one more.
    assert_eq!(drive(&mut s, &mut now, 5.0, 0.1), vec![7]);
    assert_eq!(drive(&mut s, &mut now, 7.0, 0.3), vec![8, 8, 8]);
}

#[test]
fn never_more_workers_than_useful_cores() {
    let mut now = origin();
    let mut s = Scaler::new(no_smoothing(2));
    s.update(now, Duration::ZERO);
    assert!(drive(&mut s, &mut now, 2.0, 5.0).iter().all(|&w| w <= 2));
    assert_eq!(s.workers(), 2);

    let max = plan(&CpuTopology::uniform(1), PlacementPolicy::default()).max_workers();
    let mut s = Scaler::new(no_smoothing(max));
    s.update(now, Duration::ZERO);
    assert!(drive(&mut s, &mut now, 1.0, 5.0).iter().all(|&w| w == 0), "1 core: always inline");
}

#[test]
fn falls_back_one_step_per_hold() {
    let mut now = origin();
    let mut s = Scaler::new(no_smoothing(8));
    s.update(now, Duration::ZERO);
    drive(&mut s, &mut now, 3.0, 0.1);
    assert_eq!(s.workers(), 4); // ceil(3.0 / 0.8)
                                // Load collapses: nothing changes for the 1 s hold, then one step per second.
    let trace = drive(&mut s, &mut now, 0.05, 6.0);
    assert!(trace[..10].iter().all(|&w| w == 4), "{trace:?}");
    assert_eq!(trace[10], 3);
    assert!(trace[11..20].iter().all(|&w| w == 3), "{trace:?}");
    assert_eq!(trace[20], 2);
    assert_eq!(trace[30], 1);
    assert_eq!(trace[40], 0);
    assert_eq!(*trace.last().unwrap(), 0);
}

#[test]
fn load_inside_the_band_does_not_flap() {
    let mut now = origin();
    let mut s = Scaler::new(no_smoothing(8));
    s.update(now, Duration::ZERO);
    drive(&mut s, &mut now, 2.3, 0.1);
    assert_eq!(s.workers(), 3);
    // 3 workers: up above 2.4 cores, down at or below 1.0 core. Swing inside for 20 s.
    for _ in 0..100 {
        assert!(drive(&mut s, &mut now, 1.1, 0.1).iter().all(|&w| w == 3));
        assert!(drive(&mut s, &mut now, 2.35, 0.1).iter().all(|&w| w == 3));
    }
    // Brief dips below the band shorter than the hold do not step down either.
    for _ in 0..10 {
        assert!(drive(&mut s, &mut now, 0.5, 0.5).iter().all(|&w| w == 3));
        assert!(drive(&mut s, &mut now, 2.0, 0.2).iter().all(|&w| w == 3));
    }
}

#[test]
fn inline_band_between_fan_in_and_fan_out() {
    let mut now = origin();
    let mut s = Scaler::new(no_smoothing(4));
    s.update(now, Duration::ZERO);
    assert!(drive(&mut s, &mut now, 0.45, 3.0).iter().all(|&w| w == 0));
    drive(&mut s, &mut now, 0.55, 0.1);
    assert_eq!(s.workers(), 1);
    // 0.3 core is above fan-in (0.2): the worker stays.
    assert!(drive(&mut s, &mut now, 0.3, 5.0).iter().all(|&w| w == 1));
    let trace = drive(&mut s, &mut now, 0.1, 2.0);
    assert_eq!(*trace.last().unwrap(), 0);
}

#[test]
fn smoothing_ignores_a_single_spike() {
    let mut now = origin();
    let mut s = Scaler::new(ScalerParams { smoothing: 0.25, ..ScalerParams::new(8) });
    s.update(now, Duration::ZERO);
    drive(&mut s, &mut now, 0.1, 1.0);
    // One 100 ms sample at 1.5 cores moves the smoothed load to about 0.1 + 0.35.
    assert_eq!(drive(&mut s, &mut now, 1.5, 0.1), vec![0]);
    let load = s.load().unwrap();
    assert!((0.4..0.5).contains(&load), "{load}");
}
