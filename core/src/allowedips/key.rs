//! Trie keys: how one address family is held in a node and compared bit by bit.
//!
//! The native keys ([`u32`], [`u128`]) convert a packet's big-endian address once per
//! lookup; every edge is then plain integer arithmetic. The big-endian keys (bench-only)
//! keep the packet's byte order and swap on every edge, as the kernel did before 2018.

use std::net::{Ipv4Addr, Ipv6Addr};

/// One address family's key as stored in a trie node.
pub(crate) trait Key: Copy + Eq {
    /// Address length in bits (32 or 128).
    const BITS: u8;
    /// The all-zero key.
    const ZERO: Self;
    /// The human-facing address type.
    type Addr: Copy + Into<std::net::IpAddr>;
    /// The address in packet (network) byte order.
    type Bytes: Copy;

    /// Builds a key from packet bytes.
    fn from_bytes(bytes: &Self::Bytes) -> Self;
    /// Builds a key from an address.
    fn from_addr(addr: Self::Addr) -> Self;
    /// The address this key stands for.
    fn to_addr(self) -> Self::Addr;
    /// The key with every bit at or after `cidr` cleared (`cidr <= BITS`).
    fn masked(self, cidr: u8) -> Self;
    /// Length of the common prefix of two keys, `0..=BITS`.
    fn common_bits(self, other: Self) -> u8;
    /// Whether `self` and `other` agree on their first `cidr` bits.
    #[inline(always)]
    fn prefix_matches(self, other: Self, cidr: u8) -> bool {
        self.common_bits(other) >= cidr
    }
    /// Bits `skip .. skip + k` as an integer (`skip < BITS`, `1 <= k <= BITS - skip`,
    /// `k <= 24`): the top-level index slot.
    fn bits(self, skip: u8, k: u8) -> usize;
    /// The bit at position `at` counted from the most significant end, as 0 or 1.
    /// Positions at or past `BITS` return an arbitrary bit instead of panicking.
    fn bit(self, at: u8) -> usize;
}

impl Key for u32 {
    const BITS: u8 = 32;
    const ZERO: Self = 0;
    type Addr = Ipv4Addr;
    type Bytes = [u8; 4];

    #[inline(always)]
    fn from_bytes(bytes: &[u8; 4]) -> Self {
        u32::from_be_bytes(*bytes)
    }
    fn from_addr(addr: Ipv4Addr) -> Self {
        u32::from(addr)
    }
    fn to_addr(self) -> Ipv4Addr {
        Ipv4Addr::from(self)
    }
    fn masked(self, cidr: u8) -> Self {
        // A 64-bit shift keeps cidr = 0 (shift by 32) defined and yields an all-zero mask.
        let mask = (u64::MAX << (32 - u32::from(cidr.min(32)))) as u32;
        self & mask
    }
    #[inline(always)]
    fn common_bits(self, other: Self) -> u8 {
        (self ^ other).leading_zeros() as u8
    }
    #[inline(always)]
    fn prefix_matches(self, other: Self, cidr: u8) -> bool {
        let mask = (u64::MAX << (32 - u32::from(cidr))) as u32;
        (self ^ other) & mask == 0
    }
    #[inline(always)]
    fn bits(self, skip: u8, k: u8) -> usize {
        self.wrapping_shl(u32::from(skip)).wrapping_shr(32u32.wrapping_sub(u32::from(k))) as usize
    }
    #[inline(always)]
    fn bit(self, at: u8) -> usize {
        (self.wrapping_shl(u32::from(at)) >> 31) as usize
    }
}

impl Key for u128 {
    const BITS: u8 = 128;
    const ZERO: Self = 0;
    type Addr = Ipv6Addr;
    type Bytes = [u8; 16];

    #[inline(always)]
    fn from_bytes(bytes: &[u8; 16]) -> Self {
        u128::from_be_bytes(*bytes)
    }
    fn from_addr(addr: Ipv6Addr) -> Self {
        u128::from(addr)
    }
    fn to_addr(self) -> Ipv6Addr {
        Ipv6Addr::from(self)
    }
    fn masked(self, cidr: u8) -> Self {
        match 128u32.checked_sub(u32::from(cidr)) {
            Some(shift) => self & u128::MAX.checked_shl(shift).unwrap_or(0),
            None => self,
        }
    }
    #[inline(always)]
    fn common_bits(self, other: Self) -> u8 {
        (self ^ other).leading_zeros() as u8
    }
    #[inline(always)]
    fn bits(self, skip: u8, k: u8) -> usize {
        self.wrapping_shl(u32::from(skip)).wrapping_shr(128u32.wrapping_sub(u32::from(k))) as usize
    }
    #[inline(always)]
    fn bit(self, at: u8) -> usize {
        (self.wrapping_shl(u32::from(at)) >> 127) as usize
    }
}

/// An IPv4 key kept in packet byte order (the pre-2018 kernel layout). Bench-only.
#[cfg(feature = "bench-big-endian-trie")]
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Be32(u32);

/// An IPv6 key kept in packet byte order (the pre-2018 kernel layout). Bench-only.
#[cfg(feature = "bench-big-endian-trie")]
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Be128(u128);

#[cfg(feature = "bench-big-endian-trie")]
impl Key for Be32 {
    const BITS: u8 = 32;
    const ZERO: Self = Be32(0);
    type Addr = Ipv4Addr;
    type Bytes = [u8; 4];

    #[inline(always)]
    fn from_bytes(bytes: &[u8; 4]) -> Self {
        Be32(u32::from_ne_bytes(*bytes))
    }
    fn from_addr(addr: Ipv4Addr) -> Self {
        Be32(u32::from_ne_bytes(addr.octets()))
    }
    fn to_addr(self) -> Ipv4Addr {
        Ipv4Addr::from(self.0.to_ne_bytes())
    }
    fn masked(self, cidr: u8) -> Self {
        let native = u32::from_be(self.0).masked(cidr);
        Be32(native.to_be())
    }
    #[inline(always)]
    fn common_bits(self, other: Self) -> u8 {
        // The kernel's old common_bits(): xor in packet order, one swap per edge.
        u32::from_be(self.0 ^ other.0).leading_zeros() as u8
    }
    #[inline(always)]
    fn bits(self, skip: u8, k: u8) -> usize {
        u32::from_be(self.0).bits(skip, k)
    }
    #[inline(always)]
    fn bit(self, at: u8) -> usize {
        let bytes = self.0.to_ne_bytes();
        let byte = bytes[usize::from(at >> 3) & 3];
        usize::from((byte >> (7 - (at & 7))) & 1)
    }
}

#[cfg(feature = "bench-big-endian-trie")]
impl Key for Be128 {
    const BITS: u8 = 128;
    const ZERO: Self = Be128(0);
    type Addr = Ipv6Addr;
    type Bytes = [u8; 16];

    #[inline(always)]
    fn from_bytes(bytes: &[u8; 16]) -> Self {
        Be128(u128::from_ne_bytes(*bytes))
    }
    fn from_addr(addr: Ipv6Addr) -> Self {
        Be128(u128::from_ne_bytes(addr.octets()))
    }
    fn to_addr(self) -> Ipv6Addr {
        Ipv6Addr::from(self.0.to_ne_bytes())
    }
    fn masked(self, cidr: u8) -> Self {
        let native = u128::from_be(self.0).masked(cidr);
        Be128(native.to_be())
    }
    #[inline(always)]
    fn common_bits(self, other: Self) -> u8 {
        u128::from_be(self.0 ^ other.0).leading_zeros() as u8
    }
    #[inline(always)]
    fn bits(self, skip: u8, k: u8) -> usize {
        u128::from_be(self.0).bits(skip, k)
    }
    #[inline(always)]
    fn bit(self, at: u8) -> usize {
        let bytes = self.0.to_ne_bytes();
        let byte = bytes[usize::from(at >> 3) & 15];
        usize::from((byte >> (7 - (at & 7))) & 1)
    }
}
