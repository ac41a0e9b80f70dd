//! The wintun session ring size: wintun accepts a power of two from 128 KiB to 64 MiB.
//! Pure, so it is tested on every host.

/// wintun's smallest ring (`WINTUN_MIN_RING_CAPACITY`).
pub const MIN_RING_CAPACITY: u32 = 0x2_0000;
/// wintun's largest ring (`WINTUN_MAX_RING_CAPACITY`).
pub const MAX_RING_CAPACITY: u32 = 0x400_0000;
/// Default ring: 8 MiB, several milliseconds at multi-Gb/s (wireguard-go's size; firezone
/// moved to 16 MiB for bursts, which [`ring_capacity`]`(16 << 20)` gives).
pub const DEFAULT_RING_CAPACITY: u32 = 0x80_0000;

/// The ring size wintun gets for a requested size in bytes: the largest power of two not
/// above the request, clamped to wintun's limits.
pub fn ring_capacity(requested: u64) -> u32 {
    let clamped = requested.clamp(u64::from(MIN_RING_CAPACITY), u64::from(MAX_RING_CAPACITY));
    let pow2 = 1u64 << (63 - clamped.leading_zeros());
    pow2 as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_sizes_are_powers_of_two_within_wintun_limits() {
        assert_eq!(ring_capacity(u64::from(DEFAULT_RING_CAPACITY)), 8 << 20);
        assert_eq!(ring_capacity(16 << 20), 16 << 20);
        assert_eq!(ring_capacity((16 << 20) + 1), 16 << 20);
        assert_eq!(ring_capacity(12 << 20), 8 << 20);
        assert_eq!(ring_capacity(0), MIN_RING_CAPACITY);
        assert_eq!(ring_capacity(u64::MAX), MAX_RING_CAPACITY);
        assert_eq!(ring_capacity(u64::from(MIN_RING_CAPACITY) - 1), MIN_RING_CAPACITY);
    }
}
