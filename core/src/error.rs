//! Error and drop-reason types shared across the protocol and the engine.
//!
//! On the data path nothing panics and nothing is reported upward as an error: a bad
//! datagram or packet is dropped and counted by its [`DropReason`]. The engine keeps one
//! counter per reason, indexed by [`DropReason::index`].

/// Why a datagram from the network or a packet from the NIC was dropped.
///
/// Variants are grouped by the stage that drops: parsing, MACs and cookies, the
/// handshake, transport data, and the send side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
#[non_exhaustive]
pub enum DropReason {
    /// The datagram is shorter than the smallest WireGuard message (4-byte header).
    #[error("datagram too short")]
    TooShort,
    /// The message type byte is not 1, 2, 3 or 4.
    #[error("unknown message type")]
    UnknownType,
    /// The datagram's length does not match its message type.
    #[error("wrong length for the message type")]
    WrongLength,
    /// One of the three reserved header bytes is not zero.
    #[error("reserved header bytes are not zero")]
    ReservedNonZero,
    /// MAC1 of a handshake message is wrong (not for us, or corrupted).
    #[error("invalid mac1")]
    InvalidMac1,
    /// The responder is under load and MAC2 is missing or wrong (a cookie reply is due).
    #[error("under load and mac2 missing or invalid")]
    CookieRequired,
    /// The handshake source is over its rate limit.
    #[error("handshake rate limited")]
    RateLimited,
    /// A cookie reply that failed to decrypt or that answers nothing we sent.
    #[error("invalid cookie reply")]
    InvalidCookieReply,
    /// A handshake message failed to decrypt or authenticate.
    #[error("handshake decryption failed")]
    HandshakeDecryptFailed,
    /// A Diffie-Hellman result was all zero (a low-order or zero public key).
    #[error("low-order public key")]
    LowOrderKey,
    /// The initiation's static key belongs to no configured peer.
    #[error("unknown peer")]
    UnknownPeer,
    /// The initiation's timestamp is not newer than the last accepted one (a replay).
    #[error("replayed initiation timestamp")]
    ReplayedTimestamp,
    /// A second initiation from the same peer within 20 ms.
    #[error("initiation flood")]
    InitiationFlood,
    /// A handshake response or cookie reply for an index with no pending handshake.
    #[error("no pending handshake for this index")]
    UnexpectedHandshake,
    /// The receiver index of a data message matches no session.
    #[error("unknown receiver index")]
    UnknownIndex,
    /// A data message whose counter is at or beyond REJECT_AFTER_MESSAGES.
    #[error("counter out of range")]
    CounterOutOfRange,
    /// A data message failed authentication.
    #[error("data decryption failed")]
    DecryptFailed,
    /// A data message whose counter was already seen or is behind the window.
    #[error("replayed counter")]
    Replay,
    /// The session key is older than REJECT_AFTER_TIME or was zeroed.
    #[error("session expired")]
    KeyExpired,
    /// The decrypted payload is not an IPv4 or IPv6 packet, or its length field is wrong.
    #[error("invalid inner packet")]
    InvalidInnerPacket,
    /// The inner source address is not in the peer's allowed IPs.
    #[error("source not allowed for this peer")]
    DisallowedSource,
    /// No peer's allowed IPs cover the destination of an outgoing packet.
    #[error("no route to peer")]
    NoRoute,
    /// The send counter reached REJECT_AFTER_MESSAGES.
    #[error("send counter exhausted")]
    CounterExhausted,
    /// The peer has no endpoint to send to.
    #[error("no endpoint")]
    NoEndpoint,
    /// The staged-packet queue is full; the oldest packet was dropped.
    #[error("staged queue full")]
    StagedQueueFull,
    /// The caller's buffer is too small for the message.
    #[error("buffer too small")]
    BufferTooSmall,
    /// An outgoing packet is larger than the tunnel can carry.
    #[error("packet too large")]
    PacketTooLarge,
}

impl DropReason {
    /// Every reason, in declaration order (for counter tables and reports).
    pub const ALL: [DropReason; 27] = [
        Self::TooShort,
        Self::UnknownType,
        Self::WrongLength,
        Self::ReservedNonZero,
        Self::InvalidMac1,
        Self::CookieRequired,
        Self::RateLimited,
        Self::InvalidCookieReply,
        Self::HandshakeDecryptFailed,
        Self::LowOrderKey,
        Self::UnknownPeer,
        Self::ReplayedTimestamp,
        Self::InitiationFlood,
        Self::UnexpectedHandshake,
        Self::UnknownIndex,
        Self::CounterOutOfRange,
        Self::DecryptFailed,
        Self::Replay,
        Self::KeyExpired,
        Self::InvalidInnerPacket,
        Self::DisallowedSource,
        Self::NoRoute,
        Self::CounterExhausted,
        Self::NoEndpoint,
        Self::StagedQueueFull,
        Self::BufferTooSmall,
        Self::PacketTooLarge,
    ];

    /// Number of reasons; the length of a per-reason counter array.
    pub const COUNT: usize = Self::ALL.len();

    /// A dense index in `0..COUNT`, for per-reason counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// A short stable snake_case name for logs and stats.
    pub fn name(self) -> &'static str {
        match self {
            Self::TooShort => "too_short",
            Self::UnknownType => "unknown_type",
            Self::WrongLength => "wrong_length",
            Self::ReservedNonZero => "reserved_non_zero",
            Self::InvalidMac1 => "invalid_mac1",
            Self::CookieRequired => "cookie_required",
            Self::RateLimited => "rate_limited",
            Self::InvalidCookieReply => "invalid_cookie_reply",
            Self::HandshakeDecryptFailed => "handshake_decrypt_failed",
            Self::LowOrderKey => "low_order_key",
            Self::UnknownPeer => "unknown_peer",
            Self::ReplayedTimestamp => "replayed_timestamp",
            Self::InitiationFlood => "initiation_flood",
            Self::UnexpectedHandshake => "unexpected_handshake",
            Self::UnknownIndex => "unknown_index",
            Self::CounterOutOfRange => "counter_out_of_range",
            Self::DecryptFailed => "decrypt_failed",
            Self::Replay => "replay",
            Self::KeyExpired => "key_expired",
            Self::InvalidInnerPacket => "invalid_inner_packet",
            Self::DisallowedSource => "disallowed_source",
            Self::NoRoute => "no_route",
            Self::CounterExhausted => "counter_exhausted",
            Self::NoEndpoint => "no_endpoint",
            Self::StagedQueueFull => "staged_queue_full",
            Self::BufferTooSmall => "buffer_too_small",
            Self::PacketTooLarge => "packet_too_large",
        }
    }
}

/// Per-reason drop counters (plain integers; the engine keeps atomics of its own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropCounters {
    counts: [u64; DropReason::COUNT],
}

impl DropCounters {
    /// Counts one drop.
    pub fn add(&mut self, reason: DropReason) {
        if let Some(c) = self.counts.get_mut(reason.index()) {
            *c = c.saturating_add(1);
        }
    }
    /// How many drops were counted for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.counts.get(reason.index()).copied().unwrap_or(0)
    }
    /// Sum over all reasons.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_is_dense_and_names_are_unique() {
        for (i, r) in DropReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
    }

    #[test]
    fn counters_count_by_reason() {
        let mut c = DropCounters::default();
        c.add(DropReason::Replay);
        c.add(DropReason::Replay);
        c.add(DropReason::TooShort);
        assert_eq!(c.get(DropReason::Replay), 2);
        assert_eq!(c.get(DropReason::TooShort), 1);
        assert_eq!(c.get(DropReason::DecryptFailed), 0);
        assert_eq!(c.total(), 3);
    }
}
