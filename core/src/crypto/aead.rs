//! ChaCha20-Poly1305 backends (in place, detached tag) and XChaCha20-Poly1305.
//!
//! WireGuard's nonce is 32 zero bits followed by the 64-bit little-endian counter.
//! [`DataAead`] is the backend the protocol uses: [`RingAead`] with the default `ring`
//! feature, [`RustCryptoAead`] otherwise. Both are always usable directly (benchmarks
//! compare them side by side).

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, XChaCha20Poly1305};

use crate::messages::AEAD_TAG_LEN;

/// Authentication failed (or the input could not be processed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("AEAD authentication failed")]
pub struct AeadError;

/// A ChaCha20-Poly1305 key with WireGuard's counter nonce.
pub trait Aead: Send + Sync + Sized {
    /// Backend name for reports.
    const NAME: &'static str;
    /// Builds the key schedule.
    fn new(key: &[u8; 32]) -> Self;
    /// Encrypts `data` in place and returns the tag.
    fn seal_in_place(
        &self,
        counter: u64,
        aad: &[u8],
        data: &mut [u8],
    ) -> Result<[u8; AEAD_TAG_LEN], AeadError>;
    /// Authenticates and decrypts `data` in place. On error `data` is unspecified.
    fn open_in_place(
        &self,
        counter: u64,
        aad: &[u8],
        data: &mut [u8],
        tag: &[u8; AEAD_TAG_LEN],
    ) -> Result<(), AeadError>;
}

/// The data-path backend selected by cargo features.
#[cfg(feature = "ring")]
pub type DataAead = RingAead;
/// The data-path backend selected by cargo features.
#[cfg(not(feature = "ring"))]
pub type DataAead = RustCryptoAead;

fn nonce12(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    n
}

/// RustCrypto `chacha20poly1305` (portable; zeroizes its key on drop).
pub struct RustCryptoAead(ChaCha20Poly1305);

impl Aead for RustCryptoAead {
    const NAME: &'static str = "rustcrypto";
    fn new(key: &[u8; 32]) -> Self {
        Self(ChaCha20Poly1305::new(key.into()))
    }
    fn seal_in_place(
        &self,
        counter: u64,
        aad: &[u8],
        data: &mut [u8],
    ) -> Result<[u8; AEAD_TAG_LEN], AeadError> {
        self.0
            .encrypt_in_place_detached(&nonce12(counter).into(), aad, data)
            .map(Into::into)
            .map_err(|_| AeadError)
    }
    fn open_in_place(
        &self,
        counter: u64,
        aad: &[u8],
        data: &mut [u8],
        tag: &[u8; AEAD_TAG_LEN],
    ) -> Result<(), AeadError> {
        self.0
            .decrypt_in_place_detached(&nonce12(counter).into(), aad, data, tag.into())
            .map_err(|_| AeadError)
    }
}

/// `ring`'s ChaCha20-Poly1305 (assembly; about 4x faster on x86-64). ring keeps its own
/// key schedule and does not zeroize it on drop.
#[cfg(feature = "ring")]
pub struct RingAead(ring::aead::LessSafeKey);

#[cfg(feature = "ring")]
impl Aead for RingAead {
    const NAME: &'static str = "ring";
    fn new(key: &[u8; 32]) -> Self {
        use ring::aead::{LessSafeKey, UnboundKey, CHACHA20_POLY1305};
        match UnboundKey::new(&CHACHA20_POLY1305, key) {
            Ok(k) => Self(LessSafeKey::new(k)),
            // Only a wrong key length fails, and the type fixes it at 32.
            Err(_) => unreachable!("ChaCha20-Poly1305 keys are 32 bytes"),
        }
    }
    fn seal_in_place(
        &self,
        counter: u64,
        aad: &[u8],
        data: &mut [u8],
    ) -> Result<[u8; AEAD_TAG_LEN], AeadError> {
        use ring::aead::{Aad, Nonce};
        let tag = self
            .0
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce12(counter)),
                Aad::from(aad),
                data,
            )
            .map_err(|_| AeadError)?;
        let mut out = [0u8; AEAD_TAG_LEN];
        out.copy_from_slice(tag.as_ref());
        Ok(out)
    }
    fn open_in_place(
        &self,
        counter: u64,
        aad: &[u8],
        data: &mut [u8],
        tag: &[u8; AEAD_TAG_LEN],
    ) -> Result<(), AeadError> {
        use ring::aead::{Aad, Nonce, Tag};
        self.0
            .open_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce12(counter)),
                Aad::from(aad),
                Tag::from(*tag),
                data,
                0..,
            )
            .map(|_| ())
            .map_err(|_| AeadError)
    }
}

/// Seals a short handshake field: `out = ciphertext || tag`, `out.len() == plain.len() + 16`.
pub fn seal_to(
    key: &[u8; 32],
    counter: u64,
    aad: &[u8],
    plain: &[u8],
    out: &mut [u8],
) -> Result<(), AeadError> {
    let (ct, tag) = split_tag_mut(out, plain.len())?;
    ct.copy_from_slice(plain);
    *tag = DataAead::new(key).seal_in_place(counter, aad, ct)?;
    Ok(())
}

/// Opens a short handshake field (`sealed = ciphertext || tag`) into `out`.
pub fn open_to(
    key: &[u8; 32],
    counter: u64,
    aad: &[u8],
    sealed: &[u8],
    out: &mut [u8],
) -> Result<(), AeadError> {
    let ct_len = sealed.len().checked_sub(AEAD_TAG_LEN).ok_or(AeadError)?;
    if out.len() != ct_len {
        return Err(AeadError);
    }
    let (ct, tag) = sealed.split_at(ct_len);
    let tag: &[u8; AEAD_TAG_LEN] = tag.try_into().map_err(|_| AeadError)?;
    out.copy_from_slice(ct);
    DataAead::new(key).open_in_place(counter, aad, out, tag)
}

/// XChaCha20-Poly1305 seal of a cookie: `out = ciphertext || tag`.
pub fn xseal_to(
    key: &[u8; 32],
    nonce: &[u8; 24],
    aad: &[u8],
    plain: &[u8],
    out: &mut [u8],
) -> Result<(), AeadError> {
    let (ct, tag) = split_tag_mut(out, plain.len())?;
    ct.copy_from_slice(plain);
    let t = XChaCha20Poly1305::new(key.into())
        .encrypt_in_place_detached(nonce.into(), aad, ct)
        .map_err(|_| AeadError)?;
    tag.copy_from_slice(&t);
    Ok(())
}

/// XChaCha20-Poly1305 open of a cookie (`sealed = ciphertext || tag`) into `out`.
pub fn xopen_to(
    key: &[u8; 32],
    nonce: &[u8; 24],
    aad: &[u8],
    sealed: &[u8],
    out: &mut [u8],
) -> Result<(), AeadError> {
    let ct_len = sealed.len().checked_sub(AEAD_TAG_LEN).ok_or(AeadError)?;
    if out.len() != ct_len {
        return Err(AeadError);
    }
    let (ct, tag) = sealed.split_at(ct_len);
    out.copy_from_slice(ct);
    XChaCha20Poly1305::new(key.into())
        .decrypt_in_place_detached(nonce.into(), aad, out, tag.into())
        .map_err(|_| AeadError)
}

fn split_tag_mut(
    out: &mut [u8],
    ct_len: usize,
) -> Result<(&mut [u8], &mut [u8; AEAD_TAG_LEN]), AeadError> {
    if out.len() != ct_len + AEAD_TAG_LEN {
        return Err(AeadError);
    }
    let (ct, tag) = out.split_at_mut(ct_len);
    Ok((ct, tag.try_into().map_err(|_| AeadError)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<A: Aead>() {
        let k = A::new(&[9; 32]);
        let mut buf = *b"hello, wireguard";
        let tag = k.seal_in_place(5, b"aad", &mut buf).unwrap();
        assert_ne!(&buf, b"hello, wireguard");
        let mut bad = buf;
        assert!(k.open_in_place(6, b"aad", &mut bad, &tag).is_err());
        let mut bad = buf;
        assert!(k.open_in_place(5, b"aaX", &mut bad, &tag).is_err());
        k.open_in_place(5, b"aad", &mut buf, &tag).unwrap();
        assert_eq!(&buf, b"hello, wireguard");
    }

    #[test]
    fn rustcrypto_round_trip() {
        round_trip::<RustCryptoAead>();
    }

    #[cfg(feature = "ring")]
    #[test]
    fn ring_round_trip_and_agrees_with_rustcrypto() {
        round_trip::<RingAead>();
        let mut a = [0x5au8; 1420];
        let mut b = a;
        let ta = RingAead::new(&[3; 32]).seal_in_place(77, b"", &mut a).unwrap();
        let tb = RustCryptoAead::new(&[3; 32]).seal_in_place(77, b"", &mut b).unwrap();
        assert_eq!(ta, tb);
        assert_eq!(a, b);
    }

    #[test]
    fn rfc8439_vector() {
        // RFC 8439 section 2.8.2; its nonce 07000000 4041424344454647 is WireGuard's
        // layout only in the low 8 bytes, so check via the raw RustCrypto API instead.
        let key: [u8; 32] = core::array::from_fn(|i| 0x80 + i as u8);
        let nonce = [0x07, 0, 0, 0, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47];
        let aad = [0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7];
        let mut msg = *b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
        let tag = ChaCha20Poly1305::new(&key.into())
            .encrypt_in_place_detached(&nonce.into(), &aad, &mut msg)
            .unwrap();
        assert_eq!(&tag[..], &hex("1ae10b594f09e26a7e902ecbd0600691")[..]);
        assert_eq!(&msg[..4], &hex("d31a8d34")[..]);
    }

    #[test]
    fn xchacha_round_trip() {
        let mut sealed = [0u8; 32];
        xseal_to(&[1; 32], &[2; 24], b"mac1", &[3; 16], &mut sealed).unwrap();
        let mut out = [0u8; 16];
        xopen_to(&[1; 32], &[2; 24], b"mac1", &sealed, &mut out).unwrap();
        assert_eq!(out, [3; 16]);
        assert!(xopen_to(&[1; 32], &[2; 24], b"mac2", &sealed, &mut out).is_err());
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }
}
