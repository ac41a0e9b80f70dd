//! The C ABI. Every export runs inside a panic boundary and returns an `int32_t` code
//! (`FERROWG_OK` or a negative `FERROWG_ERR_*`); on failure the thread-local last error
//! holds a message. Tunnels are numbered handles in a registry, so a stale or made-up
//! handle is refused instead of dereferenced.
#![allow(unsafe_code)]

mod boundary;
mod callbacks;
mod network;
mod options;

use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::catch_unwind;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use boundary::*;
use callbacks::{CLogSink, CObserver, CPacketSink, CProtector, Ctx};
pub use network::*;
pub use options::*;

use crate::callback::in_callback;
use crate::error::*;
use crate::host::RawPacketSink;
use crate::logging::{LogLevel, LogSink};
use crate::tunnel::{NicMode, RawObserver};

/// A tunnel handle. 0 is never a valid handle; handles are never reused.
pub type FerrowgTunnel = u64;

// The callback types are "C-unwind": an exception escaping an app's callback is then
// defined behaviour (it reaches the library's catch_unwind, and Rust aborts the process
// because it cannot catch a foreign exception), where with "C" it would be undefined
// behaviour. Callbacks must still never throw: see each type's doc.

/// Receives a log line. `message` is valid only during the call. Must not throw or
/// `longjmp`: a C++ exception escaping a callback aborts the process.
pub type FerrowgLogFn =
    Option<unsafe extern "C-unwind" fn(ctx: *mut c_void, level: i32, message: *const c_char)>;

/// Receives a tunnel event. `event` and its strings are valid only during the call.
/// Must not throw or `longjmp`: a C++ exception escaping a callback aborts the process.
pub type FerrowgEventFn =
    Option<unsafe extern "C-unwind" fn(ctx: *mut c_void, event: *const FerrowgEvent)>;

/// Receives a batch of `count` incoming IP packets (`packets[i]` of `lengths[i]` bytes),
/// valid only during the call. Must not throw or `longjmp`: a C++ exception escaping a
/// callback aborts the process.
pub type FerrowgPacketFn = Option<
    unsafe extern "C-unwind" fn(
        ctx: *mut c_void,
        packets: *const *const u8,
        lengths: *const usize,
        count: usize,
    ),
>;

/// Protects one UDP socket before the tunnel uses it (Android `VpnService.protect`);
/// returns false to refuse it. Must not throw or `longjmp`: a C++ exception escaping a
/// callback aborts the process.
pub type FerrowgProtectFn =
    Option<unsafe extern "C-unwind" fn(ctx: *mut c_void, socket: i64) -> bool>;

/// Event kind: a handshake with `peer` completed.
pub const FERROWG_EVENT_HANDSHAKE_COMPLETE: i32 = 1;
/// Event kind: the session with `peer` expired.
pub const FERROWG_EVENT_SESSION_EXPIRED: i32 = 2;
/// Event kind: `peer` roamed to `endpoint`.
pub const FERROWG_EVENT_ENDPOINT_CHANGED: i32 = 3;
/// Event kind: handshake retries with `peer` were exhausted.
pub const FERROWG_EVENT_PEER_UNREACHABLE: i32 = 4;
/// Event kind: an I/O error, described by `message`.
pub const FERROWG_EVENT_ERROR: i32 = 5;

/// A tunnel event. Fields that do not apply to the kind are NULL.
#[repr(C)]
pub struct FerrowgEvent {
    /// One of the `FERROWG_EVENT_*` kinds.
    pub kind: i32,
    /// The peer's public key, base64.
    pub peer: *const c_char,
    /// The new endpoint (`FERROWG_EVENT_ENDPOINT_CHANGED`).
    pub endpoint: *const c_char,
    /// What failed (`FERROWG_EVENT_ERROR`).
    pub message: *const c_char,
}

/// One peer's counters.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FerrowgPeerStats {
    /// The peer's public key (raw 32 bytes).
    pub public_key: [u8; 32],
    /// Last completed handshake in milliseconds since the Unix epoch; -1 if none.
    pub last_handshake_unix_ms: i64,
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

// ---------------------------------------------------------------------------------
// Library-wide calls.

/// The library version, e.g. "0.1.0". A static string: do not free it.
#[no_mangle]
pub extern "C" fn ferrowg_version() -> *const c_char {
    static VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}

/// The code of the last failed call on this thread (`FERROWG_OK` if the last call
/// succeeded).
#[no_mangle]
pub extern "C" fn ferrowg_last_error_code() -> i32 {
    LAST_ERROR.with(|l| l.borrow().as_ref().map_or(FERROWG_OK, |(c, _)| *c))
}

/// The message of the last failed call on this thread ("" if it succeeded). Owned by
/// the library: valid until the next ferrowg call on this thread; do not free it.
#[no_mangle]
pub extern "C" fn ferrowg_last_error_message() -> *const c_char {
    LAST_ERROR.with(|l| l.borrow().as_ref().map_or(c"".as_ptr(), |(_, m)| m.as_ptr()))
}

/// Frees a string returned by the library. NULL, an already freed string and a pointer
/// the library did not return are ignored.
///
/// # Safety
/// `s` is NULL or any pointer value; it is only dereferenced if the library issued it
/// and has not freed it yet.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_string_free(s: *mut c_char) {
    let _ = catch_unwind(|| {
        if s.is_null() || !issued_strings().lock().remove(&(s as usize)) {
            return;
        }
        // SAFETY: the pointer came from `CString::into_raw` in `issue_string` and was
        // still in the issued set, so it is live and freed exactly once.
        drop(unsafe { CString::from_raw(s) });
    });
}

/// Installs (or with a NULL `callback`, removes) the process-wide log sink, receiving
/// lines up to `max_level` (1 error ... 5 trace). After this returns, the previous sink
/// is never called again. `ctx` is passed back to every call, from any thread.
///
/// # Safety
/// `callback` must be callable from any thread with `ctx` until it is replaced.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_set_logger(
    callback: FerrowgLogFn,
    ctx: *mut c_void,
    max_level: i32,
) -> i32 {
    boundary(|| {
        let sink = callback.map(|f| Arc::new(CLogSink { f, ctx: Ctx(ctx) }) as Arc<dyn LogSink>);
        crate::logging::set_log_sink(sink, LogLevel::from_c(max_level))?;
        Ok(())
    })
}

/// The base64 public key of the base64 `private_key` in `*out`; free it with
/// `ferrowg_string_free`.
///
/// # Safety
/// `private_key` is a NUL-terminated string; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_public_key(
    private_key: *const c_char,
    out: *mut *mut c_char,
) -> i32 {
    boundary(|| {
        let out = non_null(out)?;
        // SAFETY: forwarded caller contract.
        let key = unsafe { c_str(private_key) }?;
        let public = crate::public_key_from_private(key.to_owned())?;
        // SAFETY: non-NULL and writable per the caller contract.
        unsafe { *out = issue_string(&public) };
        Ok(())
    })
}

/// The utun descriptor NetworkExtension opened for this process, in `*out` (macOS;
/// `FERROWG_ERR_UNSUPPORTED` elsewhere). Pass it to `ferrowg_tunnel_start_fd`.
///
/// # Safety
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_find_utun_fd(out: *mut i32) -> i32 {
    boundary(|| {
        let out = non_null(out)?;
        let fd = crate::nic::find_utun_fd()?;
        // SAFETY: non-NULL and writable per the caller contract.
        unsafe { *out = fd };
        Ok(())
    })
}

// ---------------------------------------------------------------------------------
// Starting and stopping.

/// Starts a tunnel in host packet I/O mode from wg-quick or UAPI `config` text. The UDP
/// socket listens on `bind_address` (e.g. "127.0.0.1"), or on all interfaces if NULL.
/// On success `*out` is the new handle.
///
/// # Safety
/// `config` and a non-NULL `bind_address` are NUL-terminated strings; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_tunnel_start_host(
    config: *const c_char,
    bind_address: *const c_char,
    out: *mut FerrowgTunnel,
) -> i32 {
    // SAFETY: forwarded caller contract.
    boundary(|| unsafe { start(config, bind_address, out, NicMode::HostPackets, None) })
}

/// Starts a tunnel on a new OS adapter `name` (Linux tun, macOS utun/utunN, Windows
/// wintun). Needs the OS privileges for that.
///
/// # Safety
/// `config` and `name` are NUL-terminated strings; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_tunnel_start_adapter(
    config: *const c_char,
    name: *const c_char,
    out: *mut FerrowgTunnel,
) -> i32 {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let name = unsafe { c_str(name) }?.to_owned();
        // SAFETY: forwarded caller contract.
        unsafe { start(config, std::ptr::null(), out, NicMode::CreateAdapter { name }, None) }
    })
}

/// Starts a tunnel on an open TUN descriptor (NetworkExtension utun, Android
/// VpnService). The descriptor is duplicated; the caller still owns `fd`.
///
/// # Safety
/// `config` is a NUL-terminated string; `out` is writable; `fd` is open during the call.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_tunnel_start_fd(
    config: *const c_char,
    fd: i32,
    out: *mut FerrowgTunnel,
) -> i32 {
    // SAFETY: forwarded caller contract.
    boundary(|| unsafe { start(config, std::ptr::null(), out, NicMode::AdoptFd { fd }, None) })
}

/// Like `ferrowg_tunnel_start_fd`, with `protect` called for every UDP socket the
/// tunnel opens, before it is used (at start and after each network change), for the
/// lifetime of the tunnel.
///
/// # Safety
/// As `ferrowg_tunnel_start_fd`; `protect` must be callable from any thread with `ctx`
/// until the tunnel is freed.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_tunnel_start_fd_protected(
    config: *const c_char,
    fd: i32,
    protect: FerrowgProtectFn,
    ctx: *mut c_void,
    out: *mut FerrowgTunnel,
) -> i32 {
    boundary(|| {
        let Some(f) = protect else {
            return Err(CError::new(FERROWG_ERR_NULL_ARGUMENT, "protect callback is NULL"));
        };
        let protector = Arc::new(CProtector { f, ctx: Ctx(ctx) });
        // SAFETY: forwarded caller contract.
        unsafe { start(config, std::ptr::null(), out, NicMode::AdoptFd { fd }, Some(protector)) }
    })
}

/// Stops the tunnel and waits for its threads; the handle stays valid (calls on it
/// return `FERROWG_ERR_STOPPED`) until freed. Stopping twice returns `FERROWG_OK`.
/// Returns `FERROWG_ERR_REENTRANT` from inside a callback.
#[no_mangle]
pub extern "C" fn ferrowg_tunnel_stop(tunnel: FerrowgTunnel) -> i32 {
    boundary(|| Ok(lookup(tunnel)?.stop()?))
}

/// Stops the tunnel if needed and releases the handle. Afterwards every call with it
/// returns `FERROWG_ERR_INVALID_HANDLE` (so does a second free).
#[no_mangle]
pub extern "C" fn ferrowg_tunnel_free(tunnel: FerrowgTunnel) -> i32 {
    boundary(|| {
        if in_callback() {
            return Err(TunnelError::Reentrant.into());
        }
        let t = registry().lock().remove(&tunnel).ok_or_else(invalid_handle)?;
        t.stop()?;
        Ok(())
    })
}

// ---------------------------------------------------------------------------------
// Configuration and status.

/// Changes the configuration (wg-quick or UAPI text). `replace` non-zero: the text is
/// the whole new configuration; zero: applied on top of the running one.
///
/// # Safety
/// `config` is a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_tunnel_set_config(
    tunnel: FerrowgTunnel,
    config: *const c_char,
    replace: bool,
) -> i32 {
    boundary(|| {
        let t = lookup(tunnel)?;
        // SAFETY: forwarded caller contract.
        let text = unsafe { c_str(config) }?;
        Ok(t.set_config(text.to_owned(), replace)?)
    })
}

/// The running configuration and counters as UAPI `get=1` text in `*out`; free it with
/// `ferrowg_string_free`.
///
/// # Safety
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_tunnel_get_config(
    tunnel: FerrowgTunnel,
    out: *mut *mut c_char,
) -> i32 {
    boundary(|| {
        let out = non_null(out)?;
        let text = lookup(tunnel)?.uapi_get()?;
        // SAFETY: `out` is non-NULL and writable per the caller contract.
        unsafe { *out = issue_string(&text) };
        Ok(())
    })
}

/// Per-peer counters: fills up to `capacity` entries of `out` (may be NULL when
/// `capacity` is 0) and sets `*out_count` to the number of peers. Returns
/// `FERROWG_ERR_BUFFER_TOO_SMALL` if there are more peers than `capacity`.
///
/// # Safety
/// `out` has room for `capacity` entries; `out_count` is writable.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_tunnel_peer_stats(
    tunnel: FerrowgTunnel,
    out: *mut FerrowgPeerStats,
    capacity: usize,
    out_count: *mut usize,
) -> i32 {
    boundary(|| {
        let out_count = non_null(out_count)?;
        let stats = lookup(tunnel)?.device_stats()?;
        // SAFETY: `out_count` is non-NULL and writable per the caller contract.
        unsafe { *out_count = stats.peers.len() };
        if capacity > 0 {
            let out = non_null(out)?;
            for (i, p) in stats.peers.iter().take(capacity).enumerate() {
                let entry = FerrowgPeerStats {
                    public_key: *p.public_key.as_bytes(),
                    last_handshake_unix_ms: p
                        .last_handshake
                        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                        .map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
                    rx_bytes: p.rx_bytes,
                    tx_bytes: p.tx_bytes,
                    rx_packets: p.rx_packets,
                    tx_packets: p.tx_packets,
                    handshakes: p.handshakes,
                    dropped_packets: p.drops.total(),
                };
                // SAFETY: `i < capacity` and `out` has room for `capacity` entries.
                unsafe { out.add(i).write(entry) };
            }
        }
        if stats.peers.len() > capacity {
            return Err(CError::new(FERROWG_ERR_BUFFER_TOO_SMALL, "more peers than capacity"));
        }
        Ok(())
    })
}

/// The UDP port in use.
///
/// # Safety
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_tunnel_listen_port(tunnel: FerrowgTunnel, out: *mut u16) -> i32 {
    boundary(|| {
        let out = non_null(out)?;
        let port = lookup(tunnel)?.listen_port()?;
        // SAFETY: non-NULL and writable per the caller contract.
        unsafe { *out = port };
        Ok(())
    })
}

/// Binds the UDP sockets, now and after every network change, to the interface with
/// OS index `index` (0: unbinds), so a full tunnel's own packets cannot loop into it
/// (Windows `IP_UNICAST_IF`, macOS `IP_BOUND_IF`, Linux `SO_BINDTOIFINDEX`). Call it
/// again when the default route moves to another interface.
#[no_mangle]
pub extern "C" fn ferrowg_tunnel_set_bound_interface(tunnel: FerrowgTunnel, index: u32) -> i32 {
    boundary(|| Ok(lookup(tunnel)?.set_bound_interface(index)?))
}

/// The network changed: reopens the UDP sockets (their handles change).
#[no_mangle]
pub extern "C" fn ferrowg_tunnel_network_changed(tunnel: FerrowgTunnel) -> i32 {
    boundary(|| Ok(lookup(tunnel)?.network_changed()?))
}

/// The device is about to sleep: closes the UDP sockets (the port is kept) and stops
/// every timer until `ferrowg_tunnel_resume`, so nothing stale fires and nothing goes out.
#[no_mangle]
pub extern "C" fn ferrowg_tunnel_suspend(tunnel: FerrowgTunnel) -> i32 {
    boundary(|| Ok(lookup(tunnel)?.suspend()?))
}

/// The device woke from sleep: ends a `ferrowg_tunnel_suspend`, reopens the UDP sockets, drops sessions older than
/// REJECT_AFTER_TIME by the wall clock and handshakes at once where packets wait.
#[no_mangle]
pub extern "C" fn ferrowg_tunnel_resume(tunnel: FerrowgTunnel) -> i32 {
    boundary(|| Ok(lookup(tunnel)?.resume()?))
}

/// OS handles of the UDP sockets (fds on Unix, `SOCKET`s on Windows) for Android
/// `protect`: fills up to `capacity` of `out`, sets `*out_count` to how many exist.
///
/// # Safety
/// `out` has room for `capacity` entries; `out_count` is writable.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_tunnel_socket_handles(
    tunnel: FerrowgTunnel,
    out: *mut i64,
    capacity: usize,
    out_count: *mut usize,
) -> i32 {
    boundary(|| {
        let out_count = non_null(out_count)?;
        let handles = lookup(tunnel)?.socket_handles()?;
        // SAFETY: non-NULL and writable per the caller contract.
        unsafe { *out_count = handles.len() };
        if capacity > 0 {
            let out = non_null(out)?;
            for (i, h) in handles.iter().take(capacity).enumerate() {
                // SAFETY: `i < capacity` and `out` has room for `capacity` entries.
                unsafe { out.add(i).write(*h) };
            }
        }
        if handles.len() > capacity {
            return Err(CError::new(FERROWG_ERR_BUFFER_TOO_SMALL, "more sockets than capacity"));
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------
// Callbacks.

/// Installs (or with a NULL `callback`, removes) the tunnel's event callback. After
/// this returns the previous callback is never called again. Called from library
/// threads; must not stop or free tunnels or change callbacks.
///
/// # Safety
/// `callback` must be callable from any thread with `ctx` until it is replaced.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_tunnel_set_event_callback(
    tunnel: FerrowgTunnel,
    callback: FerrowgEventFn,
    ctx: *mut c_void,
) -> i32 {
    boundary(|| {
        let t = lookup(tunnel)?;
        let obs =
            callback.map(|f| Arc::new(CObserver { f, ctx: Ctx(ctx) }) as Arc<dyn RawObserver>);
        Ok(t.set_raw_observer(obs)?)
    })
}

/// Host packet I/O: installs (or with NULL, removes) the callback receiving incoming
/// packets from the engine's receive thread. Without one, packets queue for
/// `ferrowg_tunnel_read_packet`. After this returns the previous callback is never
/// called again.
///
/// # Safety
/// `callback` must be callable from any thread with `ctx` until it is replaced.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_tunnel_set_packet_callback(
    tunnel: FerrowgTunnel,
    callback: FerrowgPacketFn,
    ctx: *mut c_void,
) -> i32 {
    boundary(|| {
        let t = lookup(tunnel)?;
        let sink =
            callback.map(|f| Arc::new(CPacketSink { f, ctx: Ctx(ctx) }) as Arc<dyn RawPacketSink>);
        Ok(t.set_raw_sink(sink)?)
    })
}

// ---------------------------------------------------------------------------------
// Host packet I/O.

/// Host packet I/O: pushes one outgoing IP packet, waiting up to `timeout_ms` for room
/// (`FERROWG_ERR_TIMEOUT` if none).
///
/// # Safety
/// `packet` points to `length` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_tunnel_write_packet(
    tunnel: FerrowgTunnel,
    packet: *const u8,
    length: usize,
    timeout_ms: u32,
) -> i32 {
    boundary(|| {
        let packet = non_null(packet.cast_mut())?.cast_const();
        let t = lookup(tunnel)?;
        let host = t.host_nic()?;
        // SAFETY: non-NULL and `length` readable bytes per the caller contract.
        let data = unsafe { std::slice::from_raw_parts(packet, length) };
        if host.write(&[data], Duration::from_millis(timeout_ms.into()))? == 1 {
            Ok(())
        } else {
            Err(CError::new(FERROWG_ERR_TIMEOUT, "no room for the packet"))
        }
    })
}

/// Host packet I/O: pulls one incoming IP packet into `buffer`, waiting up to
/// `timeout_ms`. `*out_length` is its size, 0 on timeout. If it does not fit,
/// returns `FERROWG_ERR_BUFFER_TOO_SMALL` with the needed size in `*out_length` and the
/// packet stays queued.
///
/// # Safety
/// `buffer` has `capacity` writable bytes; `out_length` is writable.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_tunnel_read_packet(
    tunnel: FerrowgTunnel,
    buffer: *mut u8,
    capacity: usize,
    out_length: *mut usize,
    timeout_ms: u32,
) -> i32 {
    boundary(|| {
        let out_length = non_null(out_length)?;
        let buffer = non_null(buffer)?;
        let t = lookup(tunnel)?;
        let host = t.host_nic()?;
        // SAFETY: non-NULL with `capacity` writable bytes per the caller contract.
        let buf = unsafe { std::slice::from_raw_parts_mut(buffer, capacity) };
        let result = host.read_into(buf, Duration::from_millis(timeout_ms.into()));
        let (len, err) = match result {
            Ok(n) => (n, None),
            Err(needed) => (
                needed,
                Some(CError::new(FERROWG_ERR_BUFFER_TOO_SMALL, "packet larger than the buffer")),
            ),
        };
        // SAFETY: non-NULL and writable per the caller contract.
        unsafe { *out_length = len };
        err.map_or(Ok(()), Err)
    })
}

// ---------------------------------------------------------------------------------
// The kill switch (outlives the process; see `kill_switch_enable` in the Rust docs).

/// Installs the kill switch for tunnel interface `interface`: everything blocked but
/// that interface, UDP to the endpoints of the wg-quick text `config`, loopback,
/// DHCP/NDP and, if `allow_lan`, the local networks; DNS only through the tunnel. It
/// stays when the process dies; only `ferrowg_kill_switch_disable` removes it.
///
/// # Safety
/// `interface` and `config` are NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_kill_switch_enable(
    interface: *const c_char,
    config: *const c_char,
    allow_lan: bool,
) -> i32 {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let interface = unsafe { c_str(interface) }?;
        // SAFETY: forwarded caller contract.
        let config = unsafe { c_str(config) }?;
        crate::kill_switch_enable(interface.to_owned(), config.to_owned(), allow_lan)?;
        Ok(())
    })
}

/// Removes the kill switch of `interface`; `*was_on` (if not NULL) tells whether one
/// was installed.
///
/// # Safety
/// `interface` is a NUL-terminated string; `was_on` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_kill_switch_disable(
    interface: *const c_char,
    was_on: *mut bool,
) -> i32 {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let interface = unsafe { c_str(interface) }?;
        let was = crate::kill_switch_disable(interface.to_owned())?;
        if !was_on.is_null() {
            // SAFETY: non-NULL and writable per the caller contract.
            unsafe { *was_on = was };
        }
        Ok(())
    })
}

/// Whether the kill switch of `interface` is installed, in `*on`.
///
/// # Safety
/// `interface` is a NUL-terminated string; `on` is writable.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_kill_switch_status(
    interface: *const c_char,
    on: *mut bool,
) -> i32 {
    boundary(|| {
        let on = non_null(on)?;
        // SAFETY: forwarded caller contract.
        let interface = unsafe { c_str(interface) }?;
        let status = crate::kill_switch_status(interface.to_owned())?;
        // SAFETY: non-NULL and writable per the caller contract.
        unsafe { *on = status };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_becomes_internal_error_with_message() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let rc = boundary(|| panic!("boom {}", 7));
        std::panic::set_hook(prev);
        assert_eq!(rc, FERROWG_ERR_INTERNAL);
        assert_eq!(ferrowg_last_error_code(), FERROWG_ERR_INTERNAL);
        // SAFETY: the message pointer is valid until the next call on this thread.
        let msg = unsafe { CStr::from_ptr(ferrowg_last_error_message()) }.to_str().unwrap();
        assert!(msg.contains("boom 7"), "{msg}");
        assert_eq!(boundary(|| Ok(())), FERROWG_OK);
        assert_eq!(ferrowg_last_error_code(), FERROWG_OK);
    }

    #[test]
    fn strings_are_freed_once() {
        let s = issue_string("abc");
        assert!(issued_strings().lock().contains(&(s as usize)));
        // SAFETY: issued above; the second call must be ignored.
        unsafe {
            ferrowg_string_free(s);
            ferrowg_string_free(s);
        }
        assert!(!issued_strings().lock().contains(&(s as usize)));
    }

    #[test]
    fn kill_switch_arguments_are_checked_before_the_firewall() {
        let config = c"[Interface]\nPrivateKey = YAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n";
        // SAFETY: valid NUL-terminated strings; NULL where the test says so.
        unsafe {
            let rc = ferrowg_kill_switch_enable(c"bad\" name".as_ptr(), config.as_ptr(), false);
            assert_eq!(rc, FERROWG_ERR_INVALID_ARGUMENT);
            let rc = ferrowg_kill_switch_enable(
                c"wg0".as_ptr(),
                c"[Interface]\nBogus = 1\n".as_ptr(),
                false,
            );
            assert_eq!(rc, FERROWG_ERR_CONFIG);
            let rc = ferrowg_kill_switch_status(c"wg0".as_ptr(), std::ptr::null_mut());
            assert_eq!(rc, FERROWG_ERR_NULL_ARGUMENT);
            let rc = ferrowg_kill_switch_disable(std::ptr::null(), std::ptr::null_mut());
            assert_eq!(rc, FERROWG_ERR_NULL_ARGUMENT);
        }
    }

    #[test]
    fn unknown_handles_are_refused() {
        assert_eq!(ferrowg_tunnel_stop(0), FERROWG_ERR_INVALID_HANDLE);
        assert_eq!(ferrowg_tunnel_free(u64::MAX), FERROWG_ERR_INVALID_HANDLE);
    }
}
