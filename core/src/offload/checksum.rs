//! The Internet checksum (RFC 1071), summed eight bytes at a time.

/// Adds `data` (taken as big-endian 16-bit words, odd tail padded with zero) to the
/// one's-complement accumulator `acc`. Fold the result with [`fold`].
///
/// 32-bit words go into four independent 64-bit lanes (no carries to track for any
/// input shorter than 16 GiB; the compiler vectorises the loop), then the lanes and the
/// tail are added with end-around carry.
pub fn sum(data: &[u8], acc: u64) -> u64 {
    let mut lanes = [0u64; 4];
    let mut chunks = data.chunks_exact(16);
    for c in &mut chunks {
        for (lane, w) in lanes.iter_mut().zip(c.chunks_exact(4)) {
            *lane += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
        }
    }
    let mut acc = add(acc, fold_lanes(lanes));
    let rest = chunks.remainder();
    let mut words = rest.chunks_exact(4);
    for w in &mut words {
        acc = add(acc, u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]])));
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        let mut w = [0u8; 4];
        w.get_mut(..tail.len()).unwrap_or_default().copy_from_slice(tail);
        acc = add(acc, u64::from(u32::from_be_bytes(w)));
    }
    acc
}

/// One's-complement addition of two 64-bit accumulators.
fn add(a: u64, b: u64) -> u64 {
    let (s, carry) = a.overflowing_add(b);
    s + u64::from(carry)
}

fn fold_lanes(lanes: [u64; 4]) -> u64 {
    lanes.into_iter().fold(0, add)
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
