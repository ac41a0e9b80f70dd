//! The UAPI server: `wg` and friends talk to a running device over a unix stream socket
//! at `/var/run/wireguard/IFNAME.sock` (Windows: the named pipe of [`crate::uapi_pipe`]),
//! exactly as they talk to wireguard-go.
//!
//! [`handle_request`] maps one request's text to the response text (no sockets: it is
//! unit-tested directly, and since it needs only core it can move to a library the FFI
//! links); [`serve_stream`] runs the protocol over any `Read + Write` stream, several
//! requests per connection; the listeners (this file's [`UapiSocket`] on Unix, the named
//! pipe on Windows) only accept connections and run it, one thread per connection.

#[cfg(unix)]
use std::fs;
#[cfg(unix)]
use std::io::ErrorKind;
use std::io::{BufReader, Read, Write};
#[cfg(unix)]
use std::os::unix::fs::PermissionsExt;
#[cfg(unix)]
use std::os::unix::net::{UnixListener, UnixStream};
#[cfg(unix)]
use std::path::{Path, PathBuf};
#[cfg(unix)]
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(unix)]
use std::sync::Arc;
#[cfg(unix)]
use std::thread::{self, JoinHandle};
#[cfg(unix)]
use std::time::Duration;

use ferrowg_core::config::uapi::{status_line, UapiError, EINVAL};
use ferrowg_core::device::Device;

/// Where wireguard-go and `wg` keep the sockets.
#[cfg(unix)]
pub const SOCKET_DIR: &str = "/var/run/wireguard";
/// Largest request accepted (a `wg setconf` with 100,000 allowed IPs is about 3 MB).
const MAX_REQUEST: usize = 64 << 20;
/// How often the accept loop checks whether it should stop.
#[cfg(unix)]
const ACCEPT_POLL: Duration = Duration::from_millis(50);

/// The device operations the UAPI needs (implemented by [`Device`]; tests use a fake).
pub trait UapiTarget: Send + Sync {
    /// The whole `get=1` response, ending with `errno=0` and an empty line.
    fn uapi_get(&self) -> String;
    /// Applies a `set=1` body (the lines after `set=1`), all or nothing.
    fn uapi_set(&self, body: &str) -> Result<(), UapiError>;
}

impl UapiTarget for Device {
    fn uapi_get(&self) -> String {
        Device::uapi_get(self)
    }
    fn uapi_set(&self, body: &str) -> Result<(), UapiError> {
        Device::uapi_set(self, body)
    }
}

/// What to do after one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The text to write back; `None` closes the connection without an answer (what
    /// wireguard-go does with an unknown operation).
    pub reply: Option<String>,
    /// A line for the log when the request failed.
    pub error: Option<String>,
}

/// Answers one framed request (`get=1\n\n` or `set=1\n...\n\n`, as
/// [`ferrowg_core::config::uapi::read_request`] returns it).
pub fn handle_request(device: &dyn UapiTarget, request: &str) -> Response {
    let (first, rest) = request.split_once('\n').unwrap_or((request, ""));
    match first.trim_end_matches('\r') {
        "get=1" => {
            if rest.trim_end_matches(['\r', '\n']).is_empty() {
                Response { reply: Some(device.uapi_get()), error: None }
            } else {
                // wireguard-go: "trailing character in UAPI get" is EINVAL.
                let error = "get=1 must be followed by an empty line".to_owned();
                Response { reply: Some(status_line(EINVAL)), error: Some(error) }
            }
        }
        "set=1" => match device.uapi_set(rest) {
            Ok(()) => Response { reply: Some(status_line(0)), error: None },
            Err(e) => Response { reply: Some(e.response()), error: Some(format!("set: {e}")) },
        },
        other => Response {
            reply: None,
            error: Some(format!("invalid UAPI operation {:?}", clip(other))),
        },
    }
}

fn clip(s: &str) -> &str {
    let end = s.char_indices().nth(40).map_or(s.len(), |(i, _)| i);
    &s[..end]
}

/// Serves one connection until the client closes it (or the socket is shut down) or an
/// unknown operation arrives.
#[cfg(unix)]
pub fn serve_connection(device: &dyn UapiTarget, stream: UnixStream, log: &dyn Fn(&str)) {
    let Ok(read_half) = stream.try_clone() else { return };
    serve_stream(device, read_half, &stream, log);
    // The accept loop holds a clone of the stream: closing ours is not enough.
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Runs the UAPI protocol on one connection (`reader` and `writer` are its two halves)
/// until the client closes it, a read fails, or an unknown operation arrives.
pub fn serve_stream(
    device: &dyn UapiTarget,
    reader: impl Read,
    mut writer: impl Write,
    log: &dyn Fn(&str),
) {
    let mut reader = BufReader::new(reader);
    loop {
        let request = match ferrowg_core::config::uapi::read_request(&mut reader, MAX_REQUEST) {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                log(&format!("UAPI read: {e}"));
                break;
            }
        };
        let resp = handle_request(device, &request);
        if let Some(e) = &resp.error {
            log(&format!("UAPI {e}"));
        }
        let Some(reply) = resp.reply else { break };
        if writer.write_all(reply.as_bytes()).and_then(|()| writer.flush()).is_err() {
            break;
        }
    }
}

/// A listening UAPI socket served by a background thread; the socket file is removed
/// when it is dropped.
#[cfg(unix)]
pub struct UapiSocket {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

#[cfg(unix)]
impl UapiSocket {
    /// Binds `dir/IFNAME.sock` (creating `dir` with mode 0755 if needed; the socket gets
    /// mode 0600), refusing if another process is serving it, and starts serving.
    pub fn bind(
        dir: &Path,
        ifname: &str,
        device: Arc<dyn UapiTarget>,
        log: Arc<dyn Fn(&str) + Send + Sync>,
    ) -> std::io::Result<UapiSocket> {
        ensure_socket_dir(dir)?;
        let path = dir.join(format!("{ifname}.sock"));
        if UnixStream::connect(&path).is_ok() {
            return Err(std::io::Error::new(
                ErrorKind::AddrInUse,
                format!("{} is in use by another process", path.display()),
            ));
        }
        let listener = bind_listener(&path)?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            thread::Builder::new()
                .name("uapi".into())
                .spawn(move || accept_loop(&listener, device, &stop, log))?
        };
        Ok(UapiSocket { path, stop, thread: Some(thread) })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Creates the listening socket file at `path` (replacing a stale one), mode 0600.
#[cfg(unix)]
fn bind_listener(path: &Path) -> std::io::Result<UnixListener> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let (listener, _) = bind_private(path)?;
    Ok(listener)
}

#[cfg(unix)]
impl Drop for UapiSocket {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = fs::remove_file(&self.path);
    }
}

/// Creates the socket directory with mode 0755 if it is missing (as wireguard-go does);
/// an existing directory keeps its permissions (never loosened).
#[cfg(unix)]
pub fn ensure_socket_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir)?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
}

/// Binds a unix socket at `path` that only the owner can connect to, and returns it with
/// the mode the socket file had right after `bind` (before anything else could change
/// it): there must be no moment when others may connect.
#[cfg(unix)]
pub fn bind_private(path: &Path) -> std::io::Result<(UnixListener, u32)> {
    use nix::sys::stat::{umask, Mode};
    // The umask is process-wide: 077 only around the bind, then the caller's again.
    let old = umask(Mode::from_bits_truncate(0o077));
    let bound = UnixListener::bind(path);
    umask(old);
    let listener = bound?;
    let mode_at_bind = fs::metadata(path)?.permissions().mode() & 0o777;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    Ok((listener, mode_at_bind))
}

#[cfg(unix)]
fn accept_loop(
    listener: &UnixListener,
    device: Arc<dyn UapiTarget>,
    stop: &Arc<AtomicBool>,
    log: Arc<dyn Fn(&str) + Send + Sync>,
) {
    let mut conns: Vec<(JoinHandle<()>, UnixStream)> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                let Ok(handle) = stream.try_clone() else { continue };
                if stream.set_nonblocking(false).is_err() {
                    continue;
                }
                let (device, log2) = (device.clone(), log.clone());
                let spawned = thread::Builder::new().name("uapi-conn".into()).spawn(move || {
                    serve_connection(&*device, stream, &*log2);
                });
                match spawned {
                    Ok(h) => conns.push((h, handle)),
                    Err(e) => log(&format!("UAPI: cannot spawn a connection thread: {e}")),
                }
                conns.retain(|(h, _)| !h.is_finished());
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(ACCEPT_POLL),
            Err(e) => {
                log(&format!("UAPI accept: {e}"));
                thread::sleep(ACCEPT_POLL);
            }
        }
    }
    // Unblocks the connection threads' reads so they end.
    for (_, stream) in &conns {
        let _ = stream.shutdown(std::net::Shutdown::Both);
    }
    for (h, _) in conns {
        let _ = h.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(unix)]
    use std::io::{BufRead, Read};
    use std::sync::Mutex;

    use ferrowg_core::config::uapi::{apply, format_get, parse_set};
    use ferrowg_core::config::{DeviceConfig, PeerStats};

    /// A device that is only a config, with the real parse/apply/format of `core::config`.
    #[derive(Default)]
    struct Fake {
        config: Mutex<DeviceConfig>,
    }

    impl UapiTarget for Fake {
        fn uapi_get(&self) -> String {
            format_get(&self.config.lock().unwrap(), |_| PeerStats::default())
        }
        fn uapi_set(&self, body: &str) -> Result<(), UapiError> {
            let ops = parse_set(body)?;
            let mut cfg = self.config.lock().unwrap();
            *cfg = apply(&ops, &cfg)?;
            Ok(())
        }
    }

    const PEER: &str = "6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283";

    #[test]
    fn set_then_get_round_trips() {
        let dev = Fake::default();
        let set =
            format!("set=1\nlisten_port=51820\npublic_key={PEER}\nallowed_ip=198.19.0.2/32\n\n");
        let r = handle_request(&dev, &set);
        assert_eq!(r, Response { reply: Some("errno=0\n\n".into()), error: None });
        let get = handle_request(&dev, "get=1\n\n").reply.unwrap();
        assert!(get.starts_with("listen_port=51820\n"), "{get}");
        assert!(get.contains(&format!("public_key={PEER}\n")), "{get}");
        assert!(get.contains("allowed_ip=198.19.0.2/32\n"), "{get}");
        assert!(get.ends_with("errno=0\n\n"));
    }

    #[test]
    fn bad_value_is_einval_and_changes_nothing() {
        let dev = Fake::default();
        handle_request(&dev, "set=1\nlisten_port=1000\n\n");
        let r = handle_request(
            &dev,
            &format!("set=1\nlisten_port=2000\npublic_key={PEER}\nallowed_ip=1.2.3.4/33\n\n"),
        );
        assert_eq!(r.reply.as_deref(), Some("errno=-22\n\n"));
        assert!(r.error.unwrap().contains("allowed_ip"));
        assert_eq!(dev.config.lock().unwrap().listen_port, Some(1000));
    }

    #[test]
    fn line_without_equals_is_eproto() {
        let dev = Fake::default();
        let r = handle_request(&dev, "set=1\nlisten_port\n\n");
        assert_eq!(r.reply.as_deref(), Some("errno=-71\n\n"));
    }

    #[test]
    fn unknown_operation_closes_without_reply() {
        let dev = Fake::default();
        let r = handle_request(&dev, "delete=1\n\n");
        assert_eq!(r.reply, None);
        assert!(r.error.unwrap().contains("delete=1"));
    }

    #[test]
    fn get_with_trailing_lines_is_refused() {
        let dev = Fake::default();
        let r = handle_request(&dev, "get=1\nlisten_port=1\n\n");
        assert_eq!(r.reply.as_deref(), Some("errno=-22\n\n"));
    }

    /// The socket is private from the moment it exists, whatever umask the process
    /// inherited (security finding 2 of issue 11).
    #[cfg(unix)]
    #[test]
    fn socket_is_private_at_bind_under_umask_000() {
        use nix::sys::stat::{umask, Mode};
        let dir = std::env::temp_dir().join(format!("ferrowg-umask-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("wgumask0.sock");
        let _ = fs::remove_file(&path);
        let old = umask(Mode::empty());
        let bound = bind_private(&path);
        let after = umask(old);
        let (_listener, mode_at_bind) = bound.unwrap();
        assert_eq!(mode_at_bind & 0o077, 0, "socket mode right after bind: {mode_at_bind:o}");
        assert_eq!(after, Mode::empty(), "the caller's umask is restored");
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let _ = fs::remove_file(&path);
        let _ = fs::remove_dir(&dir);
    }

    /// A missing socket directory is created 0755; an existing stricter one is kept.
    #[cfg(unix)]
    #[test]
    fn socket_dir_created_0755_and_never_loosened() {
        let base = std::env::temp_dir().join(format!("ferrowg-dir-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&base);
        let fresh = base.join("a/wireguard");
        ensure_socket_dir(&fresh).unwrap();
        assert_eq!(fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o755);
        let strict = base.join("strict");
        fs::create_dir_all(&strict).unwrap();
        fs::set_permissions(&strict, fs::Permissions::from_mode(0o700)).unwrap();
        let dev: Arc<dyn UapiTarget> = Arc::new(Fake::default());
        let sock = UapiSocket::bind(&strict, "wgdir0", dev, Arc::new(|_: &str| {})).unwrap();
        assert_eq!(fs::metadata(&strict).unwrap().permissions().mode() & 0o777, 0o700);
        drop(sock);
        let _ = fs::remove_dir_all(&base);
    }

    /// Several requests on one connection, then an unknown one closes it; the socket file
    /// is removed on drop.
    #[cfg(unix)]
    #[test]
    fn socket_serves_several_requests_per_connection() {
        let dir = std::env::temp_dir().join(format!("ferrowg-uapi-test-{}", std::process::id()));
        let dev: Arc<dyn UapiTarget> = Arc::new(Fake::default());
        let sock = UapiSocket::bind(&dir, "wgtest0", dev, Arc::new(|_: &str| {})).unwrap();
        let path = sock.path().to_owned();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A second server on the same name is refused while the first is alive.
        let again =
            UapiSocket::bind(&dir, "wgtest0", Arc::new(Fake::default()), Arc::new(|_: &str| {}));
        assert_eq!(again.err().map(|e| e.kind()), Some(ErrorKind::AddrInUse));

        let mut conn = UnixStream::connect(&path).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        conn.write_all(b"set=1\nlisten_port=4242\n\n").unwrap();
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, "errno=0\n");
        reader.read_line(&mut line).unwrap();
        conn.write_all(b"get=1\n\n").unwrap();
        let mut got = String::new();
        loop {
            let mut l = String::new();
            assert!(reader.read_line(&mut l).unwrap() > 0);
            if l == "\n" {
                break;
            }
            got.push_str(&l);
        }
        assert_eq!(got, "listen_port=4242\nerrno=0\n");
        conn.write_all(b"bogus=1\n\n").unwrap();
        let mut rest = Vec::new();
        assert_eq!(reader.read_to_end(&mut rest).unwrap(), 0);

        drop(sock);
        assert!(!path.exists());
        let _ = fs::remove_dir(&dir);
    }
}
