//! A flood of bad packets makes a bounded number of log events: the interface's
//! `tracing` events that network input can trigger go through a per-call-site limiter
//! driven by the caller's `now` (no clock read here, no timing assert: counts only).
//!
//! One test function in its own binary: the limiters are per call site and process-wide,
//! so no other test may spend their budget meanwhile.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use ferrowg_core::config::{AllowedIp, DeviceConfig, PeerConfig};
use ferrowg_core::error::DropReason;
use ferrowg_core::interface::{Incoming, Interface, Output};
use ferrowg_core::keys::{PrivateKey, PublicKey};
use ferrowg_core::logging::{BURST, INTERVAL};
use ferrowg_core::messages::{INITIATION_LEN, MESSAGE_TYPE_DATA, MESSAGE_TYPE_INITIATION};
use ferrowg_core::peer::PeerEvent;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// One recorded event: target, message, the `suppressed` field if present.
#[derive(Debug, Clone)]
struct Seen {
    target: String,
    message: String,
    suppressed: u64,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Seen>>>);

impl Recorder {
    fn take(&self, target: &str) -> Vec<Seen> {
        let mut all = self.0.lock().unwrap();
        let (mine, rest): (Vec<_>, Vec<_>) = all.drain(..).partition(|s| s.target == target);
        *all = rest;
        mine
    }
}

struct Fields<'a>(&'a mut Seen);

impl Visit for Fields<'_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "suppressed" {
            self.0.suppressed = value;
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.message = format!("{value:?}");
        }
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut seen = Seen {
            target: event.metadata().target().to_owned(),
            message: String::new(),
            suppressed: 0,
        };
        event.record(&mut Fields(&mut seen));
        self.0.lock().unwrap().push(seen);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

struct Discard;

impl Output for Discard {
    fn transmit(&mut self, _: SocketAddr, _: &[u8]) -> bool {
        true
    }
    fn event(&mut self, _: &PublicKey, _: PeerEvent) {}
}

const FLOOD: u64 = 5_000;
/// The flood is spread over this much virtual time.
const SPAN: Duration = Duration::from_secs(20);

/// The most events one call site can emit over `SPAN` (the windows it touches).
fn bound() -> u64 {
    let windows = SPAN.as_nanos().div_ceil(INTERVAL.as_nanos()) as u64 + 1;
    u64::from(BURST) * windows
}

/// Checks one call site's events after a flood of `FLOOD`, and that the summary comes
/// with the next event after a quiet stretch.
fn check(target: &str, seen: &[Seen], late: &[Seen]) {
    let emitted = seen.len() as u64;
    assert!(emitted >= u64::from(BURST), "{target}: only {emitted} events");
    assert!(emitted <= bound(), "{target}: {emitted} events for {FLOOD} bad packets");
    let reported: u64 = seen.iter().chain(late).map(|s| s.suppressed).sum();
    // Every bad packet of the flood is either logged or reported as suppressed by a
    // later event (the late event logs itself).
    assert_eq!(emitted + reported, FLOOD, "{target}");
    assert_eq!(late.len(), 1, "{target}: {late:?}");
    assert!(late[0].suppressed > 0, "{target}: no summary: {late:?}");
}

#[test]
#[allow(clippy::disallowed_methods)] // an arbitrary base instant; virtual time after it
fn a_flood_of_bad_packets_makes_a_bounded_number_of_log_events() {
    let t0 = Instant::now();
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let iface = Interface::new([9; 32], t0);
    let mut peer = PeerConfig::new(PrivateKey::from_bytes([2; 32]).public_key());
    peer.allowed_ips.push(AllowedIp::parse("198.19.0.2/32").unwrap());
    let config = DeviceConfig {
        private_key: Some(PrivateKey::from_bytes([1; 32])),
        peers: vec![peer],
        ..DeviceConfig::default()
    };
    iface.apply_config(config, t0).unwrap();

    let rec = Recorder::default();
    let src: SocketAddr = "198.18.0.9:51820".parse().unwrap();
    let step = SPAN / FLOOD as u32;
    let mut scratch = vec![0u8; 65_536];
    tracing::subscriber::with_default(rec.clone(), || {
        // Data messages for receiver indices nobody handed out.
        let mut dgram = [0u8; 32];
        dgram[0] = MESSAGE_TYPE_DATA;
        for i in 0..FLOOD {
            dgram[4..8].copy_from_slice(&(i as u32 | 0x8000_0000).to_le_bytes());
            let now = t0 + step * i as u32;
            assert!(matches!(iface.classify(&dgram, src, 0, now), Incoming::Dropped));
        }
        // Initiations with a bad MAC1.
        let mut init = [0x5au8; INITIATION_LEN];
        init[..4].copy_from_slice(&[MESSAGE_TYPE_INITIATION, 0, 0, 0]);
        for i in 0..FLOOD {
            let now = t0 + step * i as u32;
            let r = iface.handle_handshake(&init, src, now, wall, &mut scratch, &mut Discard);
            assert_eq!(r, Err(DropReason::InvalidMac1));
        }
    });
    let rx = rec.take("ferrowg::rx");
    let hs = rec.take("ferrowg::handshake");
    assert!(rec.0.lock().unwrap().is_empty(), "other events: {:?}", rec.0.lock().unwrap());

    // A quiet stretch, then one more bad packet of each kind: it carries the summary.
    let later = t0 + SPAN + INTERVAL * 2;
    tracing::subscriber::with_default(rec.clone(), || {
        let mut dgram = [0u8; 32];
        dgram[0] = MESSAGE_TYPE_DATA;
        let _ = iface.classify(&dgram, src, 0, later);
        let mut init = [0x5au8; INITIATION_LEN];
        init[..4].copy_from_slice(&[MESSAGE_TYPE_INITIATION, 0, 0, 0]);
        let _ = iface.handle_handshake(&init, src, later, wall, &mut scratch, &mut Discard);
    });
    check("ferrowg::rx", &rx, &rec.take("ferrowg::rx"));
    check("ferrowg::handshake", &hs, &rec.take("ferrowg::handshake"));
    assert!(rx.iter().all(|s| s.message == "datagram dropped"), "{rx:?}");

    // The counters still see every packet.
    let drops = iface.drop_totals(&iface.peer_statuses());
    assert_eq!(drops.get(DropReason::UnknownIndex), FLOOD + 1);
    assert_eq!(drops.get(DropReason::InvalidMac1), FLOOD + 1);
}
