//! Linux `/dev/net/tun`: create (or attach to) a TUN interface with `IFF_TUN |
//! IFF_NO_PI`, set its MTU and bring it up. The device lives in the network namespace of
//! the calling thread.
//!
//! Segmentation offload is probed at open: `IFF_VNET_HDR`, `TUNSETVNETHDRSZ` and
//! `TUNSETOFFLOAD` with checksum + TSO4/TSO6 (+ USO4/USO6 where the kernel has them).
//! If any step is refused the device is reopened without the header and carries plain
//! packets, as before. `FERROWG_TUN_OFFLOAD=0` in the environment skips the probe (for
//! A/B measurements). An adopted descriptor ([`FdTun::adopt`]) never has the header.

use std::os::fd::{AsFd, OwnedFd};

use ferrowg_core::offload::virtio;

use super::fd::FdTun;
use super::framing::Framing;
use super::vnet::{TCP_OFFLOADS, UDP_OFFLOADS};
use crate::sys::linux as sys;
use crate::Error;

/// Largest MTU Linux accepts on a TUN device.
const MAX_MTU: usize = 65535;
/// Smallest MTU that still carries IPv4 (RFC 791); IPv6 needs 1280.
const MIN_MTU: usize = 68;

/// Creates the TUN interface `name` (or attaches to an existing one; an empty name lets
/// the kernel pick `tunN`), sets `mtu`, and brings it up. Addresses and routes are the
/// caller's business.
pub fn create(name: &str, mtu: usize) -> Result<FdTun, Error> {
    let mut queues = open(name, mtu, 1, false)?;
    queues.pop().ok_or(Error::NotFound("TUN queue"))
}

/// Like [`create`], with `IFF_MULTI_QUEUE`: returns `queues` descriptors for the same
/// interface, so several threads can each read and write their own queue.
pub fn create_multi_queue(name: &str, mtu: usize, queues: usize) -> Result<Vec<FdTun>, Error> {
    open(name, mtu, queues.max(1), true)
}

fn open(name: &str, mtu: usize, queues: usize, multi_queue: bool) -> Result<Vec<FdTun>, Error> {
    if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
        return Err(Error::InvalidMtu(mtu));
    }
    if name.len() >= libc::IFNAMSIZ || name.contains(['/', ' ', '\0']) {
        return Err(Error::InvalidName(name.to_owned()));
    }
    let mut out = Vec::with_capacity(queues);
    let mut ifname = name.to_owned();
    // Decided on the first queue; every later queue is opened the same way.
    let mut offload: Option<Option<bool>> = None;
    for _ in 0..queues {
        let (fd, actual, uso) = match offload {
            Some(Some(uso)) => {
                let (fd, actual) =
                    sys::open_tun(&ifname, multi_queue, true).map_err(Error::os("TUNSETIFF"))?;
                enable_offload(&fd, Some(uso)).map_err(Error::os("TUNSETOFFLOAD"))?;
                (fd, actual, Some(uso))
            }
            Some(None) => {
                let (fd, actual) =
                    sys::open_tun(&ifname, multi_queue, false).map_err(Error::os("TUNSETIFF"))?;
                (fd, actual, None)
            }
            None => {
                let (fd, actual, uso) = open_probing(&ifname, multi_queue)?;
                offload = Some(uso);
                (fd, actual, uso)
            }
        };
        ifname = actual;
        let tun = FdTun::adopt(fd, mtu, Framing::None).map_err(Error::os("set O_NONBLOCK"))?;
        let tun = match uso {
            Some(uso) => tun.with_vnet(uso),
            None => tun,
        };
        out.push(tun.with_name(ifname.clone()));
    }
    if let Some(Some(uso)) = offload {
        tracing::debug!(interface = %ifname, uso, "TUN segmentation offload on");
    }
    sys::set_mtu(&ifname, mtu).map_err(Error::os("SIOCSIFMTU"))?;
    sys::set_up(&ifname).map_err(Error::os("SIOCSIFFLAGS"))?;
    Ok(out)
}

/// Opens a queue with the virtio-net header and offloads if the kernel takes them,
/// otherwise without. Returns the fd, the interface name and `Some(uso)` when offload is
/// on.
fn open_probing(name: &str, multi_queue: bool) -> Result<(OwnedFd, String, Option<bool>), Error> {
    let wanted = std::env::var_os("FERROWG_TUN_OFFLOAD").is_none_or(|v| v != "0");
    if wanted {
        match sys::open_tun(name, multi_queue, true) {
            Ok((fd, actual)) => match enable_offload(&fd, None) {
                Ok(uso) => return Ok((fd, actual, Some(uso))),
                Err(e) => {
                    tracing::debug!(error = %e, "TUN offload refused; plain packets");
                    // Closing the only queue of a fresh, non-persistent device removes
                    // it; the plain open below recreates it.
                    drop(fd);
                }
            },
            Err(e) => tracing::debug!(error = %e, "IFF_VNET_HDR refused; plain packets"),
        }
    }
    let (fd, actual) = sys::open_tun(name, multi_queue, false).map_err(Error::os("TUNSETIFF"))?;
    Ok((fd, actual, None))
}

/// Sets the header size and the offloads on a vnet-header queue. `uso`: `None` probes
/// (USO if the kernel has it), `Some(x)` asks for exactly that. Returns whether USO is on.
fn enable_offload(fd: &OwnedFd, uso: Option<bool>) -> std::io::Result<bool> {
    sys::set_vnet_hdr_size(fd.as_fd(), virtio::LEN as libc::c_int)?;
    if uso != Some(false) {
        match sys::set_tun_offload(fd.as_fd(), TCP_OFFLOADS | UDP_OFFLOADS) {
            Ok(()) => return Ok(true),
            Err(e) if uso == Some(true) => return Err(e),
            Err(_) => {}
        }
    }
    sys::set_tun_offload(fd.as_fd(), TCP_OFFLOADS)?;
    Ok(false)
}
