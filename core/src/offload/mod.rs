//! TUN segmentation offload and receive coalescing, as pure functions over byte slices.
//!
//! A Linux TUN opened with `IFF_VNET_HDR` and `TUNSETOFFLOAD` hands the tunnel TCP (and
//! UDP) "super-frames" of up to 64 KiB, each behind a [`virtio::VirtioNetHdr`], and
//! accepts the same on write. [`segment`] turns one such frame into packets that fit
//! the tunnel MTU (what the kernel's GSO would have done); [`coalesce`] merges runs of
//! consecutive in-order segments of one flow back into a super-frame (what GRO does).
//! Both never allocate, never panic on malformed input, and report what they refused
//! with an [`OffloadError`] so the caller can drop and count it. No OS calls here: the
//! platform's TUN drives them.

pub mod checksum;
pub mod coalesce;
pub mod segment;
pub mod virtio;

#[cfg(test)]
mod tests;

/// Why a frame was refused. The caller drops it and counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffloadError {
    /// Shorter than the headers it claims to have.
    Truncated,
    /// A GSO type this code does not handle (UFO, unknown values) or one that does not
    /// match the IP version or protocol.
    UnsupportedGso,
    /// An IP or transport header that does not parse (bad version, IHL, data offset,
    /// checksum position, extension headers).
    BadHeader,
    /// A segment would not fit the output buffer (the tunnel MTU).
    TooBig,
}

impl std::fmt::Display for OffloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Truncated => "truncated frame",
            Self::UnsupportedGso => "unsupported GSO type",
            Self::BadHeader => "malformed IP or transport header",
            Self::TooBig => "segment larger than the MTU",
        })
    }
}

impl std::error::Error for OffloadError {}

/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;
/// Length of a UDP header.
pub const UDP_HEADER_LEN: usize = 8;
/// TCP flag bits (byte 13 of the TCP header).
pub mod tcp_flags {
    /// No more data from sender.
    pub const FIN: u8 = 0x01;
    /// Synchronise sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push function.
    pub const PSH: u8 = 0x08;
    /// Acknowledgment field significant.
    pub const ACK: u8 = 0x10;
    /// Urgent pointer field significant.
    pub const URG: u8 = 0x20;
    /// ECN echo.
    pub const ECE: u8 = 0x40;
    /// Congestion window reduced.
    pub const CWR: u8 = 0x80;
}

/// Offset of the source address in an IP header of version `v6`, and the address length.
pub(crate) fn addr_span(v6: bool) -> (usize, usize) {
    if v6 {
        (8, 16)
    } else {
        (12, 4)
    }
}
