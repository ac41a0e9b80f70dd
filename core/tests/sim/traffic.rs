//! Application packets with a sequence number and a content that can be checked, and the
//! per-direction ledger of what was sent, what the network handed over and what arrived.

use std::collections::{BTreeMap, BTreeSet};

use ferrowg_core::error::DropReason;

/// Smallest packet: IPv4 header, origin byte, 8-byte sequence number.
const MIN_LEN: usize = 29;
/// Largest packet (a full-MTU tunnel packet).
const MAX_LEN: usize = 1420;

/// An IPv4 packet (tunnel addresses 198.19.0.0/24) from `origin` carrying `seq`, with a
/// length and a body that both follow from `(origin, seq)`.
pub fn packet(origin: u8, seq: u64) -> Vec<u8> {
    let len = MIN_LEN + (seq as usize * 157 + usize::from(origin) * 31) % (MAX_LEN - MIN_LEN + 1);
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[198, 19, 0, 1 + origin]);
    p[16..20].copy_from_slice(&[198, 19, 0, 2 - origin]);
    p[20] = origin;
    p[21..29].copy_from_slice(&seq.to_le_bytes());
    let mut x = seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ u64::from(origin) ^ 0x5151;
    for b in &mut p[MIN_LEN..] {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    p
}

/// `(origin, seq)` of a received packet if it is byte-for-byte what [`packet`] makes.
pub fn check(received: &[u8]) -> Option<(u8, u64)> {
    let origin = *received.get(20)?;
    let seq = u64::from_le_bytes(received.get(21..29)?.try_into().ok()?);
    (origin < 2 && packet(origin, seq) == received).then_some((origin, seq))
}

/// One direction's bookkeeping, by sequence number.
#[derive(Debug, Default, Clone)]
pub struct Ledger {
    /// Handed to the sending peer (encapsulated or staged).
    pub sent: BTreeSet<u64>,
    /// Staged packets the sending peer dropped (queue overflow, handshake gave up).
    pub dropped_by_sender: BTreeSet<u64>,
    /// Copies the network delivered to the receiving peer, per sequence number.
    pub handed_over: BTreeMap<u64, u32>,
    /// Accepted by the receiving peer and written to its NIC, per sequence number.
    pub accepted: BTreeMap<u64, u32>,
    /// Why the receiving peer rejected copies, per sequence number.
    pub rejected: BTreeMap<u64, Vec<DropReason>>,
    /// Packets that arrived altered, or not under the sequence number the network saw.
    pub corrupt: u32,
}

impl Ledger {
    /// Sent packets the network lost entirely (no copy delivered).
    pub fn lost_in_network(&self) -> usize {
        self.sent
            .iter()
            .filter(|s| !self.handed_over.contains_key(s) && !self.dropped_by_sender.contains(s))
            .count()
    }

    /// Copies handed over beyond the first, which the receiver must reject.
    pub fn extra_copies(&self) -> u32 {
        self.handed_over.values().map(|c| c - 1).sum()
    }

    /// Asserts the delivery contract: every packet of which the network delivered at
    /// least one copy arrived exactly once and intact, and nothing else arrived.
    pub fn assert_exactly_once(&self, what: &str) {
        let lost = self.assert_at_most_once(what, &[]);
        assert_eq!(lost, 0);
    }

    /// Like [`Ledger::assert_exactly_once`], except that a delivered packet may be
    /// rejected for one of the `allowed` reasons (every copy of it); returns how many were.
    pub fn assert_at_most_once(&self, what: &str, allowed: &[DropReason]) -> usize {
        assert_eq!(self.corrupt, 0, "{what}: corrupt or mislabelled packets");
        let twice: Vec<_> = self.accepted.iter().filter(|(_, &c)| c > 1).collect();
        assert!(twice.is_empty(), "{what}: accepted more than once: {twice:?}");
        let missing: Vec<_> =
            self.handed_over.keys().filter(|s| !self.accepted.contains_key(s)).collect();
        let unexplained: Vec<_> = missing
            .iter()
            .map(|s| (s, self.rejected.get(s).cloned().unwrap_or_default()))
            .filter(|(_, reasons)| {
                reasons.is_empty() || !reasons.iter().all(|r| allowed.contains(r))
            })
            .collect();
        assert!(
            unexplained.is_empty(),
            "{what}: delivered by the network but rejected: {unexplained:?}"
        );
        let unexpected: Vec<_> =
            self.accepted.keys().filter(|s| !self.handed_over.contains_key(s)).collect();
        assert!(unexpected.is_empty(), "{what}: accepted without delivery: {unexpected:?}");
        missing.len()
    }
}
