//! The engine applies WireGuard's fwmark to its UDP sockets (issue 11, test 2): set in
//! the starting config, changed live over the UAPI (`fwmark=0`, then back, as
//! `wg set IF fwmark N` sends it), and kept on the sockets opened by a listen-port change
//! and a rebind (network change). Read back with `getsockopt(SO_MARK)`. Linux, root
//! (`SO_MARK` needs `CAP_NET_ADMIN`).
#![cfg(target_os = "linux")]

use std::io;
use std::sync::{Arc, Mutex};

use ferrowg_core::config::DeviceConfig;
use ferrowg_core::device::memory::memory_tun;
use ferrowg_core::device::{Device, DeviceOptions};
use ferrowg_core::io::{Bind, SystemClock, Transport};
use ferrowg_core::keys::PrivateKey;
use ferrowg_platform::udp::{UdpOptions, UdpTransport};

/// The platform transport, remembering the last one opened so the test can read its
/// sockets' options.
#[derive(Default)]
struct RecordingBind {
    last: Mutex<Option<Arc<UdpTransport>>>,
}

impl Bind for RecordingBind {
    fn bind(&self, port: u16) -> io::Result<Arc<dyn Transport>> {
        let t = Arc::new(
            UdpTransport::with_options(UdpOptions { port, ..UdpOptions::default() })
                .map_err(io::Error::from)?,
        );
        *self.last.lock().unwrap() = Some(t.clone());
        Ok(t)
    }
}

impl RecordingBind {
    /// `SO_MARK` of every socket of the transport in use.
    fn marks(&self) -> Vec<u32> {
        let t = self.last.lock().unwrap().clone().expect("a transport");
        t.with_sockets(|socks| {
            socks.iter().map(|s| socket2::SockRef::from(*s).mark().unwrap()).collect()
        })
    }
}

#[test]
fn fwmark_is_applied_changed_live_and_kept_on_new_sockets() {
    let bind = Arc::new(RecordingBind::default());
    let (tun, _host) = memory_tun(1420, 16);
    let config = DeviceConfig {
        private_key: Some(PrivateKey::from_bytes([0x48; 32])),
        fwmark: Some(51820),
        ..Default::default()
    };
    let opts = DeviceOptions { rng_seed: Some([3; 32]), ..DeviceOptions::default() };
    let device = Device::start(config, tun, bind.clone(), Arc::new(SystemClock), opts).unwrap();
    assert_eq!(bind.marks(), vec![51820, 51820], "the starting config's mark");

    device.uapi_set("fwmark=0\n").unwrap();
    assert_eq!(bind.marks(), vec![0, 0], "fwmark=0 clears the mark");
    assert!(!device.uapi_get().contains("fwmark="));

    device.uapi_set("fwmark=51820\n").unwrap();
    assert_eq!(bind.marks(), vec![51820, 51820], "and back");
    assert!(device.uapi_get().contains("fwmark=51820\n"));

    let port = device.listen_port();
    device.uapi_set("listen_port=0\nfwmark=7\n").unwrap();
    assert_eq!(bind.marks(), vec![7, 7], "new sockets of a listen-port change");

    device.rebind().unwrap();
    assert_eq!(bind.marks(), vec![7, 7], "new sockets of a rebind");
    let _ = port;

    let mut cfg = device.config();
    cfg.fwmark = None;
    device.set_config(&cfg).unwrap();
    assert_eq!(bind.marks(), vec![0, 0], "a whole config without fwmark clears it");
    device.stop();
}
