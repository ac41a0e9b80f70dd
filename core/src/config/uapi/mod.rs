//! The cross-platform userspace configuration protocol (UAPI) that `wg` speaks to
//! wireguard-go over `/var/run/wireguard/IFNAME.sock`.
//!
//! A request is `get=1\n\n` or `set=1\n` followed by `key=value` lines and an empty line.
//! [`parse_request`] / [`parse_set`] turn a `set` body into a flat list of [`UapiOp`]s,
//! validating every line first (wireguard-go applies line by line and can stop half way;
//! here nothing is applied unless the whole request is valid). [`apply`] runs the ops
//! against a config snapshot, with wireguard-go's semantics, and returns the new config.
//! [`format_get`] writes a `get=1` response. Keys are lowercase hex.
//!
//! Errors carry the errno wireguard-go would report ([`EINVAL`] for a bad key or value,
//! [`EPROTO`] for a line that is not `key=value`); [`UapiError::response`] formats the
//! status line the way wireguard-go does.

mod apply;
mod get;

use std::fmt;
use std::fmt::Write as _;
use std::io::{self, BufRead};
use std::net::SocketAddr;

use super::values::{clip, parse_decimal};
use super::{AllowedIp, CidrError, DeviceConfig, Endpoint};
use crate::keys::{KeyParseError, PresharedKey, PrivateKey, PublicKey};

pub use apply::{apply, MAX_PEERS};
pub use get::{format_get, parse_get_response, GetResponse};

/// Linux `EINVAL`: a key or value the device refuses.
pub const EINVAL: i32 = 22;
/// Linux `EPROTO`: a line that is not `key=value`, or a malformed response.
pub const EPROTO: i32 = 71;
/// Linux `EIO`: reading or writing the socket failed.
pub const EIO: i32 = 5;
/// Linux `EADDRINUSE`: the new listen port (or fwmark) could not be bound.
pub const EADDRINUSE: i32 = 98;

/// One line of a `set=1` request, in request order. Peer operations apply to the peer
/// selected by the latest [`UapiOp::PublicKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UapiOp {
    /// `private_key=`: set the device key; an all-zero key (`None`) removes it.
    PrivateKey(Option<PrivateKey>),
    /// `listen_port=`: rebind to this port (0 lets the OS choose).
    ListenPort(u16),
    /// `fwmark=`: set the firewall mark (0 is off).
    FwMark(u32),
    /// `replace_peers=true`: remove every peer before the ones that follow.
    ReplacePeers,
    /// `public_key=`: select the peer to configure, creating it if it does not exist.
    PublicKey(PublicKey),
    /// `remove=true`: remove the selected peer.
    Remove,
    /// `update_only=true`: configure the selected peer only if it already existed.
    UpdateOnly,
    /// `preshared_key=`: set the peer's PSK; all-zero (`None`) removes it.
    PresharedKey(Option<PresharedKey>),
    /// `endpoint=`: set the peer's endpoint (an IP literal; resolve hostnames first).
    Endpoint(SocketAddr),
    /// `persistent_keepalive_interval=`: seconds, 0 is off.
    PersistentKeepaliveInterval(u16),
    /// `replace_allowed_ips=true`: drop the peer's allowed IPs before the ones that follow.
    ReplaceAllowedIps,
    /// `allowed_ip=`: add a prefix to the peer (taking it from any other peer).
    AllowedIp(AllowedIp),
    /// `protocol_version=1`: the only version there is.
    ProtocolVersion,
}

/// A whole request read from the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `get=1`: report the configuration and counters.
    Get,
    /// `set=1`: change the configuration.
    Set(Vec<UapiOp>),
}

/// A UAPI line was refused: which line, which key, what is wrong, and the errno.
///
/// Displays as `line 3: listen_port: `70000` is not a number from 0 to 65535`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UapiError {
    /// 1-based line number within the text given to the parser; for [`apply`], the
    /// 1-based index of the op.
    pub line: usize,
    /// The key on that line (or the whole line if it has no `=`), with anything that
    /// could be key material (a run of 8 or more base64 characters that is not a key
    /// name) replaced by `<hidden>`.
    pub key: String,
    /// What is wrong.
    pub kind: UapiErrorKind,
}

/// What is wrong with a UAPI line. Values are echoed only with anything that could be
/// key material replaced by `<hidden>`; key values are never echoed at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UapiErrorKind {
    /// The first line is neither `get=1` nor `set=1` (wireguard-go closes the socket).
    #[error("unknown operation, expected get=1 or set=1")]
    UnknownOperation,
    /// `get=1` not followed by an empty line.
    #[error("get=1 must be followed by an empty line")]
    TrailingGet,
    /// A line without `=`.
    #[error("expected key=value")]
    NotKeyValue,
    /// A key that is not a device key, before the first `public_key`.
    #[error("invalid UAPI device key")]
    UnknownDeviceKey,
    /// A key that is not a peer key, after a `public_key`.
    #[error("invalid UAPI peer key")]
    UnknownPeerKey,
    /// A key that is not 64 hex digits.
    #[error("{0}")]
    Key(KeyParseError),
    /// A number out of range or with non-digit characters.
    #[error("`{value}` is not a number from 0 to {max}")]
    Number {
        /// The value as sent.
        value: String,
        /// The largest value allowed.
        max: u64,
    },
    /// A flag (`replace_peers`, `remove`, ...) with a value other than `true`.
    #[error("the only valid value is `true`, got `{0}`")]
    NotTrue(String),
    /// An endpoint that is not `IPv4:port` or `[IPv6]:port`.
    #[error("`{0}` is not an IPv4:port or [IPv6]:port endpoint")]
    Endpoint(String),
    /// An `allowed_ip` that is not `IP/prefix`.
    #[error("{0}")]
    Cidr(CidrError),
    /// A `protocol_version` other than 1.
    #[error("unsupported protocol version `{0}`, only 1 exists")]
    ProtocolVersion(String),
    /// A peer operation given to [`apply`] before any `PublicKey` op.
    #[error("peer operation before any public_key")]
    NoPeer,
    /// A new peer beyond [`MAX_PEERS`].
    #[error("too many peers (at most 65536)")]
    TooManyPeers,
    /// A get response that ended without an `errno=` line.
    #[error("response has no errno line")]
    MissingErrno,
    /// The device answered with a nonzero errno.
    #[error("device returned errno {0}")]
    Remote(i32),
    /// The request was valid but its listen port could not be bound (in use, no
    /// permission); wireguard-go answers every such failure with `EADDRINUSE`.
    #[error("cannot bind UDP port {port}: {reason}")]
    PortUnavailable {
        /// The port asked for (0: any).
        port: u16,
        /// The OS error, as text.
        reason: String,
    },
    /// The request was valid line by line but the device refused the configuration it
    /// produced.
    #[error("configuration refused: {0}")]
    Rejected(String),
}

impl UapiErrorKind {
    /// The (positive, Linux-numbered) errno wireguard-go reports for this error.
    pub fn errno(&self) -> i32 {
        match self {
            Self::NotKeyValue | Self::MissingErrno => EPROTO,
            Self::Remote(e) => *e,
            Self::PortUnavailable { .. } => EADDRINUSE,
            _ => EINVAL,
        }
    }
}

impl UapiError {
    /// The positive errno (22 = EINVAL, 71 = EPROTO, 98 = EADDRINUSE).
    pub fn errno(&self) -> i32 {
        self.kind.errno()
    }

    /// The status that ends the response, as wireguard-go writes it: the errno
    /// negated (`errno=-22\n\n`), which `wg` turns back into a positive errno.
    pub fn response(&self) -> String {
        status_line(self.errno())
    }
}

impl fmt::Display for UapiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.key, self.kind)
    }
}

impl std::error::Error for UapiError {}

/// A config endpoint that is still a hostname; resolve it before converting to UAPI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("endpoint `{endpoint}` of peer {peer} is not resolved")]
pub struct UnresolvedEndpoint {
    /// The peer's public key.
    pub peer: PublicKey,
    /// The endpoint as written.
    pub endpoint: String,
}

/// Reads one request from a socket stream: lines up to and including the empty line
/// that ends it (`get=1\n\n`, or `set=1\n...\n\n`), as wireguard-go frames them.
/// Returns `None` at end of stream before any byte, the text read if the stream ends
/// mid-request, and an `InvalidData` error past `max_len` bytes (a misbehaving client).
pub fn read_request(reader: &mut impl BufRead, max_len: usize) -> io::Result<Option<String>> {
    let mut request = String::new();
    loop {
        let before = request.len();
        let budget = max_len.saturating_add(1).saturating_sub(before) as u64;
        let n = io::Read::take(&mut *reader, budget).read_line(&mut request)?;
        if n == 0 {
            return Ok((!request.is_empty()).then_some(request));
        }
        if request.len() > max_len {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "UAPI request too long"));
        }
        let line = &request[before..];
        if line == "\n" || line == "\r\n" {
            return Ok(Some(request));
        }
    }
}

/// The status line that ends every response: `errno=0` on success, otherwise the errno
/// negated as wireguard-go writes it (`wg` turns it back into a positive errno).
pub fn status_line(errno: i32) -> String {
    format!("errno={}\n\n", -i64::from(errno))
}

/// Parses a whole request: `get=1` + empty line, or `set=1` + body. Line numbers count
/// the `get=1`/`set=1` line as line 1.
pub fn parse_request(text: &str) -> Result<Request, UapiError> {
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    match first.strip_suffix('\r').unwrap_or(first) {
        "get=1" => {
            let next = rest.split('\n').next().unwrap_or_default();
            if next.strip_suffix('\r').unwrap_or(next).is_empty() {
                Ok(Request::Get)
            } else {
                Err(UapiError { line: 2, key: clip(next), kind: UapiErrorKind::TrailingGet })
            }
        }
        "set=1" => parse_lines(rest, 2).map(Request::Set),
        other => {
            Err(UapiError { line: 1, key: clip(other), kind: UapiErrorKind::UnknownOperation })
        }
    }
}

/// Parses the body of a `set=1` request (the lines after `set=1`), up to the first empty
/// line or the end. Line numbers start at 1 with the body's first line.
pub fn parse_set(body: &str) -> Result<Vec<UapiOp>, UapiError> {
    parse_lines(body, 1)
}

/// Writes a `set=1` request (header, one line per op, terminating empty line).
/// The text contains the private and preshared keys: handle it as a secret.
pub fn format_set(ops: &[UapiOp]) -> String {
    let mut s = String::with_capacity(8 + ops.len() * 40);
    s.push_str("set=1\n");
    for op in ops {
        let _ = match op {
            UapiOp::PrivateKey(k) => {
                writeln!(s, "private_key={}", k.as_ref().map_or_else(zero_hex, |k| k.to_hex()))
            }
            UapiOp::ListenPort(p) => writeln!(s, "listen_port={p}"),
            UapiOp::FwMark(m) => writeln!(s, "fwmark={m}"),
            UapiOp::ReplacePeers => writeln!(s, "replace_peers=true"),
            UapiOp::PublicKey(k) => writeln!(s, "public_key={}", k.to_hex()),
            UapiOp::Remove => writeln!(s, "remove=true"),
            UapiOp::UpdateOnly => writeln!(s, "update_only=true"),
            UapiOp::PresharedKey(k) => {
                writeln!(s, "preshared_key={}", k.as_ref().map_or_else(zero_hex, |k| k.to_hex()))
            }
            UapiOp::Endpoint(a) => writeln!(s, "endpoint={}", Endpoint::Addr(*a)),
            UapiOp::PersistentKeepaliveInterval(i) => {
                writeln!(s, "persistent_keepalive_interval={i}")
            }
            UapiOp::ReplaceAllowedIps => writeln!(s, "replace_allowed_ips=true"),
            UapiOp::AllowedIp(a) => writeln!(s, "allowed_ip={a}"),
            UapiOp::ProtocolVersion => writeln!(s, "protocol_version=1"),
        };
    }
    s.push('\n');
    s
}

/// The ops that make a device equal to `config`, as `wg setconf` sends them: device
/// fields (zero when unset), `replace_peers`, then each peer with `replace_allowed_ips`.
pub fn replace_ops(config: &DeviceConfig) -> Result<Vec<UapiOp>, UnresolvedEndpoint> {
    let ips: usize = config.peers.iter().map(|p| p.allowed_ips.len() + 5).sum();
    let mut ops = Vec::with_capacity(4 + ips);
    ops.push(UapiOp::PrivateKey(config.private_key.clone()));
    ops.push(UapiOp::ListenPort(config.listen_port.unwrap_or(0)));
    ops.push(UapiOp::FwMark(config.fwmark.unwrap_or(0)));
    ops.push(UapiOp::ReplacePeers);
    for peer in &config.peers {
        ops.push(UapiOp::PublicKey(peer.public_key));
        if let Some(k) = &peer.preshared_key {
            ops.push(UapiOp::PresharedKey(Some(k.clone())));
        }
        match &peer.endpoint {
            None => {}
            Some(Endpoint::Addr(a)) => ops.push(UapiOp::Endpoint(*a)),
            Some(host @ Endpoint::Host { .. }) => {
                return Err(UnresolvedEndpoint {
                    peer: peer.public_key,
                    endpoint: host.to_string(),
                })
            }
        }
        if let Some(k) = peer.persistent_keepalive {
            ops.push(UapiOp::PersistentKeepaliveInterval(k));
        }
        ops.push(UapiOp::ReplaceAllowedIps);
        ops.extend(peer.allowed_ips.iter().copied().map(UapiOp::AllowedIp));
    }
    Ok(ops)
}

/// The `set=1` request text that makes a device equal to `config` (see [`replace_ops`]).
pub fn set_text(config: &DeviceConfig) -> Result<String, UnresolvedEndpoint> {
    replace_ops(config).map(|ops| format_set(&ops))
}

fn zero_hex() -> String {
    "0".repeat(64)
}

fn parse_lines(body: &str, first_line: usize) -> Result<Vec<UapiOp>, UapiError> {
    let mut ops = Vec::new();
    let mut in_peer = false;
    for (idx, raw) in body.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.is_empty() {
            break;
        }
        let at = first_line + idx;
        let Some((key, value)) = line.split_once('=') else {
            return Err(UapiError { line: at, key: clip(line), kind: UapiErrorKind::NotKeyValue });
        };
        let op = if key == "public_key" {
            in_peer = true;
            PublicKey::from_hex(value).map(UapiOp::PublicKey).map_err(UapiErrorKind::Key)
        } else if in_peer {
            parse_peer_op(key, value)
        } else {
            parse_device_op(key, value)
        };
        ops.push(op.map_err(|kind| UapiError { line: at, key: clip(key), kind })?);
    }
    Ok(ops)
}

fn parse_device_op(key: &str, value: &str) -> Result<UapiOp, UapiErrorKind> {
    Ok(match key {
        "private_key" => {
            let k = PrivateKey::from_hex(value).map_err(UapiErrorKind::Key)?;
            UapiOp::PrivateKey(Some(k).filter(|k| !k.is_zero()))
        }
        "listen_port" => UapiOp::ListenPort(number(value, u16::MAX.into())? as u16),
        "fwmark" => UapiOp::FwMark(number(value, u32::MAX.into())? as u32),
        "replace_peers" => flag(value, UapiOp::ReplacePeers)?,
        _ => return Err(UapiErrorKind::UnknownDeviceKey),
    })
}

fn parse_peer_op(key: &str, value: &str) -> Result<UapiOp, UapiErrorKind> {
    Ok(match key {
        "update_only" => flag(value, UapiOp::UpdateOnly)?,
        "remove" => flag(value, UapiOp::Remove)?,
        "preshared_key" => {
            let k = PresharedKey::from_hex(value).map_err(UapiErrorKind::Key)?;
            UapiOp::PresharedKey(Some(k).filter(|k| !k.is_zero()))
        }
        "endpoint" => match Endpoint::parse(value) {
            Ok(Endpoint::Addr(a)) => UapiOp::Endpoint(a),
            _ => return Err(UapiErrorKind::Endpoint(clip(value))),
        },
        "persistent_keepalive_interval" => {
            UapiOp::PersistentKeepaliveInterval(number(value, u16::MAX.into())? as u16)
        }
        "replace_allowed_ips" => flag(value, UapiOp::ReplaceAllowedIps)?,
        "allowed_ip" => {
            UapiOp::AllowedIp(AllowedIp::parse_with_prefix(value).map_err(UapiErrorKind::Cidr)?)
        }
        "protocol_version" if value == "1" => UapiOp::ProtocolVersion,
        "protocol_version" => return Err(UapiErrorKind::ProtocolVersion(clip(value))),
        _ => return Err(UapiErrorKind::UnknownPeerKey),
    })
}

pub(super) fn number(value: &str, max: u64) -> Result<u64, UapiErrorKind> {
    parse_decimal(value, max).ok_or_else(|| UapiErrorKind::Number { value: clip(value), max })
}

fn flag(value: &str, op: UapiOp) -> Result<UapiOp, UapiErrorKind> {
    if value == "true" {
        Ok(op)
    } else {
        Err(UapiErrorKind::NotTrue(clip(value)))
    }
}
