//! The OS virtual NIC modes: create a named adapter, or adopt a descriptor.

use std::sync::Arc;

use ferrowg_core::io::Tun;

use crate::error::TunnelError;

fn nic_error(e: impl std::fmt::Display) -> TunnelError {
    TunnelError::Nic { detail: e.to_string() }
}

/// Creates the OS adapter `name` (Linux tun, macOS `utun`/`utunN`, Windows wintun).
pub(crate) fn create(name: &str, mtu: usize) -> Result<Arc<dyn Tun>, TunnelError> {
    #[cfg(any(target_os = "linux", target_os = "macos", windows))]
    {
        let tun = ferrowg_platform::tun::create(name, mtu).map_err(nic_error)?;
        Ok(Arc::new(tun))
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
    {
        let _ = (name, mtu);
        Err(TunnelError::Unsupported { detail: "creating adapters on this OS".into() })
    }
}

/// Adopts a TUN descriptor the app got from the OS (Apple `NEPacketTunnelProvider`'s
/// utun, Android `VpnService.Builder.establish()`). The descriptor is duplicated: the
/// caller keeps ownership of `fd` and may close it after this returns.
#[cfg_attr(not(unix), allow(unused_variables))]
#[allow(unsafe_code)]
pub(crate) fn adopt(fd: i32, mtu: usize) -> Result<Arc<dyn Tun>, TunnelError> {
    #[cfg(unix)]
    {
        use std::os::fd::BorrowedFd;
        if fd < 0 {
            return Err(TunnelError::invalid("file descriptor is negative"));
        }
        // SAFETY: the caller promises `fd` is an open descriptor for the duration of this
        // call; we only duplicate it and own the duplicate.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let owned = borrowed.try_clone_to_owned().map_err(nic_error)?;
        #[cfg(target_os = "macos")]
        let tun = ferrowg_platform::tun::utun::adopt(owned, mtu).map_err(nic_error)?;
        #[cfg(not(target_os = "macos"))]
        let tun = ferrowg_platform::tun::FdTun::adopt(
            owned,
            mtu,
            if cfg!(target_os = "ios") {
                ferrowg_platform::tun::Framing::AfHeader
            } else {
                ferrowg_platform::tun::Framing::None
            },
        )
        .map_err(nic_error)?;
        Ok(Arc::new(tun))
    }
    #[cfg(not(unix))]
    {
        Err(TunnelError::Unsupported { detail: "adopting a descriptor on this OS".into() })
    }
}

/// The utun descriptor NetworkExtension opened for this process (found by scanning
/// descriptors, as WireGuardKit does); pass it to `AdoptFd`. macOS only for now.
pub(crate) fn find_utun_fd() -> Result<i32, TunnelError> {
    #[cfg(target_os = "macos")]
    {
        ferrowg_platform::tun::utun::find_utun_fd().map_err(nic_error)
    }
    #[cfg(not(target_os = "macos"))]
    {
        Err(TunnelError::Unsupported {
            detail: "utun descriptors exist only on Apple systems".into(),
        })
    }
}
