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
//! The OS-independent pieces — [`framing`] and the wintun adapter [`guid`] — are pure
//! functions tested on every host.

pub mod framing;
pub mod guid;

#[cfg(unix)]
mod fd;
#[cfg(unix)]
pub use fd::FdTun;

#[cfg(target_os = "linux")]
pub mod linux;

#[cfg(target_os = "macos")]
pub mod utun;

#[cfg(windows)]
#[allow(unsafe_code)]
pub mod wintun;

pub use framing::Framing;
