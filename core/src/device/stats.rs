//! Counters for the host: [`super::DeviceStats`] and the UAPI `get=1` response.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use super::state::Inner;
use super::DeviceStats;
use crate::config::uapi;
use crate::config::PeerStats;
use crate::keys::PublicKey;
use crate::queue::Ring;

impl Inner {
    pub(crate) fn stats(&self) -> DeviceStats {
        let peers = self.iface.peer_statuses();
        let now = self.clock.now();
        let hs = self.iface.handshake_counters();
        DeviceStats {
            listen_port: self.listen_port(),
            drops: self.iface.drop_totals(&peers),
            handshake_queue_len: self.handshakes.len(),
            handshake_queue_overflows: self.counters.handshake_overflows.load(Ordering::Relaxed),
            handshakes_processed: hs.processed,
            cookie_replies_sent: hs.cookie_replies,
            under_load: self.iface.under_load(now),
            fanout_batches: self.counters.fanout_batches.load(Ordering::Relaxed),
            inline_batches: self.counters.inline_batches.load(Ordering::Relaxed),
            codel_drops: self.counters.codel_drops.load(Ordering::Relaxed),
            tx_queued_packets: self.counters.tx_queued.load(Ordering::Relaxed),
            io_handovers: self.counters.io_handovers.load(Ordering::Relaxed),
            workers: self.workers.count(),
            active_workers: self.workers.active(),
            peers,
        }
    }

    pub(crate) fn uapi_get(&self) -> String {
        let mut cfg = self.iface.live_config();
        cfg.listen_port = Some(self.listen_port());
        let statuses = self.iface.peer_statuses();
        let by_key: BTreeMap<PublicKey, _> = statuses.iter().map(|s| (s.public_key, s)).collect();
        uapi::format_get(&cfg, |pc| {
            let Some(st) = by_key.get(&pc.public_key) else { return PeerStats::default() };
            PeerStats {
                last_handshake: st
                    .last_handshake
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()),
                rx_bytes: st.rx_bytes,
                tx_bytes: st.tx_bytes,
            }
        })
    }
}
