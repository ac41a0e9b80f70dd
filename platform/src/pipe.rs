//! Windows named pipes for the UAPI, as wireguard-go serves them:
//! `\\.\pipe\ProtectedPrefix\Administrators\WireGuard\NAME` with a security descriptor
//! that lets only SYSTEM and the Administrators group in ([`UAPI_SDDL`]).
//!
//! [`PipeListener`] hands out connected instances as [`std::fs::File`]s (byte mode,
//! blocking), so the same `Read + Write` protocol code serves them as serves a Unix
//! socket. The first instance is created with `FILE_FLAG_FIRST_PIPE_INSTANCE`: if any
//! other process holds the name, binding fails instead of sharing it. Clients check the
//! owner with [`owner_is_system`] (wireguard-windows' `wg.exe` refuses a pipe whose owner
//! is not SYSTEM).

use std::fs::File;
use std::io;
use std::os::windows::io::{AsRawHandle, OwnedHandle, RawHandle};

use windows_sys::Win32::Foundation::ERROR_PIPE_BUSY;

use crate::sys::windows_pipe::{self, SecurityDescriptor};

/// wireguard-go's UAPI pipe security descriptor: owner SYSTEM; protected DACL granting
/// GENERIC_ALL to SYSTEM and built-in Administrators only; a high mandatory integrity
/// label (no write, read or execute up from lower integrity).
pub const UAPI_SDDL: &str = "O:SYD:P(A;;GA;;;SY)(A;;GA;;;BA)S:(ML;;NWNRNX;;;HI)";

/// The UAPI pipe path for tunnel `name`.
pub fn uapi_pipe_path(name: &str) -> String {
    format!(r"\\.\pipe\ProtectedPrefix\Administrators\WireGuard\{name}")
}

/// A listening named pipe: one idle instance waits for the next client.
#[derive(Debug)]
pub struct PipeListener {
    path: String,
    sd: SecurityDescriptor,
    next: Option<OwnedHandle>,
}

impl PipeListener {
    /// Creates the first instance of `path` with the security descriptor `sddl`.
    /// Another process already serving `path` gives [`io::ErrorKind::AddrInUse`].
    pub fn bind(path: &str, sddl: &str) -> io::Result<Self> {
        // Like the Unix socket: a live server answers a connect (or is busy). Windows
        // also refuses the FIRST_PIPE_INSTANCE below; wine does not, so check first.
        let busy = |e: &io::Error| e.raw_os_error() == Some(ERROR_PIPE_BUSY as i32);
        match std::fs::OpenOptions::new().read(true).write(true).open(path) {
            Err(e) if !busy(&e) => {}
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{path} is served by another process"),
                ))
            }
        }
        let sd = SecurityDescriptor::from_sddl(sddl)?;
        let first = windows_pipe::create_instance(path, &sd, true).map_err(|e| {
            if e.kind() == io::ErrorKind::PermissionDenied {
                io::Error::new(io::ErrorKind::AddrInUse, format!("{path} is in use: {e}"))
            } else {
                e
            }
        })?;
        Ok(Self { path: path.to_owned(), sd, next: Some(first) })
    }

    /// The pipe's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Waits for a client and returns its connection; a fresh instance is made ready
    /// for the next one.
    pub fn accept(&mut self) -> io::Result<File> {
        let instance = match self.next.take() {
            Some(h) => h,
            None => windows_pipe::create_instance(&self.path, &self.sd, false)?,
        };
        windows_pipe::connect(&instance)?;
        // Ready the next instance now, so a client never finds no instance to open
        // (failure is retried at the next accept).
        self.next = match windows_pipe::create_instance(&self.path, &self.sd, false) {
            Ok(h) => Some(h),
            Err(e) => {
                tracing::warn!(path = %self.path, error = %e, "cannot ready the next pipe instance");
                None
            }
        };
        Ok(File::from(instance))
    }
}

/// Cancels pending I/O on a connected pipe `File` (from any thread) and disconnects its
/// client: the serving thread's read returns and the client sees the pipe closed.
pub fn kick(handle: RawHandle) {
    windows_pipe::kick(handle)
}

/// Whether the owner of the pipe (or any kernel object) behind `file` is LocalSystem.
pub fn owner_is_system(file: &File) -> io::Result<bool> {
    use windows_sys::Win32::Security::WinLocalSystemSid;
    windows_pipe::owner_is(file.as_raw_handle(), WinLocalSystemSid)
}

/// Whether the owner of the object behind `file` is the built-in Administrators group
/// (the default owner of objects an elevated, non-SYSTEM process creates).
pub fn owner_is_administrators(file: &File) -> io::Result<bool> {
    use windows_sys::Win32::Security::WinBuiltinAdministratorsSid;
    windows_pipe::owner_is(file.as_raw_handle(), WinBuiltinAdministratorsSid)
}
