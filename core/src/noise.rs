//! The Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s handshake (whitepaper section 5.4).
//!
//! The handshake states are values consumed by the next step:
//!
//! ```text
//! initiator: create_initiation ─► InitiationSent ──consume_response──► TransportKeys
//! responder: consume_initiation ─► InitiationReceived ─finish─► InitiationConsumed
//!                                    (remote static known)       ──create_response──► TransportKeys
//! ```
//!
//! The responder learns the initiator's static public key from
//! [`consume_initiation`] alone (it needs only the local key), so a multi-peer engine
//! can find the peer first and then call [`InitiationReceived::finish`] with that
//! peer's [`RemoteStatic`], which checks the timestamp and the flood limit.
//!
//! MAC1/MAC2 are not written or checked here; that is [`crate::cookie`]'s job. Sender
//! indices are chosen by the caller (the engine's index table allocates them without
//! collisions); [`random_index`] draws one from an RNG for simple callers.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand_core::{CryptoRng, RngCore};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::aead::{open_to, seal_to};
use crate::crypto::{dh, hash, kdf1, kdf2, kdf3, DhPrivate, Secret};
use crate::error::DropReason;
use crate::keys::{PresharedKey, PrivateKey, PublicKey};
use crate::messages::{
    write_header, Initiation, Response, INITIATION_LEN, MESSAGE_TYPE_INITIATION,
    MESSAGE_TYPE_RESPONSE, MIN_INITIATION_INTERVAL, RESPONSE_LEN,
};

/// The Noise protocol name hashed into the initial chaining key.
pub const CONSTRUCTION: &[u8] = b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s";
/// WireGuard's identifier mixed into the initial hash.
pub const IDENTIFIER: &[u8] = b"WireGuard v1 zx2c4 Jason@zx2c4.com";
/// Length of a TAI64N timestamp.
pub const TIMESTAMP_LEN: usize = 12;

/// `HASH(CONSTRUCTION)`: the initial chaining key.
pub fn initial_chaining_key() -> [u8; 32] {
    hash(&[CONSTRUCTION])
}

/// `HASH(HASH(CONSTRUCTION) || IDENTIFIER)`: the initial handshake hash.
pub fn initial_hash() -> [u8; 32] {
    hash(&[&initial_chaining_key(), IDENTIFIER])
}

/// A TAI64N timestamp of `wall`, with the nanoseconds rounded down to a multiple of
/// 2^24 ns (as the kernel does) so that initiations do not leak a precise clock.
pub fn tai64n(wall: SystemTime) -> [u8; TIMESTAMP_LEN] {
    let since = wall.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let mut t = [0u8; TIMESTAMP_LEN];
    t[..8].copy_from_slice(&(0x4000_0000_0000_000a_u64 + since.as_secs()).to_be_bytes());
    t[8..].copy_from_slice(&(since.subsec_nanos() & !0x00ff_ffff).to_be_bytes());
    t
}

/// A random 32-bit sender index.
pub fn random_index<R: RngCore + ?Sized>(rng: &mut R) -> u32 {
    rng.next_u32()
}

/// The local interface's static key pair and the values derived from it.
pub struct LocalStatic {
    private: DhPrivate,
    public: PublicKey,
    /// `HASH(initial_hash || local_public)`: the responder's starting hash.
    hash_with_public: [u8; 32],
}

impl LocalStatic {
    /// Derives the public key and precomputes the responder's starting hash.
    pub fn new(private: &PrivateKey) -> Self {
        let private = DhPrivate::from_bytes(*private.as_bytes());
        let public = PublicKey(private.public_key());
        Self { hash_with_public: hash(&[&initial_hash(), &public.0]), private, public }
    }
    /// The local public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }
}

/// What the handshake knows about one peer: its static key, the precomputed static-static
/// DH, the PSK, and the replay/flood state for initiations it sends us.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct RemoteStatic {
    #[zeroize(skip)]
    remote: PublicKey,
    /// `HASH(initial_hash || remote_public)`: the initiator's starting hash.
    hash_with_remote: [u8; 32],
    /// `DH(local_private, remote_public)`, or `None` if that is all zero.
    static_static: Option<[u8; 32]>,
    psk: [u8; 32],
    latest_timestamp: [u8; TIMESTAMP_LEN],
    #[zeroize(skip)]
    last_initiation_consumed: Option<Instant>,
}

impl RemoteStatic {
    /// Precomputes what the handshake needs for `remote` under `local`.
    pub fn new(local: &LocalStatic, remote: PublicKey, psk: Option<&PresharedKey>) -> Self {
        Self {
            remote,
            hash_with_remote: hash(&[&initial_hash(), &remote.0]),
            static_static: dh(&local.private, &remote.0).ok().map(|s| *s),
            psk: psk.map(|p| *p.as_bytes()).unwrap_or([0; 32]),
            latest_timestamp: [0; TIMESTAMP_LEN],
            last_initiation_consumed: None,
        }
    }
    /// The peer's static public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.remote
    }
    /// Recomputes the static-static DH for a new local key (the interface's private key
    /// changed); the PSK and the replay state are kept.
    pub fn rebind(&mut self, local: &LocalStatic) {
        self.static_static = dh(&local.private, &self.remote.0).ok().map(|s| *s);
    }
    /// Replaces the pre-shared key (all zero means none).
    pub fn set_preshared_key(&mut self, psk: Option<&PresharedKey>) {
        self.psk = psk.map(|p| *p.as_bytes()).unwrap_or([0; 32]);
    }
    fn static_static(&self) -> Result<&[u8; 32], DropReason> {
        self.static_static.as_ref().ok_or(DropReason::LowOrderKey)
    }
}

/// Session keys produced by a completed handshake.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct TransportKeys {
    /// Key for messages we send.
    pub send: [u8; 32],
    /// Key for messages we receive.
    pub recv: [u8; 32],
    /// Our index (peers put it in the receiver field of messages to us).
    pub local_index: u32,
    /// The peer's index (we put it in the receiver field of messages to the peer).
    pub remote_index: u32,
    /// True if we initiated this handshake.
    pub is_initiator: bool,
}

impl std::fmt::Debug for TransportKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportKeys")
            .field("local_index", &self.local_index)
            .field("remote_index", &self.remote_index)
            .field("is_initiator", &self.is_initiator)
            .finish_non_exhaustive()
    }
}

/// The symmetric state carried between handshake steps.
#[derive(Zeroize, ZeroizeOnDrop)]
struct Symmetric {
    chaining_key: [u8; 32],
    hash: [u8; 32],
}

impl Symmetric {
    fn mix_hash(&mut self, data: &[u8]) {
        self.hash = hash(&[&self.hash, data]);
    }
    fn mix_key(&mut self, input: &[u8]) {
        self.chaining_key = *kdf1(&self.chaining_key, input);
    }
    /// `(C, k) = KDF2(C, input)`; returns k.
    fn mix_key2(&mut self, input: &[u8]) -> Secret {
        let (c, k) = kdf2(&self.chaining_key, input);
        self.chaining_key = *c;
        k
    }
    fn encrypt(&mut self, key: &[u8; 32], plain: &[u8], out: &mut [u8]) -> Result<(), DropReason> {
        seal_to(key, 0, &self.hash, plain, out).map_err(|_| DropReason::BufferTooSmall)?;
        self.mix_hash(out);
        Ok(())
    }
    fn decrypt(&mut self, key: &[u8; 32], sealed: &[u8], out: &mut [u8]) -> Result<(), DropReason> {
        open_to(key, 0, &self.hash, sealed, out).map_err(|_| DropReason::HandshakeDecryptFailed)?;
        self.mix_hash(sealed);
        Ok(())
    }
    /// The psk step shared by both sides: `(C, t, k) = KDF3(C, psk); H = HASH(H || t)`.
    fn mix_psk(&mut self, psk: &[u8; 32]) -> Secret {
        let (c, t, k) = kdf3(&self.chaining_key, psk);
        self.chaining_key = *c;
        self.mix_hash(&t[..]);
        k
    }
    /// `(T_i, T_r) = KDF2(C, ε)`: the initiator's send key first.
    fn split(&self) -> (Secret, Secret) {
        kdf2(&self.chaining_key, &[])
    }
}

/// Writes a handshake initiation (all but MAC1/MAC2) to `out` and returns the state
/// that awaits the response. `sender_index` is our index for the new session.
pub fn create_initiation<R: RngCore + CryptoRng + ?Sized>(
    local: &LocalStatic,
    remote: &RemoteStatic,
    sender_index: u32,
    wall: SystemTime,
    rng: &mut R,
    out: &mut [u8; INITIATION_LEN],
) -> Result<InitiationSent, DropReason> {
    let ss = remote.static_static()?;
    let mut sym = Symmetric { chaining_key: initial_chaining_key(), hash: remote.hash_with_remote };
    let ephemeral = DhPrivate::generate(rng);
    let e_pub = ephemeral.public_key();

    out.fill(0);
    write_header(out, MESSAGE_TYPE_INITIATION);
    out[4..8].copy_from_slice(&sender_index.to_le_bytes());
    out[8..40].copy_from_slice(&e_pub);
    sym.mix_key(&e_pub);
    sym.mix_hash(&e_pub);

    let k = sym.mix_key2(&dh(&ephemeral, &remote.remote.0)?[..]);
    sym.encrypt(&k, &local.public.0, &mut out[40..88])?;
    let k = sym.mix_key2(ss);
    sym.encrypt(&k, &tai64n(wall), &mut out[88..116])?;

    Ok(InitiationSent { sym, ephemeral, sender_index })
}

/// An initiation we sent, waiting for the response.
pub struct InitiationSent {
    sym: Symmetric,
    ephemeral: DhPrivate,
    sender_index: u32,
}

impl std::fmt::Debug for InitiationSent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitiationSent").field("sender_index", &self.sender_index).finish()
    }
}

impl InitiationSent {
    /// Our index in the initiation; the response's receiver index must match it.
    pub fn sender_index(&self) -> u32 {
        self.sender_index
    }

    /// Consumes the responder's message and derives the session keys. On failure the
    /// state is handed back unchanged (a forged response must not cancel the handshake).
    #[allow(clippy::result_large_err)]
    pub fn consume_response(
        self,
        local: &LocalStatic,
        remote: &RemoteStatic,
        msg: &Response<'_>,
    ) -> Result<TransportKeys, (Self, DropReason)> {
        match self.try_consume_response(local, remote, msg) {
            Ok(keys) => Ok(keys),
            Err(reason) => Err((self, reason)),
        }
    }

    fn try_consume_response(
        &self,
        local: &LocalStatic,
        remote: &RemoteStatic,
        msg: &Response<'_>,
    ) -> Result<TransportKeys, DropReason> {
        if msg.receiver_index != self.sender_index {
            return Err(DropReason::UnexpectedHandshake);
        }
        let mut sym = Symmetric { chaining_key: self.sym.chaining_key, hash: self.sym.hash };
        let e_r = msg.unencrypted_ephemeral;
        sym.mix_key(e_r);
        sym.mix_hash(e_r);
        sym.mix_key(&dh(&self.ephemeral, e_r)?[..]);
        sym.mix_key(&dh(&local.private, e_r)?[..]);
        let k = sym.mix_psk(&remote.psk);
        sym.decrypt(&k, msg.encrypted_nothing, &mut [])?;
        let (send, recv) = sym.split();
        Ok(TransportKeys {
            send: *send,
            recv: *recv,
            local_index: self.sender_index,
            remote_index: msg.sender_index,
            is_initiator: true,
        })
    }
}

/// First half of consuming an initiation: needs only the local key, and reveals which
/// peer sent it. Checks nothing peer-specific yet.
pub fn consume_initiation(
    local: &LocalStatic,
    msg: &Initiation<'_>,
) -> Result<InitiationReceived, DropReason> {
    let mut sym = Symmetric { chaining_key: initial_chaining_key(), hash: local.hash_with_public };
    let e_i = msg.unencrypted_ephemeral;
    sym.mix_key(e_i);
    sym.mix_hash(e_i);
    let k = sym.mix_key2(&dh(&local.private, e_i)?[..]);
    let mut remote = [0u8; 32];
    sym.decrypt(&k, msg.encrypted_static, &mut remote)?;
    Ok(InitiationReceived {
        sym,
        remote: PublicKey(remote),
        remote_ephemeral: *e_i,
        remote_index: msg.sender_index,
        encrypted_timestamp: *msg.encrypted_timestamp,
    })
}

/// An initiation whose sender is known but whose timestamp is not yet checked.
pub struct InitiationReceived {
    sym: Symmetric,
    remote: PublicKey,
    remote_ephemeral: [u8; 32],
    remote_index: u32,
    encrypted_timestamp: [u8; 28],
}

impl InitiationReceived {
    /// The initiator's static public key (look the peer up by it).
    pub fn remote_static(&self) -> &PublicKey {
        &self.remote
    }

    /// Second half: decrypts the timestamp with the peer's static-static key, refuses
    /// replayed timestamps and initiations less than 20 ms after the last accepted one,
    /// and records this one in `remote`.
    pub fn finish(
        mut self,
        remote: &mut RemoteStatic,
        now: Instant,
    ) -> Result<InitiationConsumed, DropReason> {
        if remote.remote != self.remote {
            return Err(DropReason::UnknownPeer);
        }
        let k = self.sym.mix_key2(remote.static_static()?);
        let mut ts = [0u8; TIMESTAMP_LEN];
        let sealed = self.encrypted_timestamp;
        self.sym.decrypt(&k, &sealed, &mut ts)?;
        // Big-endian TAI64N compares correctly as bytes.
        if ts <= remote.latest_timestamp {
            return Err(DropReason::ReplayedTimestamp);
        }
        if let Some(last) = remote.last_initiation_consumed {
            if now.saturating_duration_since(last) < MIN_INITIATION_INTERVAL {
                return Err(DropReason::InitiationFlood);
            }
        }
        remote.latest_timestamp = ts;
        remote.last_initiation_consumed = Some(now);
        Ok(InitiationConsumed {
            sym: self.sym,
            remote_ephemeral: self.remote_ephemeral,
            remote_index: self.remote_index,
        })
    }
}

/// A fully verified initiation, ready to be answered.
pub struct InitiationConsumed {
    sym: Symmetric,
    remote_ephemeral: [u8; 32],
    remote_index: u32,
}

impl InitiationConsumed {
    /// The initiator's sender index (the response's receiver index).
    pub fn remote_index(&self) -> u32 {
        self.remote_index
    }

    /// Writes the response (all but MAC1/MAC2) to `out` and derives the session keys.
    pub fn create_response<R: RngCore + CryptoRng + ?Sized>(
        mut self,
        remote: &RemoteStatic,
        sender_index: u32,
        rng: &mut R,
        out: &mut [u8; RESPONSE_LEN],
    ) -> Result<TransportKeys, DropReason> {
        let ephemeral = DhPrivate::generate(rng);
        let e_pub = ephemeral.public_key();
        out.fill(0);
        write_header(out, MESSAGE_TYPE_RESPONSE);
        out[4..8].copy_from_slice(&sender_index.to_le_bytes());
        out[8..12].copy_from_slice(&self.remote_index.to_le_bytes());
        out[12..44].copy_from_slice(&e_pub);
        self.sym.mix_key(&e_pub);
        self.sym.mix_hash(&e_pub);
        self.sym.mix_key(&dh(&ephemeral, &self.remote_ephemeral)?[..]);
        self.sym.mix_key(&dh(&ephemeral, &remote.remote.0)?[..]);
        let k = self.sym.mix_psk(&remote.psk);
        self.sym.encrypt(&k, &[], &mut out[44..60])?;
        let (recv, send) = self.sym.split();
        Ok(TransportKeys {
            send: *send,
            recv: *recv,
            local_index: sender_index,
            remote_index: self.remote_index,
            is_initiator: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn pair(psk: Option<PresharedKey>) -> (LocalStatic, RemoteStatic, LocalStatic, RemoteStatic) {
        let a = LocalStatic::new(&PrivateKey::from_bytes([0x11; 32]));
        let b = LocalStatic::new(&PrivateKey::from_bytes([0x22; 32]));
        let a_sees_b = RemoteStatic::new(&a, *b.public_key(), psk.as_ref());
        let b_sees_a = RemoteStatic::new(&b, *a.public_key(), psk.as_ref());
        (a, a_sees_b, b, b_sees_a)
    }

    #[allow(clippy::disallowed_methods)] // an arbitrary base instant for tests
    fn t0() -> Instant {
        Instant::now()
    }

    fn wall(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn handshake(psk: Option<PresharedKey>) -> (TransportKeys, TransportKeys) {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let (a, a_sees_b, b, mut b_sees_a) = pair(psk);
        let mut init = [0u8; INITIATION_LEN];
        let sent = create_initiation(&a, &a_sees_b, 7, wall(0), &mut rng, &mut init).unwrap();
        let rcvd = consume_initiation(&b, &Initiation::parse(&init).unwrap()).unwrap();
        assert_eq!(rcvd.remote_static(), a.public_key());
        let consumed = rcvd.finish(&mut b_sees_a, t0()).unwrap();
        let mut resp = [0u8; RESPONSE_LEN];
        let kb = consumed.create_response(&b_sees_a, 9, &mut rng, &mut resp).unwrap();
        let ka = sent.consume_response(&a, &a_sees_b, &Response::parse(&resp).unwrap()).unwrap();
        (ka, kb)
    }

    #[test]
    fn both_sides_derive_matching_keys() {
        for psk in [None, Some(PresharedKey::from_bytes([0x33; 32]))] {
            let (ka, kb) = handshake(psk);
            assert_eq!(ka.send, kb.recv);
            assert_eq!(ka.recv, kb.send);
            assert_ne!(ka.send, ka.recv);
            assert_eq!((ka.local_index, ka.remote_index), (7, 9));
            assert_eq!((kb.local_index, kb.remote_index), (9, 7));
            assert!(ka.is_initiator && !kb.is_initiator);
        }
    }

    #[test]
    fn psk_mismatch_fails_the_response() {
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let a = LocalStatic::new(&PrivateKey::from_bytes([0x11; 32]));
        let b = LocalStatic::new(&PrivateKey::from_bytes([0x22; 32]));
        let a_sees_b = RemoteStatic::new(&a, *b.public_key(), None);
        let psk = PresharedKey::from_bytes([1; 32]);
        let mut b_sees_a = RemoteStatic::new(&b, *a.public_key(), Some(&psk));
        let mut init = [0u8; INITIATION_LEN];
        let sent = create_initiation(&a, &a_sees_b, 1, wall(0), &mut rng, &mut init).unwrap();
        let c = consume_initiation(&b, &Initiation::parse(&init).unwrap())
            .unwrap()
            .finish(&mut b_sees_a, t0())
            .unwrap();
        let mut resp = [0u8; RESPONSE_LEN];
        c.create_response(&b_sees_a, 2, &mut rng, &mut resp).unwrap();
        let (back, reason) =
            sent.consume_response(&a, &a_sees_b, &Response::parse(&resp).unwrap()).unwrap_err();
        assert_eq!(reason, DropReason::HandshakeDecryptFailed);
        assert_eq!(back.sender_index(), 1);
    }

    #[test]
    fn replayed_and_flooding_initiations_are_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let (a, a_sees_b, b, mut b_sees_a) = pair(None);
        let t0 = t0();
        let mut first = [0u8; INITIATION_LEN];
        create_initiation(&a, &a_sees_b, 1, wall(10), &mut rng, &mut first).unwrap();
        let consume = |m: &[u8; INITIATION_LEN], r: &mut RemoteStatic, now| {
            consume_initiation(&b, &Initiation::parse(m).unwrap())?.finish(r, now).map(|_| ())
        };
        consume(&first, &mut b_sees_a, t0).unwrap();
        // The same message again: timestamp not newer.
        let later = t0 + Duration::from_secs(1);
        assert_eq!(consume(&first, &mut b_sees_a, later), Err(DropReason::ReplayedTimestamp));
        // A newer timestamp 10 ms later: flood.
        let mut second = [0u8; INITIATION_LEN];
        create_initiation(&a, &a_sees_b, 2, wall(11), &mut rng, &mut second).unwrap();
        let soon = t0 + Duration::from_millis(10);
        assert_eq!(consume(&second, &mut b_sees_a, soon), Err(DropReason::InitiationFlood));
        consume(&second, &mut b_sees_a, t0 + Duration::from_millis(25)).unwrap();
        // An older timestamp after a newer one: replay.
        let mut old = [0u8; INITIATION_LEN];
        create_initiation(&a, &a_sees_b, 3, wall(5), &mut rng, &mut old).unwrap();
        assert_eq!(consume(&old, &mut b_sees_a, later), Err(DropReason::ReplayedTimestamp));
    }

    #[test]
    fn tampered_initiation_fails_and_low_order_ephemeral_is_refused() {
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let (a, a_sees_b, b, _) = pair(None);
        let mut m = [0u8; INITIATION_LEN];
        create_initiation(&a, &a_sees_b, 1, wall(0), &mut rng, &mut m).unwrap();
        let mut bad = m;
        bad[50] ^= 1;
        let err = consume_initiation(&b, &Initiation::parse(&bad).unwrap()).err();
        assert_eq!(err, Some(DropReason::HandshakeDecryptFailed));
        let mut zero_e = m;
        zero_e[8..40].fill(0);
        let err = consume_initiation(&b, &Initiation::parse(&zero_e).unwrap()).err();
        assert_eq!(err, Some(DropReason::LowOrderKey));
    }

    #[test]
    fn tai64n_rounds_down_and_orders() {
        let t = UNIX_EPOCH + Duration::new(1, 0x0123_4567);
        let ts = tai64n(t);
        assert_eq!(&ts[..8], &0x4000_0000_0000_000b_u64.to_be_bytes());
        assert_eq!(&ts[8..], &0x0100_0000_u32.to_be_bytes());
        assert!(tai64n(t + Duration::from_millis(17)) > ts);
        assert_eq!(tai64n(t + Duration::from_millis(1)), ts);
    }
}
