//! wg-quick INI writing, in the layout `wg showconf` uses, refusing values the format
//! cannot carry (so that the output always parses back to an equal config).

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::values::clip;
use super::wgquick::is_table_name;
use super::{Endpoint, PeerConfig, Table, WgQuickConfig};
use crate::keys::PublicKey;

/// A config value that a wg-quick file cannot represent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// A hook command contains `#` or a line break, or has surrounding whitespace.
    #[error("{key} command `{value}` cannot be written: it contains `#` or a newline, or starts or ends with whitespace")]
    Hook {
        /// PreUp, PostUp, PreDown or PostDown.
        key: &'static str,
        /// The command, with anything that could be key material hidden (hooks often
        /// pass keys to `wg set`).
        value: String,
    },
    /// A DNS search domain that is empty, looks like an address, or has separators.
    #[error("DNS search domain `{0}` cannot be written")]
    DnsSearch(String),
    /// A table name that is empty, numeric, a keyword, or has unusual characters.
    #[error("table name `{0}` cannot be written")]
    TableName(String),
    /// An endpoint hostname that is empty, an IP literal, or has characters a hostname
    /// does not have.
    #[error("endpoint host `{0}` cannot be written")]
    EndpointHost(String),
    /// An MTU of 0, which no wg-quick file can express (`MTU` must be 1-65535).
    #[error("MTU {0} cannot be written (1-65535)")]
    Mtu(u16),
    /// Two peers with the same public key (the parser refuses such a file).
    #[error("two peers have the public key {0}")]
    DuplicatePeer(PublicKey),
}

pub(super) fn write(cfg: &WgQuickConfig) -> Result<String, WriteError> {
    let mut s = String::with_capacity(256 + cfg.device.peers.len() * 160);
    let dev = &cfg.device;
    let ifc = &cfg.interface;
    s.push_str("[Interface]\n");
    // Zero means unset (see the module docs of `config`): such values are left out, so
    // that writing what was parsed gives the same text again.
    if let Some(k) = dev.private_key.as_ref().filter(|k| !k.is_zero()) {
        line(&mut s, "PrivateKey", &k.to_base64());
    }
    if let Some(p) = dev.listen_port.filter(|p| *p != 0) {
        line(&mut s, "ListenPort", &p.to_string());
    }
    if let Some(m) = dev.fwmark.filter(|m| *m != 0) {
        line(&mut s, "FwMark", &format!("0x{m:x}"));
    }
    if !ifc.addresses.is_empty() {
        line(&mut s, "Address", &join(ifc.addresses.iter()));
    }
    for d in &ifc.dns_search {
        check_dns_search(d)?;
    }
    if !ifc.dns.is_empty() || !ifc.dns_search.is_empty() {
        let all = ifc.dns.iter().map(ToString::to_string).chain(ifc.dns_search.iter().cloned());
        line(&mut s, "DNS", &all.collect::<Vec<_>>().join(", "));
    }
    match ifc.mtu {
        None => {}
        Some(0) => return Err(WriteError::Mtu(0)),
        Some(mtu) => line(&mut s, "MTU", &mtu.to_string()),
    }
    match &ifc.table {
        None => {}
        Some(Table::Auto) => line(&mut s, "Table", "auto"),
        Some(Table::Off) => line(&mut s, "Table", "off"),
        Some(Table::Id(id)) => line(&mut s, "Table", &id.to_string()),
        Some(Table::Name(n)) if is_table_name(n) => line(&mut s, "Table", n),
        Some(Table::Name(n)) => return Err(WriteError::TableName(n.clone())),
    }
    if ifc.save_config {
        line(&mut s, "SaveConfig", "true");
    }
    for (key, cmds) in [
        ("PreUp", &ifc.pre_up),
        ("PostUp", &ifc.post_up),
        ("PreDown", &ifc.pre_down),
        ("PostDown", &ifc.post_down),
    ] {
        for cmd in cmds {
            check_hook(key, cmd)?;
            line(&mut s, key, cmd);
        }
    }
    let mut seen = BTreeSet::new();
    for peer in &dev.peers {
        if !seen.insert(peer.public_key) {
            return Err(WriteError::DuplicatePeer(peer.public_key));
        }
        write_peer(&mut s, peer)?;
    }
    Ok(s)
}

fn write_peer(s: &mut String, peer: &PeerConfig) -> Result<(), WriteError> {
    s.push_str("\n[Peer]\n");
    line(s, "PublicKey", &peer.public_key.to_base64());
    if let Some(k) = peer.preshared_key.as_ref().filter(|k| !k.is_zero()) {
        line(s, "PresharedKey", &k.to_base64());
    }
    if !peer.allowed_ips.is_empty() {
        line(s, "AllowedIPs", &join(peer.allowed_ips.iter()));
    }
    if let Some(ep) = &peer.endpoint {
        let text = ep.to_string();
        if let Endpoint::Host { host, .. } = ep {
            if Endpoint::parse(&text).as_ref() != Ok(ep) {
                return Err(WriteError::EndpointHost(host.clone()));
            }
        }
        line(s, "Endpoint", &text);
    }
    if let Some(k) = peer.persistent_keepalive.filter(|k| *k != 0) {
        line(s, "PersistentKeepalive", &k.to_string());
    }
    Ok(())
}

fn line(s: &mut String, key: &str, value: &str) {
    s.push_str(key);
    s.push_str(" = ");
    s.push_str(value);
    s.push('\n');
}

fn join<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    let mut out = String::new();
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{item}");
    }
    out
}

fn check_hook(key: &'static str, cmd: &str) -> Result<(), WriteError> {
    if cmd.contains(['#', '\n']) || cmd.trim() != cmd {
        return Err(WriteError::Hook { key, value: clip(cmd) });
    }
    Ok(())
}

fn check_dns_search(d: &str) -> Result<(), WriteError> {
    let looks_like_ip = d.bytes().all(|b| b.is_ascii_digit() || b == b'.') || d.contains(':');
    let bad_char = d.chars().any(|c| c == ',' || c == '#' || c.is_whitespace());
    if d.is_empty() || looks_like_ip || bad_char {
        return Err(WriteError::DnsSearch(d.to_owned()));
    }
    Ok(())
}
