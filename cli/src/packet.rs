//! Small IPv4/UDP packet builders for the demo, plus the OS randomness the binary needs
//! (keys, engine seeds).

use std::net::Ipv4Addr;

/// IPv4 header length without options.
const IPV4_HEADER: usize = 20;
/// UDP header length.
const UDP_HEADER: usize = 8;

/// Writes an IPv4/UDP packet of `total` bytes (at least 28) into a new buffer; the first
/// 8 payload bytes carry `seq` (big-endian), so the receiver can recognise the packet.
pub fn ipv4_udp(src: Ipv4Addr, dst: Ipv4Addr, total: usize, seq: u64) -> Vec<u8> {
    let total = total.clamp(IPV4_HEADER + UDP_HEADER + 8, usize::from(u16::MAX));
    let mut p = vec![0u8; total];
    let len = total as u16;
    p[0] = 0x45;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    p[8] = 64; // TTL
    p[9] = 17; // UDP
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    let csum = checksum(&p[..IPV4_HEADER]);
    p[10..12].copy_from_slice(&csum.to_be_bytes());
    let udp_len = len - IPV4_HEADER as u16;
    p[20..22].copy_from_slice(&40000u16.to_be_bytes());
    p[22..24].copy_from_slice(&9u16.to_be_bytes()); // discard
    p[24..26].copy_from_slice(&udp_len.to_be_bytes());
    set_seq(&mut p, seq);
    p
}

/// Overwrites the sequence number of a packet made by [`ipv4_udp`].
pub fn set_seq(packet: &mut [u8], seq: u64) {
    if let Some(s) = packet.get_mut(IPV4_HEADER + UDP_HEADER..IPV4_HEADER + UDP_HEADER + 8) {
        s.copy_from_slice(&seq.to_be_bytes());
    }
}

/// The sequence number of a packet made by [`ipv4_udp`], if it is long enough.
pub fn seq(packet: &[u8]) -> Option<u64> {
    let s = packet.get(IPV4_HEADER + UDP_HEADER..IPV4_HEADER + UDP_HEADER + 8)?;
    Some(u64::from_be_bytes(s.try_into().ok()?))
}

/// The Internet checksum (RFC 1071) of `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in data.chunks(2) {
        let hi = u32::from(pair[0]) << 8;
        let lo = pair.get(1).copied().map_or(0, u32::from);
        sum += hi | lo;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// 32 bytes from the OS CSPRNG ([`ferrowg_platform::random_seed`]), for engine seeds
/// and keys. Without a working OS random source the process exits: nothing weaker is
/// used instead.
pub fn os_random32() -> [u8; 32] {
    ferrowg_platform::random_seed().unwrap_or_else(|e| {
        eprintln!("ferrowg: the OS random number generator failed: {e}");
        std::process::exit(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_checksum_verifies_to_zero() {
        let p = ipv4_udp(Ipv4Addr::new(198, 19, 0, 1), Ipv4Addr::new(198, 19, 0, 2), 100, 7);
        assert_eq!(p.len(), 100);
        // Summing a header that includes its checksum gives 0xffff, i.e. !0.
        assert_eq!(checksum(&p[..IPV4_HEADER]), 0);
        assert_eq!(seq(&p), Some(7));
    }

    #[test]
    fn seq_round_trips_and_short_packets_have_none() {
        let mut p = ipv4_udp(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 1420, 0);
        set_seq(&mut p, u64::MAX - 3);
        assert_eq!(seq(&p), Some(u64::MAX - 3));
        assert_eq!(seq(&p[..30]), None);
    }

    #[test]
    fn random_keys_differ() {
        assert_ne!(os_random32(), os_random32());
    }
}
