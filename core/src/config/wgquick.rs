//! wg-quick INI parsing, following wg-quick(8) and `wg setconf` line by line:
//! `#` starts a comment anywhere on a line (`;` is not a comment), keys and section
//! names are case-insensitive, whitespace inside `wg` values is ignored, repeated
//! scalar keys keep the last value, and list keys (`Address`, `DNS`, `AllowedIPs`, hooks)
//! accumulate across repeats and commas.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use super::values::{clip, parse_decimal};
use super::{
    AllowedIp, CidrError, Endpoint, EndpointError, InterfaceAddress, InterfaceConfig, PeerConfig,
    Table, WgQuickConfig,
};
use crate::keys::{KeyParseError, PresharedKey, PrivateKey, PublicKey};

/// A wg-quick file was refused: which line, which key, and what is wrong.
///
/// Displays as `line 7: PublicKey: key decodes to 31 bytes, expected 32`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line number.
    pub line: usize,
    /// The key as written on that line (or the section header, e.g. `[Peer]`, or the
    /// line itself when it has no `=`). Anything in it that could be key material (a run
    /// of 8 or more base64 characters that is not a key name) reads `<hidden>`.
    pub key: String,
    /// What is wrong with it.
    pub kind: ConfigErrorKind,
}

/// What is wrong with a wg-quick line. Values are echoed only with anything that could
/// be key material replaced by `<hidden>`; key values are never echoed at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigErrorKind {
    /// A `[...]` header other than `[Interface]` or `[Peer]`.
    #[error("unknown section, expected [Interface] or [Peer]")]
    UnknownSection,
    /// A key before the first section header.
    #[error("key appears before any [Interface] or [Peer] section")]
    OutsideSection,
    /// A line that is neither a section header nor `Key = Value`.
    #[error("expected `Key = Value`")]
    NotKeyValue,
    /// A key wg-quick does not know in this section.
    #[error("unknown key in the [{section}] section")]
    UnknownKey {
        /// "Interface" or "Peer".
        section: &'static str,
    },
    /// A known key placed in the other section.
    #[error("belongs in the [{section}] section")]
    WrongSection {
        /// The section the key belongs in.
        section: &'static str,
    },
    /// A key that needs a value has none.
    #[error("value is empty")]
    EmptyValue,
    /// A key (PrivateKey, PublicKey, PresharedKey) that is not 32 bytes of base64.
    #[error("{0}")]
    Key(KeyParseError),
    /// `ListenPort` is not 0-65535.
    #[error("`{0}` is not a port number (0-65535)")]
    Port(String),
    /// `FwMark` is not off or 0-0xffffffff.
    #[error("`{0}` is not a firewall mark (off, or 0 to 0xffffffff)")]
    FwMark(String),
    /// `PersistentKeepalive` is not off or 0-65535.
    #[error("`{0}` is not a keepalive interval (off, or 0 to 65535 seconds)")]
    Keepalive(String),
    /// `Endpoint` is malformed.
    #[error("{0}")]
    Endpoint(EndpointError),
    /// An `AllowedIPs` or `Address` entry is malformed.
    #[error("{0}")]
    Cidr(CidrError),
    /// A `DNS` entry looks like an IP address but is not one.
    #[error("`{0}` is not a DNS server address")]
    Dns(String),
    /// `MTU` is not 1-65535.
    #[error("`{0}` is not an MTU (1-65535)")]
    Mtu(String),
    /// `Table` is not auto, off, a number or a table name.
    #[error("`{0}` is not a routing table (auto, off, a number or a name)")]
    Table(String),
    /// `SaveConfig` is not true or false.
    #[error("`{0}` is neither true nor false")]
    Bool(String),
    /// A `[Peer]` section without `PublicKey`.
    #[error("peer has no PublicKey")]
    MissingPublicKey,
    /// Two peers with the same `PublicKey`.
    #[error("same public key as the peer at line {first_line}")]
    DuplicatePeer {
        /// Line of the first peer's `PublicKey`.
        first_line: usize,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.key, self.kind)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    None,
    Interface,
    Peer,
}

struct PeerDraft {
    header_line: usize,
    key_line: usize,
    public_key: Option<PublicKey>,
    config: PeerConfig,
}

pub(super) fn parse(text: &str) -> Result<WgQuickConfig, ConfigError> {
    let mut out = WgQuickConfig::default();
    let mut peers: Vec<PeerDraft> = Vec::new();
    let mut section = Section::None;

    // Editors on Windows may prepend a byte-order mark; it is not part of the first key.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let content = raw.split('#').next().unwrap_or_default();
        let trimmed = content.trim();
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with('[') {
            let header = compact(trimmed);
            section = if header.eq_ignore_ascii_case("[Interface]") {
                Section::Interface
            } else if header.eq_ignore_ascii_case("[Peer]") {
                peers.push(PeerDraft {
                    header_line: line,
                    key_line: line,
                    public_key: None,
                    config: PeerConfig::new(PublicKey([0; 32])),
                });
                Section::Peer
            } else {
                return Err(err(line, &clip(trimmed), ConfigErrorKind::UnknownSection));
            };
            continue;
        }
        let Some((key_raw, value)) = trimmed.split_once('=') else {
            return Err(err(line, &clip(trimmed), ConfigErrorKind::NotKeyValue));
        };
        let key_raw = key_raw.trim();
        let key = compact(key_raw);
        let value = value.trim();
        let fail = |kind| err(line, &clip(key_raw), kind);
        match section {
            Section::None => return Err(fail(ConfigErrorKind::OutsideSection)),
            Section::Interface => interface_line(&mut out, &key, value).map_err(fail)?,
            Section::Peer => {
                let Some(draft) = peers.last_mut() else {
                    return Err(fail(ConfigErrorKind::OutsideSection));
                };
                peer_line(draft, line, &key, value).map_err(fail)?;
            }
        }
    }

    let mut seen: BTreeMap<PublicKey, usize> = BTreeMap::new();
    for draft in &peers {
        let Some(pk) = draft.public_key else {
            return Err(err(draft.header_line, "[Peer]", ConfigErrorKind::MissingPublicKey));
        };
        if let Some(&first_line) = seen.get(&pk) {
            return Err(err(
                draft.key_line,
                "PublicKey",
                ConfigErrorKind::DuplicatePeer { first_line },
            ));
        }
        seen.insert(pk, draft.key_line);
    }
    out.device.peers = peers
        .into_iter()
        .map(|d| PeerConfig { public_key: d.public_key.unwrap_or(PublicKey([0; 32])), ..d.config })
        .collect();
    Ok(out)
}

fn err(line: usize, key: &str, kind: ConfigErrorKind) -> ConfigError {
    ConfigError { line, key: key.to_owned(), kind }
}

/// Removes all whitespace, as `wg` does to every line before matching keys.
fn compact(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn is(key: &str, name: &str) -> bool {
    key.eq_ignore_ascii_case(name)
}

const PEER_KEYS: [&str; 5] =
    ["PublicKey", "PresharedKey", "AllowedIPs", "Endpoint", "PersistentKeepalive"];
const INTERFACE_KEYS: [&str; 12] = [
    "PrivateKey",
    "ListenPort",
    "FwMark",
    "Address",
    "DNS",
    "MTU",
    "Table",
    "SaveConfig",
    "PreUp",
    "PostUp",
    "PreDown",
    "PostDown",
];

fn interface_line(out: &mut WgQuickConfig, key: &str, value: &str) -> Result<(), ConfigErrorKind> {
    let dev = &mut out.device;
    let ifc = &mut out.interface;
    if is(key, "PrivateKey") {
        let k = parse_key(value, PrivateKey::from_base64)?;
        dev.private_key = Some(k).filter(|k| !k.is_zero());
    } else if is(key, "ListenPort") {
        let v = compact(value);
        let port = parse_decimal(&v, u16::MAX.into()).ok_or(ConfigErrorKind::Port(clip(&v)))?;
        dev.listen_port = Some(port as u16).filter(|p| *p != 0);
    } else if is(key, "FwMark") {
        dev.fwmark = parse_fwmark(&compact(value))?;
    } else if is(key, "Address") {
        for item in list_items(value) {
            ifc.addresses.push(InterfaceAddress::parse(item).map_err(ConfigErrorKind::Cidr)?);
        }
    } else if is(key, "DNS") {
        for item in list_items(value) {
            parse_dns(ifc, item)?;
        }
    } else if is(key, "MTU") {
        ifc.mtu = match value {
            "" => None,
            v => Some(
                parse_decimal(v, u16::MAX.into())
                    .filter(|m| *m != 0)
                    .ok_or(ConfigErrorKind::Mtu(clip(v)))? as u16,
            ),
        };
    } else if is(key, "Table") {
        ifc.table = parse_table(value)?;
    } else if is(key, "SaveConfig") {
        ifc.save_config = match value.to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => return Err(ConfigErrorKind::Bool(clip(value))),
        };
    } else if is(key, "PreUp") {
        ifc.pre_up.push(value.to_owned());
    } else if is(key, "PostUp") {
        ifc.post_up.push(value.to_owned());
    } else if is(key, "PreDown") {
        ifc.pre_down.push(value.to_owned());
    } else if is(key, "PostDown") {
        ifc.post_down.push(value.to_owned());
    } else if PEER_KEYS.iter().any(|k| is(key, k)) {
        return Err(ConfigErrorKind::WrongSection { section: "Peer" });
    } else {
        return Err(ConfigErrorKind::UnknownKey { section: "Interface" });
    }
    Ok(())
}

fn peer_line(
    draft: &mut PeerDraft,
    line: usize,
    key: &str,
    value: &str,
) -> Result<(), ConfigErrorKind> {
    let value = compact(value);
    let peer = &mut draft.config;
    if is(key, "PublicKey") {
        draft.public_key = Some(parse_key(&value, PublicKey::from_base64)?);
        draft.key_line = line;
    } else if is(key, "PresharedKey") {
        let k = parse_key(&value, PresharedKey::from_base64)?;
        peer.preshared_key = Some(k).filter(|k| !k.is_zero());
    } else if is(key, "AllowedIPs") {
        if !value.is_empty() {
            for item in value.split(',') {
                peer.allowed_ips.push(AllowedIp::parse(item).map_err(ConfigErrorKind::Cidr)?);
            }
        }
    } else if is(key, "Endpoint") {
        peer.endpoint = Some(Endpoint::parse(&value).map_err(ConfigErrorKind::Endpoint)?);
    } else if is(key, "PersistentKeepalive") {
        peer.persistent_keepalive = if value.eq_ignore_ascii_case("off") {
            None
        } else {
            let v = parse_decimal(&value, u16::MAX.into())
                .ok_or(ConfigErrorKind::Keepalive(clip(&value)))?;
            Some(v as u16).filter(|v| *v != 0)
        };
    } else if INTERFACE_KEYS.iter().any(|k| is(key, k)) {
        return Err(ConfigErrorKind::WrongSection { section: "Interface" });
    } else {
        return Err(ConfigErrorKind::UnknownKey { section: "Peer" });
    }
    Ok(())
}

fn parse_key<K>(
    value: &str,
    parse: impl Fn(&str) -> Result<K, KeyParseError>,
) -> Result<K, ConfigErrorKind> {
    let value = compact(value);
    if value.is_empty() {
        return Err(ConfigErrorKind::EmptyValue);
    }
    parse(&value).map_err(ConfigErrorKind::Key)
}

fn parse_fwmark(v: &str) -> Result<Option<u32>, ConfigErrorKind> {
    if v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let parsed = match v.strip_prefix("0x") {
        Some(hex) if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u32::from_str_radix(hex, 16).ok()
        }
        Some(_) => None,
        None => parse_decimal(v, u32::MAX.into()).map(|m| m as u32),
    };
    parsed.map(|m| Some(m).filter(|m| *m != 0)).ok_or(ConfigErrorKind::FwMark(clip(v)))
}

/// wg-quick splits `Address` and `DNS` on commas and whitespace alike.
fn list_items(value: &str) -> impl Iterator<Item = &str> {
    value.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty())
}

fn parse_dns(ifc: &mut InterfaceConfig, item: &str) -> Result<(), ConfigErrorKind> {
    // wg-quick's own test: digits and dots, or anything with a colon, is a server.
    let looks_like_ip = item.bytes().all(|b| b.is_ascii_digit() || b == b'.') || item.contains(':');
    if looks_like_ip {
        let ip: IpAddr = item.parse().map_err(|_| ConfigErrorKind::Dns(clip(item)))?;
        ifc.dns.push(ip);
    } else {
        ifc.dns_search.push(item.to_owned());
    }
    Ok(())
}

fn parse_table(v: &str) -> Result<Option<Table>, ConfigErrorKind> {
    if v.is_empty() {
        return Ok(None);
    }
    if v.eq_ignore_ascii_case("auto") {
        return Ok(Some(Table::Auto));
    }
    if v.eq_ignore_ascii_case("off") {
        return Ok(Some(Table::Off));
    }
    if v.bytes().all(|b| b.is_ascii_digit()) {
        return parse_decimal(v, u32::MAX.into())
            .map(|id| Some(Table::Id(id as u32)))
            .ok_or(ConfigErrorKind::Table(clip(v)));
    }
    if is_table_name(v) {
        return Ok(Some(Table::Name(v.to_owned())));
    }
    Err(ConfigErrorKind::Table(clip(v)))
}

pub(super) fn is_table_name(v: &str) -> bool {
    !v.is_empty()
        && !v.bytes().all(|b| b.is_ascii_digit())
        && !v.eq_ignore_ascii_case("auto")
        && !v.eq_ignore_ascii_case("off")
        && v.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}
