//! macOS utun: a PF_SYSTEM control socket connected to `com.apple.net.utun_control`.
//! Every packet carries the 4-byte address-family header ([`Framing::AfHeader`]).
//!
//! Inside a NetworkExtension the system creates the utun and the app cannot; the
//! descriptor is found with [`find_utun_fd`] (as WireGuardKit does) and adopted with
//! [`adopt`].

use std::os::fd::{AsFd, OwnedFd, RawFd};

use super::fd::FdTun;
use super::framing::Framing;
use crate::sys::macos as sys;
use crate::Error;

/// Highest descriptor [`find_utun_fd`] looks at.
const FD_SCAN_LIMIT: RawFd = 1024;

/// Creates `utun{unit}` (or the next free utun with `None`) and sets its MTU.
pub fn create(unit: Option<u32>, mtu: usize) -> Result<FdTun, Error> {
    let (fd, name) = sys::open_utun(unit).map_err(Error::os("connect utun control"))?;
    sys::set_mtu(&name, mtu).map_err(Error::os("SIOCSIFMTU"))?;
    let tun = FdTun::adopt(fd, mtu, Framing::AfHeader).map_err(Error::os("set O_NONBLOCK"))?;
    Ok(tun.with_name(name))
}

/// Adopts an open utun descriptor (e.g. from [`find_utun_fd`]); the MTU was set by
/// whoever created the interface and is only reported.
pub fn adopt(fd: OwnedFd, mtu: usize) -> Result<FdTun, Error> {
    let name = sys::utun_ifname(fd.as_fd()).map_err(Error::os("UTUN_OPT_IFNAME"))?;
    let tun = FdTun::adopt(fd, mtu, Framing::AfHeader).map_err(Error::os("set O_NONBLOCK"))?;
    Ok(tun.with_name(name))
}

/// Finds the process's utun descriptor by asking each descriptor below 1024 whether its
/// peer is the utun kernel control (what WireGuardKit does inside
/// `NEPacketTunnelProvider`). The descriptor stays owned by the system; duplicate it
/// (`dup`) before handing it to [`adopt`] if the system may close it.
pub fn find_utun_fd() -> Result<RawFd, Error> {
    let ctl_id = sys::utun_ctl_id_fresh().map_err(Error::os("CTLIOCGINFO"))?;
    (0..FD_SCAN_LIMIT)
        .find(|&fd| sys::is_utun_fd(fd, ctl_id))
        .ok_or(Error::NotFound("a utun descriptor"))
}

/// Duplicates a borrowed utun descriptor into one this crate may own and close.
pub fn dup_fd(fd: RawFd) -> Result<OwnedFd, Error> {
    sys::dup_raw(fd).map_err(Error::os("dup"))
}
