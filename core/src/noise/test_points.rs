//! Public keys for the DH path tests: every kind of input an X25519 implementation can
//! get from the network.

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::EdwardsPoint;
use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha20Rng;

/// 32 random bytes.
pub(super) fn random32(rng: &mut ChaCha20Rng) -> [u8; 32] {
    let mut b = [0u8; 32];
    rng.fill_bytes(&mut b);
    b
}

/// 48 honest public keys, the same plus each torsion point in turn, and 48 raw random
/// strings (about half on the twist; some with the top bit set or >= p): 144 in all,
/// at least 96 of them on the curve.
pub(super) fn mixed_publics(rng: &mut ChaCha20Rng) -> Vec<[u8; 32]> {
    let mut out = Vec::with_capacity(144);
    for i in 0..48 {
        let key = EdwardsPoint::mul_base_clamped(random32(rng));
        let torsion = key + EIGHT_TORSION[i % 8];
        out.extend([key.to_montgomery().0, torsion.to_montgomery().0, random32(rng)]);
    }
    out
}

/// The eight low-order points in Montgomery form.
pub(super) fn low_order_publics() -> impl Iterator<Item = [u8; 32]> {
    EIGHT_TORSION.into_iter().map(|t| t.to_montgomery().0)
}
