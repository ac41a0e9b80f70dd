//! The Internet checksum (RFC 1071), summed eight bytes at a time.

/// Adds `data` (taken as big-endian 16-bit words, odd tail padded with zero) to the
/// one's-complement accumulator `acc`. Fold the result with [`fold`].
pub fn sum(data: &[u8], acc: u64) -> u64 {
    let mut acc = acc;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let (s, carry) = acc.overflowing_add(u64::from_be_bytes(w));
        acc = s + u64::from(carry);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w.get_mut(..rest.len()).unwrap_or_default().copy_from_slice(rest);
        let (s, carry) = acc.overflowing_add(u64::from_be_bytes(w));
        acc = s + u64::from(carry);
    }
    acc
}

/// Folds a one's-complement accumulator to 16 bits (not inverted).
pub fn fold(acc: u64) -> u16 {
    let mut a = (acc >> 32) + (acc & 0xffff_ffff);
    a = (a >> 32) + (a & 0xffff_ffff);
    a = (a >> 16) + (a & 0xffff);
    a = (a >> 16) + (a & 0xffff);
    a = (a >> 16) + (a & 0xffff);
    a as u16
}

/// The pseudo-header sum for TCP/UDP over IPv4 (4-byte addresses) or IPv6 (16-byte).
pub fn pseudo_header(src: &[u8], dst: &[u8], proto: u8, l4_len: usize) -> u64 {
    let acc = sum(src, 0);
    let acc = sum(dst, acc);
    let (s, c) = acc.overflowing_add(u64::from(proto) + l4_len as u64);
    s + u64::from(c)
}

/// The checksum field value for `data` with the starting accumulator `acc`.
pub fn finish(data: &[u8], acc: u64) -> u16 {
    !fold(sum(data, acc))
}
