//! The UDP side for tunnels started through the FFI: the platform's dual-stack sockets,
//! or plain sockets on one address (e.g. loopback, for tests and demos).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ferrowg_core::device::memory::StdUdpTransport;
use ferrowg_core::io::{Bind, Transport};
use ferrowg_platform::udp::{SocketHook, UdpOptions, UdpTransport};
use parking_lot::Mutex;

/// Called with every UDP socket the tunnel opens, before it is bound and used (Android:
/// `VpnService.protect(fd)`, so the tunnel's own packets bypass the VPN). Return false
/// to refuse the socket (the start or rebind then fails).
#[uniffi::export(with_foreign)]
pub trait SocketProtector: Send + Sync {
    /// Protects one socket (a file descriptor on Unix, a `SOCKET` on Windows).
    fn protect(&self, socket: i64) -> bool;
}

/// Opens transports and remembers the platform one, whose socket handles the app may
/// need (Android `VpnService.protect`).
pub(crate) struct FfiBind {
    address: Option<IpAddr>,
    protector: Option<Arc<dyn SocketProtector>>,
    current: Mutex<Option<Arc<UdpTransport>>>,
}

impl FfiBind {
    /// Platform sockets on every interface (`address: None`) or a plain socket on
    /// `address`.
    pub(crate) fn new(
        address: Option<IpAddr>,
        protector: Option<Arc<dyn SocketProtector>>,
    ) -> Self {
        Self { address, protector, current: Mutex::new(None) }
    }

    fn hook(&self) -> Option<SocketHook> {
        let protector = self.protector.clone()?;
        Some(Arc::new(move |handle| {
            // RawFd is i32 on Unix, SOCKET is u64 on Windows.
            #[allow(clippy::unnecessary_fallible_conversions)]
            let handle = i64::try_from(handle).unwrap_or(-1);
            // The app's code runs here: contain a panic.
            let ok = crate::callback::guard(|| protector.protect(handle)).unwrap_or(false);
            if ok {
                Ok(())
            } else {
                Err(io::Error::other("the app's socket protector refused the socket"))
            }
        }))
    }

    /// The OS handles of the open sockets (file descriptors on Unix, `SOCKET`s on
    /// Windows); empty when bound to a single address.
    pub(crate) fn socket_handles(&self) -> Vec<i64> {
        let current = self.current.lock();
        let Some(t) = current.as_ref() else {
            return Vec::new();
        };
        #[cfg(unix)]
        let handles: Vec<i64> = t.raw_fds().into_iter().map(i64::from).collect();
        #[cfg(windows)]
        let handles: Vec<i64> =
            t.raw_sockets().into_iter().filter_map(|s| i64::try_from(s).ok()).collect();
        #[cfg(not(any(unix, windows)))]
        let handles = {
            let _ = t;
            Vec::new()
        };
        handles
    }
}

impl Bind for FfiBind {
    fn bind(&self, port: u16) -> io::Result<Arc<dyn Transport>> {
        if let Some(addr) = self.address {
            if self.protector.is_some() {
                return Err(io::Error::other(
                    "a socket protector needs the platform sockets (no bind address)",
                ));
            }
            return Ok(Arc::new(StdUdpTransport::bind(SocketAddr::new(addr, port))?));
        }
        let t = Arc::new(
            UdpTransport::with_options(UdpOptions {
                port,
                on_new_socket: self.hook(),
                ..UdpOptions::default()
            })
            .map_err(|e| io::Error::other(e.to_string()))?,
        );
        *self.current.lock() = Some(t.clone());
        Ok(t)
    }
}
