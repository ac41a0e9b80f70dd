//! Checkable application packets: IPv4 with a body naming origin, destination and a
//! sequence number, and a checksum over all of it.

/// An IPv4 packet from `src` to `dst` carrying (origin, dest, seq) and `extra` bytes.
pub fn packet(
    src: [u8; 4],
    dst: [u8; 4],
    origin: usize,
    dest: usize,
    seq: u64,
    extra: usize,
) -> Vec<u8> {
    let total = 20 + 28 + extra;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src);
    p[16..20].copy_from_slice(&dst);
    p[20..22].copy_from_slice(&(origin as u16).to_le_bytes());
    p[22..24].copy_from_slice(&(dest as u16).to_le_bytes());
    p[24..32].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in p[48..].iter_mut().enumerate() {
        *b = (seq as u8) ^ (i as u8);
    }
    let sum = checksum(&p);
    p[40..48].copy_from_slice(&sum.to_le_bytes());
    p
}

fn checksum(p: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, &b) in p.iter().enumerate() {
        if (40..48).contains(&i) {
            continue;
        }
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// What a delivered packet says: (inner source address, origin, dest, seq), if intact.
pub fn parse(p: &[u8]) -> Option<([u8; 4], usize, usize, u64)> {
    if p.len() < 48 || usize::from(u16::from_be_bytes([p[2], p[3]])) != p.len() {
        return None;
    }
    let sum = u64::from_le_bytes(p[40..48].try_into().ok()?);
    if sum != checksum(p) {
        return None;
    }
    let src = p[12..16].try_into().ok()?;
    let origin = usize::from(u16::from_le_bytes([p[20], p[21]]));
    let dest = usize::from(u16::from_le_bytes([p[22], p[23]]));
    let seq = u64::from_le_bytes(p[24..32].try_into().ok()?);
    Some((src, origin, dest, seq))
}
