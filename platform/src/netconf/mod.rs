//! Applying a [`ferrowg_core::netplan::NetworkPlan`] to the host: the part of
//! `ferrowg up` that wg-quick does with `ip`, `nft`, `sysctl` and `resolvconf` (Linux),
//! and that wireguard-windows does through IP Helper (`windows`, with the operations
//! computed by [`win_plan`]), and on macOS without NetworkExtension with `ifconfig`,
//! `route` and `networksetup` as wg-quick does (`macos`, commands from [`mac_plan`],
//! crash marker [`mac_marker`], route monitor [`mac_monitor`]).

#[cfg(target_os = "linux")]
mod dns;
#[cfg(target_os = "linux")]
mod firewall;
#[cfg(target_os = "linux")]
mod linux;
pub mod mac_marker;
pub mod mac_monitor;
pub mod mac_plan;
#[cfg(target_os = "macos")]
pub mod macos;
#[cfg(target_os = "linux")]
mod marker;
pub mod marker_text;
#[cfg(target_os = "linux")]
mod netlink;
pub mod win_marker;
#[cfg(windows)]
#[allow(unsafe_code)]
mod win_owner;
pub mod win_plan;
#[cfg(windows)]
#[allow(unsafe_code)]
pub mod windows;

#[cfg(target_os = "linux")]
pub use linux::{apply, Applied};
#[cfg(target_os = "linux")]
pub use marker::{cleanup_stale, marker_path, MARKER_DIR};
