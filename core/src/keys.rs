//! Key types shared by the protocol, the config parsers and the FFI.
//!
//! WireGuard keys are 32 bytes, written as base64 in wg-quick files and as lowercase hex
//! in the UAPI protocol. Secrets are zeroized on drop and compared in constant time.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length in bytes of every WireGuard key.
pub const KEY_LEN: usize = 32;

/// Why a key string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    /// The text is not valid base64.
    #[error("key is not valid base64")]
    Base64,
    /// The text is not valid hex.
    #[error("key is not valid hex")]
    Hex,
    /// The text decoded to the wrong number of bytes.
    #[error("key decodes to {0} bytes, expected 32")]
    Length(usize),
}

/// A Curve25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; KEY_LEN]);

/// A Curve25519 private key; zeroized on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PrivateKey([u8; KEY_LEN]);

/// An optional symmetric pre-shared key mixed into the handshake; zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PresharedKey([u8; KEY_LEN]);

/// The text encodings all three key types share: base64 (wg-quick) and hex (UAPI).
macro_rules! key_codec_impl {
    ($t:ident, $note:literal) => {
        impl $t {
            /// Parses standard base64 (44 characters with padding), as in wg-quick files.
            pub fn from_base64(s: &str) -> Result<Self, KeyParseError> {
                decode_base64(s).map(Self)
            }
            /// Parses 64 hex digits, as in the UAPI protocol.
            pub fn from_hex(s: &str) -> Result<Self, KeyParseError> {
                decode_hex(s).map(Self)
            }
            #[doc = concat!("Standard base64 with padding.", $note)]
            pub fn to_base64(&self) -> String {
                B64.encode(self.0)
            }
            #[doc = concat!("Lowercase hex.", $note)]
            pub fn to_hex(&self) -> String {
                encode_hex(&self.0)
            }
            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
                &self.0
            }
        }
    };
}
key_codec_impl!(PublicKey, "");
key_codec_impl!(PrivateKey, " Handle the result as a secret.");
key_codec_impl!(PresharedKey, " Handle the result as a secret.");

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_base64())
    }
}

macro_rules! secret_key_impl {
    ($t:ident) => {
        impl $t {
            /// Wraps raw key bytes.
            pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
                Self(bytes)
            }
            /// True when every byte is zero (UAPI uses an all-zero key to mean "none").
            pub fn is_zero(&self) -> bool {
                self.0.ct_eq(&[0u8; KEY_LEN]).into()
            }
        }
        impl PartialEq for $t {
            fn eq(&self, other: &Self) -> bool {
                self.0.ct_eq(&other.0).into()
            }
        }
        impl Eq for $t {}
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($t), "(<redacted>)"))
            }
        }
    };
}
secret_key_impl!(PrivateKey);
secret_key_impl!(PresharedKey);

impl PrivateKey {
    /// Generates a new clamped private key from `rng`.
    pub fn generate<R: rand_core::RngCore + rand_core::CryptoRng>(rng: &mut R) -> Self {
        let mut k = [0u8; KEY_LEN];
        rng.fill_bytes(&mut k);
        k[0] &= 248;
        k[31] &= 127;
        k[31] |= 64;
        Self(k)
    }
    /// The matching public key (X25519 base-point multiplication).
    pub fn public_key(&self) -> PublicKey {
        PublicKey(x25519_dalek::x25519(self.0, x25519_dalek::X25519_BASEPOINT_BYTES))
    }
}

fn decode_base64(s: &str) -> Result<[u8; KEY_LEN], KeyParseError> {
    let v = zeroize::Zeroizing::new(B64.decode(s.trim()).map_err(|_| KeyParseError::Base64)?);
    <[u8; KEY_LEN]>::try_from(v.as_slice()).map_err(|_| KeyParseError::Length(v.len()))
}

fn decode_hex(s: &str) -> Result<[u8; KEY_LEN], KeyParseError> {
    let s = s.trim().as_bytes();
    if s.len() % 2 != 0 {
        return Err(KeyParseError::Hex);
    }
    if s.len() != 2 * KEY_LEN {
        return Err(KeyParseError::Length(s.len() / 2));
    }
    let mut out = [0u8; KEY_LEN];
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        let hi = hex_val(pair[0]).ok_or(KeyParseError::Hex)?;
        let lo = hex_val(pair[1]).ok_or(KeyParseError::Hex)?;
        *o = (hi << 4) | lo;
    }
    Ok(out)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_hex_round_trip() {
        let k = PublicKey([0xab; 32]);
        assert_eq!(PublicKey::from_base64(&k.to_base64()).unwrap(), k);
        assert_eq!(PublicKey::from_hex(&k.to_hex()).unwrap(), k);
        assert_eq!(k.to_hex(), "ab".repeat(32));
    }

    #[test]
    fn bad_keys_say_why() {
        assert_eq!(PublicKey::from_base64("not base64!"), Err(KeyParseError::Base64));
        assert_eq!(PublicKey::from_base64("AAAA"), Err(KeyParseError::Length(3)));
        assert_eq!(PublicKey::from_hex(&"zz".repeat(32)), Err(KeyParseError::Hex));
        assert_eq!(PublicKey::from_hex("abc"), Err(KeyParseError::Hex));
        assert_eq!(PublicKey::from_hex("abcd"), Err(KeyParseError::Length(2)));
    }

    #[test]
    fn public_key_matches_rfc7748_vector() {
        // RFC 7748 section 6.1, Alice's key pair.
        let sk = PrivateKey::from_hex(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        )
        .unwrap();
        assert_eq!(
            sk.public_key().to_hex(),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let sk = PrivateKey::from_bytes([7; 32]);
        assert_eq!(format!("{sk:?}"), "PrivateKey(<redacted>)");
    }
}
