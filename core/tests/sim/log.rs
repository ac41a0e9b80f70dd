//! The event log: everything that happened, in order, with its simulated time. Tests
//! count entries in it, and two runs with the same seed must produce equal logs.

use std::fmt::Write as _;
use std::time::Duration;

use ferrowg_core::error::DropReason;
use ferrowg_core::messages::{
    DATA_MIN_LEN, MESSAGE_TYPE_COOKIE_REPLY, MESSAGE_TYPE_DATA, MESSAGE_TYPE_INITIATION,
    MESSAGE_TYPE_RESPONSE,
};
use ferrowg_core::peer::PeerEvent;

use super::NodeId;

/// What kind of datagram, judged from the outside (type byte and length).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Handshake initiation.
    Initiation,
    /// Handshake response.
    Response,
    /// Cookie reply.
    CookieReply,
    /// Data message with an empty payload.
    Keepalive,
    /// Data message carrying a packet.
    Data,
    /// Anything else.
    Other,
}

impl Kind {
    /// Classifies a UDP payload.
    pub fn of(bytes: &[u8]) -> Self {
        match bytes.first() {
            Some(&MESSAGE_TYPE_INITIATION) => Kind::Initiation,
            Some(&MESSAGE_TYPE_RESPONSE) => Kind::Response,
            Some(&MESSAGE_TYPE_COOKIE_REPLY) => Kind::CookieReply,
            Some(&MESSAGE_TYPE_DATA) if bytes.len() == DATA_MIN_LEN => Kind::Keepalive,
            Some(&MESSAGE_TYPE_DATA) => Kind::Data,
            _ => Kind::Other,
        }
    }
}

/// One logged happening at a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum What {
    /// The peer handed a datagram to the network.
    Sent(Kind),
    /// The network delivered a datagram to the peer.
    Arrived {
        /// What it looked like.
        kind: Kind,
        /// 0 for the original, 1 for the network's duplicate.
        copy: u32,
        /// A data message whose counter is below the highest already seen under its
        /// receiver index (it was overtaken on the way).
        late: bool,
    },
    /// The peer accepted an application packet and wrote it to its NIC.
    Accepted(u64),
    /// The peer accepted a packet that is not what was sent (altered, or another
    /// sequence number than the datagram carried).
    Corrupt,
    /// The peer accepted a keepalive.
    AcceptedKeepalive,
    /// The peer consumed a handshake message.
    AcceptedHandshake,
    /// The peer rejected a datagram.
    Rejected(Kind, DropReason),
    /// A datagram went to an address where no node listens.
    Unroutable(Kind),
    /// The peer reported an event.
    Event(PeerEvent),
    /// The application gave the peer a packet; `true` if it was staged.
    AppSend(u64, bool),
}

/// A log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Simulated time.
    pub at: Duration,
    /// Where it happened.
    pub node: NodeId,
    /// What happened.
    pub what: What,
}

/// The whole log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Log {
    entries: Vec<Entry>,
}

impl Log {
    /// Appends a line.
    pub fn push(&mut self, at: Duration, node: NodeId, what: What) {
        self.entries.push(Entry { at, node, what });
    }

    /// All lines.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Times of the lines at `node` that match.
    pub fn times(&self, node: NodeId, pred: impl Fn(&What) -> bool) -> Vec<Duration> {
        self.entries.iter().filter(|e| e.node == node && pred(&e.what)).map(|e| e.at).collect()
    }

    /// Number of lines at `node` that match.
    pub fn count(&self, node: NodeId, pred: impl Fn(&What) -> bool) -> usize {
        self.times(node, pred).len()
    }

    /// Times at which `node` sent a datagram of `kind`.
    pub fn sent(&self, node: NodeId, kind: Kind) -> Vec<Duration> {
        self.times(node, |w| *w == What::Sent(kind))
    }

    /// The lines from simulated time `from` on, one per line, for failure messages.
    pub fn dump_from(&self, from: Duration) -> String {
        let mut s = String::new();
        for e in self.entries.iter().filter(|e| e.at >= from).take(400) {
            let _ = writeln!(s, "{:>12.6} {:?} {:?}", e.at.as_secs_f64(), e.node, e.what);
        }
        s
    }
}
