//! One logging channel: a log event core emits during a handshake reaches the host's
//! log callback exactly once (core `tracing` event → the FFI's subscriber → the sink),
//! while the observer gets only the typed event; no line carries key material.
//!
//! One test in its own binary: the log sink is process-wide.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrowg::{
    public_key_from_private, set_log_sink, LogLevel, LogSink, NicMode, Tunnel, TunnelEvent,
    TunnelObserver,
};

const KEY_A: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const KEY_B: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

#[derive(Default)]
struct Lines(Mutex<Vec<(LogLevel, String)>>);

impl LogSink for Lines {
    fn on_log(&self, level: LogLevel, message: String) {
        self.0.lock().unwrap().push((level, message));
    }
}

#[derive(Default)]
struct Events(Mutex<Vec<TunnelEvent>>);

impl TunnelObserver for Events {
    fn on_event(&self, event: TunnelEvent) {
        self.0.lock().unwrap().push(event);
    }
}

/// A 28-byte IPv4/UDP packet 198.19.0.1 → 198.19.0.2.
fn packet() -> Vec<u8> {
    let mut p = vec![0u8; 28];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&28u16.to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[198, 19, 0, 1]);
    p[16..20].copy_from_slice(&[198, 19, 0, 2]);
    p
}

#[test]
fn a_handshake_log_event_reaches_the_host_callback_exactly_once() {
    let lines = Arc::new(Lines::default());
    set_log_sink(Some(lines.clone()), LogLevel::Debug).unwrap();
    let (pub_a, pub_b) = (
        public_key_from_private(KEY_A.into()).unwrap(),
        public_key_from_private(KEY_B.into()).unwrap(),
    );
    let b = Tunnel::start(
        format!("[Interface]\nPrivateKey = {KEY_B}\n[Peer]\nPublicKey = {pub_a}\nAllowedIPs = 198.19.0.1/32\n"),
        NicMode::HostPackets,
        Some("127.0.0.1".into()),
    )
    .unwrap();
    let port_b = b.listen_port().unwrap();
    let a = Tunnel::start(
        format!(
            "[Interface]\nPrivateKey = {KEY_A}\n[Peer]\nPublicKey = {pub_b}\n\
             AllowedIPs = 198.19.0.2/32\nEndpoint = 127.0.0.1:{port_b}\n"
        ),
        NicMode::HostPackets,
        Some("127.0.0.1".into()),
    )
    .unwrap();
    let events = Arc::new(Events::default());
    a.set_observer(Some(events.clone())).unwrap();

    assert_eq!(a.write_packets(vec![packet()], 5_000).unwrap(), 1);
    let got = b.read_packets(1, 30_000).unwrap();
    assert_eq!(got, vec![packet()], "the packet did not cross the tunnel");
    let deadline = Instant::now() + Duration::from_secs(30);
    while events.0.lock().unwrap().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    a.stop().unwrap();
    b.stop().unwrap();
    set_log_sink(None, LogLevel::Error).unwrap();

    let events = events.0.lock().unwrap().clone();
    let completed =
        |e: &TunnelEvent| matches!(e, TunnelEvent::HandshakeComplete { peer } if *peer == pub_b);
    assert_eq!(events.iter().filter(|e| completed(e)).count(), 1, "{events:?}");

    let lines = lines.0.lock().unwrap().clone();
    let text: Vec<&str> = lines.iter().map(|(_, l)| l.as_str()).collect();
    // A's line for its handshake with B, through the one channel, once.
    let logged: Vec<_> = lines
        .iter()
        .filter(|(_, l)| {
            l.starts_with("ferrowg::handshake: handshake complete")
                && l.contains(&format!("peer={pub_b}"))
        })
        .collect();
    assert_eq!(logged.len(), 1, "{text:#?}");
    assert_eq!(logged[0].0, LogLevel::Debug);
    // B logged its side (responder) too, under A's key.
    assert!(
        text.iter().any(|l| l.contains("handshake complete") && l.contains(&pub_a)),
        "{text:#?}"
    );
    // The device's own lifecycle lines come the same way.
    assert!(text.iter().any(|l| l.starts_with("ferrowg::device: device up")), "{text:#?}");
    // No private key piece in any line.
    for key in [KEY_A, KEY_B] {
        for w in key.as_bytes().windows(8) {
            let w = std::str::from_utf8(w).unwrap();
            assert!(text.iter().all(|l| !l.contains(w)), "key piece {w} logged: {text:#?}");
        }
    }
}
