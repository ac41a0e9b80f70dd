//! The error type of the constructors in this crate. The per-packet trait methods keep
//! returning `std::io::Error`, as [`ferrowg_core::io`] defines them.

use std::io;

/// Why a device, socket or topology could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call failed; `op` names the step.
    #[error("{op}: {source}")]
    Os {
        /// The step that failed, e.g. "open /dev/net/tun".
        op: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The interface name is empty, too long or otherwise unusable on this OS.
    #[error("invalid interface name {0:?}")]
    InvalidName(String),
    /// The MTU is outside what the device accepts.
    #[error("MTU {0} is out of range")]
    InvalidMtu(usize),
    /// wintun.dll could not be loaded, or a wintun call failed.
    #[error("wintun: {0}")]
    Wintun(String),
    /// Nothing matching was found (no utun descriptor, no CPUs in the topology).
    #[error("not found: {0}")]
    NotFound(&'static str),
}

impl Error {
    /// Wraps an OS error with the step that produced it, for `map_err`.
    pub(crate) fn os(op: &'static str) -> impl FnOnce(io::Error) -> Error {
        move |source| Error::Os { op, source }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        match e {
            Error::Os { source, .. } => source,
            Error::InvalidName(_) | Error::InvalidMtu(_) => {
                io::Error::new(io::ErrorKind::InvalidInput, e)
            }
            Error::NotFound(_) => io::Error::new(io::ErrorKind::NotFound, e),
            Error::Wintun(_) => io::Error::other(e),
        }
    }
}
