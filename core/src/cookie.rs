//! MAC1/MAC2, cookie replies (XChaCha20-Poly1305) and cookie secret rotation
//! (whitepaper section 5.4.7, kernel `cookie.c`).
//!
//! - [`CookieChecker`] is the receiving side, one per interface: it checks MAC1 on every
//!   handshake message, MAC2 when the engine is under load, and makes cookie replies bound
//!   to the sender's IP address and UDP port. Its secret is regenerated when 120 s old.
//! - [`CookieGenerator`] is the sending side, one per peer: it writes MAC1 (and MAC2 when
//!   it holds a fresh cookie) into our handshake messages and consumes cookie replies.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use parking_lot::Mutex;
use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::aead::{xopen_to, xseal_to};
use crate::crypto::{ct_eq, hash, mac};
use crate::error::DropReason;
use crate::keys::PublicKey;
use crate::messages::{
    mac1_offset, mac2_offset, write_header, CookieReply, COOKIE_REPLY_LEN, COOKIE_SECRET_LATENCY,
    COOKIE_SECRET_MAX_AGE, MESSAGE_TYPE_COOKIE_REPLY,
};

/// Label hashed with a public key to make the MAC1 key.
pub const LABEL_MAC1: &[u8] = b"mac1----";
/// Label hashed with a public key to make the cookie encryption key.
pub const LABEL_COOKIE: &[u8] = b"cookie--";

/// The MAC1 key for messages sent to the owner of `public`: `HASH(LABEL_MAC1 || public)`.
pub fn mac1_key(public: &PublicKey) -> [u8; 32] {
    hash(&[LABEL_MAC1, &public.0])
}

/// The cookie encryption key of the owner of `public`: `HASH(LABEL_COOKIE || public)`.
pub fn cookie_key(public: &PublicKey) -> [u8; 32] {
    hash(&[LABEL_COOKIE, &public.0])
}

/// Splits a handshake message into (MAC1 input, MAC1, MAC2); `None` if shorter than 32.
fn split_macs(msg: &[u8]) -> Option<(&[u8], &[u8; 16], &[u8; 16])> {
    let (rest, mac2) = msg.split_last_chunk::<16>()?;
    let (body, mac1) = rest.split_last_chunk::<16>()?;
    Some((body, mac1, mac2))
}

/// The outcome of checking a handshake message's MACs (kernel `cookie_mac_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacState {
    /// MAC1 is wrong: drop silently.
    Invalid,
    /// MAC1 is right, MAC2 is missing or wrong: under load, answer with a cookie reply.
    ValidMac1,
    /// Both MACs are right: the sender proved it owns its source address.
    ValidMac1AndMac2,
}

/// Checks MACs of incoming handshake messages and makes cookie replies.
/// Shared by the engine's threads (`&self`; the rotating secret sits behind a lock).
pub struct CookieChecker {
    mac1_key: [u8; 32],
    cookie_encryption_key: [u8; 32],
    secret: Mutex<CookieSecret>,
}

#[derive(Zeroize, ZeroizeOnDrop)]
struct CookieSecret {
    value: [u8; 32],
    #[zeroize(skip)]
    born: Option<Instant>,
}

impl CookieChecker {
    /// A checker for messages sent to the interface whose public key is `local`.
    pub fn new(local: &PublicKey) -> Self {
        Self {
            mac1_key: mac1_key(local),
            cookie_encryption_key: cookie_key(local),
            secret: Mutex::new(CookieSecret { value: [0; 32], born: None }),
        }
    }

    /// Checks MAC1 only (done for every handshake message, loaded or not).
    pub fn check_mac1(&self, msg: &[u8]) -> bool {
        let Some((body, mac1, _)) = split_macs(msg) else {
            return false;
        };
        ct_eq(&mac(&self.mac1_key, &[body]), mac1)
    }

    /// Checks MAC1 and, if it is valid, MAC2 against the cookie for `src`.
    pub fn check_macs<R: RngCore + CryptoRng + ?Sized>(
        &self,
        msg: &[u8],
        src: SocketAddr,
        now: Instant,
        rng: &mut R,
    ) -> MacState {
        if !self.check_mac1(msg) {
            return MacState::Invalid;
        }
        let Some((rest, mac2)) = msg.split_last_chunk::<16>() else {
            return MacState::Invalid;
        };
        let cookie = self.make_cookie(src, now, rng);
        if ct_eq(&mac(&cookie, &[rest]), mac2) {
            MacState::ValidMac1AndMac2
        } else {
            MacState::ValidMac1
        }
    }

    /// Writes a cookie reply to the handshake message `msg` (whose sender index is
    /// `sender_index`) that came from `src`.
    pub fn create_reply<R: RngCore + CryptoRng + ?Sized>(
        &self,
        msg: &[u8],
        sender_index: u32,
        src: SocketAddr,
        now: Instant,
        rng: &mut R,
        out: &mut [u8; COOKIE_REPLY_LEN],
    ) -> Result<(), DropReason> {
        let (_, mac1, _) = split_macs(msg).ok_or(DropReason::WrongLength)?;
        let cookie = self.make_cookie(src, now, rng);
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        write_header(out, MESSAGE_TYPE_COOKIE_REPLY);
        out[4..8].copy_from_slice(&sender_index.to_le_bytes());
        out[8..32].copy_from_slice(&nonce);
        xseal_to(&self.cookie_encryption_key, &nonce, &mac1[..], &cookie, &mut out[32..64])
            .map_err(|_| DropReason::BufferTooSmall)
    }

    /// `MAC(secret, ip || port)`, regenerating the secret when it is 120 s old.
    fn make_cookie<R: RngCore + CryptoRng + ?Sized>(
        &self,
        src: SocketAddr,
        now: Instant,
        rng: &mut R,
    ) -> [u8; 16] {
        let mut s = self.secret.lock();
        let expired = match s.born {
            None => true,
            Some(born) => now.saturating_duration_since(born) >= COOKIE_SECRET_MAX_AGE,
        };
        if expired {
            rng.fill_bytes(&mut s.value);
            s.born = Some(now);
        }
        let port = src.port().to_be_bytes();
        match src.ip() {
            IpAddr::V4(ip) => mac(&s.value, &[&ip.octets(), &port]),
            IpAddr::V6(ip) => mac(&s.value, &[&ip.octets(), &port]),
        }
    }
}

/// Writes MACs into our handshake messages to one peer and keeps that peer's cookie.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct CookieGenerator {
    mac1_key: [u8; 32],
    cookie_decryption_key: [u8; 32],
    last_mac1: Option<[u8; 16]>,
    cookie: Option<[u8; 16]>,
    #[zeroize(skip)]
    cookie_born: Option<Instant>,
}

impl CookieGenerator {
    /// A generator for messages sent to the peer whose public key is `remote`.
    pub fn new(remote: &PublicKey) -> Self {
        Self {
            mac1_key: mac1_key(remote),
            cookie_decryption_key: cookie_key(remote),
            last_mac1: None,
            cookie: None,
            cookie_born: None,
        }
    }

    /// Fills the MAC1 and MAC2 fields (the last 32 bytes) of the handshake message `msg`.
    /// MAC2 is the cookie's MAC when a cookie younger than 115 s is held, else zero.
    pub fn write_macs(&mut self, msg: &mut [u8], now: Instant) {
        let len = msg.len();
        if len < 32 {
            return;
        }
        let (body, macs) = msg.split_at_mut(mac1_offset(len));
        let mac1 = mac(&self.mac1_key, &[body]);
        macs[..16].copy_from_slice(&mac1);
        self.last_mac1 = Some(mac1);
        let fresh = match (self.cookie.as_ref(), self.cookie_born) {
            (Some(c), Some(born))
                if now.saturating_duration_since(born)
                    < COOKIE_SECRET_MAX_AGE - COOKIE_SECRET_LATENCY =>
            {
                Some(*c)
            }
            _ => None,
        };
        let (body, mac2) = msg.split_at_mut(mac2_offset(len));
        match fresh {
            Some(cookie) => mac2.copy_from_slice(&mac(&cookie, &[body])),
            None => mac2.fill(0),
        }
    }

    /// Decrypts a cookie reply to our last handshake message and stores the cookie for
    /// the next one's MAC2. A reply is accepted once per message sent.
    pub fn consume_reply(
        &mut self,
        reply: &CookieReply<'_>,
        now: Instant,
    ) -> Result<(), DropReason> {
        let last_mac1 = self.last_mac1.ok_or(DropReason::InvalidCookieReply)?;
        let mut cookie = [0u8; 16];
        xopen_to(
            &self.cookie_decryption_key,
            reply.nonce,
            &last_mac1,
            reply.encrypted_cookie,
            &mut cookie,
        )
        .map_err(|_| DropReason::InvalidCookieReply)?;
        self.cookie = Some(cookie);
        self.cookie_born = Some(now);
        self.last_mac1 = None;
        Ok(())
    }

    /// True while a cookie is held (for tests and stats).
    pub fn has_cookie(&self) -> bool {
        self.cookie.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{INITIATION_LEN, MESSAGE_TYPE_INITIATION};
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;
    use std::time::Duration;

    #[allow(clippy::disallowed_methods)] // an arbitrary base instant for tests
    fn t0() -> Instant {
        Instant::now()
    }

    fn setup() -> (CookieChecker, CookieGenerator, [u8; INITIATION_LEN]) {
        let responder = PublicKey([0x42; 32]);
        let mut msg = [0x17u8; INITIATION_LEN];
        msg[..4].copy_from_slice(&[MESSAGE_TYPE_INITIATION, 0, 0, 0]);
        (CookieChecker::new(&responder), CookieGenerator::new(&responder), msg)
    }

    #[test]
    fn mac1_is_checked() {
        let (checker, mut gen, mut msg) = setup();
        let now = t0();
        assert!(!checker.check_mac1(&msg));
        gen.write_macs(&mut msg, now);
        assert!(checker.check_mac1(&msg));
        assert_eq!(msg[132..], [0u8; 16], "no cookie yet: mac2 is zero");
        msg[20] ^= 1;
        assert!(!checker.check_mac1(&msg));
        let other = CookieChecker::new(&PublicKey([0x43; 32]));
        msg[20] ^= 1;
        assert!(!other.check_mac1(&msg));
    }

    #[test]
    fn cookie_round_trip_is_bound_to_ip_and_port() {
        let (checker, mut gen, mut msg) = setup();
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let now = t0();
        let src: SocketAddr = "127.0.0.1:51820".parse().unwrap();
        gen.write_macs(&mut msg, now);
        assert_eq!(checker.check_macs(&msg, src, now, &mut rng), MacState::ValidMac1);

        let mut reply = [0u8; COOKIE_REPLY_LEN];
        checker.create_reply(&msg, 99, src, now, &mut rng, &mut reply).unwrap();
        let parsed = CookieReply::parse(&reply).unwrap();
        assert_eq!(parsed.receiver_index, 99);
        gen.consume_reply(&parsed, now).unwrap();
        // A reply is consumed once per message sent.
        assert_eq!(gen.consume_reply(&parsed, now), Err(DropReason::InvalidCookieReply));

        gen.write_macs(&mut msg, now);
        assert_eq!(checker.check_macs(&msg, src, now, &mut rng), MacState::ValidMac1AndMac2);
        let other_port: SocketAddr = "127.0.0.1:51821".parse().unwrap();
        assert_eq!(checker.check_macs(&msg, other_port, now, &mut rng), MacState::ValidMac1);
        let other_ip: SocketAddr = "127.0.0.2:51820".parse().unwrap();
        assert_eq!(checker.check_macs(&msg, other_ip, now, &mut rng), MacState::ValidMac1);
    }

    #[test]
    fn secret_rotates_and_old_cookies_expire() {
        let (checker, mut gen, mut msg) = setup();
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        let now = t0();
        let src: SocketAddr = "[::1]:9".parse().unwrap();
        gen.write_macs(&mut msg, now);
        let mut reply = [0u8; COOKIE_REPLY_LEN];
        checker.create_reply(&msg, 1, src, now, &mut rng, &mut reply).unwrap();
        gen.consume_reply(&CookieReply::parse(&reply).unwrap(), now).unwrap();
        let later = now + Duration::from_secs(119);
        gen.write_macs(&mut msg, later);
        // The generator considers a 119 s old cookie stale (> 115 s): mac2 is zero.
        assert_eq!(msg[132..], [0u8; 16]);
        gen.write_macs(&mut msg, now + Duration::from_secs(100));
        assert_eq!(checker.check_macs(&msg, src, later, &mut rng), MacState::ValidMac1AndMac2);
        // After 120 s the checker has a new secret.
        let rotated = now + Duration::from_secs(121);
        assert_eq!(checker.check_macs(&msg, src, rotated, &mut rng), MacState::ValidMac1);
    }

    #[test]
    fn forged_reply_is_refused() {
        let (_, mut gen, mut msg) = setup();
        gen.write_macs(&mut msg, t0());
        let mut reply = [0u8; COOKIE_REPLY_LEN];
        reply[0] = MESSAGE_TYPE_COOKIE_REPLY;
        let parsed = CookieReply::parse(&reply).unwrap();
        assert_eq!(gen.consume_reply(&parsed, t0()), Err(DropReason::InvalidCookieReply));
        assert!(!gen.has_cookie());
    }
}
