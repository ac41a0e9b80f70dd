//! `PinningHook` places the engine's threads where the plan says (Linux: the thread's
//! affinity mask, read back from `/proc` after the device started).
#![cfg(target_os = "linux")]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::engine::memory_device;
use ferrowg_core::device::{DeviceOptions, ThreadHook, ThreadRole, WorkerMode};
use ferrowg_core::sched::LogicalCpu;
use ferrowg_platform::cpu::{self, PinningHook};

/// Wraps the hook under test and records what the engine asked for.
#[derive(Default)]
struct Recording {
    inner: PinningHook,
    asked: Mutex<HashMap<String, Option<usize>>>,
}

impl ThreadHook for Recording {
    fn on_thread_start(&self, role: ThreadRole, cpu: Option<LogicalCpu>) {
        self.inner.on_thread_start(role, cpu);
        let name = std::thread::current().name().unwrap_or_default().to_owned();
        self.asked.lock().unwrap().insert(name, cpu.map(|c| c.id));
    }
}

/// `Cpus_allowed_list` of every thread of this process, by thread name.
fn affinity_by_thread_name() -> HashMap<String, String> {
    let mut out = HashMap::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let (Ok(comm), Ok(status)) = (
            std::fs::read_to_string(dir.join("comm")),
            std::fs::read_to_string(dir.join("status")),
        ) else {
            continue; // the thread exited meanwhile
        };
        let mask = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default();
        out.insert(comm.trim().to_owned(), mask);
    }
    out
}

#[test]
fn engine_threads_are_pinned_to_their_planned_cpus() {
    let hook = Arc::new(Recording::default());
    let opts = DeviceOptions {
        rng_seed: Some([9; 32]),
        topology: cpu::topology().unwrap(),
        workers: WorkerMode::Fixed(1),
        thread_hook: Some(hook.clone()),
        ..DeviceOptions::default()
    };
    let device = memory_device(7, opts);

    // Control, TX, RX and one crypto worker run the hook as they start (bounded wait).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while hook.asked.lock().unwrap().len() < 4 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let asked = hook.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 4, "{asked:?}");
    let masks = affinity_by_thread_name();
    let process_mask = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:").map(|v| v.trim().to_owned()))
        .unwrap();
    // The plan always gives the TX thread a CPU when the topology is not empty.
    assert!(asked.get("ferrowg-tx").copied().flatten().is_some(), "{asked:?}");
    let mut checked = 0u64;
    for (name, cpu) in &asked {
        // Linux keeps 15 bytes of a thread's name.
        let comm: String = name.chars().take(15).collect();
        let mask = masks.get(&comm).unwrap_or_else(|| panic!("{name} not in /proc: {masks:?}"));
        match cpu {
            Some(id) => {
                assert_eq!(mask, &id.to_string(), "{name}");
                checked += 1;
            }
            None => assert_eq!(mask, &process_mask, "{name} should stay unpinned"),
        }
    }
    assert_eq!(hook.inner.pinned(), checked);
    assert_eq!(hook.inner.failed(), 0);
    drop(device);
}

/// Linux with EEVDF (/proc shows `se.slice`): the slice asked for is the thread's slice.
#[cfg(target_os = "linux")]
#[test]
fn slice_hook_sets_the_scheduler_slice() {
    use ferrowg_platform::cpu::SliceHook;
    let slice_of_this_thread = || -> Option<u64> {
        let s = std::fs::read_to_string("/proc/thread-self/sched").ok()?;
        let line = s.lines().find(|l| l.starts_with("se.slice"))?;
        line.rsplit(':').next()?.trim().parse().ok()
    };
    let Some(before) = slice_of_this_thread() else {
        assert!(std::env::var("CI").is_err(), "CI kernel shows no se.slice (EEVDF)");
        eprintln!("kernel without EEVDF slices: nothing to check");
        return;
    };
    let got = std::thread::spawn(move || {
        SliceHook::new(std::time::Duration::from_micros(200)).on_thread_start(ThreadRole::Rx, None);
        slice_of_this_thread()
    })
    .join()
    .unwrap();
    assert_eq!(got, Some(200_000), "default slice was {before} ns");
}
