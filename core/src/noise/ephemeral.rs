//! X25519 with a peer's ephemeral key, which each handshake side uses twice.
//!
//! With curve25519-dalek's AVX2 backend (selected at run time on x86_64), Edwards
//! variable-base multiplication is faster than the Montgomery ladder, which always uses
//! the serial field arithmetic: ≈ 27 µs vs ≈ 36 µs here, after a ≈ 6 µs conversion to
//! Edwards form that the two DHs share. Elsewhere (no AVX2, other architectures, or the
//! `serial`/`fiat` backends forced by `--cfg curve25519_dalek_backend`) the Edwards path
//! would be slower, so the ladder is used.
//!
//! Results are byte-identical to the ladder's: the clamped scalar `k` is a multiple of 8,
//! so `[k]P = [k/8]([8]P)` with `k/8 < ℓ` a canonical scalar, which holds for points with
//! a torsion component too; keys on the twist (and `u = -1`) take the ladder.

use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::clamp_integer;
use curve25519_dalek::{EdwardsPoint, Scalar};
use zeroize::Zeroizing;

use crate::crypto::{ct_eq, dh, DhPrivate, Secret};
use crate::error::DropReason;

/// A peer's ephemeral public key, prepared for [`PeerEphemeral::dh`].
pub(crate) struct PeerEphemeral {
    bytes: [u8; 32],
    /// `[8]P` in Edwards form when the Edwards path is used and `P` is on the curve.
    cofactor_multiple: Option<EdwardsPoint>,
}

impl PeerEphemeral {
    /// Prepares `bytes` for the fastest path on this machine.
    pub(crate) fn new(bytes: &[u8; 32]) -> Self {
        Self::with_path(bytes, edwards_is_faster())
    }

    /// Prepares `bytes` for the Edwards path if `edwards`, else for the ladder.
    fn with_path(bytes: &[u8; 32], edwards: bool) -> Self {
        let cofactor_multiple = if edwards {
            MontgomeryPoint(*bytes).to_edwards(0).map(|p| p.mul_by_cofactor())
        } else {
            None
        };
        Self { bytes: *bytes, cofactor_multiple }
    }

    /// `X25519(private, self)`, refusing an all-zero result like [`dh`].
    pub(crate) fn dh(&self, private: &DhPrivate) -> Result<Secret, DropReason> {
        let Some(point) = &self.cofactor_multiple else {
            return dh(private, &self.bytes);
        };
        let clamped = Zeroizing::new(clamp_integer(*private.as_bytes()));
        let mut eighth = Zeroizing::new([0u8; 32]);
        for (i, e) in eighth.iter_mut().enumerate() {
            let next = clamped.get(i + 1).copied().unwrap_or(0);
            *e = (clamped.get(i).copied().unwrap_or(0) >> 3) | (next << 5);
        }
        // k/8 < 2^252 < ℓ, so this is the canonical scalar itself.
        let scalar = Zeroizing::new(Scalar::from_bytes_mod_order(*eighth));
        // By reference, so that no copy of the secret scalar is left unzeroized.
        let product: Zeroizing<EdwardsPoint> = Zeroizing::new(std::ops::Mul::mul(point, &*scalar));
        let shared = Zeroizing::new(product.to_montgomery().0);
        if ct_eq(&shared[..], &[0u8; 32]) {
            return Err(DropReason::LowOrderKey);
        }
        Ok(Zeroizing::new(*shared))
    }
}

/// True where curve25519-dalek runs its AVX2 backend (its default on x86_64 when the
/// CPU has AVX2, unless a backend is forced with `--cfg curve25519_dalek_backend`).
#[allow(unexpected_cfgs)] // dalek's backend cfg, set by whoever builds with RUSTFLAGS
fn edwards_is_faster() -> bool {
    #[cfg(all(
        target_arch = "x86_64",
        not(curve25519_dalek_backend = "serial"),
        not(curve25519_dalek_backend = "fiat")
    ))]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(all(
        target_arch = "x86_64",
        not(curve25519_dalek_backend = "serial"),
        not(curve25519_dalek_backend = "fiat")
    )))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_points::{low_order_publics, mixed_publics, random32};
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    /// Both paths agree with the ladder (value and error) for `public`; returns whether
    /// the Edwards path really ran (the point was on the curve).
    fn check(public: [u8; 32], rng: &mut ChaCha20Rng) -> bool {
        let edwards = PeerEphemeral::with_path(&public, true);
        let ladder = PeerEphemeral::with_path(&public, false);
        for _ in 0..3 {
            let private = DhPrivate::from_bytes(random32(rng));
            let expect = dh(&private, &public).map(|s| *s);
            assert_eq!(edwards.dh(&private).map(|s| *s), expect, "public {public:02x?}");
            assert_eq!(ladder.dh(&private).map(|s| *s), expect, "public {public:02x?}");
        }
        edwards.cofactor_multiple.is_some()
    }

    #[test]
    fn matches_the_ladder_on_keys_torsion_and_twist_points() {
        let mut rng = ChaCha20Rng::seed_from_u64(0xe9);
        let mut on_curve = 0;
        for public in mixed_publics(&mut rng) {
            on_curve += usize::from(check(public, &mut rng));
        }
        assert!(on_curve > 96 && on_curve < 144, "{on_curve} of 144 took the Edwards path");
    }

    #[test]
    fn low_order_points_are_refused_on_both_paths() {
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        for public in low_order_publics() {
            check(public, &mut rng);
            let private = DhPrivate::from_bytes(random32(&mut rng));
            for edwards in [true, false] {
                let err = PeerEphemeral::with_path(&public, edwards).dh(&private).err();
                assert_eq!(err, Some(DropReason::LowOrderKey));
            }
        }
    }
}
