//! `get=1` responses: writing them from a snapshot, and reading them back (for a client
//! such as `ferrowg show`, and for tests).

use std::fmt::Write as _;
use std::time::Duration;

use super::{number, UapiError, UapiErrorKind};
use crate::config::values::clip;
use crate::config::{AllowedIp, DeviceConfig, Endpoint, PeerConfig, PeerStats};
use crate::keys::{PresharedKey, PrivateKey, PublicKey};

/// A parsed `get=1` response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetResponse {
    /// The device configuration.
    pub config: DeviceConfig,
    /// Counters, one per entry of `config.peers`, in the same order.
    pub stats: Vec<PeerStats>,
}

/// Writes the `get=1` response for a config snapshot, in wireguard-go's key order, with
/// `stats` called once per peer, ending with `errno=0` and an empty line.
///
/// `listen_port` should be the port actually bound. Unset values are omitted like
/// wireguard-go does (the preshared key is always sent, all-zero when unset);
/// hostname endpoints are omitted (a running device has resolved them). The text
/// contains the private key: handle it as a secret.
pub fn format_get(
    config: &DeviceConfig,
    mut stats: impl FnMut(&PeerConfig) -> PeerStats,
) -> String {
    let ips: usize = config.peers.iter().map(|p| p.allowed_ips.len()).sum();
    let mut s = String::with_capacity(256 + config.peers.len() * 400 + ips * 32);
    if let Some(k) = &config.private_key {
        let _ = writeln!(s, "private_key={}", k.to_hex());
    }
    if let Some(p) = config.listen_port {
        let _ = writeln!(s, "listen_port={p}");
    }
    if let Some(m) = config.fwmark {
        let _ = writeln!(s, "fwmark={m}");
    }
    for peer in &config.peers {
        let st = stats(peer);
        let _ = writeln!(s, "public_key={}", peer.public_key.to_hex());
        let psk = peer.preshared_key.as_ref().map_or_else(|| "0".repeat(64), |k| k.to_hex());
        let _ = writeln!(s, "preshared_key={psk}");
        s.push_str("protocol_version=1\n");
        if let Some(ep @ Endpoint::Addr(_)) = &peer.endpoint {
            let _ = writeln!(s, "endpoint={ep}");
        }
        let hs = st.last_handshake.unwrap_or_default();
        let _ = writeln!(s, "last_handshake_time_sec={}", hs.as_secs());
        let _ = writeln!(s, "last_handshake_time_nsec={}", hs.subsec_nanos());
        let _ = writeln!(s, "tx_bytes={}", st.tx_bytes);
        let _ = writeln!(s, "rx_bytes={}", st.rx_bytes);
        let _ =
            writeln!(s, "persistent_keepalive_interval={}", peer.persistent_keepalive.unwrap_or(0));
        for ip in &peer.allowed_ips {
            let _ = writeln!(s, "allowed_ip={ip}");
        }
    }
    s.push_str("errno=0\n\n");
    s
}

/// Reads a `get=1` response (the lines after the request, up to the empty line).
/// Unknown keys are skipped, as `wg` does; a nonzero `errno` is returned as
/// [`UapiErrorKind::Remote`].
pub fn parse_get_response(text: &str) -> Result<GetResponse, UapiError> {
    let mut out = GetResponse::default();
    let mut handshake: (u64, u32) = (0, 0);
    for (idx, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let at = idx + 1;
        if line.is_empty() {
            break;
        }
        let fail = |key: &str, kind| UapiError { line: at, key: clip(key), kind };
        let Some((key, value)) = line.split_once('=') else {
            return Err(fail(line, UapiErrorKind::NotKeyValue));
        };
        let in_peer = !out.config.peers.is_empty();
        let r = match key {
            "errno" => {
                let e = value.strip_prefix('-').unwrap_or(value);
                let e = number(e, i32::MAX as u64).map_err(|k| fail(key, k))? as i32;
                flush_handshake(&mut out, &mut handshake);
                return if e == 0 { Ok(out) } else { Err(fail(key, UapiErrorKind::Remote(e))) };
            }
            "public_key" => {
                flush_handshake(&mut out, &mut handshake);
                PublicKey::from_hex(value).map_err(UapiErrorKind::Key).map(|pk| {
                    out.config.peers.push(PeerConfig::new(pk));
                    out.stats.push(PeerStats::default());
                })
            }
            _ if in_peer => peer_line(&mut out, &mut handshake, key, value),
            "private_key" => PrivateKey::from_hex(value)
                .map_err(UapiErrorKind::Key)
                .map(|k| out.config.private_key = Some(k).filter(|k| !k.is_zero())),
            "listen_port" => number(value, u16::MAX.into())
                .map(|p| out.config.listen_port = Some(p as u16).filter(|p| *p != 0)),
            "fwmark" => number(value, u32::MAX.into())
                .map(|m| out.config.fwmark = Some(m as u32).filter(|m| *m != 0)),
            _ => Ok(()),
        };
        r.map_err(|kind| fail(key, kind))?;
    }
    Err(UapiError { line: 0, key: "errno".into(), kind: UapiErrorKind::MissingErrno })
}

fn peer_line(
    out: &mut GetResponse,
    handshake: &mut (u64, u32),
    key: &str,
    value: &str,
) -> Result<(), UapiErrorKind> {
    let (Some(peer), Some(stats)) = (out.config.peers.last_mut(), out.stats.last_mut()) else {
        return Ok(());
    };
    match key {
        "preshared_key" => {
            let k = PresharedKey::from_hex(value).map_err(UapiErrorKind::Key)?;
            peer.preshared_key = Some(k).filter(|k| !k.is_zero());
        }
        "endpoint" => match Endpoint::parse(value) {
            Ok(ep @ Endpoint::Addr(_)) => peer.endpoint = Some(ep),
            _ => return Err(UapiErrorKind::Endpoint(clip(value))),
        },
        "persistent_keepalive_interval" => {
            let v = number(value, u16::MAX.into())? as u16;
            peer.persistent_keepalive = Some(v).filter(|v| *v != 0);
        }
        "allowed_ip" => {
            peer.allowed_ips.push(AllowedIp::parse_with_prefix(value).map_err(UapiErrorKind::Cidr)?)
        }
        "last_handshake_time_sec" => handshake.0 = number(value, i64::MAX as u64)?,
        "last_handshake_time_nsec" => handshake.1 = number(value, 999_999_999)? as u32,
        "rx_bytes" => stats.rx_bytes = number(value, u64::MAX)?,
        "tx_bytes" => stats.tx_bytes = number(value, u64::MAX)?,
        "protocol_version" if value == "1" => {}
        "protocol_version" => return Err(UapiErrorKind::ProtocolVersion(clip(value))),
        _ => {}
    }
    Ok(())
}

/// Stores the handshake time gathered from the sec/nsec lines into the current peer.
fn flush_handshake(out: &mut GetResponse, handshake: &mut (u64, u32)) {
    let (sec, nsec) = std::mem::take(handshake);
    if let Some(stats) = out.stats.last_mut() {
        if sec != 0 || nsec != 0 {
            stats.last_handshake = Some(Duration::new(sec, nsec));
        }
    }
}
