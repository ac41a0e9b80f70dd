//! Windows-only calls: WSAPoll, UDP connection-reset reports, events, the processor
//! information buffer, thread group affinity and priority.

use std::io;
use std::os::windows::io::{AsRawSocket, RawSocket};
use std::time::Duration;

use windows_sys::Win32::Foundation::{
    CloseHandle, GetLastError, ERROR_INSUFFICIENT_BUFFER, FALSE, HANDLE, TRUE, WAIT_FAILED,
    WAIT_OBJECT_0, WAIT_TIMEOUT,
};
use windows_sys::Win32::Networking::WinSock::{
    setsockopt, WSAGetLastError, WSAIoctl, WSAPoll, IPPROTO_IP, IPPROTO_IPV6, IPV6_UNICAST_IF,
    IP_UNICAST_IF, POLLRDNORM, POLLWRNORM, SIO_UDP_CONNRESET, SIO_UDP_NETRESET, SOCKET,
    SOCKET_ERROR, WSAPOLLFD,
};
use windows_sys::Win32::System::SystemInformation::{
    GetLogicalProcessorInformationEx, RelationAll, GROUP_AFFINITY,
    SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX,
};
use windows_sys::Win32::System::Threading::{
    CreateEventW, GetCurrentThread, GetThreadPriority, SetEvent, SetThreadGroupAffinity,
    SetThreadPriority, WaitForMultipleObjects, THREAD_PRIORITY,
};

/// Milliseconds for a Win32 wait, rounded up so short timeouts do not spin.
fn millis(timeout: Duration) -> u32 {
    timeout.as_nanos().div_ceil(1_000_000).min(u128::from(u32::MAX - 1)) as u32
}

/// Waits until one socket is readable (or writable) or `timeout` passes.
pub(crate) fn wsa_poll(sockets: &[RawSocket], write: bool, timeout: Duration) -> io::Result<bool> {
    let events = if write { POLLWRNORM } else { POLLRDNORM };
    let mut fds: Vec<WSAPOLLFD> =
        sockets.iter().map(|&s| WSAPOLLFD { fd: s as SOCKET, events, revents: 0 }).collect();
    let ms = millis(timeout).min(i32::MAX as u32) as i32;
    // SAFETY: `fds` is a valid array of `fds.len()` initialized WSAPOLLFD structs.
    let rc = unsafe { WSAPoll(fds.as_mut_ptr(), fds.len() as u32, ms) };
    if rc == SOCKET_ERROR {
        // SAFETY: reads this thread's last WinSock error; no memory effects.
        return Err(io::Error::from_raw_os_error(unsafe { WSAGetLastError() }));
    }
    Ok(rc > 0)
}

/// Stops Windows from reporting ICMP port-unreachable (`SIO_UDP_CONNRESET`) and TTL
/// expiry (`SIO_UDP_NETRESET`) as `WSAECONNRESET`/`WSAENETRESET` on the next receive of
/// an unconnected UDP socket (which would look like a broken socket, and lets a remote
/// sender inject errors into the receive path).
pub(crate) fn disable_udp_connreset(socket: &socket2::Socket) -> io::Result<()> {
    udp_ioctl_off(socket, SIO_UDP_CONNRESET)?;
    // Best effort: should a Windows (or wine) lack it, WSAENETRESET is still only a
    // counted drop on the receive path.
    let _ = udp_ioctl_off(socket, SIO_UDP_NETRESET);
    Ok(())
}

/// Sets `IP_UNICAST_IF` (`v6` false) or `IPV6_UNICAST_IF` to `value`, already encoded
/// (`udp::bound_if::windows_unicast_if_value`); 0 unbinds.
pub(crate) fn set_unicast_if(socket: &socket2::Socket, v6: bool, value: u32) -> io::Result<()> {
    let (level, name) =
        if v6 { (IPPROTO_IPV6, IPV6_UNICAST_IF) } else { (IPPROTO_IP, IP_UNICAST_IF) };
    // SAFETY: the option value is a live u32 and we pass its exact size; the kernel
    // only reads it.
    let rc = unsafe {
        setsockopt(
            socket.as_raw_socket() as SOCKET,
            level,
            name,
            (&value as *const u32).cast(),
            std::mem::size_of::<u32>() as i32,
        )
    };
    if rc == SOCKET_ERROR {
        // SAFETY: reads this thread's last WinSock error; no memory effects.
        return Err(io::Error::from_raw_os_error(unsafe { WSAGetLastError() }));
    }
    Ok(())
}

/// Turns off one of the boolean UDP ioctls (`SIO_UDP_CONNRESET`, `SIO_UDP_NETRESET`).
fn udp_ioctl_off(socket: &socket2::Socket, code: u32) -> io::Result<()> {
    let off: u32 = 0;
    let mut returned: u32 = 0;
    // SAFETY: the input buffer is a live u32 of the size given; no output buffer, no
    // overlapped I/O.
    let rc = unsafe {
        WSAIoctl(
            socket.as_raw_socket() as SOCKET,
            code,
            (&off as *const u32).cast(),
            std::mem::size_of::<u32>() as u32,
            std::ptr::null_mut(),
            0,
            &mut returned,
            std::ptr::null_mut(),
            None,
        )
    };
    if rc == SOCKET_ERROR {
        // SAFETY: reads this thread's last WinSock error; no memory effects.
        return Err(io::Error::from_raw_os_error(unsafe { WSAGetLastError() }));
    }
    Ok(())
}

/// A manual-reset Win32 event, closed on drop.
#[derive(Debug)]
pub(crate) struct Event(HANDLE);

// SAFETY: an event handle may be signalled and waited on from any thread.
unsafe impl Send for Event {}
// SAFETY: as above; SetEvent and waits are thread-safe.
unsafe impl Sync for Event {}

impl Event {
    /// Creates an unsignalled manual-reset event.
    pub(crate) fn new() -> io::Result<Self> {
        // SAFETY: no security attributes and no name; returns a new handle or 0.
        let h = unsafe { CreateEventW(std::ptr::null(), TRUE, FALSE, std::ptr::null()) };
        if h == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self(h))
    }

    /// Signals the event (it stays signalled).
    pub(crate) fn set(&self) -> io::Result<()> {
        // SAFETY: `self.0` is a live event handle we own.
        if unsafe { SetEvent(self.0) } == FALSE {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub(crate) fn handle(&self) -> HANDLE {
        self.0
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: `self.0` is a live handle we own and close exactly once.
        unsafe { CloseHandle(self.0) };
    }
}

/// Waits for any of `handles`: `Some(index)` of the signalled one, `None` on timeout.
pub(crate) fn wait_any(handles: &[HANDLE], timeout: Duration) -> io::Result<Option<usize>> {
    // SAFETY: the pointer and count describe `handles`, which stays borrowed (readable)
    // for the whole call; the kernel only reads it. A handle value that is not (or no
    // longer) open makes the wait fail with WAIT_FAILED; it touches no memory of ours.
    let rc = unsafe {
        WaitForMultipleObjects(handles.len() as u32, handles.as_ptr(), FALSE, millis(timeout))
    };
    match rc {
        WAIT_TIMEOUT => Ok(None),
        WAIT_FAILED => Err(io::Error::last_os_error()),
        n if (n.wrapping_sub(WAIT_OBJECT_0) as usize) < handles.len() => {
            Ok(Some((n - WAIT_OBJECT_0) as usize))
        }
        _ => Err(io::Error::other("unexpected wait result")),
    }
}

/// The raw `GetLogicalProcessorInformationEx(RelationAll)` buffer.
pub(crate) fn logical_processor_information() -> io::Result<Vec<u8>> {
    let mut len: u32 = 0;
    // SAFETY: a null buffer with length 0 only asks for the needed length.
    let ok =
        unsafe { GetLogicalProcessorInformationEx(RelationAll, std::ptr::null_mut(), &mut len) };
    // SAFETY: reads this thread's last error; no memory effects.
    if ok == FALSE && unsafe { GetLastError() } != ERROR_INSUFFICIENT_BUFFER {
        return Err(io::Error::last_os_error());
    }
    // u64 storage keeps the records 8-byte aligned, as the API expects.
    let mut storage = vec![0u64; (len as usize).div_ceil(8)];
    // SAFETY: `storage` is writable for at least `len` bytes and suitably aligned.
    let ok = unsafe {
        GetLogicalProcessorInformationEx(
            RelationAll,
            storage.as_mut_ptr().cast::<SYSTEM_LOGICAL_PROCESSOR_INFORMATION_EX>(),
            &mut len,
        )
    };
    if ok == FALSE {
        return Err(io::Error::last_os_error());
    }
    let bytes: Vec<u8> = storage.iter().flat_map(|w| w.to_le_bytes()).take(len as usize).collect();
    Ok(bytes)
}

/// Restricts the calling thread to the CPUs in `mask` within processor `group`.
pub(crate) fn set_group_affinity(group: u16, mask: u64) -> io::Result<()> {
    let affinity = GROUP_AFFINITY { Mask: mask as usize, Group: group, Reserved: [0; 3] };
    // SAFETY: GetCurrentThread returns a pseudo-handle valid in this thread; `affinity`
    // is a valid GROUP_AFFINITY and the previous-affinity pointer may be null.
    let ok = unsafe { SetThreadGroupAffinity(GetCurrentThread(), &affinity, std::ptr::null_mut()) };
    if ok == FALSE {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets the calling thread's priority within its process's class
/// (`THREAD_PRIORITY_HIGHEST`, `THREAD_PRIORITY_NORMAL`, ...).
pub(crate) fn set_thread_priority(priority: THREAD_PRIORITY) -> io::Result<()> {
    // SAFETY: GetCurrentThread returns a pseudo-handle valid in this thread.
    let ok = unsafe { SetThreadPriority(GetCurrentThread(), priority) };
    if ok == FALSE {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What GetThreadPriority returns on failure (`THREAD_PRIORITY_ERROR_RETURN`, in a
/// windows-sys feature this crate does not otherwise need).
const THREAD_PRIORITY_ERROR_RETURN: i32 = 0x7fff_ffff;

/// The calling thread's priority within its process's class.
pub(crate) fn thread_priority() -> io::Result<i32> {
    // SAFETY: GetCurrentThread returns a pseudo-handle valid in this thread.
    let p = unsafe { GetThreadPriority(GetCurrentThread()) };
    if p == THREAD_PRIORITY_ERROR_RETURN {
        return Err(io::Error::last_os_error());
    }
    Ok(p)
}
