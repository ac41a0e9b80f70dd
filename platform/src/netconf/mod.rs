//! Applying a [`ferrowg_core::netplan::NetworkPlan`] to the host (Linux for now): the
//! part of `ferrowg up` that wg-quick does with `ip`, `nft`, `sysctl` and `resolvconf`.

mod dns;
mod firewall;
mod linux;
mod netlink;

pub use linux::{apply, Applied};
