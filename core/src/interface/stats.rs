//! Counters: every peer's status and the drops by reason.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use super::Interface;
use crate::error::DropReason;
use crate::keys::PublicKey;

/// Counters of one peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    /// The peer's public key.
    pub public_key: PublicKey,
    /// Where packets to the peer go now.
    pub endpoint: Option<SocketAddr>,
    /// Wall-clock time of the last completed handshake.
    pub last_handshake: Option<SystemTime>,
    /// Datagram bytes received from the peer (authenticated data messages).
    pub rx_bytes: u64,
    /// Datagram bytes sent to the peer (data messages).
    pub tx_bytes: u64,
    /// Data messages received (keepalives included).
    pub rx_packets: u64,
    /// Data messages sent (keepalives included).
    pub tx_packets: u64,
    /// Handshakes completed.
    pub handshakes: u64,
    /// Packets of this peer dropped, by reason.
    pub drops: DropStats,
    /// Packets staged waiting for a session.
    pub staged_packets: usize,
}

/// Drop counters by [`DropReason`].
#[derive(Clone, PartialEq, Eq)]
pub struct DropStats(pub(crate) [u64; DropReason::COUNT]);

impl DropStats {
    /// Drops counted for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0.get(reason.index()).copied().unwrap_or(0)
    }
    /// All drops.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
    /// The non-zero counters.
    pub fn nonzero(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|&r| (r, self.get(r))).filter(|&(_, n)| n > 0)
    }
}

impl fmt::Debug for DropStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.nonzero().map(|(r, n)| (r.name(), n))).finish()
    }
}

impl Interface {
    /// Every peer's counters, in configuration order.
    pub fn peer_statuses(&self) -> Vec<PeerStatus> {
        let snap = self.snapshot.load();
        snap.peers
            .iter()
            .map(|p| {
                let mut pd = p.counters.drops();
                let guard = p.proto.lock();
                let proto = guard.as_ref();
                if let Some(pp) = proto {
                    for r in DropReason::ALL {
                        if let Some(d) = pd.get_mut(r.index()) {
                            *d += pp.drop_counters().get(r);
                        }
                    }
                }
                let st = proto.map(|pp| pp.stats().clone()).unwrap_or_default();
                PeerStatus {
                    public_key: p.public_key,
                    endpoint: proto.and_then(|pp| pp.endpoint()),
                    last_handshake: st.last_handshake,
                    rx_bytes: st.rx_bytes,
                    tx_bytes: st.tx_bytes,
                    rx_packets: p.counters.rx_packets.load(Ordering::Relaxed),
                    tx_packets: p.counters.tx_packets.load(Ordering::Relaxed),
                    handshakes: p.counters.handshakes.load(Ordering::Relaxed),
                    drops: DropStats(pd),
                    staged_packets: proto.map_or(0, |pp| pp.staged_len()),
                }
            })
            .collect()
    }

    /// Drops not charged to a peer, plus every peer's in `peers`.
    pub fn drop_totals(&self, peers: &[PeerStatus]) -> DropStats {
        let mut drops: [u64; DropReason::COUNT] =
            std::array::from_fn(|i| self.counters.drops[i].load(Ordering::Relaxed));
        for p in peers {
            for (d, n) in drops.iter_mut().zip(p.drops.0) {
                *d += n;
            }
        }
        DropStats(drops)
    }
}
