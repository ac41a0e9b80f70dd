//! Applying `set` operations to a config snapshot, with wireguard-go's semantics.

use std::collections::BTreeMap;

use super::{UapiError, UapiErrorKind, UapiOp};
use crate::config::{AllowedIp, DeviceConfig, Endpoint, PeerConfig};
use crate::keys::{PrivateKey, PublicKey};

/// Applies `ops` to `base` and returns the resulting config; `base` is untouched and
/// nothing is applied if any op is invalid in its position.
///
/// Semantics follow wireguard-go's `IpcSetOperation`: `public_key` selects or creates a
/// peer (a peer with the device's own public key is ignored, as is everything after
/// `remove` or after `update_only` on a peer that did not exist); setting the private
/// key stores it clamped (as the device reports it) and drops a peer with the matching
/// public key; an allowed IP belongs to one peer, so
/// adding it to one removes it from any other; zero values mean "unset".
/// Runs in time linear in the ops plus the size of `base`.
pub fn apply(ops: &[UapiOp], base: &DeviceConfig) -> Result<DeviceConfig, UapiError> {
    let mut st = State::new(base);
    let mut current = Current::Device;
    for (idx, op) in ops.iter().enumerate() {
        let fail = |kind| UapiError { line: idx + 1, key: op_key(op).to_owned(), kind };
        if let UapiOp::PublicKey(pk) = op {
            current = st.select(*pk).ok_or_else(|| fail(UapiErrorKind::TooManyPeers))?;
            continue;
        }
        if is_device_op(op) {
            if !matches!(current, Current::Device) {
                return Err(fail(UapiErrorKind::UnknownPeerKey));
            }
            st.device_op(op);
            continue;
        }
        match current {
            Current::Device => return Err(fail(UapiErrorKind::NoPeer)),
            Current::Dummy => {}
            Current::Peer { slot, created } => current = st.peer_op(slot, created, op),
        }
    }
    Ok(st.finish())
}

/// Most peers a device holds; creating one more is refused (wireguard-go's `MaxPeers`).
pub const MAX_PEERS: usize = 1 << 16;

#[derive(Clone, Copy)]
enum Current {
    Device,
    Dummy,
    Peer { slot: usize, created: bool },
}

struct State {
    cfg: DeviceConfig,
    own_public: Option<PublicKey>,
    slots: Vec<Option<PeerConfig>>,
    by_key: BTreeMap<PublicKey, usize>,
    owner: BTreeMap<AllowedIp, usize>,
}

impl State {
    fn new(base: &DeviceConfig) -> Self {
        let mut cfg = base.clone();
        let peers = std::mem::take(&mut cfg.peers);
        let mut st = Self {
            own_public: cfg.private_key.as_ref().map(|k| k.public_key()),
            cfg,
            slots: Vec::with_capacity(peers.len()),
            by_key: BTreeMap::new(),
            owner: BTreeMap::new(),
        };
        for (slot, peer) in peers.into_iter().enumerate() {
            for ip in &peer.allowed_ips {
                st.owner.insert(*ip, slot);
            }
            st.by_key.insert(peer.public_key, slot);
            st.slots.push(Some(peer));
        }
        st
    }

    /// Selects or creates the peer; `None` if creating it would exceed [`MAX_PEERS`].
    fn select(&mut self, pk: PublicKey) -> Option<Current> {
        if self.own_public == Some(pk) {
            return Some(Current::Dummy);
        }
        if let Some(&slot) = self.by_key.get(&pk) {
            return Some(Current::Peer { slot, created: false });
        }
        if self.by_key.len() >= MAX_PEERS {
            return None;
        }
        let slot = self.slots.len();
        self.slots.push(Some(PeerConfig::new(pk)));
        self.by_key.insert(pk, slot);
        Some(Current::Peer { slot, created: true })
    }

    fn device_op(&mut self, op: &UapiOp) {
        match op {
            UapiOp::PrivateKey(key) => {
                let key = key.as_ref().map(clamp);
                self.own_public = key.as_ref().map(|k| k.public_key());
                if let Some(&slot) = self.own_public.as_ref().and_then(|pk| self.by_key.get(pk)) {
                    self.remove(slot);
                }
                self.cfg.private_key = key;
            }
            UapiOp::ListenPort(p) => self.cfg.listen_port = Some(*p).filter(|p| *p != 0),
            UapiOp::FwMark(m) => self.cfg.fwmark = Some(*m).filter(|m| *m != 0),
            UapiOp::ReplacePeers => {
                self.slots.iter_mut().for_each(|s| *s = None);
                self.by_key.clear();
                self.owner.clear();
            }
            _ => {}
        }
    }

    fn peer_op(&mut self, slot: usize, created: bool, op: &UapiOp) -> Current {
        let here = Current::Peer { slot, created };
        match op {
            UapiOp::Remove => {
                self.remove(slot);
                return Current::Dummy;
            }
            UapiOp::UpdateOnly if created => {
                self.remove(slot);
                return Current::Dummy;
            }
            UapiOp::ReplaceAllowedIps => {
                if let Some(peer) = self.slots.get_mut(slot).and_then(Option::as_mut) {
                    for ip in peer.allowed_ips.drain(..) {
                        if self.owner.get(&ip) == Some(&slot) {
                            self.owner.remove(&ip);
                        }
                    }
                }
                return here;
            }
            UapiOp::AllowedIp(ip) => {
                self.owner.insert(*ip, slot);
            }
            _ => {}
        }
        if let Some(peer) = self.slots.get_mut(slot).and_then(Option::as_mut) {
            match op {
                UapiOp::PresharedKey(k) => peer.preshared_key = k.clone(),
                UapiOp::Endpoint(a) => peer.endpoint = Some(Endpoint::Addr(*a)),
                UapiOp::PersistentKeepaliveInterval(s) => {
                    peer.persistent_keepalive = Some(*s).filter(|s| *s != 0);
                }
                UapiOp::AllowedIp(ip) => peer.allowed_ips.push(*ip),
                _ => {}
            }
        }
        here
    }

    fn remove(&mut self, slot: usize) {
        let Some(peer) = self.slots.get_mut(slot).and_then(Option::take) else {
            return;
        };
        self.by_key.remove(&peer.public_key);
        for ip in &peer.allowed_ips {
            if self.owner.get(ip) == Some(&slot) {
                self.owner.remove(ip);
            }
        }
    }

    /// Drops allowed IPs now owned by another peer and repeats within a peer.
    fn finish(mut self) -> DeviceConfig {
        let mut peers = Vec::with_capacity(self.by_key.len());
        for (slot, peer) in self.slots.into_iter().enumerate() {
            let Some(mut peer) = peer else { continue };
            peer.allowed_ips.retain(|ip| {
                let mine = self.owner.get(ip) == Some(&slot);
                if mine {
                    // Removing the entry makes any later repeat in this list fail the test.
                    self.owner.remove(ip);
                }
                mine
            });
            peers.push(peer);
        }
        self.cfg.peers = peers;
        self.cfg
    }
}

/// The key as the kernel and wireguard-go store (and report) it: clamped for X25519.
/// The public key, and so the handshake, is the same either way.
fn clamp(key: &PrivateKey) -> PrivateKey {
    let mut bytes = zeroize::Zeroizing::new(*key.as_bytes());
    bytes[0] &= 248;
    bytes[31] = (bytes[31] & 127) | 64;
    PrivateKey::from_bytes(*bytes)
}

fn is_device_op(op: &UapiOp) -> bool {
    matches!(
        op,
        UapiOp::PrivateKey(_) | UapiOp::ListenPort(_) | UapiOp::FwMark(_) | UapiOp::ReplacePeers
    )
}

fn op_key(op: &UapiOp) -> &'static str {
    match op {
        UapiOp::PrivateKey(_) => "private_key",
        UapiOp::ListenPort(_) => "listen_port",
        UapiOp::FwMark(_) => "fwmark",
        UapiOp::ReplacePeers => "replace_peers",
        UapiOp::PublicKey(_) => "public_key",
        UapiOp::Remove => "remove",
        UapiOp::UpdateOnly => "update_only",
        UapiOp::PresharedKey(_) => "preshared_key",
        UapiOp::Endpoint(_) => "endpoint",
        UapiOp::PersistentKeepaliveInterval(_) => "persistent_keepalive_interval",
        UapiOp::ReplaceAllowedIps => "replace_allowed_ips",
        UapiOp::AllowedIp(_) => "allowed_ip",
        UapiOp::ProtocolVersion => "protocol_version",
    }
}
