//! The records a batch carries between the three stages of the data path, and the
//! crypto stage itself: pure functions over a keypair and a buffer, callable from any
//! thread (the engine's crypto workers run exactly these).
//!
//! - classify/route ([`super::Interface::route_batch`], [`super::Interface::classify`])
//!   fill the records from a read-only snapshot;
//! - crypto ([`SealRec::seal`], [`OpenRec::open`]) needs nothing but the record and its
//!   buffer;
//! - accept ([`super::Interface::accept`], [`super::Interface::prepare_tx`]) applies
//!   replay window, timers and counters under the peer's lock.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;

use super::slot::PeerSlot;
use crate::error::DropReason;
use crate::keypair::{Keypair, DATA_OVERHEAD};
use crate::messages::{AEAD_TAG_LEN, DATA_HEADER_LEN, MESSAGE_PADDING_MULTIPLE};

/// Plaintext length after zero padding to a multiple of 16, never beyond the MTU
/// (whitepaper section 5.4.6).
pub fn padded_len(len: usize, mtu: usize) -> usize {
    let padded = len.next_multiple_of(MESSAGE_PADDING_MULTIPLE);
    if len <= mtu {
        padded.min(mtu)
    } else {
        padded
    }
}

/// Bytes per TX buffer: header, the largest packet, padding and tag, rounded to 64.
pub fn tx_stride(mtu: usize) -> usize {
    (DATA_HEADER_LEN + mtu + 16 + AEAD_TAG_LEN).div_ceil(64) * 64
}

/// Seals `len` bytes at `buf[DATA_HEADER_LEN..]` in place; returns the datagram length
/// (0: the buffer is too small).
pub fn seal(kp: &Keypair, counter: u64, buf: &mut [u8], len: usize, mtu: usize) -> usize {
    let total = DATA_OVERHEAD + padded_len(len, mtu);
    buf.get_mut(..total).and_then(|b| kp.seal(counter, b, len).ok()).unwrap_or(0)
}

/// One packet of a TX batch ready to be sealed (filled by
/// [`super::Interface::prepare_tx`]).
pub struct SealRec {
    /// Index of the packet's buffer in the batch.
    pub slot: usize,
    /// Plaintext length at `buf[DATA_HEADER_LEN..]`.
    pub len: usize,
    /// The counter taken for it.
    pub counter: u64,
    /// Where the datagram goes.
    pub dst: SocketAddr,
    /// The session that seals it.
    pub keypair: Arc<Keypair>,
    /// Datagram length once sealed (0: dropped).
    pub out_len: usize,
}

impl SealRec {
    /// The crypto stage: seals the packet in `buf` in place, setting `out_len`.
    pub fn seal(&mut self, buf: &mut [u8], mtu: usize) {
        self.out_len = seal(&self.keypair, self.counter, buf, self.len, mtu);
    }
}

/// One received data message ready to be opened (filled by
/// [`super::Interface::classify`]); `result` is filled in by [`OpenRec::open`].
pub struct OpenRec {
    /// Index of the datagram's buffer in the batch.
    pub slot: usize,
    /// Datagram length.
    pub len: usize,
    /// Where it came from.
    pub src: SocketAddr,
    pub(crate) peer: Arc<PeerSlot>,
    /// The session its receiver index names.
    pub keypair: Arc<Keypair>,
    /// Counter and plaintext range once opened.
    pub result: Result<(u64, Range<usize>), DropReason>,
}

impl OpenRec {
    /// The crypto stage: authenticates and decrypts `buf[..len]` in place.
    pub fn open(&mut self, buf: &mut [u8]) {
        self.result = match buf.get_mut(..self.len) {
            Some(dgram) => self.keypair.open(dgram),
            None => Err(DropReason::WrongLength),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_table() {
        // (len, mtu, padded)
        for (len, mtu, want) in [
            (0, 1420, 0),
            (1, 1420, 16),
            (16, 1420, 16),
            (17, 1420, 32),
            (1409, 1420, 1420),
            (1420, 1420, 1420),
            (1419, 1419, 1419),
            (1500, 1420, 1504),
        ] {
            assert_eq!(padded_len(len, mtu), want, "len {len} mtu {mtu}");
        }
    }
}
