//! What changed between two configs, so the engine can turn a new snapshot (from
//! [`uapi::apply`](super::uapi::apply) or a parsed file) into the smallest set of changes.

use std::collections::{BTreeMap, BTreeSet};

use super::{DeviceConfig, PeerConfig};
use crate::keys::PublicKey;

/// The differences between an old and a new [`DeviceConfig`].
///
/// A snapshot does not record that a peer was removed and re-created with identical
/// settings (`replace_peers=true` followed by the same peers): such a peer is unchanged
/// here, so an engine that applies diffs keeps its sessions, as `wg syncconf` intends.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigDiff {
    /// The private key differs (every session must be dropped).
    pub private_key: bool,
    /// The listen port differs (rebind).
    pub listen_port: bool,
    /// The fwmark differs.
    pub fwmark: bool,
    /// Peers only in the old config, in old order.
    pub removed: Vec<PublicKey>,
    /// Peers only in the new config, in new order.
    pub added: Vec<PublicKey>,
    /// Peers in both whose settings differ, in new order.
    pub changed: Vec<PublicKey>,
}

impl ConfigDiff {
    /// Compares two configs in time linear in their size.
    pub fn between(old: &DeviceConfig, new: &DeviceConfig) -> Self {
        let old_peers: BTreeMap<PublicKey, &PeerConfig> =
            old.peers.iter().map(|p| (p.public_key, p)).collect();
        let new_keys: BTreeSet<PublicKey> = new.peers.iter().map(|p| p.public_key).collect();
        let mut diff = Self {
            private_key: old.private_key != new.private_key,
            listen_port: old.listen_port != new.listen_port,
            fwmark: old.fwmark != new.fwmark,
            removed: old
                .peers
                .iter()
                .map(|p| p.public_key)
                .filter(|k| !new_keys.contains(k))
                .collect(),
            ..Self::default()
        };
        for peer in &new.peers {
            match old_peers.get(&peer.public_key) {
                None => diff.added.push(peer.public_key),
                Some(old) if *old != peer => diff.changed.push(peer.public_key),
                Some(_) => {}
            }
        }
        diff
    }

    /// True when the two configs are equal.
    pub fn is_empty(&self) -> bool {
        !self.private_key
            && !self.listen_port
            && !self.fwmark
            && self.removed.is_empty()
            && self.added.is_empty()
            && self.changed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AllowedIp, Endpoint};

    fn peer(k: u8) -> PeerConfig {
        PeerConfig::new(PublicKey([k; 32]))
    }

    #[test]
    fn diff_table() {
        let old = DeviceConfig {
            listen_port: Some(1),
            peers: vec![peer(1), peer(2), peer(3)],
            ..DeviceConfig::default()
        };
        assert!(ConfigDiff::between(&old, &old).is_empty());

        let mut new = old.clone();
        new.listen_port = Some(2);
        new.peers.remove(0);
        new.peers[0].endpoint = Some(Endpoint::Addr("127.0.0.1:1".parse().unwrap()));
        new.peers[1].allowed_ips.push(AllowedIp::parse("10.0.0.0/8").unwrap());
        new.peers.push(peer(4));
        let d = ConfigDiff::between(&old, &new);
        assert!(!d.is_empty());
        assert!(d.listen_port && !d.private_key && !d.fwmark);
        assert_eq!(d.removed, [PublicKey([1; 32])]);
        assert_eq!(d.added, [PublicKey([4; 32])]);
        assert_eq!(d.changed, [PublicKey([2; 32]), PublicKey([3; 32])]);

        let back = ConfigDiff::between(&new, &old);
        assert_eq!(back.removed, [PublicKey([4; 32])]);
        assert_eq!(back.added, [PublicKey([1; 32])]);
    }
}
