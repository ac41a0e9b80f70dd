//! `struct virtio_net_hdr` (include/uapi/linux/virtio_net.h), the 10-byte header a TUN
//! with `IFF_VNET_HDR` puts in front of every packet. Fields are in the host's byte
//! order (a legacy, non-`TUNSETVNETLE` header).

/// Length of the header on the wire (`sizeof(struct virtio_net_hdr)`).
pub const LEN: usize = 10;
/// `flags`: the transport checksum is partial; complete it from `csum_start`.
pub const F_NEEDS_CSUM: u8 = 1;
/// `gso_type`: not a GSO frame.
pub const GSO_NONE: u8 = 0;
/// `gso_type`: TCP over IPv4.
pub const GSO_TCPV4: u8 = 1;
/// `gso_type`: UDP fragmentation offload (not supported; refused).
pub const GSO_UDP: u8 = 3;
/// `gso_type`: TCP over IPv6.
pub const GSO_TCPV6: u8 = 4;
/// `gso_type`: UDP segmentation offload (USO), either IP version.
pub const GSO_UDP_L4: u8 = 5;
/// `gso_type` bit: the first segment carries CWR (TCP ECN).
pub const GSO_ECN: u8 = 0x80;

/// A decoded virtio-net header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VirtioNetHdr {
    /// `F_NEEDS_CSUM` or 0.
    pub flags: u8,
    /// One of the `GSO_*` values, possibly with [`GSO_ECN`].
    pub gso_type: u8,
    /// Length of the IP + transport headers (advisory; not trusted on read).
    pub hdr_len: u16,
    /// Payload bytes per segment.
    pub gso_size: u16,
    /// Where the checksummed region starts (the transport header).
    pub csum_start: u16,
    /// Offset of the checksum field from `csum_start`.
    pub csum_offset: u16,
}

impl VirtioNetHdr {
    /// Reads a header from the front of `b`; `None` if `b` is shorter than [`LEN`].
    pub fn decode(b: &[u8]) -> Option<Self> {
        let b: &[u8; LEN] = b.get(..LEN)?.try_into().ok()?;
        let u = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        Some(Self {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u(2),
            gso_size: u(4),
            csum_start: u(6),
            csum_offset: u(8),
        })
    }

    /// The header's wire form.
    pub fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        b[0] = self.flags;
        b[1] = self.gso_type;
        b[2..4].copy_from_slice(&self.hdr_len.to_ne_bytes());
        b[4..6].copy_from_slice(&self.gso_size.to_ne_bytes());
        b[6..8].copy_from_slice(&self.csum_start.to_ne_bytes());
        b[8..10].copy_from_slice(&self.csum_offset.to_ne_bytes());
        b
    }
}
