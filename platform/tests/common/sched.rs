//! Scheduling policies of this process's threads, read from `/proc` (Linux).

use std::collections::HashMap;

/// `SCHED_OTHER`, the normal policy.
pub const SCHED_OTHER: u64 = 0;
/// `SCHED_FIFO`, the real-time policy the priority hook asks for.
pub const SCHED_FIFO: u64 = 1;

/// (policy, real-time priority) from a `/proc/.../stat` line (fields 41 and 40).
pub fn policy_of(stat: &str) -> (u64, u64) {
    let rest = &stat[stat.rfind(')').expect("comm in stat") + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): field N is f[N - 3].
    (f[41 - 3].parse().unwrap(), f[40 - 3].parse().unwrap())
}

/// (policy, priority) of the calling thread.
pub fn own_policy() -> (u64, u64) {
    policy_of(&std::fs::read_to_string("/proc/thread-self/stat").unwrap())
}

/// (name, policy, priority) of every thread of this process (Linux keeps 15 bytes of a
/// thread's name).
pub fn thread_policies() -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let dir = task.path();
        let (Ok(comm), Ok(stat)) =
            (std::fs::read_to_string(dir.join("comm")), std::fs::read_to_string(dir.join("stat")))
        else {
            continue; // the thread exited meanwhile
        };
        let (policy, prio) = policy_of(&stat);
        out.push((comm.trim_end().to_owned(), policy, prio));
    }
    out
}

/// (policy, priority) by thread name (one entry per name).
pub fn policies_by_thread_name() -> HashMap<String, (u64, u64)> {
    thread_policies().into_iter().map(|(n, p, q)| (n, (p, q))).collect()
}

/// Whether this process may ask for real-time priority. Without it the hook only logs;
/// CI runs as root, where it must be allowed.
pub fn may_raise() -> bool {
    let ok = std::thread::spawn(|| ferrowg_platform::cpu::set_current_thread_realtime(1).is_ok())
        .join()
        .unwrap();
    if !ok {
        assert!(std::env::var("CI").is_err(), "CI runs as root: SCHED_FIFO must be allowed");
        eprintln!("no CAP_SYS_NICE / RLIMIT_RTPRIO: nothing to check");
    }
    ok
}

/// The calling thread's EEVDF slice in nanoseconds (`se.slice` in
/// `/proc/thread-self/sched`), if the kernel shows it.
pub fn own_slice_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/sched").ok()?;
    let line = s.lines().find(|l| l.starts_with("se.slice"))?;
    line.split(':').nth(1)?.trim().parse().ok()
}
