//! Transport keypairs: keys, send counters, receive replay window.
//!
//! A [`Keypair`] is `Send + Sync` and meant to be shared as `Arc<Keypair>`: the engine's
//! workers call [`Keypair::next_send_counter`] + [`Keypair::seal`], or [`Keypair::open`] +
//! [`Keypair::accept_counter`], concurrently on several threads. Counters are atomic;
//! the replay window sits behind a small lock, taken only after authentication.
//!
//! Data message layout (whitepaper 5.4.6): `type(1) reserved(3) receiver(4) counter(8)`
//! then the plaintext zero-padded to a multiple of 16, encrypted, then the 16-byte tag.

use std::ops::Range;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::crypto::aead::{Aead, DataAead};
use crate::error::DropReason;
use crate::messages::{
    write_header, Data, AEAD_TAG_LEN, DATA_HEADER_LEN, MESSAGE_PADDING_MULTIPLE, MESSAGE_TYPE_DATA,
    REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME,
};
use crate::noise::TransportKeys;
use crate::replay::ReplayWindow;

/// Bytes a data message adds around the plaintext, padding excluded.
pub const DATA_OVERHEAD: usize = DATA_HEADER_LEN + AEAD_TAG_LEN;

/// The length of the data message that carries `plaintext_len` bytes (with padding).
pub fn data_message_len(plaintext_len: usize) -> usize {
    DATA_OVERHEAD + plaintext_len.next_multiple_of(MESSAGE_PADDING_MULTIPLE)
}

/// One session's transport keys and counters.
pub struct Keypair {
    send: DataAead,
    recv: DataAead,
    send_counter: SendCounter,
    replay: Mutex<ReplayWindow>,
    local_index: u32,
    remote_index: u32,
    created: Instant,
    is_initiator: bool,
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keypair")
            .field("local_index", &self.local_index)
            .field("remote_index", &self.remote_index)
            .field("is_initiator", &self.is_initiator)
            .field("send_counter", &self.send_counter.load())
            .finish_non_exhaustive()
    }
}

impl Keypair {
    /// Builds the keypair from a finished handshake's keys, created at `now`. The raw
    /// keys stay in `keys`, which zeroizes itself on drop.
    pub fn new(keys: &TransportKeys, now: Instant) -> Self {
        Self {
            send: DataAead::new(&keys.send),
            recv: DataAead::new(&keys.recv),
            send_counter: SendCounter::new(),
            replay: Mutex::new(ReplayWindow::new()),
            local_index: keys.local_index,
            remote_index: keys.remote_index,
            created: now,
            is_initiator: keys.is_initiator,
        }
    }

    /// Our index: incoming data messages carry it as their receiver index.
    pub fn local_index(&self) -> u32 {
        self.local_index
    }
    /// The peer's index: we write it into outgoing data messages.
    pub fn remote_index(&self) -> u32 {
        self.remote_index
    }
    /// When the handshake that made this keypair completed.
    pub fn created(&self) -> Instant {
        self.created
    }
    /// True if we were the handshake's initiator.
    pub fn is_initiator(&self) -> bool {
        self.is_initiator
    }
    /// How old the keypair is at `now`.
    pub fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.created)
    }
    /// True once the keypair is `REJECT_AFTER_TIME` old: it must not be used any more.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.age(now) >= REJECT_AFTER_TIME
    }
    /// Messages sent so far (the next counter to be handed out).
    pub fn send_counter(&self) -> u64 {
        self.send_counter.load()
    }

    /// Reserves the next send counter; `None` once `REJECT_AFTER_MESSAGES` is reached
    /// (the counter then stays there, so a nonce is never reused).
    pub fn next_send_counter(&self) -> Option<u64> {
        self.send_counter.next_below(REJECT_AFTER_MESSAGES)
    }

    /// Encrypts in place. On entry `buf[16..16 + plaintext_len]` holds the plaintext; on
    /// return `buf[..n]` is the whole data message (header, padded ciphertext, tag) and
    /// `n` is returned. Padding is cut short if `buf` has no room for all of it.
    pub fn seal(
        &self,
        counter: u64,
        buf: &mut [u8],
        plaintext_len: usize,
    ) -> Result<usize, DropReason> {
        let room = buf.len().checked_sub(DATA_OVERHEAD).ok_or(DropReason::BufferTooSmall)?;
        if plaintext_len > room {
            return Err(DropReason::BufferTooSmall);
        }
        let padded = plaintext_len.next_multiple_of(MESSAGE_PADDING_MULTIPLE).min(room);
        let total = DATA_OVERHEAD + padded;
        let (header, rest) = buf.split_at_mut(DATA_HEADER_LEN);
        write_header(header, MESSAGE_TYPE_DATA);
        header[4..8].copy_from_slice(&self.remote_index.to_le_bytes());
        header[8..16].copy_from_slice(&counter.to_le_bytes());
        let (body, tail) = rest.split_at_mut(padded);
        if let Some(pad) = body.get_mut(plaintext_len..) {
            pad.fill(0);
        }
        let tag =
            self.send.seal_in_place(counter, &[], body).map_err(|_| DropReason::BufferTooSmall)?;
        tail.get_mut(..AEAD_TAG_LEN).ok_or(DropReason::BufferTooSmall)?.copy_from_slice(&tag);
        Ok(total)
    }

    /// Authenticates and decrypts the data message in `buf` in place. Returns its counter
    /// and where the (still padded) plaintext now is. Does not check for replays: call
    /// [`Keypair::accept_counter`] after this succeeds.
    pub fn open(&self, buf: &mut [u8]) -> Result<(u64, Range<usize>), DropReason> {
        let msg = Data::parse(buf)?;
        if msg.receiver_index != self.local_index {
            return Err(DropReason::UnknownIndex);
        }
        let counter = msg.counter;
        if counter >= REJECT_AFTER_MESSAGES {
            return Err(DropReason::CounterOutOfRange);
        }
        let end = buf.len() - AEAD_TAG_LEN;
        let (rest, tag) = buf.split_last_chunk_mut::<AEAD_TAG_LEN>().ok_or(DropReason::TooShort)?;
        let tag = *tag;
        let body = rest.get_mut(DATA_HEADER_LEN..).ok_or(DropReason::TooShort)?;
        self.recv.open_in_place(counter, &[], body, &tag).map_err(|_| DropReason::DecryptFailed)?;
        Ok((counter, DATA_HEADER_LEN..end))
    }

    /// Test hook: jumps the send counter (to reach the message-count limits quickly).
    #[cfg(test)]
    pub(crate) fn force_send_counter(&self, counter: u64) {
        self.send_counter.store(counter);
    }

    /// Replay check after [`Keypair::open`]: true if `counter` is fresh (and records it).
    pub fn accept_counter(&self, counter: u64) -> bool {
        self.replay.lock().check_and_update(counter)
    }
}

/// A 64-bit send counter on every target: an atomic where the target has 64-bit atomics,
/// a tiny lock elsewhere (32-bit MIPS/PowerPC), so nonces never wrap or repeat.
#[derive(Debug)]
struct SendCounter {
    #[cfg(target_has_atomic = "64")]
    value: std::sync::atomic::AtomicU64,
    #[cfg(not(target_has_atomic = "64"))]
    value: Mutex<u64>,
}

#[cfg(target_has_atomic = "64")]
impl SendCounter {
    fn new() -> Self {
        Self { value: std::sync::atomic::AtomicU64::new(0) }
    }
    fn load(&self) -> u64 {
        self.value.load(std::sync::atomic::Ordering::Relaxed)
    }
    #[cfg(test)]
    fn store(&self, v: u64) {
        self.value.store(v, std::sync::atomic::Ordering::Relaxed);
    }
    /// Returns the current value and increments it, unless it reached `limit`.
    fn next_below(&self, limit: u64) -> Option<u64> {
        use std::sync::atomic::Ordering::Relaxed;
        self.value.fetch_update(Relaxed, Relaxed, |c| (c < limit).then_some(c + 1)).ok()
    }
}

#[cfg(not(target_has_atomic = "64"))]
impl SendCounter {
    fn new() -> Self {
        Self { value: Mutex::new(0) }
    }
    fn load(&self) -> u64 {
        *self.value.lock()
    }
    #[cfg(test)]
    fn store(&self, v: u64) {
        *self.value.lock() = v;
    }
    fn next_below(&self, limit: u64) -> Option<u64> {
        let mut c = self.value.lock();
        let cur = *c;
        (cur < limit).then(|| {
            *c = cur + 1;
            cur
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::disallowed_methods)] // an arbitrary base instant for tests
    fn t0() -> Instant {
        Instant::now()
    }

    fn pair() -> (Keypair, Keypair) {
        let now = t0();
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
        (Keypair::new(&a, now), Keypair::new(&b, now))
    }

    #[test]
    fn seal_open_round_trip_with_padding() {
        let (a, b) = pair();
        for len in [0usize, 1, 15, 16, 17, 1420] {
            let mut buf = vec![0u8; DATA_OVERHEAD + 1440];
            for (i, x) in buf[16..16 + len].iter_mut().enumerate() {
                *x = i as u8;
            }
            let c = a.next_send_counter().unwrap();
            let n = a.seal(c, &mut buf, len).unwrap();
            assert_eq!(n, data_message_len(len));
            assert_eq!(n % 16, 0);
            let (counter, range) = b.open(&mut buf[..n]).unwrap();
            assert_eq!(counter, c);
            assert_eq!(range.len(), len.next_multiple_of(16));
            assert!(buf[range.start..range.start + len]
                .iter()
                .enumerate()
                .all(|(i, x)| *x == i as u8));
            assert!(buf[range.start + len..range.end].iter().all(|x| *x == 0));
            assert!(b.accept_counter(counter));
            assert!(!b.accept_counter(counter));
        }
    }

    #[test]
    fn open_rejects_tampering_wrong_index_and_direction() {
        let (a, b) = pair();
        let mut buf = vec![0u8; 64];
        let n = a.seal(0, &mut buf, 16).unwrap();
        let mut bad = buf[..n].to_vec();
        bad[20] ^= 1;
        assert_eq!(b.open(&mut bad).unwrap_err(), DropReason::DecryptFailed);
        // a's own message is addressed to b's index, not a's.
        assert_eq!(a.open(&mut buf[..n].to_vec()).unwrap_err(), DropReason::UnknownIndex);
        let mut short = buf[..31].to_vec();
        assert_eq!(b.open(&mut short).unwrap_err(), DropReason::WrongLength);
        let mut far = buf[..n].to_vec();
        far[8..16].copy_from_slice(&REJECT_AFTER_MESSAGES.to_le_bytes());
        assert_eq!(b.open(&mut far).unwrap_err(), DropReason::CounterOutOfRange);
    }

    #[test]
    fn seal_truncates_padding_to_the_buffer_and_refuses_tiny_buffers() {
        let (a, b) = pair();
        let mut buf = vec![0u8; DATA_OVERHEAD + 17];
        let n = a.seal(0, &mut buf, 17).unwrap();
        assert_eq!(n, DATA_OVERHEAD + 17);
        assert_eq!(b.open(&mut buf[..n]).unwrap().1.len(), 17);
        assert_eq!(a.seal(1, &mut buf, 18).unwrap_err(), DropReason::BufferTooSmall);
        assert_eq!(a.seal(1, &mut [0u8; 31], 0).unwrap_err(), DropReason::BufferTooSmall);
    }

    #[test]
    fn send_counter_stops_at_reject_after_messages() {
        let (a, _) = pair();
        a.force_send_counter(REJECT_AFTER_MESSAGES - 1);
        assert_eq!(a.next_send_counter(), Some(REJECT_AFTER_MESSAGES - 1));
        assert_eq!(a.next_send_counter(), None);
        assert_eq!(a.next_send_counter(), None);
        assert_eq!(a.send_counter(), REJECT_AFTER_MESSAGES);
    }

    #[test]
    fn keypair_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Keypair>();
    }
}
