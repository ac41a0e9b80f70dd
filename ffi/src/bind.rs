//! The UDP side for tunnels started through the FFI: the platform's dual-stack sockets,
//! or plain sockets on one address (e.g. loopback, for tests and demos).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ferrowg_core::device::memory::StdUdpTransport;
use ferrowg_core::io::{Bind, Transport};
use ferrowg_platform::udp::{UdpOptions, UdpTransport};
use parking_lot::Mutex;

/// Opens transports and remembers the platform one, whose socket handles the app may
/// need (Android `VpnService.protect`).
pub(crate) struct FfiBind {
    address: Option<IpAddr>,
    current: Mutex<Option<Arc<UdpTransport>>>,
}

impl FfiBind {
    /// Platform sockets on every interface (`address: None`) or a plain socket on
    /// `address`.
    pub(crate) fn new(address: Option<IpAddr>) -> Self {
        Self { address, current: Mutex::new(None) }
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
            return Ok(Arc::new(StdUdpTransport::bind(SocketAddr::new(addr, port))?));
        }
        let t = Arc::new(
            UdpTransport::with_options(UdpOptions { port, ..UdpOptions::default() })
                .map_err(|e| io::Error::other(e.to_string()))?,
        );
        *self.current.lock() = Some(t.clone());
        Ok(t)
    }
}
