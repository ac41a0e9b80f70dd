//! The UAPI errno suite of `tests/netns/uapi-errors.sh` (wireguard-go's answers) run
//! against a real engine in host-packet mode, through whichever listener the OS has:
//! the Unix socket on Linux/macOS, the named pipe on Windows (run under wine in CI).
//! Same requests, same expected errnos, same "configuration unchanged" check.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use ferrowg_core::config::{AllowedIp, DeviceConfig, Endpoint, PeerConfig};
use ferrowg_core::device::memory::memory_tun;
use ferrowg_core::device::{Device, DeviceOptions};
use ferrowg_core::io::SystemClock;
use ferrowg_core::keys::PrivateKey;
use ferrowg_platform::std_udp::StdUdpBind;

use crate::uapi_server::UapiTarget;

/// NAME | EXPECTED ERRNO ("none": closed without an answer) | REQUEST LINES (";"
/// separated; the final empty line is added). `@B@`: the peer's public key in hex,
/// `@K@`: a fresh key. Kept identical to `CASES` in tests/netns/uapi-errors.sh.
pub const CASES: &str = "
private key not hex|-22|set=1;private_key=zz
private key too short|-22|set=1;private_key=0123456789abcdef
listen port out of range|-22|set=1;listen_port=70000
listen port not a number|-22|set=1;listen_port=abc
fwmark not a number|-22|set=1;fwmark=abc
unknown interface key|-22|set=1;bogus_key=1
line without =|-71|set=1;listen_port
replace_peers not a bool|-22|set=1;replace_peers=maybe
peer key before public_key|-22|set=1;allowed_ip=198.19.0.9/32
public key not hex|-22|set=1;public_key=xyz
endpoint unparsable|-22|set=1;public_key=@B@;endpoint=not-an-endpoint
endpoint without port|-22|set=1;public_key=@B@;endpoint=198.18.0.2
allowed ip bad address|-22|set=1;public_key=@B@;allowed_ip=198.19.0.300/32
allowed ip prefix too long|-22|set=1;public_key=@B@;allowed_ip=198.19.0.2/33
keepalive out of range|-22|set=1;public_key=@B@;persistent_keepalive_interval=70000
protocol version 2|-22|set=1;public_key=@B@;protocol_version=2
preshared key not hex|-22|set=1;public_key=@B@;preshared_key=xyz
remove not a bool|-22|set=1;public_key=@B@;remove=maybe
unknown peer key|-22|set=1;public_key=@B@;bogus_peer_key=1
unknown operation|none|bogus=1
partial: listen port then bad fwmark|-22|set=1;listen_port=51899;fwmark=abc
partial: replace_peers then bad allowed ip|-22|set=1;replace_peers=true;public_key=@B@;allowed_ip=bad
partial: new peer then bad endpoint|-22|set=1;public_key=@K@;allowed_ip=198.19.0.77/32;endpoint=nope
";

/// One client connection: its read and write halves.
pub type Conn = (Box<dyn Read>, Box<dyn Write>);

/// A running engine (memory NIC, UDP on 127.0.0.1) with one peer, as a UAPI target.
pub fn engine() -> (Arc<Device>, String, String) {
    let key = |b: u8| PrivateKey::from_bytes([b; 32]);
    let mut peer = PeerConfig::new(key(2).public_key());
    peer.allowed_ips = vec!["198.19.0.2/32".parse::<AllowedIp>().unwrap()];
    peer.endpoint = Some(Endpoint::from(std::net::SocketAddr::from((Ipv4Addr::LOCALHOST, 51999))));
    let cfg = DeviceConfig { private_key: Some(key(1)), peers: vec![peer], ..Default::default() };
    let (tun, _host) = memory_tun(1420, 64);
    let dev = Device::start(
        cfg,
        tun,
        Arc::new(StdUdpBind::new(IpAddr::V4(Ipv4Addr::LOCALHOST))),
        Arc::new(SystemClock),
        DeviceOptions { rng_seed: Some([7; 32]), ..Default::default() },
    )
    .unwrap();
    (Arc::new(dev), key(2).public_key().to_hex(), key(3).public_key().to_hex())
}

/// Sends `request`, reads the reply up to the empty line or EOF (as uapi.py does).
pub fn exchange(conn: &mut Conn, request: &str) -> String {
    conn.1.write_all(request.as_bytes()).unwrap();
    conn.1.flush().unwrap();
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    while !(reply.ends_with(b"\n\n") || reply == b"\n") {
        match conn.0.read(&mut byte) {
            Ok(0) | Err(_) => break,
            Ok(_) => reply.push(byte[0]),
        }
    }
    String::from_utf8(reply).unwrap()
}

/// Runs every case on its own connection; returns (name, expected, got, config
/// unchanged) per case, then checks a valid set/get round trip on one connection.
pub fn run_suite(connect: &dyn Fn() -> Conn, peer_hex: &str, new_hex: &str) -> usize {
    let snapshot = exchange(&mut connect(), "get=1\n\n");
    assert!(snapshot.ends_with("errno=0\n\n"), "{snapshot}");
    assert!(snapshot.contains(&format!("public_key={peer_hex}\n")), "{snapshot}");
    let mut checked = 0;
    for line in CASES.lines().filter(|l| !l.is_empty()) {
        let mut parts = line.splitn(3, '|');
        let (name, want, lines) =
            (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
        let request = format!(
            "{}\n\n",
            lines.replace(';', "\n").replace("@B@", peer_hex).replace("@K@", new_hex)
        );
        let reply = exchange(&mut connect(), &request);
        let got = reply
            .lines()
            .filter_map(|l| l.strip_prefix("errno="))
            .next_back()
            .map_or_else(|| "none".to_owned(), str::to_owned);
        assert_eq!(got, want, "{name}: reply {reply:?}");
        let now = exchange(&mut connect(), "get=1\n\n");
        assert_eq!(now, snapshot, "{name}: configuration changed");
        checked += 1;
    }
    // A valid set and get, several requests on one connection.
    let mut c = connect();
    let add = format!("set=1\npublic_key={new_hex}\nallowed_ip=198.19.0.77/32\n\n");
    assert_eq!(exchange(&mut c, &add), "errno=0\n\n");
    let got = exchange(&mut c, "get=1\n\n");
    assert!(got.contains(&format!("public_key={new_hex}\n")), "{got}");
    assert!(got.contains("allowed_ip=198.19.0.77/32\n"), "{got}");
    let remove = format!("set=1\npublic_key={new_hex}\nremove=true\n\n");
    assert_eq!(exchange(&mut c, &remove), "errno=0\n\n");
    assert_eq!(exchange(&mut c, "get=1\n\n"), snapshot);
    checked
}

/// The target as the listeners take it.
pub fn target(dev: &Arc<Device>) -> Arc<dyn UapiTarget> {
    dev.clone()
}

#[cfg(unix)]
#[test]
fn unix_socket_answers_like_wireguard_go() {
    use std::os::unix::net::UnixStream;
    let (dev, peer, new) = engine();
    let dir = std::env::temp_dir().join(format!("ferrowg-parity-{}", std::process::id()));
    let sock =
        crate::uapi_server::UapiSocket::bind(&dir, "wgpar0", target(&dev), Arc::new(|_: &str| {}))
            .unwrap();
    let path = sock.path().to_owned();
    let connect = || -> Conn {
        let s = UnixStream::connect(&path).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        (Box::new(s.try_clone().unwrap()), Box::new(s))
    };
    assert_eq!(run_suite(&connect, &peer, &new), 23);
    drop(sock);
    let _ = std::fs::remove_dir(&dir);
}

#[cfg(windows)]
#[test]
fn named_pipe_answers_like_wireguard_go() {
    use ferrowg_platform::pipe::{owner_is_system, UAPI_SDDL};
    let (dev, peer, new) = engine();
    let name = format!("ferrowg-parity-{}", std::process::id());
    let path = ferrowg_platform::pipe::uapi_pipe_path(&name);
    let pipe = crate::uapi_pipe::UapiPipe::bind_path(
        &path,
        UAPI_SDDL,
        target(&dev),
        Arc::new(|_: &str| {}),
    )
    .unwrap();
    // A second server on the same name is refused while the first is alive.
    let again = crate::uapi_pipe::UapiPipe::bind(&name, target(&dev), Arc::new(|_: &str| {}));
    assert_eq!(again.err().map(|e| e.kind()), Some(std::io::ErrorKind::AddrInUse));
    // Between an accept and the next instance, Windows answers ERROR_PIPE_BUSY (which
    // `connect` waits out) but wine answers "not found": retry that too, bounded.
    let open = || {
        let mut tries = 0;
        loop {
            match crate::uapi_pipe::connect(&path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < 200 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => break other.unwrap(),
            }
        }
    };
    let connect = || -> Conn {
        let f = open();
        (Box::new(f.try_clone().unwrap()), Box::new(f))
    };
    // The owner check wg.exe makes: the descriptor's owner is SYSTEM.
    let probe = open();
    assert!(owner_is_system(&probe).unwrap());
    drop(probe);
    assert_eq!(run_suite(&connect, &peer, &new), 23);
    drop(pipe);
    // Gone after drop: nobody serves the name any more.
    assert!(crate::uapi_pipe::connect(&path).is_err());
}
