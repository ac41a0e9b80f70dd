//! The UDP side for tunnels started through the FFI: the platform's dual-stack sockets,
//! or plain sockets on one address (e.g. loopback, for tests and demos).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use ferrowg_core::io::{Bind, Transport};
use ferrowg_platform::std_udp::StdUdpTransport;
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
    /// The interface index the sockets are bound to (0: none), for new sockets too.
    bound_interface: Mutex<u32>,
}

impl FfiBind {
    /// Platform sockets on every interface (`address: None`) or a plain socket on
    /// `address`.
    pub(crate) fn new(
        address: Option<IpAddr>,
        protector: Option<Arc<dyn SocketProtector>>,
    ) -> Self {
        Self { address, protector, current: Mutex::new(None), bound_interface: Mutex::new(0) }
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

    /// Binds the sockets, now and after every rebind, to the interface with this index
    /// (0: unbinds). Only the platform sockets (no bind address) can be bound.
    pub(crate) fn set_bound_interface(&self, index: u32) -> io::Result<()> {
        if self.address.is_some() && index != 0 {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "binding to an interface needs the platform sockets (no bind address)",
            ));
        }
        // Held while applying, so a concurrent bind sees either the old or the new index
        // and the open transport ends up with the latest.
        let mut bound = self.bound_interface.lock();
        if let Some(t) = self.current.lock().as_ref() {
            t.set_bound_interface(Some(index)).map_err(io::Error::from)?;
        }
        *bound = index;
        Ok(())
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
        let bound = self.bound_interface.lock();
        let t = Arc::new(
            UdpTransport::with_options(UdpOptions {
                port,
                bound_interface: Some(*bound).filter(|i| *i != 0),
                on_new_socket: self.hook(),
                ..UdpOptions::default()
            })
            .map_err(io::Error::from)?,
        );
        *self.current.lock() = Some(t.clone());
        drop(bound);
        Ok(t)
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::tunnel::Tunnel;
    use crate::NicMode;

    /// (`SO_BINDTOIFINDEX`, `SO_MARK`) of every open socket.
    fn options(bind: &FfiBind) -> Vec<(u32, u32)> {
        let current = bind.current.lock();
        let t = current.as_ref().expect("a transport");
        t.with_sockets(|socks| {
            socks
                .iter()
                .map(|s| {
                    let r = socket2::SockRef::from(*s);
                    (r.device_index_v4().unwrap().map_or(0, |i| i.get()), r.mark().unwrap())
                })
                .collect()
        })
    }

    /// Needs root (`SO_BINDTOIFINDEX`, `SO_MARK`). Index 1 is the loopback interface.
    #[test]
    fn bound_interface_and_fwmark_reach_the_sockets_and_survive_network_changes() {
        let config = "set=1\nprivate_key=4848484848484848484848484848484848484848484848484848484848484848\nfwmark=51820\n";
        let tunnel =
            Tunnel::start_inner(config, NicMode::HostPackets, &Default::default(), None).unwrap();
        assert_eq!(options(&tunnel.bind), vec![(0, 51820); 2]);
        tunnel.set_bound_interface(1).unwrap();
        assert_eq!(options(&tunnel.bind), vec![(1, 51820); 2]);
        tunnel.network_changed().unwrap();
        assert_eq!(options(&tunnel.bind), vec![(1, 51820); 2], "kept by a network change");
        tunnel.set_config("fwmark=0\n".into(), false).unwrap();
        assert_eq!(options(&tunnel.bind), vec![(1, 0); 2], "fwmark 0 clears it");
        tunnel.set_bound_interface(0).unwrap();
        assert_eq!(options(&tunnel.bind), vec![(0, 0); 2]);
        tunnel.stop().unwrap();
    }

    #[test]
    fn a_bind_address_cannot_be_bound_to_an_interface() {
        let bind = FfiBind::new(Some(IpAddr::from([127, 0, 0, 1])), None);
        assert_eq!(bind.set_bound_interface(1).unwrap_err().kind(), io::ErrorKind::Unsupported);
        bind.set_bound_interface(0).unwrap();
    }
}
