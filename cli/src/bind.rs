//! [`Bind`] over `ferrowg-platform`'s batched dual-stack [`UdpTransport`].

use std::io;
use std::sync::Arc;

use ferrowg_core::io::{Bind, Transport};
use ferrowg_platform::udp::{UdpOptions, UdpTransport};

/// Opens a [`UdpTransport`] (IPv4 + IPv6 sockets on one port, recvmmsg/sendmmsg on Linux)
/// each time the engine asks for one. The engine puts the configured fwmark on each
/// (`Transport::set_fwmark`) before using it.
#[derive(Debug, Default, Clone, Copy)]
pub struct PlatformBind;

impl Bind for PlatformBind {
    fn bind(&self, port: u16) -> io::Result<Arc<dyn Transport>> {
        let opts = UdpOptions { port, ..UdpOptions::default() };
        let transport = UdpTransport::with_options(opts).map_err(to_io)?;
        Ok(Arc::new(transport))
    }
}

fn to_io(e: ferrowg_platform::Error) -> io::Error {
    match e {
        ferrowg_platform::Error::Os { source, .. } => source,
        other => io::Error::other(other.to_string()),
    }
}
