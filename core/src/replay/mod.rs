//! The 8192-bit sliding replay window (RFC 6479 style, as in the kernel).
//!
//! The bitmap is a ring of 64-bit words indexed by `counter / 64`. Moving the window
//! forward clears only the words it newly covers, so an update costs O(1) amortized and
//! never shifts the bitmap. One word of the ring is always being recycled, which is why
//! the usable window is [`REPLAY_WINDOW_SIZE`] = 8192 − 64 counters, not 8192.

use crate::messages::{REJECT_AFTER_MESSAGES, REPLAY_WINDOW_BITS};

const WORD_BITS: u64 = u64::BITS as u64;
const RING_WORDS: usize = (REPLAY_WINDOW_BITS / WORD_BITS) as usize;
const RING_MASK: u64 = RING_WORDS as u64 - 1;

/// How far behind the highest accepted counter a counter may be and still be accepted
/// (the kernel's `COUNTER_WINDOW_SIZE`).
pub const REPLAY_WINDOW_SIZE: u64 = REPLAY_WINDOW_BITS - WORD_BITS;

/// The receive-side replay filter of one keypair.
///
/// Feed it a counter only after the packet authenticated: an attacker must not be able
/// to move the window with forged counters.
#[derive(Clone)]
pub struct ReplayWindow {
    /// One more than the highest counter accepted so far; 0 while none was.
    next: u64,
    /// Bit `(c + 1) % 8192` is set when counter `c` was accepted (and is still in the window).
    ring: [u64; RING_WORDS],
}

impl ReplayWindow {
    /// An empty window: every counter below [`REJECT_AFTER_MESSAGES`] is fresh.
    pub fn new() -> Self {
        Self { next: 0, ring: [0; RING_WORDS] }
    }

    /// After authentication: true if counter is fresh (and marks it), false for
    /// replay/too old/>= REJECT_AFTER_MESSAGES.
    pub fn check_and_update(&mut self, counter: u64) -> bool {
        if counter >= REJECT_AFTER_MESSAGES {
            return false;
        }
        // Shifted by one so that `next == 0` can mean "nothing accepted yet"; cannot
        // overflow because counter < REJECT_AFTER_MESSAGES < u64::MAX - REPLAY_WINDOW_SIZE.
        let shifted = counter + 1;
        if shifted + REPLAY_WINDOW_SIZE < self.next {
            return false;
        }
        let word = shifted / WORD_BITS;
        if shifted > self.next {
            let current_word = self.next / WORD_BITS;
            let newly_covered = (word - current_word).min(RING_WORDS as u64);
            for i in 1..=newly_covered {
                self.ring[((current_word + i) & RING_MASK) as usize] = 0;
            }
            self.next = shifted;
        }
        let slot = &mut self.ring[(word & RING_MASK) as usize];
        let bit = 1u64 << (shifted % WORD_BITS);
        let fresh = *slot & bit == 0;
        *slot |= bit;
        fresh
    }

    /// The highest counter accepted so far, if any.
    pub fn highest(&self) -> Option<u64> {
        self.next.checked_sub(1)
    }
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ReplayWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayWindow").field("highest", &self.highest()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
