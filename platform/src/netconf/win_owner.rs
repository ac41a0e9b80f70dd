//! The Windows side of the crash marker ([`super::win_marker`]): where markers live and
//! whether the process that wrote one still runs (pid plus creation time, so a reused
//! pid is not taken for the writer).

use std::path::PathBuf;

use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, ERROR_ACCESS_DENIED, FILETIME, HANDLE, STILL_ACTIVE,
};
use windows_sys::Win32::System::Threading::{
    GetCurrentProcess, GetExitCodeProcess, GetProcessTimes, OpenProcess,
    PROCESS_QUERY_LIMITED_INFORMATION,
};

/// `%ProgramData%\ferrowg` (`C:\ProgramData\ferrowg` when the variable is unset).
pub fn marker_dir() -> PathBuf {
    let base = std::env::var_os("ProgramData").unwrap_or_else(|| r"C:\ProgramData".into());
    PathBuf::from(base).join("ferrowg")
}

/// The creation time (FILETIME as u64) of the process behind `handle`.
fn creation_time(handle: HANDLE) -> Option<u64> {
    let zero = FILETIME { dwLowDateTime: 0, dwHighDateTime: 0 };
    let (mut created, mut exited, mut kernel, mut user) = (zero, zero, zero, zero);
    // SAFETY: `handle` is a process handle with query rights; the four pointers refer to
    // live, writable FILETIMEs.
    let ok = unsafe { GetProcessTimes(handle, &mut created, &mut exited, &mut kernel, &mut user) };
    (ok != 0).then(|| u64::from(created.dwHighDateTime) << 32 | u64::from(created.dwLowDateTime))
}

/// This process's creation time (0 if it cannot be read).
pub fn own_creation_time() -> u64 {
    // SAFETY: the pseudo handle of the current process needs no closing.
    creation_time(unsafe { GetCurrentProcess() }).unwrap_or(0)
}

/// True when process `pid` runs and was created at `created` (or `created` is 0: an
/// unknown time, so any process with the pid counts). A process we may not query
/// (access denied) counts as running.
pub fn alive(pid: u32, created: u64) -> bool {
    // SAFETY: plain call; a null handle reports failure.
    let handle = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if handle == 0 {
        // SAFETY: plain call reading this thread's last error.
        return unsafe { GetLastError() } == ERROR_ACCESS_DENIED;
    }
    let mut code = 0u32;
    // SAFETY: `handle` was opened with query rights; `code` is writable.
    let running =
        unsafe { GetExitCodeProcess(handle, &mut code) } != 0 && code == STILL_ACTIVE as u32;
    let same = created == 0 || creation_time(handle) == Some(created);
    // SAFETY: `handle` is ours and closed once.
    unsafe { CloseHandle(handle) };
    running && same
}
