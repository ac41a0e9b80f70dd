//! Raw system calls, one module per OS. Every `unsafe` block in the crate outside the
//! wintun adapter lives here and carries a `// SAFETY:` line.

#[cfg(unix)]
pub(crate) mod unix;

#[cfg(target_os = "linux")]
pub(crate) mod linux;

#[cfg(target_os = "macos")]
pub(crate) mod macos;

#[cfg(windows)]
pub(crate) mod windows;

#[cfg(windows)]
pub(crate) mod windows_pipe;

#[cfg(windows)]
pub(crate) mod windows_console;

#[cfg(windows)]
pub(crate) mod windows_offload;

#[cfg(target_os = "macos")]
pub(crate) mod macos_batch;
