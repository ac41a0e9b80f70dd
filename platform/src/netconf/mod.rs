//! Applying a [`ferrowg_core::netplan::NetworkPlan`] to the host (Linux for now): the
//! part of `ferrowg up` that wg-quick does with `ip`, `nft`, `sysctl` and `resolvconf`.

mod dns;
mod firewall;
mod linux;
mod marker;
mod netlink;

pub use linux::{apply, Applied};
pub use marker::{cleanup_stale, marker_path, MARKER_DIR};
