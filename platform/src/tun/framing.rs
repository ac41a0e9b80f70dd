//! The 4-byte address-family header Apple's utun (and the fd NEPacketTunnelProvider hands
//! over) puts in front of every packet: the protocol family as a 32-bit big-endian
//! number, `AF_INET` (2) or `AF_INET6` (30). Pure functions, so they are tested on any
//! host.

/// macOS `AF_INET`, as it appears in the header (not the build host's value).
pub const APPLE_AF_INET: u32 = 2;
/// macOS `AF_INET6`, as it appears in the header (Linux uses 10, so it is spelled out).
pub const APPLE_AF_INET6: u32 = 30;
/// Length of the header.
pub const AF_HEADER_LEN: usize = 4;

/// How packets are framed on a TUN descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// Bare IP packets (Linux `IFF_NO_PI`, Android `VpnService`).
    #[default]
    None,
    /// A 4-byte big-endian address family before each packet (macOS/iOS utun).
    AfHeader,
}

/// The IP version in the first nibble of `packet`, if it is 4 or 6.
pub fn ip_version(packet: &[u8]) -> Option<u8> {
    match packet.first()? >> 4 {
        v @ (4 | 6) => Some(v),
        _ => None,
    }
}

/// The header to send before `packet`, chosen from its version nibble. `None` for
/// anything that is not IPv4 or IPv6 (such a packet is dropped).
pub fn af_header_for(packet: &[u8]) -> Option<[u8; AF_HEADER_LEN]> {
    let family = match ip_version(packet)? {
        4 => APPLE_AF_INET,
        _ => APPLE_AF_INET6,
    };
    Some(family.to_be_bytes())
}

/// Whether a received header is consistent with the packet after it: it must name
/// `AF_INET` for an IPv4 packet or `AF_INET6` for an IPv6 one.
pub fn af_header_matches(header: [u8; AF_HEADER_LEN], packet: &[u8]) -> bool {
    matches!(
        (u32::from_be_bytes(header), ip_version(packet)),
        (APPLE_AF_INET, Some(4)) | (APPLE_AF_INET6, Some(6))
    )
}

/// Writes header + packet into `out`; returns the frame length, or `None` if `out` is too
/// small or the packet is not IP.
pub fn encode(packet: &[u8], out: &mut [u8]) -> Option<usize> {
    let header = af_header_for(packet)?;
    let total = AF_HEADER_LEN.checked_add(packet.len())?;
    let frame = out.get_mut(..total)?;
    let (head, body) = frame.split_at_mut(AF_HEADER_LEN);
    head.copy_from_slice(&header);
    body.copy_from_slice(packet);
    Some(total)
}

/// The IP packet inside a received frame, or `None` if the frame is too short or its
/// header does not match the packet.
pub fn decode(frame: &[u8]) -> Option<&[u8]> {
    let (head, packet) = frame.split_first_chunk::<AF_HEADER_LEN>()?;
    af_header_matches(*head, packet).then_some(packet)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V4: [u8; 4] = [0x45, 0x00, 0x00, 0x14];
    const V6: [u8; 4] = [0x60, 0x00, 0x00, 0x00];

    #[test]
    fn header_is_big_endian_apple_family() {
        assert_eq!(af_header_for(&V4), Some([0, 0, 0, 2]));
        assert_eq!(af_header_for(&V6), Some([0, 0, 0, 30]));
        assert_eq!(af_header_for(&[0x50]), None);
        assert_eq!(af_header_for(&[]), None);
    }

    #[test]
    fn encode_then_decode_round_trips() {
        for packet in [&V4[..], &V6[..]] {
            let mut buf = [0u8; 16];
            let n = encode(packet, &mut buf).unwrap();
            assert_eq!(n, packet.len() + 4);
            assert_eq!(decode(&buf[..n]), Some(packet));
        }
    }

    #[test]
    fn encode_refuses_small_buffers_and_non_ip() {
        let mut small = [0u8; 7];
        assert_eq!(encode(&V4, &mut small), None);
        let mut buf = [0u8; 16];
        assert_eq!(encode(&[0x00, 1, 2], &mut buf), None);
    }

    #[test]
    fn decode_rejects_short_and_mismatched_frames() {
        assert_eq!(decode(&[0, 0, 0]), None);
        // Header says IPv6, packet is IPv4.
        assert_eq!(decode(&[0, 0, 0, 30, 0x45, 0]), None);
        // Linux AF_INET6 (10) is not the Apple value.
        assert_eq!(decode(&[0, 0, 0, 10, 0x60, 0]), None);
        // Little-endian family is wrong.
        assert_eq!(decode(&[2, 0, 0, 0, 0x45, 0]), None);
        // Header with no packet.
        assert_eq!(decode(&[0, 0, 0, 2]), None);
    }
}
