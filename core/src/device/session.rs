//! One transport session (the kernel's `noise_keypair`): the two AEAD keys, the atomic
//! send counter and the receive replay window. Shared by `Arc` between the threads that
//! encrypt and decrypt for the peer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::crypto::aead::{Aead, DataAead};
use crate::error::DropReason;
use crate::messages::{
    write_header, AEAD_TAG_LEN, DATA_HEADER_LEN, MESSAGE_PADDING_MULTIPLE, MESSAGE_TYPE_DATA,
    REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME,
};
use crate::noise::TransportKeys;
use crate::replay::ReplayWindow;

/// Keys and counters of one session.
pub(crate) struct Session {
    send: DataAead,
    recv: DataAead,
    /// Our index: peers address data to us with it.
    pub(crate) local_index: u32,
    /// The peer's index: we put it in the receiver field.
    pub(crate) remote_index: u32,
    /// Whether we initiated the handshake that made this session.
    pub(crate) is_initiator: bool,
    /// When the session was derived.
    pub(crate) created: Instant,
    next_send: AtomicU64,
    replay: Mutex<ReplayWindow>,
    /// Set once any packet was received under this session (confirms it for a responder).
    pub(crate) received_any: AtomicBool,
}

impl Session {
    /// Builds the session from a handshake's keys.
    pub(crate) fn new(keys: &TransportKeys, now: Instant) -> Self {
        Self {
            send: DataAead::new(&keys.send),
            recv: DataAead::new(&keys.recv),
            local_index: keys.local_index,
            remote_index: keys.remote_index,
            is_initiator: keys.is_initiator,
            created: now,
            next_send: AtomicU64::new(0),
            replay: Mutex::new(ReplayWindow::new()),
            received_any: AtomicBool::new(false),
        }
    }

    /// The session's age at `now`.
    pub(crate) fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.created)
    }

    /// The next counter value to be used (how many were sent).
    pub(crate) fn sent(&self) -> u64 {
        self.next_send.load(Ordering::Relaxed)
    }

    /// Whether this session may still send at `now` (age and counter limits).
    pub(crate) fn can_send(&self, now: Instant) -> bool {
        self.age(now) < REJECT_AFTER_TIME && self.sent() < REJECT_AFTER_MESSAGES
    }

    /// Takes the next send counter, or `None` when the session must not send any more.
    pub(crate) fn next_counter(&self) -> Option<u64> {
        let c = self.next_send.fetch_add(1, Ordering::Relaxed);
        (c < REJECT_AFTER_MESSAGES).then_some(c)
    }

    /// Encrypts the packet in `buf[DATA_HEADER_LEN..DATA_HEADER_LEN + len]` in place with
    /// `counter`: pads it, writes the header in front and the tag behind. Returns the
    /// datagram length. `buf` must have room for padding and the tag.
    pub(crate) fn seal(
        &self,
        counter: u64,
        buf: &mut [u8],
        len: usize,
        mtu: usize,
    ) -> Result<usize, DropReason> {
        let padded = padded_len(len, mtu);
        let end = DATA_HEADER_LEN + padded;
        let total = end + AEAD_TAG_LEN;
        let Some(out) = buf.get_mut(..total) else {
            return Err(DropReason::BufferTooSmall);
        };
        out[DATA_HEADER_LEN + len..end].fill(0);
        write_header(out, MESSAGE_TYPE_DATA);
        out[4..8].copy_from_slice(&self.remote_index.to_le_bytes());
        out[8..16].copy_from_slice(&counter.to_le_bytes());
        let tag = self
            .send
            .seal_in_place(counter, &[], &mut out[DATA_HEADER_LEN..end])
            .map_err(|_| DropReason::BufferTooSmall)?;
        out[end..total].copy_from_slice(&tag);
        Ok(total)
    }

    /// Authenticates and decrypts a data message's payload (ciphertext followed by the
    /// tag) in place, then checks the counter against the replay window. Returns the
    /// plaintext length (still padded).
    pub(crate) fn open(&self, counter: u64, payload: &mut [u8]) -> Result<usize, DropReason> {
        if counter >= REJECT_AFTER_MESSAGES {
            return Err(DropReason::CounterOutOfRange);
        }
        let Some(plain_len) = payload.len().checked_sub(AEAD_TAG_LEN) else {
            return Err(DropReason::WrongLength);
        };
        let (data, tag) = payload.split_at_mut(plain_len);
        let tag: &[u8; AEAD_TAG_LEN] = (&*tag).try_into().map_err(|_| DropReason::WrongLength)?;
        self.recv.open_in_place(counter, &[], data, tag).map_err(|_| DropReason::DecryptFailed)?;
        if !self.replay.lock().check_and_update(counter) {
            return Err(DropReason::Replay);
        }
        Ok(plain_len)
    }
}

/// Plaintext length after zero padding to a multiple of 16, never beyond the MTU
/// (whitepaper section 5.4.6).
pub(crate) fn padded_len(len: usize, mtu: usize) -> usize {
    let padded = len.div_ceil(MESSAGE_PADDING_MULTIPLE) * MESSAGE_PADDING_MULTIPLE;
    if len <= mtu {
        padded.min(mtu.max(len))
    } else {
        padded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(now: Instant) -> (Session, Session) {
        let a = TransportKeys {
            send: [1; 32],
            recv: [2; 32],
            local_index: 10,
            remote_index: 20,
            is_initiator: true,
        };
        let b = TransportKeys {
            send: [2; 32],
            recv: [1; 32],
            local_index: 20,
            remote_index: 10,
            is_initiator: false,
        };
        (Session::new(&a, now), Session::new(&b, now))
    }

    #[allow(clippy::disallowed_methods)]
    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn seal_open_round_trip_and_replay() {
        let (a, b) = pair(t0());
        let mut buf = vec![0u8; 2048];
        buf[16..16 + 5].copy_from_slice(b"hello");
        let c = a.next_counter().unwrap();
        let n = a.seal(c, &mut buf, 5, 1420).unwrap();
        assert_eq!(n, 16 + 16 + 16);
        assert_eq!(&buf[4..8], &20u32.to_le_bytes());
        let mut copy = buf[..n].to_vec();
        let plain = b.open(c, &mut buf[16..n]).unwrap();
        assert_eq!(plain, 16);
        assert_eq!(&buf[16..21], b"hello");
        assert_eq!(b.open(c, &mut copy[16..n]), Err(DropReason::Replay));
    }

    #[test]
    fn tampered_packet_fails() {
        let (a, b) = pair(t0());
        let mut buf = vec![0u8; 256];
        let n = a.seal(0, &mut buf, 40, 1420).unwrap();
        buf[20] ^= 1;
        assert_eq!(b.open(0, &mut buf[16..n]), Err(DropReason::DecryptFailed));
    }

    #[test]
    fn padding_respects_mtu() {
        assert_eq!(padded_len(0, 1420), 0);
        assert_eq!(padded_len(1, 1420), 16);
        assert_eq!(padded_len(1419, 1420), 1420);
        assert_eq!(padded_len(1420, 1420), 1420);
        assert_eq!(padded_len(1409, 1420), 1420);
    }
}
