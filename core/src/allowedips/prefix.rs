//! An IP prefix in canonical form (host bits cleared), as `wg` prints it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::key::Key;
use super::AllowedIpsError;

/// An address and prefix length with every host bit cleared, e.g. `10.0.0.0/8`.
///
/// Construction masks host bits the way `wg` canonicalizes `allowed-ips`, so
/// `10.1.2.3/8` and `10.0.0.0/8` are the same prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    addr: IpAddr,
    cidr: u8,
}

impl Prefix {
    /// Masks `addr` to `cidr` bits; fails if `cidr` exceeds 32 (IPv4) or 128 (IPv6).
    pub fn new(addr: IpAddr, cidr: u8) -> Result<Self, AllowedIpsError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if cidr > max {
            return Err(AllowedIpsError::InvalidCidr { cidr, max });
        }
        let addr = match addr {
            IpAddr::V4(a) => IpAddr::V4(u32::from_addr(a).masked(cidr).to_addr()),
            IpAddr::V6(a) => IpAddr::V6(u128::from_addr(a).masked(cidr).to_addr()),
        };
        Ok(Prefix { addr, cidr })
    }

    /// A single-address prefix (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> Self {
        let cidr = if addr.is_ipv4() { 32 } else { 128 };
        Prefix { addr, cidr }
    }

    /// The network address (host bits zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length in bits.
    pub fn cidr(&self) -> u8 {
        self.cidr
    }

    pub(crate) fn v4(addr: Ipv4Addr, cidr: u8) -> Self {
        Prefix { addr: IpAddr::V4(addr), cidr }
    }

    pub(crate) fn v6(addr: Ipv6Addr, cidr: u8) -> Self {
        Prefix { addr: IpAddr::V6(addr), cidr }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.cidr)
    }
}

impl FromStr for Prefix {
    type Err = AllowedIpsError;

    /// Parses `addr/cidr`, or a bare address as a host prefix, like `wg set allowed-ips`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || AllowedIpsError::Parse(s.to_owned());
        let (addr, cidr) = match s.trim().split_once('/') {
            Some((addr, cidr)) => (addr, Some(cidr)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        match cidr {
            Some(c) => Prefix::new(addr, c.parse().map_err(|_| bad())?),
            None => Ok(Prefix::host(addr)),
        }
    }
}
