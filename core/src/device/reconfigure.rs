//! Applying configuration to a running engine: the transport is (re)opened here, the
//! protocol side is the interface's ([`crate::interface::Interface::prepare`] /
//! `commit`, driven by the `ConfigDiff` against the applied configuration).

use std::sync::Arc;

use super::records::TransportSlot;
use super::state::Inner;
use super::suspend::wait_released;
use super::DeviceError;
use crate::config::uapi::{self, UapiError, UapiErrorKind, UapiOp};
use crate::config::DeviceConfig;
use crate::interface::ConfigError;

fn config_error(e: ConfigError) -> DeviceError {
    DeviceError::InvalidConfig(e.to_string())
}

impl Inner {
    /// Applies a full configuration, all or nothing.
    pub(crate) fn set_config(&self, config: &DeviceConfig) -> Result<(), DeviceError> {
        let _guard = self.config_lock.lock();
        self.set_config_locked(config)
    }

    /// Refuses hostname endpoints (the host resolves them; core makes no OS call),
    /// validates, opens the transport if the port changed, then commits.
    fn set_config_locked(&self, config: &DeviceConfig) -> Result<(), DeviceError> {
        config.check_resolved()?;
        let config = config.clone();
        let want = config.listen_port;
        let mark = config.fwmark.filter(|m| *m != 0);
        let old_mark = self.iface.applied_config().fwmark.filter(|m| *m != 0);
        let prepared = self.iface.prepare(config).map_err(config_error)?;
        let port_changed = match self.transport() {
            // Suspended: the port is opened (with the fwmark) by the resume.
            None if self.is_suspended() => {
                if let Some(p) = want {
                    self.parked_port.store(p, std::sync::atomic::Ordering::Relaxed);
                }
                false
            }
            None => true,
            Some(t) => want.is_some_and(|p| p != t.0.local_port()),
        };
        if port_changed {
            let port = want.unwrap_or(0);
            let t = self.bind.bind(port).map_err(|source| DeviceError::Bind { port, source })?;
            // The fwmark goes on a new transport before it is used; a transport that
            // cannot carry it refuses the whole config.
            t.set_fwmark(mark).map_err(DeviceError::Fwmark)?;
            t.set_rx_timestamps(self.opts.rx_codel.is_some());
            self.transport.store(Some(Arc::new(TransportSlot(t))));
        } else if mark != old_mark {
            if let Some(t) = self.transport() {
                t.0.set_fwmark(mark).map_err(DeviceError::Fwmark)?;
            }
        }
        self.iface.commit(prepared, self.clock.now()).map_err(config_error)?;
        self.wake_control();
        Ok(())
    }

    /// Called once the threads run: arms persistent keepalives.
    pub(crate) fn interface_up(&self) {
        let _guard = self.config_lock.lock();
        self.iface.interface_up(self.clock.now());
        self.wake_control();
    }

    pub(crate) fn uapi_set(&self, ops: &[UapiOp]) -> Result<(), UapiError> {
        let _guard = self.config_lock.lock();
        let base = self.iface.live_config();
        let mut next = uapi::apply(ops, &base)?;
        // A listen port absent from the request keeps the port in use.
        if !ops.iter().any(|op| matches!(op, UapiOp::ListenPort(_))) {
            next.listen_port = self.iface.applied_config().listen_port;
        }
        self.set_config_locked(&next).map_err(|e| {
            tracing::warn!(target: "ferrowg::device", error = %e, "uapi set refused");
            match e {
                DeviceError::Fwmark(source) => UapiError {
                    line: ops
                        .iter()
                        .position(|op| matches!(op, UapiOp::FwMark(_)))
                        .map_or(0, |i| i + 1),
                    key: "fwmark".to_owned(),
                    kind: UapiErrorKind::Rejected(format!("cannot set fwmark: {source}")),
                },
                DeviceError::Bind { port, source } => UapiError {
                    line: ops
                        .iter()
                        .position(|op| matches!(op, UapiOp::ListenPort(_)))
                        .map_or(0, |i| i + 1),
                    key: "listen_port".to_owned(),
                    kind: UapiErrorKind::PortUnavailable { port, reason: source.to_string() },
                },
                other => UapiError {
                    line: 0,
                    key: "set".to_owned(),
                    kind: UapiErrorKind::Rejected(other.to_string()),
                },
            }
        })
    }

    pub(crate) fn rebind(&self) -> Result<(), DeviceError> {
        let _guard = self.config_lock.lock();
        self.rebind_locked()
    }

    /// `rebind` under the config lock. Suspended, the transport stays closed (the
    /// resume opens it).
    pub(crate) fn rebind_locked(&self) -> Result<(), DeviceError> {
        if self.is_suspended() {
            return Ok(());
        }
        let port = match self.transport() {
            Some(t) => t.0.local_port(),
            None => self.parked_port.load(std::sync::atomic::Ordering::Relaxed),
        };
        let configured = self.iface.applied_config().listen_port;
        // Close the old socket first (the new one wants its port), and wait until no
        // thread still holds it.
        let old = self.transport.swap(None);
        if let Some(old) = old {
            wait_released(&old);
        }
        let result = self.bind.bind(port).or_else(|e| match configured {
            None => self.bind.bind(0),
            Some(_) => Err(e),
        });
        let t = result.map_err(|source| DeviceError::Bind { port, source })?;
        let mark = self.iface.applied_config().fwmark.filter(|m| *m != 0);
        t.set_fwmark(mark).map_err(DeviceError::Fwmark)?;
        t.set_rx_timestamps(self.opts.rx_codel.is_some());
        self.transport.store(Some(Arc::new(TransportSlot(t))));
        Ok(())
    }
}
