//! macOS: a pf anchor under `com.apple/` (evaluated by the stock pf.conf), loaded with
//! `pfctl -a ANCHOR -f -`; pf is enabled with a reference (`pfctl -E`), whose token is
//! kept in a file so [`disable`] releases exactly that reference (`pfctl -X`).
//!
//! Both outlive a crash of the process (that is the kill switch's point): `disable`
//! (`ferrowg cleanup IFNAME`) finds them by the tunnel's name and removes them. It
//! asks `pfctl -a com.apple -s Anchors` first, since pf removes a flushed anchor and
//! reading the rules of one that is not there fails.

use std::path::PathBuf;

use ferrowg_core::killswitch::{pf, KillSwitchSpec};

use super::{run, Error};

/// Where the `pfctl -E` token of tunnel `ifname` is kept.
fn token_file(ifname: &str) -> PathBuf {
    PathBuf::from(format!("/var/run/ferrowg-killswitch-{ifname}.pftoken"))
}

pub(super) fn enable(spec: &KillSwitchSpec) -> Result<(), Error> {
    let text = pf::render(spec)?;
    run("pfctl", &["-a", &pf::anchor(&spec.tunnel), "-f", "-"], &text)?;
    let file = token_file(&spec.tunnel);
    if !file.exists() {
        // `pfctl -E` prints "Token : 1234" on stderr on some versions, stdout on others.
        let out = std::process::Command::new("pfctl")
            .arg("-E")
            .output()
            .map_err(|e| Error::Command { program: "pfctl", message: e.to_string() })?;
        let text = [out.stdout, out.stderr].concat();
        let text = String::from_utf8_lossy(&text);
        let token =
            text.lines().find_map(|l| l.strip_prefix("Token : ")).map(str::trim).ok_or_else(
                || Error::Command { program: "pfctl", message: format!("no token in `{text}`") },
            )?;
        std::fs::write(&file, token).map_err(|e| Error::Command {
            program: "pfctl",
            message: format!("{}: {e}", file.display()),
        })?;
    }
    Ok(())
}

pub(super) fn disable(ifname: &str) -> Result<bool, Error> {
    let was = status(ifname)?;
    if listed(ifname)? {
        run("pfctl", &["-a", &pf::anchor(ifname), "-F", "all"], "")?;
    }
    let file = token_file(ifname);
    if let Ok(token) = std::fs::read_to_string(&file) {
        run("pfctl", &["-X", token.trim()], "")?;
        let _ = std::fs::remove_file(&file);
    }
    Ok(was)
}

/// Whether pf has the anchor of tunnel `ifname` at all.
fn listed(ifname: &str) -> Result<bool, Error> {
    let anchors = run("pfctl", &["-a", pf::PARENT, "-s", "Anchors"], "")?;
    Ok(pf::anchor_listed(&anchors, ifname))
}

pub(super) fn status(ifname: &str) -> Result<bool, Error> {
    if !listed(ifname)? {
        return Ok(false);
    }
    let rules = run("pfctl", &["-a", &pf::anchor(ifname), "-s", "rules"], "")?;
    Ok(rules.lines().any(|l| !l.trim().is_empty()))
}
