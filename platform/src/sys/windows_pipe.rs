//! Windows named-pipe calls for the UAPI listener: the security descriptor from SDDL,
//! pipe instances, connecting and disconnecting clients, and the owner check.

use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle, RawHandle};

use windows_sys::Win32::Foundation::{
    GetLastError, LocalFree, ERROR_PIPE_CONNECTED, FALSE, HANDLE, INVALID_HANDLE_VALUE, PSID,
};
use windows_sys::Win32::Security::Authorization::{
    ConvertStringSecurityDescriptorToSecurityDescriptorW, GetSecurityInfo, SDDL_REVISION_1,
    SE_KERNEL_OBJECT,
};
use windows_sys::Win32::Security::{
    IsWellKnownSid, OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES,
    WELL_KNOWN_SID_TYPE,
};
use windows_sys::Win32::Storage::FileSystem::{FILE_FLAG_FIRST_PIPE_INSTANCE, PIPE_ACCESS_DUPLEX};
use windows_sys::Win32::System::Pipes::{
    ConnectNamedPipe, CreateNamedPipeW, DisconnectNamedPipe, PIPE_READMODE_BYTE,
    PIPE_REJECT_REMOTE_CLIENTS, PIPE_TYPE_BYTE, PIPE_UNLIMITED_INSTANCES, PIPE_WAIT,
};
use windows_sys::Win32::System::IO::CancelIoEx;

/// Pipe buffer sizes (wireguard-go's namedpipe uses 4 KiB too; larger requests just
/// take several writes).
const PIPE_BUFFER: u32 = 4096;

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// A self-relative security descriptor made from SDDL, freed with `LocalFree`.
#[derive(Debug)]
pub(crate) struct SecurityDescriptor(PSECURITY_DESCRIPTOR);

// SAFETY: the descriptor is immutable memory owned by this value; reading it from
// several threads (CreateNamedPipeW only reads it) is safe.
unsafe impl Send for SecurityDescriptor {}
// SAFETY: as above.
unsafe impl Sync for SecurityDescriptor {}

impl SecurityDescriptor {
    /// Parses `sddl` (e.g. `"O:SYD:P(A;;GA;;;SY)(A;;GA;;;BA)S:(ML;;NWNRNX;;;HI)"`).
    pub(crate) fn from_sddl(sddl: &str) -> io::Result<Self> {
        let text = wide(sddl);
        let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
        // SAFETY: `text` is a NUL-terminated UTF-16 string alive for the call; `sd` is a
        // valid out-pointer; the size out-pointer may be null.
        let ok = unsafe {
            ConvertStringSecurityDescriptorToSecurityDescriptorW(
                text.as_ptr(),
                SDDL_REVISION_1,
                &mut sd,
                std::ptr::null_mut(),
            )
        };
        if ok == FALSE || sd.is_null() {
            return Err(io::Error::last_os_error());
        }
        Ok(Self(sd))
    }
}

impl Drop for SecurityDescriptor {
    fn drop(&mut self) {
        // SAFETY: the descriptor was allocated by the SDDL conversion with LocalAlloc and
        // is freed exactly once here.
        unsafe { LocalFree(self.0 as _) };
    }
}

/// Creates one instance of the byte-mode, blocking, local-only pipe `path` with `sd`.
/// `first`: fail if any instance of the name exists already (so no other process can
/// have squatted the name before us).
pub(crate) fn create_instance(
    path: &str,
    sd: &SecurityDescriptor,
    first: bool,
) -> io::Result<OwnedHandle> {
    let name = wide(path);
    let attrs = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: sd.0,
        bInheritHandle: FALSE,
    };
    let open_mode = PIPE_ACCESS_DUPLEX | if first { FILE_FLAG_FIRST_PIPE_INSTANCE } else { 0 };
    let pipe_mode = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS;
    // SAFETY: `name` is NUL-terminated UTF-16 alive for the call; `attrs` points at a live
    // descriptor owned by `sd`; the call returns a new handle or INVALID_HANDLE_VALUE.
    let h = unsafe {
        CreateNamedPipeW(
            name.as_ptr(),
            open_mode,
            pipe_mode,
            PIPE_UNLIMITED_INSTANCES,
            PIPE_BUFFER,
            PIPE_BUFFER,
            0,
            &attrs,
        )
    };
    if h == INVALID_HANDLE_VALUE {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `h` is a fresh, valid handle that nothing else owns.
    Ok(unsafe { OwnedHandle::from_raw_handle(h as RawHandle) })
}

/// Waits (blocking) until a client connects to the pipe instance `h`.
pub(crate) fn connect(h: &OwnedHandle) -> io::Result<()> {
    // SAFETY: `h` is a live pipe instance handle opened without FILE_FLAG_OVERLAPPED, so
    // a null OVERLAPPED makes this a plain blocking call.
    let ok = unsafe { ConnectNamedPipe(h.as_raw_handle() as HANDLE, std::ptr::null_mut()) };
    // SAFETY: reads this thread's last error; no memory effects.
    if ok == FALSE && unsafe { GetLastError() } != ERROR_PIPE_CONNECTED {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Cancels I/O pending on `h` in any thread and disconnects its client (which then sees
/// the pipe closed). Errors are ignored: the handle may be disconnected already.
pub(crate) fn kick(h: RawHandle) {
    // SAFETY: `h` is a live handle borrowed from its owner for the call; a null
    // OVERLAPPED cancels every request on it; no memory of ours is touched.
    unsafe { CancelIoEx(h as HANDLE, std::ptr::null()) };
    // SAFETY: as above; disconnecting only changes the pipe's state.
    unsafe { DisconnectNamedPipe(h as HANDLE) };
}

/// Whether the owner of the kernel object `h` is the well-known SID `sid` (for a
/// client's check that the pipe it reached was made by the service, not a squatter).
pub(crate) fn owner_is(h: RawHandle, sid: WELL_KNOWN_SID_TYPE) -> io::Result<bool> {
    let mut owner: PSID = std::ptr::null_mut();
    let mut sd: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    // SAFETY: `h` is a live handle borrowed for the call; the owner and descriptor
    // out-pointers are valid, the others may be null; the descriptor is LocalFree'd below
    // and `owner` points into it.
    let rc = unsafe {
        GetSecurityInfo(
            h as HANDLE,
            SE_KERNEL_OBJECT,
            OWNER_SECURITY_INFORMATION,
            &mut owner,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut sd,
        )
    };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc as i32));
    }
    // SAFETY: `owner` points into the live descriptor `sd`.
    let is = !owner.is_null() && unsafe { IsWellKnownSid(owner, sid) } != FALSE;
    // SAFETY: `sd` was allocated by GetSecurityInfo and is freed once; `owner` is not
    // used afterwards.
    unsafe { LocalFree(sd as _) };
    Ok(is)
}
