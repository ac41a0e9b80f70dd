//! X25519 against a long-lived public key through a precomputed table.
//!
//! A handshake does two DHs whose public half is the peer's *static* key: the initiator's
//! `DH(e_i, S_r)` and the responder's `DH(e_r, S_i)`. For those the Montgomery ladder
//! (≈ 37 µs here) is replaced by curve25519-dalek's fixed-base comb over a table of the
//! peer's point (≈ 12 µs, the same code that computes public keys from the base point).
//! The table takes ≈ 0.8 ms to build and 30 KiB, so it is built on the first handshake
//! with the peer, not when the peer is configured.
//!
//! The result is byte-identical to the ladder's for every input: the table multiplies
//! by the full clamped scalar (not reduced mod ℓ), so points with a torsion component
//! give the same answer; public keys that are not on the curve (on the twist) or are
//! `u = -1` get no table and the caller uses the ladder.

use curve25519_dalek::edwards::EdwardsBasepointTable;
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::traits::BasepointTable;
use zeroize::Zeroizing;

use crate::crypto::{ct_eq, dh, DhPrivate, Secret};
use crate::error::DropReason;

/// Multiples of one public key for fast constant-time X25519 with any private key.
pub(crate) struct FixedPoint(Box<EdwardsBasepointTable>);

impl FixedPoint {
    /// Builds the table for `public`, or `None` if the ladder must be used (the point
    /// is on the twist, or is `u = -1`).
    pub(crate) fn new(public: &[u8; 32]) -> Option<Self> {
        let point = MontgomeryPoint(*public).to_edwards(0)?;
        Some(Self(Box::new(EdwardsBasepointTable::create(&point))))
    }

    /// `X25519(private, public)`, refusing an all-zero result like [`dh`].
    pub(crate) fn dh(&self, private: &DhPrivate) -> Result<Secret, DropReason> {
        // The sign chosen in `new` does not matter: u([k]P) = u([k](-P)).
        // The product point is the shared secret in Edwards form: zeroized too.
        let product = Zeroizing::new(self.0.mul_base_clamped(*private.as_bytes()));
        let shared = Zeroizing::new(product.to_montgomery());
        if ct_eq(&shared.0, &[0u8; 32]) {
            return Err(DropReason::LowOrderKey);
        }
        Ok(Zeroizing::new(shared.0))
    }
}

/// `X25519(private, public)` through `table` when there is one, else the ladder.
pub(crate) fn dh_with(
    table: Option<&FixedPoint>,
    private: &DhPrivate,
    public: &[u8; 32],
) -> Result<Secret, DropReason> {
    match table {
        Some(t) => t.dh(private),
        None => dh(private, public),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_points::{low_order_publics, mixed_publics, random32};
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    /// The table path and the ladder agree (value and error) for `public`.
    fn check(public: [u8; 32], rng: &mut ChaCha20Rng) -> bool {
        let table = FixedPoint::new(&public);
        for _ in 0..4 {
            let private = DhPrivate::from_bytes(random32(rng));
            let ladder = dh(&private, &public).map(|s| *s);
            let fast = dh_with(table.as_ref(), &private, &public).map(|s| *s);
            assert_eq!(fast, ladder, "public {public:02x?}");
        }
        table.is_some()
    }

    #[test]
    fn matches_the_ladder_on_keys_torsion_and_twist_points() {
        let mut rng = ChaCha20Rng::seed_from_u64(0x5eed);
        let mut with_table = 0;
        for public in mixed_publics(&mut rng) {
            with_table += usize::from(check(public, &mut rng));
        }
        // Both paths were exercised.
        assert!(with_table > 96 && with_table < 144, "{with_table} of 144 had a table");
    }

    #[test]
    fn low_order_points_are_refused_on_both_paths() {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        for public in low_order_publics() {
            check(public, &mut rng);
            let private = DhPrivate::from_bytes(random32(&mut rng));
            let table = FixedPoint::new(&public);
            let err = dh_with(table.as_ref(), &private, &public).err();
            assert_eq!(err, Some(DropReason::LowOrderKey));
        }
    }
}
