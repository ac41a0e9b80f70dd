//! macOS: a pf anchor under `com.apple/` (evaluated by the stock pf.conf), loaded with
//! `pfctl -a ANCHOR -f -`; pf is enabled with a reference (`pfctl -E`), whose token is
//! kept in a file so [`disable`] releases exactly that reference (`pfctl -X`).
//!
//! Both outlive a crash of the process (that is the kill switch's point): `disable`
//! (`ferrowg cleanup IFNAME`) finds them by the tunnel's name and removes them, and a
//! new `enable` replaces them (its own reference taken before the old one goes). It
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
    // A fresh reference each time, then the old one (if a file names one) released:
    // a token file left from before a reboot or a pf restart names no reference, and
    // skipping `pfctl -E` for it would load the anchor with pf off.
    let file = token_file(&spec.tunnel);
    let old = std::fs::read_to_string(&file).ok();
    // `pfctl -E` prints "Token : 1234" on stderr on some versions, stdout on others.
    let out = std::process::Command::new("pfctl")
        .arg("-E")
        .output()
        .map_err(|e| Error::Command { program: "pfctl", message: e.to_string() })?;
    let text = [out.stdout, out.stderr].concat();
    let text = String::from_utf8_lossy(&text);
    let token =
        text.lines().find_map(|l| l.strip_prefix("Token : ")).map(str::trim).ok_or_else(|| {
            Error::Command { program: "pfctl", message: format!("no token in `{text}`") }
        })?;
    std::fs::write(&file, token).map_err(|e| Error::Command {
        program: "pfctl",
        message: format!("{}: {e}", file.display()),
    })?;
    if let Some(old) = old.filter(|old| old.trim() != token) {
        // Fails for a stale token: nothing to release then.
        let _ = run("pfctl", &["-X", old.trim()], "");
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
        // The file goes even if the release fails (a stale token, released by a reboot
        // or a pf restart), so it cannot block every later cleanup.
        let released = run("pfctl", &["-X", token.trim()], "");
        let _ = std::fs::remove_file(&file);
        released?;
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
