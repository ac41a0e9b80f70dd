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
