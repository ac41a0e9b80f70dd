//! Wire formats as views over byte slices, and every protocol constant in one place.
//!
//! Constants follow the whitepaper (section 6) and the kernel's `messages.h`.

use std::time::Duration;

/// Message type of a handshake initiation.
pub const MESSAGE_TYPE_INITIATION: u8 = 1;
/// Message type of a handshake response.
pub const MESSAGE_TYPE_RESPONSE: u8 = 2;
/// Message type of a cookie reply.
pub const MESSAGE_TYPE_COOKIE_REPLY: u8 = 3;
/// Message type of transport data.
pub const MESSAGE_TYPE_DATA: u8 = 4;

/// Length of a handshake initiation.
pub const INITIATION_LEN: usize = 148;
/// Length of a handshake response.
pub const RESPONSE_LEN: usize = 92;
/// Length of a cookie reply.
pub const COOKIE_REPLY_LEN: usize = 64;
/// Length of a transport data header (type, reserved, receiver index, counter).
pub const DATA_HEADER_LEN: usize = 16;
/// Length of the Poly1305 tag.
pub const AEAD_TAG_LEN: usize = 16;
/// Smallest transport data message (a keepalive: header + tag).
pub const DATA_MIN_LEN: usize = DATA_HEADER_LEN + AEAD_TAG_LEN;
/// Plaintext is zero-padded to a multiple of this.
pub const MESSAGE_PADDING_MULTIPLE: usize = 16;

/// Start a new handshake after this many messages under one key.
pub const REKEY_AFTER_MESSAGES: u64 = 1 << 60;
/// Never send or accept a counter at or beyond this: 2^64 - 2^13 - 1.
pub const REJECT_AFTER_MESSAGES: u64 = u64::MAX - (1 << 13);
/// The initiator starts a new handshake when its current key is this old.
pub const REKEY_AFTER_TIME: Duration = Duration::from_secs(120);
/// A key older than this is never used.
pub const REJECT_AFTER_TIME: Duration = Duration::from_secs(180);
/// Give up retrying a handshake after this long.
pub const REKEY_ATTEMPT_TIME: Duration = Duration::from_secs(90);
/// Retransmit a handshake initiation after this long without a response (plus jitter).
pub const REKEY_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bound of the random jitter added to [`REKEY_TIMEOUT`].
pub const REKEY_TIMEOUT_JITTER_MAX: Duration = Duration::from_millis(333);
/// Send a keepalive when data was received and nothing sent for this long.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Keys are zeroed after this long without a new handshake (3 × REJECT_AFTER_TIME).
pub const ZERO_KEYS_AFTER: Duration = Duration::from_secs(540);
/// Handshake retries before giving up: REKEY_ATTEMPT_TIME / REKEY_TIMEOUT.
pub const MAX_TIMER_HANDSHAKES: u32 = 18;
/// The cookie secret is regenerated when it is this old.
pub const COOKIE_SECRET_MAX_AGE: Duration = Duration::from_secs(120);
/// A received cookie is used for at most this long (COOKIE_SECRET_MAX_AGE - latency).
pub const COOKIE_SECRET_LATENCY: Duration = Duration::from_secs(5);
/// At most one initiation per peer is accepted in this interval (flood protection).
pub const MIN_INITIATION_INTERVAL: Duration = Duration::from_millis(20);
/// Packets staged per peer while waiting for a session.
pub const MAX_STAGED_PACKETS: usize = 128;
/// Bits in the receive replay window (the kernel's COUNTER_BITS_TOTAL).
pub const REPLAY_WINDOW_BITS: u64 = 8192;

// ---------------------------------------------------------------------------------------
// Wire views. Each view can only be built from a byte slice of the right length, type and
// reserved bytes, so code holding one never re-checks (parse, don't validate).

use crate::error::DropReason;

/// Offset of MAC1 in a handshake message: everything before it is MAC1's input.
pub const fn mac1_offset(msg_len: usize) -> usize {
    msg_len.saturating_sub(32)
}

/// Offset of MAC2 in a handshake message: everything before it is MAC2's input.
pub const fn mac2_offset(msg_len: usize) -> usize {
    msg_len.saturating_sub(16)
}

/// Any WireGuard message, parsed from one UDP payload.
#[derive(Debug, Clone, Copy)]
pub enum Message<'a> {
    /// Handshake initiation (type 1).
    Initiation(Initiation<'a>),
    /// Handshake response (type 2).
    Response(Response<'a>),
    /// Cookie reply (type 3).
    CookieReply(CookieReply<'a>),
    /// Transport data (type 4).
    Data(Data<'a>),
}

impl<'a> Message<'a> {
    /// Parses a UDP payload, dispatching on the type byte.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DropReason> {
        let (&[ty, r0, r1, r2], _) = bytes.split_first_chunk::<4>().ok_or(DropReason::TooShort)?;
        if ty == 0 || ty > MESSAGE_TYPE_DATA {
            return Err(DropReason::UnknownType);
        }
        if (r0 | r1 | r2) != 0 {
            return Err(DropReason::ReservedNonZero);
        }
        match ty {
            MESSAGE_TYPE_INITIATION => Initiation::parse(bytes).map(Self::Initiation),
            MESSAGE_TYPE_RESPONSE => Response::parse(bytes).map(Self::Response),
            MESSAGE_TYPE_COOKIE_REPLY => CookieReply::parse(bytes).map(Self::CookieReply),
            _ => Data::parse(bytes).map(Self::Data),
        }
    }

    /// The message's type byte.
    pub fn message_type(&self) -> u8 {
        match self {
            Self::Initiation(_) => MESSAGE_TYPE_INITIATION,
            Self::Response(_) => MESSAGE_TYPE_RESPONSE,
            Self::CookieReply(_) => MESSAGE_TYPE_COOKIE_REPLY,
            Self::Data(_) => MESSAGE_TYPE_DATA,
        }
    }
}

/// Reads `N` bytes at the cursor and advances it.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<&'a [u8; N], DropReason> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or(DropReason::WrongLength)?;
        self.0 = rest;
        Ok(head)
    }
    fn u32(&mut self) -> Result<u32, DropReason> {
        self.take::<4>().map(|b| u32::from_le_bytes(*b))
    }
    fn u64(&mut self) -> Result<u64, DropReason> {
        self.take::<8>().map(|b| u64::from_le_bytes(*b))
    }
}

/// Checks type, reserved bytes and exact length; returns a reader past the header.
fn header(bytes: &[u8], ty: u8, len: Option<usize>) -> Result<Reader<'_>, DropReason> {
    let (&hdr, rest) = bytes.split_first_chunk::<4>().ok_or(DropReason::TooShort)?;
    if hdr[0] != ty {
        return Err(DropReason::UnknownType);
    }
    if hdr[1..] != [0, 0, 0] {
        return Err(DropReason::ReservedNonZero);
    }
    match len {
        Some(len) if bytes.len() != len => Err(DropReason::WrongLength),
        _ => Ok(Reader(rest)),
    }
}

/// A handshake initiation (148 bytes).
#[derive(Debug, Clone, Copy)]
pub struct Initiation<'a> {
    bytes: &'a [u8],
    /// The initiator's sender index.
    pub sender_index: u32,
    /// The initiator's ephemeral public key, in the clear.
    pub unencrypted_ephemeral: &'a [u8; 32],
    /// The initiator's static public key, encrypted (32 + tag).
    pub encrypted_static: &'a [u8; 48],
    /// The TAI64N timestamp, encrypted (12 + tag).
    pub encrypted_timestamp: &'a [u8; 28],
    /// MAC1 (keyed with the responder's public key).
    pub mac1: &'a [u8; 16],
    /// MAC2 (keyed with a cookie, or zero).
    pub mac2: &'a [u8; 16],
}

impl<'a> Initiation<'a> {
    /// Parses a handshake initiation.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DropReason> {
        let mut r = header(bytes, MESSAGE_TYPE_INITIATION, Some(INITIATION_LEN))?;
        Ok(Self {
            bytes,
            sender_index: r.u32()?,
            unencrypted_ephemeral: r.take()?,
            encrypted_static: r.take()?,
            encrypted_timestamp: r.take()?,
            mac1: r.take()?,
            mac2: r.take()?,
        })
    }
    /// The whole message.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// A handshake response (92 bytes).
#[derive(Debug, Clone, Copy)]
pub struct Response<'a> {
    bytes: &'a [u8],
    /// The responder's sender index.
    pub sender_index: u32,
    /// The initiator's sender index this answers.
    pub receiver_index: u32,
    /// The responder's ephemeral public key, in the clear.
    pub unencrypted_ephemeral: &'a [u8; 32],
    /// An empty payload's tag.
    pub encrypted_nothing: &'a [u8; 16],
    /// MAC1 (keyed with the initiator's public key).
    pub mac1: &'a [u8; 16],
    /// MAC2 (keyed with a cookie, or zero).
    pub mac2: &'a [u8; 16],
}

impl<'a> Response<'a> {
    /// Parses a handshake response.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DropReason> {
        let mut r = header(bytes, MESSAGE_TYPE_RESPONSE, Some(RESPONSE_LEN))?;
        Ok(Self {
            bytes,
            sender_index: r.u32()?,
            receiver_index: r.u32()?,
            unencrypted_ephemeral: r.take()?,
            encrypted_nothing: r.take()?,
            mac1: r.take()?,
            mac2: r.take()?,
        })
    }
    /// The whole message.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// A cookie reply (64 bytes).
#[derive(Debug, Clone, Copy)]
pub struct CookieReply<'a> {
    /// The sender index of the handshake message this answers.
    pub receiver_index: u32,
    /// The XChaCha20 nonce.
    pub nonce: &'a [u8; 24],
    /// The cookie, encrypted (16 + tag).
    pub encrypted_cookie: &'a [u8; 32],
}

impl<'a> CookieReply<'a> {
    /// Parses a cookie reply.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DropReason> {
        let mut r = header(bytes, MESSAGE_TYPE_COOKIE_REPLY, Some(COOKIE_REPLY_LEN))?;
        Ok(Self { receiver_index: r.u32()?, nonce: r.take()?, encrypted_cookie: r.take()? })
    }
}

/// A transport data message (at least 32 bytes).
#[derive(Debug, Clone, Copy)]
pub struct Data<'a> {
    /// The receiver's session index.
    pub receiver_index: u32,
    /// The message counter (the AEAD nonce).
    pub counter: u64,
    /// The encrypted, padded packet followed by its tag (at least 16 bytes).
    pub encrypted_packet: &'a [u8],
}

impl<'a> Data<'a> {
    /// Parses a transport data message.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DropReason> {
        if bytes.len() < DATA_MIN_LEN {
            return Err(if bytes.len() < 4 {
                DropReason::TooShort
            } else {
                DropReason::WrongLength
            });
        }
        let mut r = header(bytes, MESSAGE_TYPE_DATA, None)?;
        let receiver_index = r.u32()?;
        let counter = r.u64()?;
        Ok(Self { receiver_index, counter, encrypted_packet: r.0 })
    }
}

/// Writes a 4-byte message header (type + three zero reserved bytes) into `out[0..4]`.
pub fn write_header(out: &mut [u8], ty: u8) {
    if let Some(h) = out.first_chunk_mut::<4>() {
        *h = [ty, 0, 0, 0];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ty: u8, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        if len > 0 {
            v[0] = ty;
        }
        v
    }

    #[test]
    fn parses_each_type_at_its_length() {
        let mut i = msg(1, INITIATION_LEN);
        i[4..8].copy_from_slice(&0x1122_3344u32.to_le_bytes());
        i[8] = 0xaa;
        i[132] = 0xbb;
        match Message::parse(&i).unwrap() {
            Message::Initiation(m) => {
                assert_eq!(m.sender_index, 0x1122_3344);
                assert_eq!(m.unencrypted_ephemeral[0], 0xaa);
                assert_eq!(m.mac2[0], 0xbb);
                assert_eq!(m.mac1, &[0u8; 16]);
            }
            other => panic!("{other:?}"),
        }
        let mut r = msg(2, RESPONSE_LEN);
        r[8..12].copy_from_slice(&7u32.to_le_bytes());
        match Message::parse(&r).unwrap() {
            Message::Response(m) => assert_eq!(m.receiver_index, 7),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Message::parse(&msg(3, COOKIE_REPLY_LEN)).unwrap(),
            Message::CookieReply(_)
        ));
        let mut d = msg(4, 100);
        d[8..16].copy_from_slice(&0x0102_0304_0506_0708u64.to_le_bytes());
        match Message::parse(&d).unwrap() {
            Message::Data(m) => {
                assert_eq!(m.counter, 0x0102_0304_0506_0708);
                assert_eq!(m.encrypted_packet.len(), 84);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_wrong_lengths() {
        for (ty, len) in [(1, INITIATION_LEN), (2, RESPONSE_LEN), (3, COOKIE_REPLY_LEN)] {
            assert_eq!(Message::parse(&msg(ty, len - 1)).unwrap_err(), DropReason::WrongLength);
            assert_eq!(Message::parse(&msg(ty, len + 1)).unwrap_err(), DropReason::WrongLength);
        }
        assert_eq!(Message::parse(&msg(4, DATA_MIN_LEN - 1)).unwrap_err(), DropReason::WrongLength);
        assert!(Message::parse(&msg(4, DATA_MIN_LEN)).is_ok());
        assert_eq!(Message::parse(&[4, 0, 0]).unwrap_err(), DropReason::TooShort);
        assert_eq!(Message::parse(&[]).unwrap_err(), DropReason::TooShort);
    }

    #[test]
    fn rejects_unknown_types_and_reserved_bytes() {
        for ty in [0u8, 5, 0x80, 0xff] {
            assert_eq!(Message::parse(&msg(ty, 148)).unwrap_err(), DropReason::UnknownType);
        }
        for pos in 1..4 {
            let mut m = msg(1, INITIATION_LEN);
            m[pos] = 1;
            assert_eq!(Message::parse(&m).unwrap_err(), DropReason::ReservedNonZero);
            assert_eq!(Initiation::parse(&m).unwrap_err(), DropReason::ReservedNonZero);
        }
        // A typed parser refuses another type's bytes.
        assert_eq!(Response::parse(&msg(1, RESPONSE_LEN)).unwrap_err(), DropReason::UnknownType);
    }

    #[test]
    fn mac_offsets() {
        assert_eq!(mac1_offset(INITIATION_LEN), 116);
        assert_eq!(mac2_offset(INITIATION_LEN), 132);
        assert_eq!(mac1_offset(RESPONSE_LEN), 60);
    }
}
