//! The public device API as the CLI and the FFI use it: events, UAPI get/set, atomic
//! config replacement, listen-port changes and rebind while a session is up.
#![allow(clippy::disallowed_methods)]

mod device_support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use device_support::*;
use ferrowg_core::device::memory::TunHost;
use ferrowg_core::device::{DeviceError, DeviceEvent, DeviceObserver};
use parking_lot::Mutex;

#[derive(Default)]
struct Recorder(Mutex<Vec<DeviceEvent>>);

impl DeviceObserver for Recorder {
    fn on_event(&self, event: &DeviceEvent) {
        self.0.lock().push(event.clone());
    }
}

/// Sends one packet from `tx` and waits until `rx` delivers it.
fn ping(tx: &TunHost, rx: &TunHost, src: IpAddr, dst: IpAddr, seq: u64) -> bool {
    tx.inject(&[packet(src, dst, 7, seq, 200)], Duration::from_secs(1));
    let mut got = Vec::new();
    let deadline = now() + Duration::from_secs(10);
    while now() < deadline {
        rx.recv(&mut got, 8, Duration::from_millis(10));
        if got.iter().any(|p| verify(p).is_ok_and(|(f, s)| f == 7 && s == seq)) {
            return true;
        }
    }
    false
}

#[test]
fn events_reach_the_observer_and_stop_after_removal() {
    let (a, b) = pair(opts(0x41), opts(0x42));
    let rec_a = Arc::new(Recorder::default());
    a.device.set_observer(Some(rec_a.clone()));
    assert!(ping(&b.host, &a.host, B_V4.into(), A_V4.into(), 0));
    assert!(ping(&a.host, &b.host, A_V4.into(), B_V4.into(), 1));
    let events = rec_a.0.lock().clone();
    let b_pub = b.key.public_key();
    assert!(events.contains(&DeviceEvent::HandshakeComplete { peer: b_pub }), "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, DeviceEvent::EndpointChanged { peer, .. } if *peer == b_pub)),
        "{events:?}"
    );
    a.device.set_observer(None);
    let before = rec_a.0.lock().len();
    // Moving B to another port makes A see B roam: A would report it.
    let mut cfg = b.device.config();
    let free = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    cfg.listen_port = Some(free.local_addr().unwrap().port());
    drop(free);
    b.device.set_config(&cfg).unwrap();
    assert!(ping(&b.host, &a.host, B_V4.into(), A_V4.into(), 2));
    let roamed = SocketAddr::from((Ipv4Addr::LOCALHOST, b.device.listen_port()));
    assert_eq!(a.device.stats().peers[0].endpoint, Some(roamed));
    assert_eq!(rec_a.0.lock().len(), before, "removed observer was called");
}

#[test]
fn uapi_get_and_set() {
    let (a, b) = pair(opts(0x43), opts(0x44));
    assert!(ping(&b.host, &a.host, B_V4.into(), A_V4.into(), 0));
    let get = a.device.uapi_get();
    assert!(get.contains(&format!("public_key={}\n", b.key.public_key().to_hex())), "{get}");
    assert!(get.contains(&format!("listen_port={}\n", a.device.listen_port())), "{get}");
    assert!(get.ends_with("errno=0\n\n"));
    let rx_line = get.lines().find(|l| l.starts_with("rx_bytes=")).unwrap();
    assert_ne!(rx_line, "rx_bytes=0");

    let extra = key(0x55).public_key();
    a.device
        .uapi_set(&format!(
            "public_key={}\nallowed_ip=10.9.0.0/16\npersistent_keepalive_interval=30\n",
            extra.to_hex()
        ))
        .unwrap();
    let cfg = a.device.config();
    let p = cfg.peer(&extra).expect("peer added through UAPI");
    assert_eq!(p.persistent_keepalive, Some(30));
    assert_eq!(p.allowed_ips.len(), 1);
    // A bad line changes nothing.
    assert!(a
        .device
        .uapi_set(&format!("public_key={}\nremove=true\nbogus=1\n", extra.to_hex()))
        .is_err());
    assert!(a.device.config().peer(&extra).is_some());
    // The existing session survived both.
    assert!(ping(&a.host, &b.host, A_V4.into(), B_V4.into(), 1));
}

#[test]
fn failed_set_config_changes_nothing() {
    let (a, b) = pair(opts(0x45), opts(0x46));
    assert!(ping(&b.host, &a.host, B_V4.into(), A_V4.into(), 0));
    let before = a.device.config();
    let port = a.device.listen_port();

    let mut dup = before.clone();
    dup.peers.push(dup.peers[0].clone());
    assert!(matches!(a.device.set_config(&dup), Err(DeviceError::InvalidConfig(_))));

    let mut taken = before.clone();
    taken.listen_port = Some(b.device.listen_port());
    taken.peers.push(peer(key(0x66).public_key(), &[IpAddr::V4(Ipv4Addr::new(10, 1, 0, 1))], None));
    assert!(matches!(a.device.set_config(&taken), Err(DeviceError::Bind { .. })));

    // Core does not resolve names: a hostname endpoint is refused, naming itself.
    let mut host = before.clone();
    host.peers[0].endpoint =
        Some(ferrowg_core::config::Endpoint::Host { host: "vpn.example.test".into(), port: 9 });
    match a.device.set_config(&host) {
        Err(e @ DeviceError::UnresolvedEndpoint(_)) => {
            assert!(e.to_string().contains("`vpn.example.test:9`"), "{e}");
        }
        other => panic!("hostname endpoint accepted: {other:?}"),
    }

    assert_eq!(a.device.config(), before);
    assert_eq!(a.device.listen_port(), port);
    assert!(ping(&a.host, &b.host, A_V4.into(), B_V4.into(), 1));
}

#[test]
fn listen_port_change_and_rebind_keep_the_session() {
    let (a, b) = pair(opts(0x47), opts(0x48));
    assert!(ping(&b.host, &a.host, B_V4.into(), A_V4.into(), 0));
    // Move A to a new port: A's next packet roams B's endpoint for A.
    let old_port = a.device.listen_port();
    let free = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let new_port = free.local_addr().unwrap().port();
    drop(free);
    let mut cfg = a.device.config();
    cfg.listen_port = Some(new_port);
    a.device.set_config(&cfg).unwrap();
    assert_eq!(a.device.listen_port(), new_port);
    assert_ne!(old_port, new_port);
    assert!(ping(&a.host, &b.host, A_V4.into(), B_V4.into(), 1));
    assert_eq!(
        b.device.stats().peers[0].endpoint,
        Some(SocketAddr::from((Ipv4Addr::LOCALHOST, new_port)))
    );
    assert!(ping(&b.host, &a.host, B_V4.into(), A_V4.into(), 2));
    // Rebind keeps the configured port and the session.
    a.device.rebind().unwrap();
    assert_eq!(a.device.listen_port(), new_port);
    assert!(ping(&a.host, &b.host, A_V4.into(), B_V4.into(), 3));
    assert!(ping(&b.host, &a.host, B_V4.into(), A_V4.into(), 4));
    assert_eq!(a.device.stats().peers[0].handshakes, 1);
}

/// A clock the test moves by hand (wall time follows it).
struct ManualClock {
    base: std::time::Instant,
    wall: std::time::SystemTime,
    offset: Mutex<Duration>,
}

impl ferrowg_core::io::Clock for ManualClock {
    fn now(&self) -> std::time::Instant {
        self.base + *self.offset.lock()
    }
    fn wall(&self) -> std::time::SystemTime {
        self.wall + *self.offset.lock()
    }
}

#[test]
fn timers_run_on_the_injected_clock() {
    use ferrowg_core::config::DeviceConfig;
    use ferrowg_core::device::memory::memory_tun;
    use ferrowg_core::device::Device;
    use ferrowg_core::io::SystemClock;
    use ferrowg_platform::std_udp::StdUdpBind;

    let clock = Arc::new(ManualClock {
        base: now(),
        wall: std::time::SystemTime::now(),
        offset: Mutex::new(Duration::ZERO),
    });
    let bind = Arc::new(StdUdpBind::new(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let (ka, kb) = (key(0x71), key(0x72));
    let (tun_a, host_a) = memory_tun(MTU, 256);
    let mut cfg_a = DeviceConfig { private_key: Some(ka.clone()), ..Default::default() };
    cfg_a.peers.push(peer(kb.public_key(), &[B_V4.into()], None));
    let a = Device::start(cfg_a, tun_a, bind.clone(), clock.clone(), opts(0x73)).unwrap();
    let rec = Arc::new(Recorder::default());
    a.set_observer(Some(rec.clone()));
    let (tun_b, host_b) = memory_tun(MTU, 256);
    let a_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, a.listen_port()));
    let mut cfg_b = DeviceConfig { private_key: Some(kb), ..Default::default() };
    cfg_b.peers.push(peer(ka.public_key(), &[A_V4.into()], Some(a_addr)));
    let b = Device::start(cfg_b, tun_b, bind, Arc::new(SystemClock), opts(0x74)).unwrap();
    assert!(ping(&host_b, &host_a, B_V4.into(), A_V4.into(), 0));

    // Ten minutes of silence on A's clock: its keys are erased (ZERO_KEYS_AFTER = 540 s).
    *clock.offset.lock() = Duration::from_secs(600);
    let deadline = now() + Duration::from_secs(10);
    let expired =
        DeviceEvent::SessionExpired { peer: b.config().private_key.unwrap().public_key() };
    while !rec.0.lock().contains(&expired) && now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(rec.0.lock().contains(&expired), "{:?}", rec.0.lock());
}

#[test]
fn ipv6_underlay_carries_both_inner_families() {
    let (a, b) = pair_on(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), opts(0x49), opts(0x4a));
    assert!(ping(&b.host, &a.host, B_V6.into(), A_V6.into(), 0));
    assert!(ping(&a.host, &b.host, A_V4.into(), B_V4.into(), 1));
    let ep = a.device.stats().peers[0].endpoint.unwrap();
    assert_eq!(
        ep,
        SocketAddr::new(IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), b.device.listen_port())
    );
}

#[derive(Default)]
struct Placements(Mutex<Vec<(ferrowg_core::device::ThreadRole, Option<usize>)>>);

impl ferrowg_core::device::ThreadHook for Placements {
    fn on_thread_start(
        &self,
        role: ferrowg_core::device::ThreadRole,
        cpu: Option<ferrowg_core::sched::LogicalCpu>,
    ) {
        self.0.lock().push((role, cpu.map(|c| c.id)));
    }
}

#[test]
fn thread_hook_sees_every_thread_with_its_planned_cpu() {
    use ferrowg_core::device::{DeviceOptions, ThreadRole, WorkerMode};
    use ferrowg_core::sched::CpuTopology;
    let hook = Arc::new(Placements::default());
    let o = DeviceOptions {
        workers: WorkerMode::Fixed(2),
        topology: CpuTopology::uniform(4),
        thread_hook: Some(hook.clone()),
        ..opts(0x4b)
    };
    let (a, b) = pair(o, opts(0x4c));
    let deadline = now() + Duration::from_secs(10);
    while hook.0.lock().len() < 5 && now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut seen = hook.0.lock().clone();
    seen.sort_by_key(|(r, _)| format!("{r:?}"));
    let roles: Vec<_> = seen.iter().map(|(r, _)| *r).collect();
    assert_eq!(
        roles,
        [
            ThreadRole::Control,
            ThreadRole::Crypto(0),
            ThreadRole::Crypto(1),
            ThreadRole::Rx,
            ThreadRole::Tx
        ]
    );
    let cpu = |role| seen.iter().find(|(r, _)| *r == role).and_then(|(_, c)| *c);
    assert_eq!(cpu(ThreadRole::Control), None);
    let planned: Vec<_> =
        [ThreadRole::Tx, ThreadRole::Rx, ThreadRole::Crypto(0), ThreadRole::Crypto(1)]
            .into_iter()
            .map(|r| cpu(r).expect("a CPU for every data thread on 4 cores"))
            .collect();
    let mut distinct = planned.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "threads share CPUs: {planned:?}");
    assert!(ping(&b.host, &a.host, B_V4.into(), A_V4.into(), 0));
}

#[test]
fn device_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<ferrowg_core::device::Device>();
    check::<ferrowg_core::device::DeviceOptions>();
    check::<ferrowg_core::device::DeviceStats>();
}

#[test]
fn persistent_keepalive_set_live_is_sent() {
    let (a, b) = pair(opts(0x4d), opts(0x4e));
    assert!(ping(&b.host, &a.host, B_V4.into(), A_V4.into(), 0));
    let before = a.device.stats().peers[0].rx_packets;
    let mut cfg = b.device.config();
    cfg.peers[0].persistent_keepalive = Some(1);
    b.device.set_config(&cfg).unwrap();
    // Turning it on sends one at once, then one a second; A counts them (no data).
    let deadline = now() + Duration::from_secs(10);
    while a.device.stats().peers[0].rx_packets < before + 2 && now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(a.device.stats().peers[0].rx_packets >= before + 2);
    let mut got = Vec::new();
    a.host.recv(&mut got, 8, Duration::from_millis(10));
    assert!(got.is_empty(), "keepalives must not reach the NIC");
}

#[test]
fn private_key_change_keeps_peer_counters() {
    let (a, b) = pair(opts(0x51), opts(0x52));
    assert!(ping(&b.host, &a.host, B_V4.into(), A_V4.into(), 0));
    assert!(ping(&a.host, &b.host, A_V4.into(), B_V4.into(), 1));
    let before = a.device.stats().peers[0].clone();
    assert!(before.rx_bytes > 0 && before.tx_bytes > 0 && before.last_handshake.is_some());

    let new_key = key(0x53);
    let mut cfg = a.device.config();
    cfg.private_key = Some(new_key.clone());
    a.device.set_config(&cfg).unwrap();
    let after = a.device.stats().peers[0].clone();
    assert!(after.rx_bytes >= before.rx_bytes, "{after:?} vs {before:?}");
    assert!(after.tx_bytes >= before.tx_bytes, "{after:?} vs {before:?}");
    assert_eq!(after.last_handshake, before.last_handshake);
    assert!(after.rx_packets >= before.rx_packets && after.handshakes >= before.handshakes);
    assert!(a.device.uapi_get().contains(&format!("rx_bytes={}\n", after.rx_bytes)));

    // B learns A's new key: a new handshake works and the counters keep growing.
    let mut cfg_b = b.device.config();
    cfg_b.peers[0].public_key = new_key.public_key();
    b.device.set_config(&cfg_b).unwrap();
    assert!(ping(&b.host, &a.host, B_V4.into(), A_V4.into(), 2));
    let later = a.device.stats().peers[0].clone();
    assert!(later.rx_bytes > after.rx_bytes);
    assert_eq!(later.handshakes, before.handshakes + 1);
}

#[test]
fn uapi_set_on_a_busy_port_reports_eaddrinuse() {
    use ferrowg_core::config::uapi::UapiErrorKind;
    let (a, _b) = pair(opts(0x55), opts(0x56));
    let busy = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = busy.local_addr().unwrap().port();
    let err = a.device.uapi_set(&format!("listen_port={port}\n")).unwrap_err();
    assert!(
        matches!(&err.kind, UapiErrorKind::PortUnavailable { port: p, .. } if *p == port),
        "{err:?}"
    );
    assert_eq!((err.line, err.key.as_str()), (1, "listen_port"));
    assert_eq!(err.errno(), 98);
    assert_eq!(err.response(), "errno=-98\n\n");
    assert_ne!(a.device.listen_port(), port);
}

/// Security review, finding 4: the engine's RNG (ephemeral keys, indices, cookie
/// secrets) is seeded only by the host, from the OS CSPRNG. Without a seed the device
/// refuses to start instead of deriving one from std's `RandomState`.
#[test]
fn a_device_without_an_rng_seed_refuses_to_start() {
    use ferrowg_core::config::DeviceConfig;
    use ferrowg_core::device::memory::memory_tun;
    use ferrowg_core::device::{Device, DeviceOptions};
    use ferrowg_core::io::SystemClock;
    use ferrowg_platform::std_udp::StdUdpBind;

    let bind = Arc::new(StdUdpBind::new(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let (tun, _host) = memory_tun(MTU, 16);
    let cfg = DeviceConfig { private_key: Some(key(0x5d)), ..Default::default() };
    let opts = DeviceOptions { rng_seed: None, ..DeviceOptions::default() };
    match Device::start(cfg, tun, bind, Arc::new(SystemClock), opts) {
        Ok(_) => panic!("a device without an RNG seed started"),
        Err(err) => assert!(err.to_string().contains("seed"), "{err}"),
    }
}
