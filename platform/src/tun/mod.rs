//! Virtual NICs implementing [`ferrowg_core::io::Tun`].
//!
//! Every Unix device is an [`FdTun`]: a non-blocking descriptor read with `poll(2)`
//! honouring the receive timeout, with or without the 4-byte address-family header Apple
//! puts in front of every packet ([`Framing`]). Constructors per OS:
//!
//! | OS | create | adopt |
//! | --- | --- | --- |
//! | Linux | [`linux::create`], [`linux::create_multi_queue`] | [`FdTun::adopt`] with [`Framing::None`] (Android `detachFd`) |
//! | macOS | `utun::create` | `utun::adopt`, `utun::find_utun_fd` (NetworkExtension) |
//! | Windows | `wintun::WintunTun::create` | — |
//!
//! [`create`] picks the right one for a named device (what the `ferrowg` binary and the
//! FFI's "named OS adapter" mode use). The OS-independent pieces — [`framing`], the
//! wintun adapter [`guid`], [`utun_unit`] — are pure functions tested on every host.

pub mod framing;
pub mod guid;
pub mod wintun_ring;

#[cfg(unix)]
mod fd;
#[cfg(unix)]
pub use fd::FdTun;

#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(target_os = "linux")]
mod vnet;

#[cfg(target_os = "macos")]
pub mod utun;

#[cfg(windows)]
#[allow(unsafe_code)]
pub mod wintun;

pub use framing::Framing;

#[cfg(any(target_os = "linux", target_os = "macos", windows))]
use crate::Error;

/// The OS's own virtual NIC type: what [`create`] returns.
#[cfg(unix)]
pub type OsTun = FdTun;
/// The OS's own virtual NIC type: what [`create`] returns.
#[cfg(windows)]
pub type OsTun = wintun::WintunTun;

/// Creates the OS virtual NIC `name` with `mtu`, the way `wireguard-go IFNAME` does:
/// Linux `/dev/net/tun` (brought up); macOS `utun` or `utunN` only (the kernel names
/// utun devices); Windows a wintun adapter with the name-derived GUID and wintun.dll
/// next to the executable.
#[cfg(any(target_os = "linux", target_os = "macos", windows))]
pub fn create(name: &str, mtu: usize) -> Result<OsTun, Error> {
    #[cfg(target_os = "linux")]
    return linux::create(name, mtu);
    #[cfg(target_os = "macos")]
    return utun::create(utun_unit(name).ok_or_else(|| Error::InvalidName(name.to_owned()))?, mtu);
    #[cfg(windows)]
    return wintun::WintunTun::create(&wintun::WintunOptions::new(name, mtu));
}

/// The unit a macOS utun name asks for: `"utun"` → any (`Some(None)`), `"utun7"` → 7,
/// anything else → `None` (not a utun name).
pub fn utun_unit(name: &str) -> Option<Option<u32>> {
    let digits = name.strip_prefix("utun")?;
    if digits.is_empty() {
        return Some(None);
    }
    if digits.starts_with('+') || (digits.len() > 1 && digits.starts_with('0')) {
        return None;
    }
    digits.parse().ok().map(Some)
}

#[cfg(test)]
mod tests {
    use super::utun_unit;

    #[test]
    fn utun_names() {
        assert_eq!(utun_unit("utun"), Some(None));
        assert_eq!(utun_unit("utun0"), Some(Some(0)));
        assert_eq!(utun_unit("utun12"), Some(Some(12)));
        assert_eq!(utun_unit("utun07"), None);
        assert_eq!(utun_unit("utun+1"), None);
        assert_eq!(utun_unit("wg0"), None);
        assert_eq!(utun_unit("utunx"), None);
    }
}
