//! The one error type of the library, with the stable C codes.

use ferrowg_core::config::uapi::UapiError;
use ferrowg_core::config::ConfigError;
use ferrowg_core::device::DeviceError;

/// Why a call failed. In uniffi this is the typed error every fallible method throws; in
/// C each variant is an `int32_t` code ([`TunnelError::code`]) plus a thread-local message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum TunnelError {
    /// The configuration text was refused; `line` is 1-based (0 when the error is not
    /// tied to a line, e.g. an endpoint that does not resolve).
    #[error("invalid configuration: {detail}")]
    Config {
        /// The line the error is on (0: not tied to a line).
        line: u32,
        /// What is wrong, including the line and key.
        detail: String,
    },
    /// An argument other than the configuration is invalid.
    #[error("invalid argument: {detail}")]
    InvalidArgument {
        /// What is wrong.
        detail: String,
    },
    /// The UDP port could not be opened.
    #[error("cannot open the UDP port: {detail}")]
    Bind {
        /// The OS error.
        detail: String,
    },
    /// The virtual NIC could not be created or adopted.
    #[error("virtual NIC: {detail}")]
    Nic {
        /// The OS error.
        detail: String,
    },
    /// The call is not available in this NIC mode or on this OS.
    #[error("unsupported: {detail}")]
    Unsupported {
        /// What is not supported.
        detail: String,
    },
    /// The tunnel was stopped.
    #[error("the tunnel is stopped")]
    Stopped,
    /// The call was made from inside a callback of this library, where it would
    /// deadlock (stopping a tunnel, (un)registering a callback).
    #[error("not allowed from inside a ferrowg callback")]
    Reentrant,
    /// The OS firewall refused a kill-switch change (no rights, `nft`/`pfctl` missing,
    /// a WFP error).
    #[error("firewall: {detail}")]
    Firewall {
        /// The OS's error.
        detail: String,
    },
    /// Setting up (or undoing) the interface's addresses, routes, rules or DNS failed
    /// (`apply_network_plan`, `NetworkSetup::undo`).
    #[error("network setup: {detail}")]
    Network {
        /// The OS's error.
        detail: String,
    },
    /// A bug in the library was caught at the API boundary (a panic).
    #[error("internal error: {detail}")]
    Internal {
        /// The panic message.
        detail: String,
    },
}

/// Success.
pub const FERROWG_OK: i32 = 0;
/// A required pointer argument was NULL.
pub const FERROWG_ERR_NULL_ARGUMENT: i32 = -1;
/// The handle is not (or no longer) a live tunnel handle.
pub const FERROWG_ERR_INVALID_HANDLE: i32 = -2;
/// A string argument is not valid UTF-8.
pub const FERROWG_ERR_INVALID_UTF8: i32 = -3;
/// The configuration text was refused (the last-error message names the line).
pub const FERROWG_ERR_CONFIG: i32 = -4;
/// Another argument is invalid.
pub const FERROWG_ERR_INVALID_ARGUMENT: i32 = -5;
/// The UDP port could not be opened.
pub const FERROWG_ERR_BIND: i32 = -6;
/// The virtual NIC could not be created or adopted.
pub const FERROWG_ERR_NIC: i32 = -7;
/// Not available in this NIC mode or on this OS.
pub const FERROWG_ERR_UNSUPPORTED: i32 = -8;
/// The tunnel was stopped.
pub const FERROWG_ERR_STOPPED: i32 = -9;
/// Called from inside a ferrowg callback where that would deadlock.
pub const FERROWG_ERR_REENTRANT: i32 = -10;
/// A panic inside the library was caught (a bug; the library stays usable).
pub const FERROWG_ERR_INTERNAL: i32 = -11;
/// The output buffer is too small; the needed size was written where documented.
pub const FERROWG_ERR_BUFFER_TOO_SMALL: i32 = -12;
/// No room for the packet within the timeout.
pub const FERROWG_ERR_TIMEOUT: i32 = -13;
/// The OS firewall refused a kill-switch change.
pub const FERROWG_ERR_FIREWALL: i32 = -14;
/// Setting up or undoing the interface's addresses, routes, rules or DNS failed.
pub const FERROWG_ERR_NETWORK: i32 = -15;

impl TunnelError {
    /// The stable C code of this error.
    pub fn code(&self) -> i32 {
        match self {
            Self::Config { .. } => FERROWG_ERR_CONFIG,
            Self::InvalidArgument { .. } => FERROWG_ERR_INVALID_ARGUMENT,
            Self::Bind { .. } => FERROWG_ERR_BIND,
            Self::Nic { .. } => FERROWG_ERR_NIC,
            Self::Unsupported { .. } => FERROWG_ERR_UNSUPPORTED,
            Self::Stopped => FERROWG_ERR_STOPPED,
            Self::Reentrant => FERROWG_ERR_REENTRANT,
            Self::Internal { .. } => FERROWG_ERR_INTERNAL,
            Self::Firewall { .. } => FERROWG_ERR_FIREWALL,
            Self::Network { .. } => FERROWG_ERR_NETWORK,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::InvalidArgument { detail: message.into() }
    }
}

impl From<ConfigError> for TunnelError {
    fn from(e: ConfigError) -> Self {
        Self::Config { line: u32::try_from(e.line).unwrap_or(u32::MAX), detail: e.to_string() }
    }
}

impl From<UapiError> for TunnelError {
    fn from(e: UapiError) -> Self {
        Self::Config { line: u32::try_from(e.line).unwrap_or(u32::MAX), detail: e.to_string() }
    }
}

impl From<DeviceError> for TunnelError {
    fn from(e: DeviceError) -> Self {
        match e {
            DeviceError::Bind { .. } => Self::Bind { detail: e.to_string() },
            DeviceError::Fwmark(ref source) if source.kind() == std::io::ErrorKind::Unsupported => {
                Self::Unsupported { detail: e.to_string() }
            }
            DeviceError::Fwmark(_) => Self::Bind { detail: e.to_string() },
            DeviceError::UnresolvedEndpoint(_) | DeviceError::InvalidConfig(_) => {
                Self::Config { line: 0, detail: e.to_string() }
            }
            other => Self::Internal { detail: other.to_string() },
        }
    }
}
