//! Live configuration: a new [`DeviceConfig`] is validated and built into a new
//! immutable snapshot ([`Interface::prepare`]), then committed ([`Interface::commit`])
//! by applying the [`ConfigDiff`] between the applied and the new configuration to the
//! peers' protocol state and publishing the snapshot with one pointer swap.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use super::slot::{PeerSlot, SlotIndices};
use super::{Interface, Snapshot};
use crate::allowedips::{Prefix, Table};
use crate::config::{ConfigDiff, DeviceConfig, Endpoint, PeerConfig};
use crate::keys::PublicKey;
use crate::peer::{Identity, Peer as ProtoPeer, PeerConfig as ProtoPeerConfig};

/// Why a configuration was refused (nothing was changed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The configuration is inconsistent (the same peer twice, a bad prefix, ...).
    #[error("{0}")]
    Invalid(String),
    /// Another configuration was committed after this one was prepared.
    #[error("configuration changed while this one was prepared")]
    Stale,
}

/// A validated configuration, ready for [`Interface::commit`].
pub struct Prepared {
    base: Arc<Snapshot>,
    diff: ConfigDiff,
    next: Snapshot,
    fresh: Vec<Arc<PeerSlot>>,
}

impl Prepared {
    /// What changes against the applied configuration.
    pub fn diff(&self) -> &ConfigDiff {
        &self.diff
    }
}

fn keepalive(pc: &PeerConfig) -> Option<Duration> {
    pc.persistent_keepalive.map(|s| Duration::from_secs(s.into()))
}

fn endpoint(pc: &PeerConfig) -> Option<std::net::SocketAddr> {
    pc.endpoint.as_ref().and_then(Endpoint::addr)
}

impl Interface {
    /// The configuration as applied (endpoints as configured, not as roamed).
    pub fn applied_config(&self) -> DeviceConfig {
        self.snapshot.load().config.clone()
    }

    /// The applied configuration with each peer's current (possibly roamed) endpoint.
    pub fn live_config(&self) -> DeviceConfig {
        let snap = self.snapshot.load();
        let mut cfg = snap.config.clone();
        let by_key: BTreeMap<PublicKey, &Arc<PeerSlot>> =
            snap.peers.iter().map(|p| (p.public_key, p)).collect();
        for pc in &mut cfg.peers {
            let current =
                by_key.get(&pc.public_key).and_then(|p| p.proto.lock().as_ref()?.endpoint());
            if let Some(addr) = current {
                pc.endpoint = Some(Endpoint::Addr(addr));
            }
        }
        cfg
    }

    /// Validates `config` (a hostname endpoint is refused: core does not resolve names) and
    /// builds everything that can fail, touching no live state.
    pub fn prepare(&self, config: DeviceConfig) -> Result<Prepared, ConfigError> {
        config.check_resolved().map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let base = self.snapshot.load_full();
        let mut seen = BTreeSet::new();
        for p in &config.peers {
            if !seen.insert(p.public_key) {
                let key = p.public_key.to_base64();
                return Err(ConfigError::Invalid(format!("peer {key} appears twice")));
            }
        }
        let diff = ConfigDiff::between(&base.config, &config);
        let identity = if diff.private_key {
            config.private_key.as_ref().map(|k| Arc::new(Identity::new(k)))
        } else {
            base.identity.clone()
        };
        let own_key = identity.as_ref().map(|i| *i.public_key());
        let old: BTreeMap<PublicKey, &Arc<PeerSlot>> =
            base.peers.iter().map(|p| (p.public_key, p)).collect();
        let mut peers = Vec::with_capacity(config.peers.len());
        let mut routes = Table::new();
        let mut fresh = Vec::new();
        for pc in &config.peers {
            if Some(pc.public_key) == own_key {
                continue;
            }
            let peer = match old.get(&pc.public_key) {
                Some(p) => Arc::clone(p),
                None => {
                    let p = self.new_slot(pc, identity.as_ref());
                    fresh.push(p.clone());
                    p
                }
            };
            for ip in &pc.allowed_ips {
                let prefix = Prefix::new(ip.addr(), ip.cidr())
                    .map_err(|e| ConfigError::Invalid(e.to_string()))?;
                routes
                    .insert(prefix, peer.clone())
                    .map_err(|e| ConfigError::Invalid(format!("allowed IPs: {e}")))?;
            }
            peers.push(peer);
        }
        // A freshly built trie: lay it out depth-first and build its top-level index.
        routes.compact();
        Ok(Prepared { base, diff, next: Snapshot { config, identity, peers, routes }, fresh })
    }

    /// Applies a prepared configuration: removed peers lose their sessions, added peers
    /// join, changed peers get their new settings, a new private key voids every
    /// session; then the new snapshot is published at once.
    pub fn commit(&self, prepared: Prepared, now: Instant) -> Result<(), ConfigError> {
        let Prepared { base, diff, next, fresh } = prepared;
        if !Arc::ptr_eq(&base, &self.snapshot.load()) {
            return Err(ConfigError::Stale);
        }
        let kept: BTreeSet<PublicKey> = next.peers.iter().map(|p| p.public_key).collect();
        // `diff.removed`, plus a peer whose key became the interface's own.
        for p in base.peers.iter().filter(|p| !kept.contains(&p.public_key)) {
            p.removed.store(true, Ordering::Relaxed);
            self.by_key.remove(&p.public_key);
            self.clear_sessions(p);
        }
        for p in &fresh {
            let _ = self.by_key.insert(p.public_key, p.clone());
        }
        let new_cfg: BTreeMap<PublicKey, &PeerConfig> =
            next.config.peers.iter().map(|p| (p.public_key, p)).collect();
        let old_cfg: BTreeMap<PublicKey, &PeerConfig> =
            base.config.peers.iter().map(|p| (p.public_key, p)).collect();
        if diff.private_key {
            let fresh_keys: BTreeSet<PublicKey> = fresh.iter().map(|p| p.public_key).collect();
            for peer in next.peers.iter().filter(|p| !fresh_keys.contains(&p.public_key)) {
                let Some(pc) = new_cfg.get(&peer.public_key) else { continue };
                self.rekey_identity(peer, pc, next.identity.as_ref(), now);
            }
        }
        let slots: BTreeMap<PublicKey, &Arc<PeerSlot>> =
            next.peers.iter().map(|p| (p.public_key, p)).collect();
        for key in &diff.changed {
            let (Some(&peer), Some(pc)) = (slots.get(key), new_cfg.get(key)) else {
                continue;
            };
            let prev = old_cfg.get(key);
            let mut guard = peer.proto.lock();
            if let Some(p) = guard.as_mut() {
                if prev.map(|c| &c.preshared_key) != Some(&pc.preshared_key) {
                    p.set_preshared_key(pc.preshared_key.as_ref());
                }
                let ka = keepalive(pc);
                if p.timers().persistent_keepalive() != ka.filter(|d| !d.is_zero()) {
                    p.set_persistent_keepalive(ka, now);
                }
                if prev.map(|c| &c.endpoint) != Some(&pc.endpoint) && endpoint(pc).is_some() {
                    p.set_endpoint(endpoint(pc));
                }
            }
            self.publish_deadline(peer, guard.as_ref());
        }
        self.snapshot.store(Arc::new(next));
        if self.started.load(Ordering::Relaxed) {
            for p in &fresh {
                let mut guard = p.proto.lock();
                if let Some(proto) = guard.as_mut() {
                    proto.on_interface_up(now);
                }
                self.publish_deadline(p, guard.as_ref());
            }
        }
        Ok(())
    }

    /// [`Interface::prepare`] then [`Interface::commit`].
    pub fn apply_config(&self, config: DeviceConfig, now: Instant) -> Result<(), ConfigError> {
        let prepared = self.prepare(config)?;
        self.commit(prepared, now)
    }

    /// A kept peer under a new private key (or none).
    fn rekey_identity(
        &self,
        peer: &Arc<PeerSlot>,
        pc: &PeerConfig,
        identity: Option<&Arc<Identity>>,
        now: Instant,
    ) {
        let mut guard = peer.proto.lock();
        match (guard.as_mut(), identity) {
            // The old sessions are void (their indices are released); endpoint, timers,
            // staged packets and counters stay.
            (Some(p), Some(id)) => p.set_identity(id.clone()),
            (None, Some(id)) => {
                drop(guard);
                let mut proto = self.proto_peer(peer, pc, id);
                proto.on_interface_up(now);
                guard = peer.proto.lock();
                *guard = Some(proto);
            }
            // The key was removed: nothing can be sent or received.
            (_, None) => {
                if let Some(old) = guard.take() {
                    for idx in old.local_indices() {
                        self.indices.remove(idx);
                    }
                }
            }
        }
        self.publish_deadline(peer, guard.as_ref());
    }

    /// A new peer slot with its protocol state (if the interface has a key).
    fn new_slot(&self, pc: &PeerConfig, identity: Option<&Arc<Identity>>) -> Arc<PeerSlot> {
        let peer = Arc::new(PeerSlot::new(pc.public_key));
        if let Some(id) = identity {
            let proto = self.proto_peer(&peer, pc, id);
            *peer.proto.lock() = Some(proto);
        }
        peer
    }

    /// Protocol state for `slot` under `identity`, with its own RNG seeded from ours.
    fn proto_peer(
        &self,
        slot: &Arc<PeerSlot>,
        pc: &PeerConfig,
        identity: &Arc<Identity>,
    ) -> ProtoPeer {
        let mut cfg = ProtoPeerConfig::new(slot.public_key);
        cfg.preshared_key = pc.preshared_key.clone();
        cfg.endpoint = endpoint(pc);
        cfg.persistent_keepalive = keepalive(pc);
        let mut seed = [0u8; 32];
        self.rng.lock().fill_bytes(&mut seed);
        let indices =
            Arc::new(SlotIndices { table: self.indices.clone(), slot: Arc::downgrade(slot) });
        let mut proto =
            ProtoPeer::new(identity.clone(), cfg, indices, Box::new(ChaCha20Rng::from_seed(seed)));
        proto.set_defer_initiations(true);
        proto
    }

    /// Drops a peer's protocol state (zeroizing its keys) and its indices.
    fn clear_sessions(&self, peer: &PeerSlot) {
        let mut guard = peer.proto.lock();
        if let Some(p) = guard.take() {
            for idx in p.local_indices() {
                self.indices.remove(idx);
            }
        }
        self.publish_deadline(peer, None);
    }

    /// Drops every peer's sessions (zeroizing their keys), as on shutdown.
    pub fn clear_all_sessions(&self) {
        for p in &self.snapshot.load_full().peers {
            self.clear_sessions(p);
        }
    }
}
