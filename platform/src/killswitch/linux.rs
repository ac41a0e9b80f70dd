//! Linux: one nftables table per tunnel, loaded with `nft -f -` in one transaction.

use ferrowg_core::killswitch::{nft, KillSwitchSpec};

use super::{run, Error};

pub(super) fn enable(spec: &KillSwitchSpec) -> Result<(), Error> {
    run("nft", &["-f", "-"], &nft::render(spec)?).map(drop)
}

pub(super) fn disable(ifname: &str) -> Result<bool, Error> {
    if !status(ifname)? {
        return Ok(false);
    }
    run("nft", &["-f", "-"], &nft::delete(ifname)).map(|_| true)
}

pub(super) fn status(ifname: &str) -> Result<bool, Error> {
    // `nft list tables` works on every nft version; `list table` of a missing table is
    // an error indistinguishable from nft itself failing.
    let tables = run("nft", &["list", "tables", "inet"], "")?;
    let want = format!("table inet {}", nft::table_name(ifname));
    Ok(tables.lines().any(|l| l.trim() == want))
}
