//! `PriorityHook` runs the engine's packet threads at real-time priority (Linux
//! `SCHED_FIFO`, read back from `/proc` after the device started), leaves the control
//! thread alone, and a process started from a raised thread gets the normal policy.
//! `PriorityHook::when_saturated` raises a thread only between the engine's saturation
//! reports.
#![cfg(target_os = "linux")]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrowg_core::config::DeviceConfig;
use ferrowg_core::device::memory::memory_tun;
use ferrowg_core::device::{Device, DeviceOptions, ThreadHook, ThreadRole, WorkerMode};
use ferrowg_core::io::SystemClock;
use ferrowg_core::keys::PrivateKey;
use ferrowg_core::sched::LogicalCpu;
use ferrowg_platform::cpu::PriorityHook;
use ferrowg_platform::std_udp::StdUdpBind;

const SCHED_OTHER: u64 = 0;
const SCHED_FIFO: u64 = 1;

/// (policy, real-time priority) from a `/proc/.../stat` line (fields 41 and 40).
fn policy_of(stat: &str) -> (u64, u64) {
    let rest = &stat[stat.rfind(')').expect("comm in stat") + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): field N is f[N - 3].
    (f[41 - 3].parse().unwrap(), f[40 - 3].parse().unwrap())
}

/// (policy, priority) of every thread of this process, by thread name.
fn policies_by_thread_name() -> HashMap<String, (u64, u64)> {
    let mut out = HashMap::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let (Ok(comm), Ok(stat)) =
            (std::fs::read_to_string(dir.join("comm")), std::fs::read_to_string(dir.join("stat")))
        else {
            continue; // the thread exited meanwhile
        };
        out.insert(comm.trim().to_owned(), policy_of(&stat));
    }
    out
}

/// The device tests read this process's threads by name: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Whether this process may ask for real-time priority; without it the hook only logs.
fn may_raise() -> bool {
    let ok = std::thread::spawn(|| ferrowg_platform::cpu::set_current_thread_realtime(1).is_ok())
        .join()
        .unwrap();
    if !ok {
        assert!(std::env::var("CI").is_err(), "CI runs as root: SCHED_FIFO must be allowed");
        eprintln!("no CAP_SYS_NICE / RLIMIT_RTPRIO: nothing to check");
    }
    ok
}

/// Counts the threads that ran the hook.
struct Counting {
    inner: PriorityHook,
    started: Mutex<Vec<String>>,
}

impl ThreadHook for Counting {
    fn on_thread_start(&self, role: ThreadRole, cpu: Option<LogicalCpu>) {
        self.inner.on_thread_start(role, cpu);
        let name = std::thread::current().name().unwrap_or_default().to_owned();
        self.started.lock().unwrap().push(name);
    }

    fn on_saturation(&self, role: ThreadRole, saturated: bool) {
        self.inner.on_saturation(role, saturated);
    }
}

#[test]
fn packet_threads_run_at_real_time_priority_and_control_does_not() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !may_raise() {
        return;
    }
    let hook = Arc::new(Counting { inner: PriorityHook::new(3), started: Mutex::default() });
    let opts = DeviceOptions {
        rng_seed: Some([9; 32]),
        workers: WorkerMode::Fixed(1),
        thread_hook: Some(hook.clone()),
        ..DeviceOptions::default()
    };
    let (tun, _host) = memory_tun(1420, 64);
    let bind = Arc::new(StdUdpBind::new(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let config =
        DeviceConfig { private_key: Some(PrivateKey::from_bytes([7; 32])), ..Default::default() };
    let device = Device::start(config, tun, bind, Arc::new(SystemClock), opts).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while hook.started.lock().unwrap().len() < 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = hook.started.lock().unwrap().clone();
    assert_eq!(started.len(), 4, "{started:?}");
    let policies = policies_by_thread_name();
    for name in &started {
        let comm: String = name.chars().take(15).collect();
        let got = policies.get(&comm).unwrap_or_else(|| panic!("{name}: {policies:?}"));
        let want = if name == "ferrowg-control" { (SCHED_OTHER, 0) } else { (SCHED_FIFO, 3) };
        assert_eq!(*got, want, "{name}");
    }
    assert!(started.iter().any(|n| n == "ferrowg-control"), "{started:?}");
    // The test's own thread was never touched.
    let own = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    assert_eq!(policy_of(&own), (SCHED_OTHER, 0));
    drop(device);
}

#[test]
fn a_process_started_from_a_raised_thread_gets_the_normal_policy() {
    if !may_raise() {
        return;
    }
    let (own, child) = std::thread::spawn(|| {
        PriorityHook::new(2).on_thread_start(ThreadRole::Rx, None);
        let own = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let out = std::process::Command::new("cat").arg("/proc/self/stat").output().unwrap();
        (policy_of(&own), policy_of(&String::from_utf8(out.stdout).unwrap()))
    })
    .join()
    .unwrap();
    assert_eq!(own, (SCHED_FIFO, 2));
    assert_eq!(child, (SCHED_OTHER, 0), "SCHED_RESET_ON_FORK");
}

#[test]
fn when_saturated_raises_only_while_the_tunnel_is_saturated() {
    if !may_raise() {
        return;
    }
    let own = || policy_of(&std::fs::read_to_string("/proc/thread-self/stat").unwrap());
    let seen = std::thread::spawn(move || {
        let hook = PriorityHook::when_saturated(4);
        hook.on_thread_start(ThreadRole::Rx, None);
        let started = own();
        hook.on_saturation(ThreadRole::Rx, true);
        let saturated = own();
        hook.on_saturation(ThreadRole::Rx, false);
        let idle = own();
        hook.on_saturation(ThreadRole::Control, true);
        let control = own();
        [started, saturated, idle, control]
    })
    .join()
    .unwrap();
    assert_eq!(
        seen,
        [(SCHED_OTHER, 0), (SCHED_FIFO, 4), (SCHED_OTHER, 0), (SCHED_OTHER, 0)],
        "start, saturated, idle again, a control thread"
    );
}

/// A scheduler slice (`sched_setattr` with `SCHED_OTHER`) chained with the priority, in
/// either order, leaves the thread raised: `--sched-slice` beside the daemon's default
/// priority once dropped the packet threads back to `SCHED_OTHER`.
#[test]
fn a_slice_chained_either_way_keeps_the_priority() {
    use ferrowg_platform::cpu::SliceHook;
    if !may_raise() {
        return;
    }
    let slice = || SliceHook::new(Duration::from_micros(300));
    let outer_priority: Arc<dyn ThreadHook> =
        Arc::new(PriorityHook::new(5).with_inner(Arc::new(slice())));
    let outer_slice: Arc<dyn ThreadHook> =
        Arc::new(slice().with_inner(Arc::new(PriorityHook::new(5))));
    for (what, hook) in
        [("priority around slice", outer_priority), ("slice around priority", outer_slice)]
    {
        let got = std::thread::spawn(move || {
            hook.on_thread_start(ThreadRole::Rx, None);
            policy_of(&std::fs::read_to_string("/proc/thread-self/stat").unwrap())
        })
        .join()
        .unwrap();
        assert_eq!(got, (SCHED_FIFO, 5), "{what}");
    }
}

/// One thread per direction has no saturation signal: with `when_saturated` its TX and RX
/// threads (and the crypto workers) are raised from their start, the control thread not.
#[test]
fn when_saturated_raises_per_direction_threads_from_their_start() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !may_raise() {
        return;
    }
    let hook =
        Arc::new(Counting { inner: PriorityHook::when_saturated(6), started: Mutex::default() });
    let opts = DeviceOptions {
        rng_seed: Some([8; 32]),
        workers: WorkerMode::Fixed(1),
        thread_hook: Some(hook.clone()),
        ..DeviceOptions::default()
    };
    // The memory NIC has no descriptor to wait on: one thread per direction.
    let (tun, _host) = memory_tun(1420, 64);
    let bind = Arc::new(StdUdpBind::new(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let config =
        DeviceConfig { private_key: Some(PrivateKey::from_bytes([6; 32])), ..Default::default() };
    let device = Device::start(config, tun, bind, Arc::new(SystemClock), opts).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    // Linux keeps 15 bytes of a thread's name ("ferrowg-crypto-0" → "ferrowg-crypto-").
    let want = ["ferrowg-control", "ferrowg-tx", "ferrowg-rx", "ferrowg-crypto-"];
    let all_seen = |p: &HashMap<String, (u64, u64)>| {
        want.iter().all(|n| p.get(*n).is_some_and(|v| (*n == "ferrowg-control") == (v.0 == 0)))
    };
    let mut policies = policies_by_thread_name();
    while !all_seen(&policies) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        policies = policies_by_thread_name();
    }
    for name in want {
        let got = policies.get(name).unwrap_or_else(|| panic!("{name}: {policies:?}"));
        let expect = if name == "ferrowg-control" { (SCHED_OTHER, 0) } else { (SCHED_FIFO, 6) };
        assert_eq!(*got, expect, "{name}");
    }
    drop(device);
}
