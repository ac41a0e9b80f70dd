//! `PriorityHook` runs the engine's packet threads at real-time priority (Linux
//! `SCHED_FIFO`, read back from `/proc` after the device started), leaves the control
//! thread alone, and a process started from a raised thread gets the normal policy.
//! `PriorityHook::when_saturated` raises a thread only between the engine's saturation
//! reports.
#![cfg(target_os = "linux")]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::engine::memory_device;
use common::sched::{may_raise, own_policy, policies_by_thread_name, policy_of};
use common::sched::{SCHED_FIFO, SCHED_OTHER};
use ferrowg_core::device::{DeviceOptions, ThreadHook, ThreadRole, WorkerMode};
use ferrowg_platform::cpu::PriorityHook;

/// The device tests read this process's threads by name: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// Starts a device (memory NIC: one thread per direction, one crypto worker) with
/// `hook`, and checks that its TX, RX and crypto threads come to run `SCHED_FIFO`
/// `priority` while its control thread and the test's own thread stay normal.
fn packet_threads_raised(hook: PriorityHook, priority: u64) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let opts = DeviceOptions {
        rng_seed: Some([9; 32]),
        workers: WorkerMode::Fixed(1),
        thread_hook: Some(Arc::new(hook)),
        ..DeviceOptions::default()
    };
    let device = memory_device(7, opts);
    // Linux keeps 15 bytes of a thread's name ("ferrowg-crypto-0" → "ferrowg-crypto-").
    let want = [
        ("ferrowg-control", (SCHED_OTHER, 0)),
        ("ferrowg-tx", (SCHED_FIFO, priority)),
        ("ferrowg-rx", (SCHED_FIFO, priority)),
        ("ferrowg-crypto-", (SCHED_FIFO, priority)),
    ];
    // Bounded wait: each thread sets its policy as it starts.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut policies = policies_by_thread_name();
    while want.iter().any(|(n, p)| policies.get(*n) != Some(p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        policies = policies_by_thread_name();
    }
    for (name, expect) in want {
        let got = policies.get(name).unwrap_or_else(|| panic!("{name}: {policies:?}"));
        assert_eq!(*got, expect, "{name}");
    }
    assert_eq!(own_policy(), (SCHED_OTHER, 0), "the test's own thread was touched");
    drop(device);
}

#[test]
fn packet_threads_run_at_real_time_priority_and_control_does_not() {
    if may_raise() {
        packet_threads_raised(PriorityHook::new(3), 3);
    }
}

/// One thread per direction has no saturation signal: with `when_saturated` its TX and RX
/// threads (and the crypto workers) are raised from their start, the control thread not.
#[test]
fn when_saturated_raises_per_direction_threads_from_their_start() {
    if may_raise() {
        packet_threads_raised(PriorityHook::when_saturated(6), 6);
    }
}

#[test]
fn a_process_started_from_a_raised_thread_gets_the_normal_policy() {
    if !may_raise() {
        return;
    }
    let (own, child) = std::thread::spawn(|| {
        PriorityHook::new(2).on_thread_start(ThreadRole::Rx, None);
        let out = std::process::Command::new("cat").arg("/proc/self/stat").output().unwrap();
        (own_policy(), policy_of(&String::from_utf8(out.stdout).unwrap()))
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
    let own = own_policy;
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
            own_policy()
        })
        .join()
        .unwrap();
        assert_eq!(got, (SCHED_FIFO, 5), "{what}");
    }
}

/// Back to the normal policy after a saturation, a thread keeps the scheduler slice the
/// slice hook gave it, with the hooks chained either way (`sched_setscheduler` carries a
/// custom slice over; a `sched_setattr` without one would reset it to the default, and
/// this test then fails).
#[test]
fn lowering_keeps_a_custom_slice() {
    use common::sched::own_slice_ns;
    use ferrowg_platform::cpu::SliceHook;
    if !may_raise() {
        return;
    }
    const SLICE: Duration = Duration::from_micros(300);
    let slice = || SliceHook::new(SLICE);
    let outer_priority: Arc<dyn ThreadHook> =
        Arc::new(PriorityHook::when_saturated(4).with_inner(Arc::new(slice())));
    let outer_slice: Arc<dyn ThreadHook> =
        Arc::new(slice().with_inner(Arc::new(PriorityHook::when_saturated(4))));
    for (what, hook) in
        [("priority around slice", outer_priority), ("slice around priority", outer_slice)]
    {
        let (started, raised, lowered) = std::thread::spawn(move || {
            hook.on_thread_start(ThreadRole::Rx, None);
            let started = (own_policy(), own_slice_ns());
            hook.on_saturation(ThreadRole::Rx, true);
            let raised = own_policy();
            hook.on_saturation(ThreadRole::Rx, false);
            (started, raised, (own_policy(), own_slice_ns()))
        })
        .join()
        .unwrap();
        let want = Some(SLICE.as_nanos() as u64);
        if started.1 != want {
            // Kernels before 6.12 accept a slice and ignore it.
            assert!(std::env::var("CI").is_err(), "{what}: this kernel ignored the slice");
            eprintln!("{what}: the kernel shows slice {:?}: nothing to check", started.1);
            return;
        }
        assert_eq!(started.0, (SCHED_OTHER, 0), "{what}: started");
        assert_eq!(raised, (SCHED_FIFO, 4), "{what}: saturated");
        assert_eq!(lowered, ((SCHED_OTHER, 0), want), "{what}: idle again");
    }
}
