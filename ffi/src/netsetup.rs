//! The network plan in the API: the interface's addresses, MTU, routes, policy rules,
//! full-tunnel firewall and DNS from a wg-quick file, applied by the library and undone
//! by [`NetworkSetup::undo`] or when the object is freed. Linux (netlink, nft, resolvconf
//! or resolved, with the crash marker of `ferrowg up`), Windows (IP Helper, with a crash
//! marker in `%ProgramData%\ferrowg` undone by the next apply) and macOS
//! without NetworkExtension (`ifconfig`, `route`, `networksetup`, as wg-quick, with a
//! route monitor and a crash marker in `/var/run/ferrowg` undone by the next apply); Apple
//! NetworkExtension apps give [`crate::network_settings_for`] to the system instead.

use std::sync::Arc;

use ferrowg_core::config::WgQuickConfig;
use ferrowg_core::netplan::NetworkPlan;
use parking_lot::Mutex;

use crate::TunnelError;

/// What undoes an applied plan: the platform applier's record.
trait Revert: Send {
    /// Reverts every change, newest first; the errors.
    fn revert(&mut self) -> Vec<String>;
}

#[cfg(target_os = "linux")]
impl Revert for ferrowg_platform::netconf::Applied {
    fn revert(&mut self) -> Vec<String> {
        self.undo()
    }
}

#[cfg(target_os = "macos")]
impl Revert for ferrowg_platform::netconf::macos::Applied {
    fn revert(&mut self) -> Vec<String> {
        self.undo()
    }
}

#[cfg(windows)]
impl Revert
    for ferrowg_platform::netconf::win_plan::Applied<ferrowg_platform::netconf::windows::IpHelper>
{
    fn revert(&mut self) -> Vec<String> {
        self.undo()
    }
}

/// A network plan applied to one interface. [`NetworkSetup::undo`] reverts exactly the
/// changes made; freeing the object (dropping it, `ferrowg_network_free`) does the same
/// if `undo` was not called. On Linux, call `undo` (or free it) from a thread in the same
/// network namespace as the apply (for an app: any thread).
#[derive(uniffi::Object)]
pub struct NetworkSetup {
    interface: String,
    fwmark: Option<u32>,
    applied: Mutex<Option<Box<dyn Revert>>>,
}

impl std::fmt::Debug for NetworkSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkSetup")
            .field("interface", &self.interface)
            .field("applied", &self.is_applied())
            .finish()
    }
}

/// Applies the network plan of `wg_quick_config` to the existing tunnel interface
/// `interface`, as `wg-quick up` does after creating the interface: addresses, MTU and
/// link up, DNS, routes (a default route policy-routed through table 51820 with its
/// rules and firewall on Linux, as `/1` halves on macOS), the endpoints kept out of
/// the tunnel. Hostname endpoints are resolved now. `interface` is the interface name on
/// Linux and macOS (`utunN`); on Windows the adapter's name (alias, e.g. the `Tunnel`
/// adapter's name) or its interface index in decimal. On an error nothing is left
/// applied. Needs administrator rights (root, `CAP_NET_ADMIN`). A NetworkExtension app
/// (iOS, macOS) does not call this: it gives [`crate::network_settings_for`] to the
/// system. `Unsupported` on iOS and other OSes.
#[uniffi::export]
pub fn apply_network_plan(
    interface: String,
    wg_quick_config: String,
) -> Result<Arc<NetworkSetup>, TunnelError> {
    if interface.is_empty() || interface.contains('\0') {
        return Err(TunnelError::invalid("interface name is empty or contains NUL"));
    }
    let config = WgQuickConfig::parse(&wg_quick_config)?;
    let config = ferrowg_platform::resolve::resolve_wg_quick(&config)
        .map_err(|e| TunnelError::Config { line: 0, detail: e.to_string() })?;
    let plan = NetworkPlan::from_config(&config);
    let applied = platform_apply(&interface, &plan)?;
    Ok(Arc::new(NetworkSetup { interface, fwmark: plan.fwmark, applied: Mutex::new(applied) }))
}

#[uniffi::export]
impl NetworkSetup {
    /// The interface the plan was applied to, as given.
    pub fn interface(&self) -> String {
        self.interface.clone()
    }

    /// The mark the tunnel's UDP sockets must carry so that its own packets bypass a
    /// policy-routed default route (Linux; e.g. 51820 for `AllowedIPs = 0.0.0.0/0`):
    /// give it to the tunnel with UAPI `fwmark=N` (`Tunnel::set_config`, not replacing)
    /// unless the file has its own `FwMark`. None when nothing is policy-routed.
    pub fn fwmark(&self) -> Option<u32> {
        self.fwmark
    }

    /// Whether the changes are still applied (false after [`NetworkSetup::undo`]).
    pub fn is_applied(&self) -> bool {
        self.applied.lock().is_some()
    }

    /// Reverts every change the apply made, newest first. Idempotent: a second call
    /// does nothing. An interface already gone took its addresses and routes with it
    /// (not an error). Fails with `Network` listing what could not be undone (on Linux
    /// the crash marker stays then, for `ferrowg cleanup IFNAME`; on Windows for the first
    /// apply to the same interface once this process has ended); it is not retried.
    pub fn undo(&self) -> Result<(), TunnelError> {
        let Some(mut applied) = self.applied.lock().take() else {
            return Ok(());
        };
        let errors = applied.revert();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(TunnelError::Network { detail: errors.join("; ") })
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "macos", windows))]
fn log_line(line: &str) {
    crate::logging::log(crate::logging::LogLevel::Info, line);
}

#[cfg(any(target_os = "linux", target_os = "macos", windows))]
fn network_error(detail: String) -> TunnelError {
    TunnelError::Network { detail }
}

#[cfg(target_os = "linux")]
fn platform_apply(
    interface: &str,
    plan: &NetworkPlan,
) -> Result<Option<Box<dyn Revert>>, TunnelError> {
    let applied = ferrowg_platform::netconf::apply(interface, plan, Box::new(log_line))
        .map_err(network_error)?;
    Ok(Some(Box::new(applied)))
}

#[cfg(windows)]
fn platform_apply(
    interface: &str,
    plan: &NetworkPlan,
) -> Result<Option<Box<dyn Revert>>, TunnelError> {
    use ferrowg_platform::netconf::windows;
    let index = match interface.parse::<u32>() {
        Ok(index) => index,
        Err(_) => windows::interface_index(interface).map_err(network_error)?,
    };
    // What a crashed earlier process left on this interface goes first (an error: the
    // process still runs, or it could not all be undone; applying over it is refused).
    windows::cleanup_stale(interface, Box::new(log_line)).map_err(network_error)?;
    let applied =
        windows::apply(index, interface, plan, Box::new(log_line)).map_err(network_error)?;
    Ok(Some(Box::new(applied)))
}

#[cfg(target_os = "macos")]
fn platform_apply(
    interface: &str,
    plan: &NetworkPlan,
) -> Result<Option<Box<dyn Revert>>, TunnelError> {
    let applied = ferrowg_platform::netconf::macos::apply(interface, plan, Box::new(log_line))
        .map_err(network_error)?;
    Ok(Some(Box::new(applied)))
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
fn platform_apply(
    _interface: &str,
    _plan: &NetworkPlan,
) -> Result<Option<Box<dyn Revert>>, TunnelError> {
    Err(unsupported())
}

/// The error on systems without an applier.
#[cfg_attr(any(target_os = "linux", target_os = "macos", windows), allow(dead_code))]
fn unsupported() -> TunnelError {
    TunnelError::Unsupported {
        detail: "applying the network plan on this OS; NetworkExtension apps give \
                 network_settings_for(config) to the system"
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    struct Fake {
        calls: Arc<AtomicUsize>,
        errors: Vec<String>,
    }

    impl Revert for Fake {
        fn revert(&mut self) -> Vec<String> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            std::mem::take(&mut self.errors)
        }
    }

    fn setup(errors: Vec<String>) -> (NetworkSetup, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let fake = Fake { calls: calls.clone(), errors };
        let setup = NetworkSetup {
            interface: "wg0".into(),
            fwmark: None,
            applied: Mutex::new(Some(Box::new(fake))),
        };
        (setup, calls)
    }

    #[test]
    fn undo_runs_once_and_is_idempotent() {
        let (setup, calls) = setup(Vec::new());
        assert!(setup.is_applied());
        setup.undo().unwrap();
        assert!(!setup.is_applied());
        setup.undo().unwrap();
        drop(setup);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn undo_errors_are_reported_once() {
        let (setup, calls) = setup(vec!["route delete: EPERM".into(), "rule delete".into()]);
        let err = setup.undo().unwrap_err();
        assert_eq!(err.code(), crate::FERROWG_ERR_NETWORK);
        assert!(err.to_string().contains("route delete: EPERM; rule delete"), "{err}");
        setup.undo().unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn arguments_are_checked_before_the_os() {
        let err = apply_network_plan(String::new(), String::new()).unwrap_err();
        assert!(matches!(err, TunnelError::InvalidArgument { .. }), "{err:?}");
        let err = apply_network_plan("a\0b".into(), String::new()).unwrap_err();
        assert!(matches!(err, TunnelError::InvalidArgument { .. }), "{err:?}");
        let text = "[Interface]\nPrivateKey = YAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n\
                    Bogus = 1\n";
        let err = apply_network_plan("wg0".into(), text.into()).unwrap_err();
        assert!(matches!(err, TunnelError::Config { line: 3, .. }), "{err:?}");
    }

    #[test]
    fn unsupported_points_at_network_settings_for() {
        let err = unsupported();
        assert_eq!(err.code(), crate::FERROWG_ERR_UNSUPPORTED);
        assert!(err.to_string().contains("network_settings_for"), "{err}");
    }
}
