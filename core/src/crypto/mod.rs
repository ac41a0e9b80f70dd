//! Cryptographic primitives of the WireGuard protocol (whitepaper section 5.4).
//!
//! - [`aead`]: ChaCha20-Poly1305 backends for the data path: `ring` under the default
//!   `ring` feature, RustCrypto `chacha20poly1305` always available (and the only one with
//!   `--no-default-features`); XChaCha20-Poly1305 for cookies.
//! - BLAKE2s [`hash`], [`hmac()`], the HKDF-style [`kdf1`]/[`kdf2`]/[`kdf3`], and the keyed
//!   BLAKE2s-128 [`mac`].
//! - X25519 [`dh`] that refuses all-zero results (low-order points).
//!
//! Intermediate secrets are returned as [`Secret`] (zeroized on drop).

pub mod aead;

use blake2::digest::consts::U16;
use blake2::digest::{FixedOutput, Update};
use blake2::{Blake2s256, Blake2sMac, Digest};
use zeroize::Zeroizing;

use crate::error::DropReason;

/// A 32-byte secret that is zeroized on drop.
pub type Secret = Zeroizing<[u8; 32]>;

/// BLAKE2s block size, for HMAC.
const BLAKE2S_BLOCK: usize = 64;

/// BLAKE2s-256 over the concatenation of `parts`.
pub fn hash(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Blake2s256::new();
    for p in parts {
        Digest::update(&mut h, p);
    }
    h.finalize().into()
}

/// HMAC-BLAKE2s-256 (RFC 2104) of the concatenation of `parts`, keyed with `key`.
pub fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> Secret {
    let mut pad = Zeroizing::new([0u8; BLAKE2S_BLOCK]);
    for (p, k) in pad.iter_mut().zip(key.iter()) {
        *p = *k ^ 0x36;
    }
    for p in pad.iter_mut().skip(key.len()) {
        *p = 0x36;
    }
    let mut inner = Blake2s256::new();
    Digest::update(&mut inner, &pad[..]);
    for p in parts {
        Digest::update(&mut inner, p);
    }
    let inner_hash = Zeroizing::new(<[u8; 32]>::from(inner.finalize()));
    for p in pad.iter_mut() {
        *p ^= 0x36 ^ 0x5c;
    }
    let mut outer = Blake2s256::new();
    Digest::update(&mut outer, &pad[..]);
    Digest::update(&mut outer, &inner_hash[..]);
    Zeroizing::new(outer.finalize().into())
}

/// KDF1 (whitepaper 5.4): one 32-byte output from chaining key `key` and `input`.
pub fn kdf1(key: &[u8; 32], input: &[u8]) -> Secret {
    let t0 = hmac(key, &[input]);
    hmac(&t0, &[&[0x01]])
}

/// KDF2: two 32-byte outputs.
pub fn kdf2(key: &[u8; 32], input: &[u8]) -> (Secret, Secret) {
    let t0 = hmac(key, &[input]);
    let t1 = hmac(&t0, &[&[0x01]]);
    let t2 = hmac(&t0, &[&t1[..], &[0x02]]);
    (t1, t2)
}

/// KDF3: three 32-byte outputs.
pub fn kdf3(key: &[u8; 32], input: &[u8]) -> (Secret, Secret, Secret) {
    let t0 = hmac(key, &[input]);
    let t1 = hmac(&t0, &[&[0x01]]);
    let t2 = hmac(&t0, &[&t1[..], &[0x02]]);
    let t3 = hmac(&t0, &[&t2[..], &[0x03]]);
    (t1, t2, t3)
}

/// Keyed BLAKE2s-128 (the `MAC` of whitepaper 5.4) of the concatenation of `parts`.
pub fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    // Keys are 16 or 32 bytes here, always valid for BLAKE2s (<= 32); the fallback keeps
    // the function total without a panic path.
    let Ok(mut m) = <Blake2sMac<U16> as blake2::digest::KeyInit>::new_from_slice(key) else {
        return [0u8; 16];
    };
    for p in parts {
        Update::update(&mut m, p);
    }
    m.finalize_fixed().into()
}

/// Constant-time equality of two MACs or keys.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// An X25519 private key (static or ephemeral), zeroized on drop.
pub struct DhPrivate(x25519_dalek::StaticSecret);

impl DhPrivate {
    /// Wraps raw private key bytes (clamped by X25519 itself).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(x25519_dalek::StaticSecret::from(bytes))
    }
    /// A fresh random key from `rng`.
    pub fn generate<R: rand_core::RngCore + rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut b = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut b[..]);
        Self::from_bytes(*b)
    }
    /// The matching public key.
    pub fn public_key(&self) -> [u8; 32] {
        x25519_dalek::PublicKey::from(&self.0).to_bytes()
    }
}

impl std::fmt::Debug for DhPrivate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DhPrivate(<redacted>)")
    }
}

/// X25519 of `private` and `public`. Refuses an all-zero result, which is what a
/// low-order (or zero) public key produces (whitepaper 5.4, kernel `curve25519()` check).
pub fn dh(private: &DhPrivate, public: &[u8; 32]) -> Result<Secret, DropReason> {
    let shared = private.0.diffie_hellman(&x25519_dalek::PublicKey::from(*public));
    if !shared.was_contributory() {
        return Err(DropReason::LowOrderKey);
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc2104_structure() {
        // HMAC with an all-zero key equals H((0x5c..) || H((0x36..) || m)).
        let inner = hash(&[&[0x36; 64], b"abc"]);
        let expect = hash(&[&[0x5c; 64], &inner]);
        assert_eq!(*hmac(&[0; 32], &[b"a", b"bc"]), expect);
    }

    #[test]
    fn kdf_outputs_chain() {
        let (a, b, c) = kdf3(&[7; 32], b"input");
        let (a2, b2) = kdf2(&[7; 32], b"input");
        assert_eq!(*a, *kdf1(&[7; 32], b"input"));
        assert_eq!((*a, *b), (*a2, *b2));
        assert_ne!(*b, *c);
    }

    #[test]
    fn dh_agrees_and_rejects_low_order() {
        let a = DhPrivate::from_bytes([1; 32]);
        let b = DhPrivate::from_bytes([2; 32]);
        assert_eq!(*dh(&a, &b.public_key()).unwrap(), *dh(&b, &a.public_key()).unwrap());
        assert_eq!(dh(&a, &[0; 32]).unwrap_err(), DropReason::LowOrderKey);
        let mut one = [0u8; 32];
        one[0] = 1; // the point u = 1 has order 4
        assert_eq!(dh(&a, &one).unwrap_err(), DropReason::LowOrderKey);
    }

    #[test]
    fn mac_depends_on_key_and_input() {
        let m = mac(&[1; 32], &[b"x"]);
        assert_ne!(m, mac(&[2; 32], &[b"x"]));
        assert_ne!(m, mac(&[1; 32], &[b"y"]));
        assert_eq!(m, mac(&[1; 32], &[b"", b"x"]));
    }
}
