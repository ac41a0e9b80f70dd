//! The machine's CPUs as a [`CpuTopology`] for the scheduler, and thread placement.
//!
//! The parsers are pure and compiled on every host, so they are tested on Linux:
//! [`sysfs`] (Linux `/sys/devices`, root path a parameter), [`sysctl`] (macOS
//! `hw.perflevel*` values) and [`glpi`] (the record buffer Windows'
//! `GetLogicalProcessorInformationEx` fills). [`topology`] calls the one for this OS.
//! [`PinningHook`] places the engine's threads on the CPUs its plan chose.
//! [`SliceHook`] asks for short scheduler slices for them (latency under CPU contention).
//! [`PriorityHook`] runs the data-path threads at real-time priority (latency under
//! CPU contention; the daemon's default on Linux).

pub mod glpi;
mod hook;
mod priority;
mod slice;
pub mod sysctl;
pub mod sysfs;

pub use hook::PinningHook;
pub use priority::{is_data_path, PriorityHook, Raise, DEFAULT_RT_PRIORITY};
pub use slice::SliceHook;

use std::io;

use ferrowg_core::sched::{CoreKind, CpuTopology, LogicalCpu};

use crate::Error;

/// Most logical CPUs a parser builds (guards against absurd counts and ranges in bad
/// input; Linux's own ceiling is 8192).
pub(crate) const MAX_CPU: usize = 1 << 16;

/// Reads the topology of the CPUs this process may run on.
///
/// Linux: `/sys/devices`, limited to the thread's affinity mask. macOS: sysctl
/// `hw.perflevelN.*`. Windows: `GetLogicalProcessorInformationEx`. Elsewhere (or if
/// the OS answer is empty): a uniform topology of `available_parallelism` CPUs.
pub fn topology() -> Result<CpuTopology, Error> {
    let topo = os_topology()?;
    if topo.cpus.is_empty() {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        return Ok(CpuTopology::uniform(n));
    }
    Ok(topo)
}

/// Places the calling thread on `cpu`, as far as the OS allows.
///
/// Linux: `sched_setaffinity` to exactly that CPU. Windows: `SetThreadGroupAffinity` to
/// that CPU within its processor group. macOS cannot pin threads: the thread's QoS
/// class is set instead (user-interactive for performance cores, utility for
/// efficiency cores), which steers it to that kind of core. Elsewhere: does nothing.
pub fn pin_current_thread(cpu: &LogicalCpu) -> io::Result<()> {
    pin(cpu)
}

#[cfg(target_os = "linux")]
fn os_topology() -> Result<CpuTopology, Error> {
    let allowed = crate::sys::linux::allowed_cpus().map_err(Error::os("sched_getaffinity"))?;
    sysfs::read_topology(std::path::Path::new(sysfs::SYSFS_DEVICES), Some(&allowed))
}

#[cfg(target_os = "linux")]
fn pin(cpu: &LogicalCpu) -> io::Result<()> {
    crate::sys::linux::pin_to_cpu(cpu.id)
}

#[cfg(target_os = "macos")]
fn os_topology() -> Result<CpuTopology, Error> {
    let read = |name: &str| crate::sys::macos::sysctl_usize(name);
    let values = sysctl::SysctlValues::read_with(read);
    Ok(sysctl::topology(&values))
}

#[cfg(target_os = "macos")]
fn pin(cpu: &LogicalCpu) -> io::Result<()> {
    crate::sys::macos::set_qos_for(cpu.kind == CoreKind::Efficiency)
}

#[cfg(windows)]
fn os_topology() -> Result<CpuTopology, Error> {
    let buf = crate::sys::windows::logical_processor_information()
        .map_err(Error::os("GetLogicalProcessorInformationEx"))?;
    Ok(glpi::parse(&buf))
}

#[cfg(windows)]
fn pin(cpu: &LogicalCpu) -> io::Result<()> {
    let bit = cpu.id % glpi::CPUS_PER_GROUP;
    crate::sys::windows::set_group_affinity(cpu.group, 1u64 << bit)
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
fn os_topology() -> Result<CpuTopology, Error> {
    Ok(CpuTopology::default())
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
fn pin(_cpu: &LogicalCpu) -> io::Result<()> {
    Ok(())
}

/// Marks the CPUs whose score is below the best as efficiency cores; all stay
/// performance cores when every score is equal (a non-hybrid machine).
pub(crate) fn classify_by_score(cpus: &mut [LogicalCpu], score: impl Fn(&LogicalCpu) -> u64) {
    let Some(best) = cpus.iter().map(&score).max() else { return };
    for cpu in cpus.iter_mut() {
        cpu.kind = if score(cpu) < best { CoreKind::Efficiency } else { CoreKind::Performance };
    }
}

/// Asks the OS to run the calling thread soon after it wakes, in short slices: the
/// engine's threads each do a little work per packet batch and then wait, so under CPU
/// contention the time a packet waits for its thread to get a CPU is most of its
/// latency. Linux: EEVDF's custom slice (`sched_setattr` with `sched_runtime = slice`,
/// kernel ≥ 6.12; older kernels accept and ignore it). Elsewhere: does nothing.
pub fn set_current_thread_slice(slice: std::time::Duration) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let ns = u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX);
        crate::sys::linux::set_sched_slice(ns)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = slice;
        Ok(())
    }
}

/// Runs the calling thread at real-time priority `priority` (1–99), ahead of every
/// ordinary thread, so it gets a CPU as soon as it wakes. Linux: `SCHED_FIFO` with
/// `SCHED_RESET_ON_FORK` (a child process starts with the normal policy); needs
/// `CAP_SYS_NICE` or an `RLIMIT_RTPRIO` allowance, else `EPERM`. The kernel's real-time
/// throttling (95 % of each second by default) still bounds a thread that never sleeps.
/// Windows: `THREAD_PRIORITY_HIGHEST` within the process's class (above every
/// normal-priority thread; `priority` is not used; no privilege needed). Elsewhere
/// (macOS: the pinning hook's QoS class is what steers threads there): does nothing.
pub fn set_current_thread_realtime(priority: u8) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        crate::sys::linux::set_sched_fifo(i32::from(priority.clamp(1, 99)))
    }
    #[cfg(windows)]
    {
        let _ = priority;
        crate::sys::windows::set_thread_priority(
            windows_sys::Win32::System::Threading::THREAD_PRIORITY_HIGHEST,
        )
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let _ = priority;
        Ok(())
    }
}

/// Puts the calling thread back in the normal policy (Linux `SCHED_OTHER`, keeping its
/// nice value and the custom slice [`set_current_thread_slice`] gave it — the kernel
/// carries a custom slice across `sched_setscheduler`. Windows: `THREAD_PRIORITY_NORMAL`).
/// Elsewhere: does nothing.
pub fn set_current_thread_normal() -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        crate::sys::linux::set_sched_other()
    }
    #[cfg(windows)]
    {
        crate::sys::windows::set_thread_priority(
            windows_sys::Win32::System::Threading::THREAD_PRIORITY_NORMAL,
        )
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        Ok(())
    }
}

/// The calling thread's priority as the OS reports it, for tests and diagnostics:
/// Linux `(policy, real-time priority)` from `sched_getscheduler`/`/proc`; Windows
/// `(0, GetThreadPriority)`; elsewhere `(0, 0)`.
pub fn current_thread_priority() -> io::Result<(i32, i32)> {
    #[cfg(target_os = "linux")]
    {
        let stat = std::fs::read_to_string("/proc/thread-self/stat")?;
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<i32>().ok());
        match (num(41 - 3), num(40 - 3)) {
            (Some(policy), Some(prio)) => Ok((policy, prio)),
            _ => Err(io::Error::new(io::ErrorKind::InvalidData, "unreadable /proc stat")),
        }
    }
    #[cfg(windows)]
    {
        Ok((0, crate::sys::windows::thread_priority()?))
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        Ok((0, 0))
    }
}
