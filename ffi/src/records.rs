//! Plain records for the app: events, configuration and counters.

use std::time::UNIX_EPOCH;

use ferrowg_core::config::{DeviceConfig, PeerConfig};
use ferrowg_core::device::{DeviceEvent, DeviceStats, PeerStatus};

/// Something that happened to the tunnel. Keys are base64, as in wg-quick files.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum TunnelEvent {
    /// A handshake with the peer completed (a new session is in use).
    HandshakeComplete {
        /// The peer's public key.
        peer: String,
    },
    /// The peer's session expired after a long time without a new handshake.
    SessionExpired {
        /// The peer's public key.
        peer: String,
    },
    /// The peer roamed: its packets now come from `endpoint`.
    EndpointChanged {
        /// The peer's public key.
        peer: String,
        /// The new address, `IP:port` or `[IPv6]:port`.
        endpoint: String,
    },
    /// Handshake retries with the peer were exhausted.
    PeerUnreachable {
        /// The peer's public key.
        peer: String,
    },
    /// An I/O error on the NIC or the UDP sockets.
    Error {
        /// What failed.
        message: String,
    },
}

impl TunnelEvent {
    pub(crate) fn from_device(event: &DeviceEvent) -> Self {
        match event {
            DeviceEvent::HandshakeComplete { peer } => {
                Self::HandshakeComplete { peer: peer.to_base64() }
            }
            DeviceEvent::SessionExpired { peer } => Self::SessionExpired { peer: peer.to_base64() },
            DeviceEvent::EndpointChanged { peer, endpoint } => {
                Self::EndpointChanged { peer: peer.to_base64(), endpoint: endpoint.to_string() }
            }
            DeviceEvent::PeerUnreachable { peer } => {
                Self::PeerUnreachable { peer: peer.to_base64() }
            }
            DeviceEvent::Error { message } => Self::Error { message: message.clone() },
            other => Self::Error { message: format!("{other:?}") },
        }
    }

    /// The stable C kind of this event.
    pub(crate) fn c_kind(&self) -> i32 {
        match self {
            Self::HandshakeComplete { .. } => 1,
            Self::SessionExpired { .. } => 2,
            Self::EndpointChanged { .. } => 3,
            Self::PeerUnreachable { .. } => 4,
            Self::Error { .. } => 5,
        }
    }
}

/// The running configuration. The private key is never handed out, only its public key.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TunnelConfig {
    /// The interface's public key (base64), if a private key is set.
    pub public_key: Option<String>,
    /// The configured UDP listen port, if any.
    pub listen_port: Option<u16>,
    /// The firewall mark (Linux), if any.
    pub fwmark: Option<u32>,
    /// The peers, in configuration order.
    pub peers: Vec<PeerConfigRecord>,
}

/// One peer's configuration.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PeerConfigRecord {
    /// The peer's public key (base64).
    pub public_key: String,
    /// Whether a preshared key is set (the key itself is never handed out).
    pub has_preshared_key: bool,
    /// The endpoint, if known.
    pub endpoint: Option<String>,
    /// Allowed IPs as `IP/prefix`.
    pub allowed_ips: Vec<String>,
    /// Keepalive interval in seconds, if on.
    pub persistent_keepalive: Option<u16>,
}

impl TunnelConfig {
    pub(crate) fn from_device(c: &DeviceConfig) -> Self {
        Self {
            public_key: c.private_key.as_ref().map(|k| k.public_key().to_base64()),
            listen_port: c.listen_port,
            fwmark: c.fwmark,
            peers: c.peers.iter().map(PeerConfigRecord::from_device).collect(),
        }
    }
}

impl PeerConfigRecord {
    fn from_device(p: &PeerConfig) -> Self {
        Self {
            public_key: p.public_key.to_base64(),
            has_preshared_key: p.preshared_key.is_some(),
            endpoint: p.endpoint.as_ref().map(|e| e.to_string()),
            allowed_ips: p.allowed_ips.iter().map(|a| a.to_string()).collect(),
            persistent_keepalive: p.persistent_keepalive,
        }
    }
}

/// Tunnel-wide and per-peer counters.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TunnelStats {
    /// The UDP port in use.
    pub listen_port: u16,
    /// Packets dropped (bad, unauthenticated, replayed, not allowed, ...), all reasons.
    pub dropped_packets: u64,
    /// Handshake messages processed.
    pub handshakes_processed: u64,
    /// Whether the tunnel is under handshake load (sending cookie replies).
    pub under_load: bool,
    /// Packets waiting in the per-peer TX queues (queued and CoDel TX paths).
    pub tx_queued_packets: u64,
    /// Packets CoDel dropped from those queues.
    pub codel_drops: u64,
    /// Per-peer counters, in configuration order.
    pub peers: Vec<PeerStats>,
}

/// One peer's counters.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PeerStats {
    /// The peer's public key (base64).
    pub public_key: String,
    /// Where packets to the peer go now.
    pub endpoint: Option<String>,
    /// Last completed handshake, milliseconds since the Unix epoch.
    pub last_handshake_unix_ms: Option<u64>,
    /// Datagram bytes received from the peer.
    pub rx_bytes: u64,
    /// Datagram bytes sent to the peer.
    pub tx_bytes: u64,
    /// Data messages received.
    pub rx_packets: u64,
    /// Data messages sent.
    pub tx_packets: u64,
    /// Handshakes completed.
    pub handshakes: u64,
    /// Packets of this peer dropped.
    pub dropped_packets: u64,
}

impl TunnelStats {
    pub(crate) fn from_device(s: &DeviceStats) -> Self {
        Self {
            listen_port: s.listen_port,
            dropped_packets: s.drops.total(),
            handshakes_processed: s.handshakes_processed,
            under_load: s.under_load,
            tx_queued_packets: s.tx_queued_packets,
            codel_drops: s.codel_drops,
            peers: s.peers.iter().map(PeerStats::from_device).collect(),
        }
    }
}

impl PeerStats {
    pub(crate) fn from_device(p: &PeerStatus) -> Self {
        Self {
            public_key: p.public_key.to_base64(),
            endpoint: p.endpoint.map(|e| e.to_string()),
            last_handshake_unix_ms: p.last_handshake.and_then(|t| {
                t.duration_since(UNIX_EPOCH)
                    .ok()
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            }),
            rx_bytes: p.rx_bytes,
            tx_bytes: p.tx_bytes,
            rx_packets: p.rx_packets,
            tx_packets: p.tx_packets,
            handshakes: p.handshakes,
            dropped_packets: p.drops.total(),
        }
    }
}
