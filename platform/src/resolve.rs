//! Name resolution for peer endpoints: the host's job, done before a configuration
//! reaches the engine. Core keeps hostnames as unresolved data ([`Endpoint::Host`]) and
//! its engine refuses them; the CLI and the FFI call [`resolve_endpoints`] (or
//! [`resolve_wg_quick`]) first, with the system resolver (this may block on DNS).

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use ferrowg_core::config::{DeviceConfig, Endpoint, WgQuickConfig};

/// A peer's endpoint hostname that did not resolve. The message names the peer by its
/// position in the config and the endpoint as written, never a key.
#[derive(Debug, thiserror::Error)]
#[error("peer {peer}: cannot resolve endpoint `{endpoint}`: {source}")]
pub struct ResolveError {
    /// The peer's position in the config, from 1 (the n-th `[Peer]` section).
    pub peer: usize,
    /// The endpoint as written.
    pub endpoint: String,
    /// The resolver's error.
    #[source]
    pub source: io::Error,
}

/// The socket address of `endpoint`: itself if literal, otherwise the first address the
/// system resolver returns for the host (may block on DNS).
pub fn resolve_endpoint(endpoint: &Endpoint) -> io::Result<SocketAddr> {
    match endpoint {
        Endpoint::Addr(addr) => Ok(*addr),
        Endpoint::Host { host, port } => system_lookup(host, *port),
    }
}

/// A copy of `config` with every hostname endpoint resolved to a socket address (may
/// block on DNS). Fails with the first peer whose endpoint does not resolve.
pub fn resolve_endpoints(config: &DeviceConfig) -> Result<DeviceConfig, ResolveError> {
    resolve_with(config, system_lookup)
}

/// [`resolve_endpoints`] for a wg-quick file: the interface section is kept as is.
pub fn resolve_wg_quick(config: &WgQuickConfig) -> Result<WgQuickConfig, ResolveError> {
    Ok(WgQuickConfig {
        interface: config.interface.clone(),
        device: resolve_endpoints(&config.device)?,
    })
}

fn system_lookup(host: &str, port: u16) -> io::Result<SocketAddr> {
    (host, port).to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(io::ErrorKind::NotFound, format!("`{host}` has no addresses"))
    })
}

/// [`resolve_endpoints`] with the lookup given (tests use a fake resolver).
fn resolve_with(
    config: &DeviceConfig,
    lookup: impl Fn(&str, u16) -> io::Result<SocketAddr>,
) -> Result<DeviceConfig, ResolveError> {
    let mut out = config.clone();
    for (i, peer) in out.peers.iter_mut().enumerate() {
        if let Some(ep @ Endpoint::Host { host, port }) = &peer.endpoint {
            let addr = lookup(host, *port).map_err(|source| ResolveError {
                peer: i + 1,
                endpoint: ep.to_string(),
                source,
            })?;
            peer.endpoint = Some(Endpoint::Addr(addr));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use ferrowg_core::config::PeerConfig;
    use ferrowg_core::keys::PublicKey;

    use super::*;

    fn config(endpoints: &[&str]) -> DeviceConfig {
        let peers = endpoints
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let mut p = PeerConfig::new(PublicKey([i as u8 + 1; 32]));
                p.endpoint = Some(Endpoint::parse(e).unwrap());
                p
            })
            .collect();
        DeviceConfig { peers, ..DeviceConfig::default() }
    }

    #[test]
    fn hostnames_become_addresses_and_literals_stay() {
        let cfg = config(&["198.18.0.1:51820", "vpn.example.test:443"]);
        assert!(cfg.check_resolved().is_err());
        let fake = |host: &str, port| {
            assert_eq!(host, "vpn.example.test");
            Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)), port))
        };
        let out = resolve_with(&cfg, fake).unwrap();
        out.check_resolved().unwrap();
        assert_eq!(out.peers[0].endpoint, cfg.peers[0].endpoint);
        assert_eq!(out.peers[1].endpoint, Some(Endpoint::Addr("198.18.0.2:443".parse().unwrap())));
    }

    #[test]
    fn failure_names_the_peer_and_endpoint_but_no_key() {
        let cfg = config(&["198.18.0.1:1", "198.18.0.1:2", "nowhere.test:9"]);
        let fail = |_: &str, _| Err(io::Error::new(io::ErrorKind::NotFound, "no such host"));
        let err = resolve_with(&cfg, fail).unwrap_err();
        let text = err.to_string();
        assert_eq!(text, "peer 3: cannot resolve endpoint `nowhere.test:9`: no such host");
        assert!(!text.contains(&cfg.peers[2].public_key.to_base64()));
    }

    #[test]
    fn localhost_resolves_to_loopback() {
        let addr = resolve_endpoint(&Endpoint::parse("localhost:9").unwrap()).unwrap();
        assert!(addr.ip().is_loopback() && addr.port() == 9, "{addr}");
    }
}
