//! Applying a [`ferrowg_core::netplan::NetworkPlan`] to the host: the part of
//! `ferrowg up` that wg-quick does with `ip`, `nft`, `sysctl` and `resolvconf` (Linux),
//! and that wireguard-windows does through IP Helper (`windows`, with the operations
//! computed by [`win_plan`]).

#[cfg(target_os = "linux")]
mod dns;
#[cfg(target_os = "linux")]
mod firewall;
#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
mod netlink;
pub mod win_plan;
#[cfg(windows)]
#[allow(unsafe_code)]
pub mod windows;

#[cfg(target_os = "linux")]
pub use linux::{apply, Applied};
