//! The kill switch applied to the OS: an nftables table (Linux), a pf anchor (macOS),
//! persistent WFP filters (Windows). What is blocked is decided in
//! [`ferrowg_core::killswitch`]; this module only loads and removes it.
//!
//! The rules are kernel state, not process state: they stay when the engine dies (that
//! is the point: a crashed tunnel leaks nothing) and go only through [`disable`].

use ferrowg_core::killswitch::{KillSwitchError, KillSwitchSpec};

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "macos")]
mod macos;
#[cfg(windows)]
#[allow(unsafe_code)]
mod windows;

#[cfg(target_os = "linux")]
use linux as os;
#[cfg(target_os = "macos")]
use macos as os;
#[cfg(windows)]
use windows as os;

/// Why the kill switch could not be changed or read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spec cannot be rendered (a bad interface name).
    #[error(transparent)]
    Spec(#[from] KillSwitchError),
    /// A helper program (`nft`, `pfctl`) could not be run or failed.
    #[error("{program}: {message}")]
    Command {
        /// The program.
        program: &'static str,
        /// Its error output, or why it could not start.
        message: String,
    },
    /// An OS call failed (Windows: a WFP or IP Helper call; `code` is its result).
    #[error("{op} failed: 0x{code:08x}")]
    Os {
        /// The call.
        op: &'static str,
        /// The error code it returned.
        code: u32,
    },
    /// This OS has no kill switch.
    #[error("the kill switch is not supported on this OS")]
    Unsupported,
}

/// Installs the kill switch for `spec.tunnel`, atomically replacing one already there.
pub fn enable(spec: &KillSwitchSpec) -> Result<(), Error> {
    spec.check()?;
    os::enable(spec)
}

/// Removes the kill switch of tunnel `ifname`; `Ok(false)` if there was none.
pub fn disable(ifname: &str) -> Result<bool, Error> {
    os::disable(ifname)
}

/// Whether the kill switch of tunnel `ifname` is installed.
pub fn status(ifname: &str) -> Result<bool, Error> {
    os::status(ifname)
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod os {
    use super::{Error, KillSwitchSpec};
    pub fn enable(_: &KillSwitchSpec) -> Result<(), Error> {
        Err(Error::Unsupported)
    }
    pub fn disable(_: &str) -> Result<bool, Error> {
        Err(Error::Unsupported)
    }
    pub fn status(_: &str) -> Result<bool, Error> {
        Err(Error::Unsupported)
    }
}

/// Runs `program args` with `stdin` as its input; its stdout on success.
#[cfg(unix)]
fn run(program: &'static str, args: &[&str], stdin: &str) -> Result<String, Error> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let err = |message: String| Error::Command { program, message };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| err(e.to_string()))?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(stdin.as_bytes()).map_err(|e| err(e.to_string()))?;
    }
    let out = child.wait_with_output().map_err(|e| err(e.to_string()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        Err(err(format!("{} ({})", stderr.trim(), out.status)))
    }
}
