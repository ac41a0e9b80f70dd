//! The Windows crash marker, as plain text and file handling tested on every host:
//! `%ProgramData%\ferrowg\NAME.state` lists what the Windows applier changed on one
//! interface, each change written before it is made and dropped once undone (or once it
//! turned out to change nothing); the file goes when nothing is listed. If the process
//! dies instead, the next apply for the same interface (or `cleanup_stale` in
//! `windows`) finds it, sees that the process it names is gone, and undoes the list.
//!
//! Format (text, newest last):
//! ```text
//! pid 1234 133500000000000000   the writer's pid and creation time (FILETIME)
//! luid 1689399632855040         the interface LUID (the GUID on the next line)
//! guid 0123abcd-...             the interface GUID (for DNS)
//! interface v4 1500 25 auto     the MTU, metric and automatic-metric flag replaced
//! address 198.19.0.2/24
//! dns v4
//! route 0.0.0.0/0
//! ```
//! A last line without its newline (a torn write) or a known line with unreadable
//! values is ignored (nothing is undone for it); a line of an unknown kind refuses the
//! cleanup, leaving the marker for a newer ferrowg or an operator.

use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ferrowg_core::netplan::Family;

use super::marker_text::{self, Header};

/// One recorded change, with what its undo needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Interface settings of one family were replaced: the old values.
    Interface {
        /// The family.
        family: Family,
        /// The old `NlMtu`.
        mtu: u32,
        /// The old `Metric`.
        metric: u32,
        /// The old `UseAutomaticMetric`.
        automatic_metric: bool,
    },
    /// An address was added.
    Address {
        /// The address.
        addr: IpAddr,
        /// `OnLinkPrefixLength`.
        prefix_len: u8,
    },
    /// One family's DNS settings were set.
    Dns(Family),
    /// An on-link route was added.
    Route {
        /// The destination.
        prefix: IpAddr,
        /// Its length.
        prefix_len: u8,
    },
}

/// Who wrote a marker and for which interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The writer's process id.
    pub pid: u32,
    /// The writer's creation time (tells a reused pid apart).
    pub created: u64,
    /// The interface LUID.
    pub luid: u64,
    /// The interface GUID.
    pub guid: u128,
}

impl Entry {
    /// The marker line (without newline).
    pub fn line(&self) -> String {
        match self {
            Entry::Interface { family, mtu, metric, automatic_metric } => {
                let auto = if *automatic_metric { "auto" } else { "manual" };
                format!("interface {} {mtu} {metric} {auto}", family.word())
            }
            Entry::Address { addr, prefix_len } => format!("address {addr}/{prefix_len}"),
            Entry::Dns(family) => format!("dns {}", family.word()),
            Entry::Route { prefix, prefix_len } => format!("route {prefix}/{prefix_len}"),
        }
    }

    /// Parses a line: `Err(())` for an unknown kind, `Ok(None)` for a known kind with
    /// unreadable values.
    #[allow(clippy::result_unit_err)]
    pub fn parse(line: &str) -> Result<Option<Entry>, ()> {
        fn prefix(w: &str) -> Option<(IpAddr, u8)> {
            let (a, n) = w.split_once('/')?;
            let (addr, len): (IpAddr, u8) = (a.parse().ok()?, n.parse().ok()?);
            (len <= if addr.is_ipv4() { 32 } else { 128 }).then_some((addr, len))
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some((kind, rest)) = words.split_first() else { return Err(()) };
        Ok(match (*kind, rest) {
            ("interface", [f, mtu, metric, auto]) => interface(f, mtu, metric, auto),
            ("address", [p]) => {
                prefix(p).map(|(addr, prefix_len)| Entry::Address { addr, prefix_len })
            }
            ("dns", [f]) => Family::from_word(f).map(Entry::Dns),
            ("route", [p]) => {
                prefix(p).map(|(prefix, prefix_len)| Entry::Route { prefix, prefix_len })
            }
            ("interface" | "address" | "dns" | "route", _) => None,
            _ => return Err(()),
        })
    }
}

fn interface(f: &str, mtu: &str, metric: &str, auto: &str) -> Option<Entry> {
    Some(Entry::Interface {
        family: Family::from_word(f)?,
        mtu: mtu.parse().ok()?,
        metric: metric.parse().ok()?,
        automatic_metric: match auto {
            "auto" => true,
            "manual" => false,
            _ => return None,
        },
    })
}

fn parse_owner(lines: &[&str]) -> Option<Owner> {
    let mut pid = lines.first()?.strip_prefix("pid ")?.split_whitespace();
    let luid = lines.get(1)?.strip_prefix("luid ")?.trim().parse().ok()?;
    let guid = u128::from_str_radix(lines.get(2)?.strip_prefix("guid ")?.trim(), 16).ok()?;
    Some(Owner { pid: pid.next()?.parse().ok()?, created: pid.next()?.parse().ok()?, luid, guid })
}

/// The header lines of `owner`.
pub fn header(owner: &Owner) -> String {
    format!("pid {} {}\nluid {}\nguid {:032x}\n", owner.pid, owner.created, owner.luid, owner.guid)
}

/// A marker read back: its owner (if the header is readable) and entries, oldest first.
pub type Parsed = marker_text::Parsed<Owner, Entry>;

/// Parses a marker's text (see `marker_text`); an error names a line of an unknown kind.
pub fn parse(text: &str) -> Result<Parsed, String> {
    let header = Header { lines: 3, prefixes: &["pid ", "luid ", "guid "], owner: parse_owner };
    marker_text::parse(text, &header, Entry::parse)
}

/// What a stale marker asks to undo, newest first. `Err` when the writer still runs
/// (`alive(pid, created)`), a line is of an unknown kind, or the header is unreadable
/// (then the interface is unknown).
pub fn stale(text: &str, alive: impl Fn(u32, u64) -> bool) -> Result<(Owner, Vec<Entry>), String> {
    let parsed = parse(text)?;
    let owner = parsed.owner.ok_or("the marker's header is unreadable")?;
    // This very process counts as running too: a marker it still holds (an apply not
    // undone, or an undo that failed) is not taken from under it.
    if alive(owner.pid, owner.created) {
        return Err(format!("the interface is managed by the running process {}", owner.pid));
    }
    let mut entries = parsed.entries;
    entries.reverse();
    Ok((owner, entries))
}

/// The marker file name for the interface `name` (an alias or index as the caller gave
/// it; characters other than letters, digits, `-`, `_` and `.` become `_`).
pub fn marker_path(dir: &Path, name: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    dir.join(format!("{safe}.state"))
}

/// The open marker of a running applier: the header plus the entries now applied (and
/// the one about to be). The file exists exactly while an entry is listed.
#[derive(Debug)]
pub struct MarkerFile {
    path: PathBuf,
    header: String,
    entries: Vec<Entry>,
}

impl MarkerFile {
    /// A marker at `path` for `owner` (nothing written until the first entry).
    pub fn new(path: PathBuf, owner: &Owner) -> MarkerFile {
        MarkerFile { path, header: header(owner), entries: Vec::new() }
    }

    /// Lists `entry` (written through, replaced atomically by rename).
    pub fn push(&mut self, entry: Entry) -> io::Result<()> {
        self.entries.push(entry);
        self.sync()
    }

    /// Drops the newest entry equal to `entry` (undone, or it changed nothing); the file
    /// goes when none is left.
    pub fn remove(&mut self, entry: &Entry) -> io::Result<()> {
        if let Some(i) = self.entries.iter().rposition(|e| e == entry) {
            self.entries.remove(i);
        }
        self.sync()
    }

    /// The entries listed, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    fn sync(&self) -> io::Result<()> {
        if self.entries.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut text = self.header.clone();
        for e in &self.entries {
            text.push_str(&e.line());
            text.push('\n');
        }
        let tmp = self.path.with_extension("state.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests;
