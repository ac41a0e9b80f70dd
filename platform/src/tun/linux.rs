//! Linux `/dev/net/tun`: create (or attach to) a TUN interface with `IFF_TUN |
//! IFF_NO_PI`, set its MTU and bring it up. The device lives in the network namespace of
//! the calling thread.

use super::fd::FdTun;
use super::framing::Framing;
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
    for _ in 0..queues {
        let (fd, actual) = sys::open_tun(&ifname, multi_queue).map_err(Error::os("TUNSETIFF"))?;
        ifname = actual;
        let tun = FdTun::adopt(fd, mtu, Framing::None).map_err(Error::os("set O_NONBLOCK"))?;
        out.push(tun.with_name(ifname.clone()));
    }
    sys::set_mtu(&ifname, mtu).map_err(Error::os("SIOCSIFMTU"))?;
    sys::set_up(&ifname).map_err(Error::os("SIOCSIFFLAGS"))?;
    Ok(out)
}
