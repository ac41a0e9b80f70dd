//! The macOS crash marker of the applier without NetworkExtension, as plain text and
//! file handling tested on every host: `/var/run/ferrowg/IFNAME.state` lists the undo
//! command of each change [`super::mac_plan`] made (written before the change is made,
//! dropped once undone); the file goes when nothing is listed. If the process dies
//! instead (`kill -9`, a crash), the next apply for the same interface (or
//! `ferrowg cleanup IFNAME`) finds it, sees that the process it names is gone, and runs
//! its undo commands newest first ([`cleanup_stale`]).
//!
//! Format (text, newest last; each argument percent-escaped: `%`, whitespace and
//! control characters as `%XX`, the empty argument as a lone `%`):
//! ```text
//! pid 1234 1733230000123456                  the writer's pid and start time (µs)
//! iface ifconfig utun7 inet 198.19.0.2 -alias  acts on the interface (goes with it)
//! host route -q -n delete -inet 198.18.0.1     acts on the host (undone on a cleanup)
//! host networksetup -setdnsservers Wi-Fi 192.168.1.1
//! ```
//! Only the four programs the applier runs are accepted (the file never names a path).
//! The file is replaced whole (write, then rename), so a reader sees one complete
//! version; still, a last line without its newline (a torn write) or a known kind with
//! unreadable values is ignored, and a line of an unknown kind refuses the cleanup,
//! leaving the marker for a newer ferrowg or an operator.

use std::io;
use std::path::{Path, PathBuf};

use super::mac_plan::{revert, Cmd, Runner, Undo};
use super::marker_text::{self, Header};

/// Where the markers live (`/var/run` is emptied at boot, as the state they describe).
pub const MARKER_DIR: &str = "/var/run/ferrowg";

/// The programs an undo line may name.
const PROGRAMS: [&str; 4] = ["ifconfig", "route", "netstat", "networksetup"];

/// Who wrote a marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    /// The writer's process id.
    pub pid: u32,
    /// The writer's start time in microseconds since the epoch (0: unknown), which tells
    /// a reused pid apart.
    pub start: u64,
}

/// What the OS says about the process with a marker's pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// No such process.
    Gone,
    /// A process started at this time (µs since the epoch).
    Started(u64),
    /// A process exists but cannot be inspected (no permission).
    Unknown,
}

/// True when the writer of a marker still runs: a process with its pid exists and
/// started when the marker says (or the marker's time is unknown, or the process cannot
/// be inspected: then it counts as the writer).
pub fn owner_alive(owner: &Owner, probe: Probe) -> bool {
    match probe {
        Probe::Gone => false,
        Probe::Unknown => true,
        Probe::Started(start) => owner.start == 0 || start == owner.start,
    }
}

/// The marker file of `ifname` in `dir` (characters other than letters, digits, `-`,
/// `_` and `.` become `_`).
pub fn marker_path(dir: &Path, ifname: &str) -> PathBuf {
    let safe: String = ifname
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    dir.join(format!("{safe}.state"))
}

fn escape(arg: &str) -> String {
    if arg.is_empty() {
        return "%".to_owned();
    }
    let mut out = String::with_capacity(arg.len());
    for c in arg.chars() {
        if c == '%' || c.is_whitespace() || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn unescape(word: &str) -> Option<String> {
    if word == "%" {
        return Some(String::new());
    }
    let bytes = word.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The marker line of `undo` (without newline).
pub fn line(undo: &Undo) -> String {
    let mut s = String::from(if undo.on_interface { "iface " } else { "host " });
    s.push_str(undo.cmd.program);
    for a in &undo.cmd.args {
        s.push(' ');
        s.push_str(&escape(a));
    }
    s
}

/// Parses an undo line: `Err(())` for an unknown kind, `Ok(None)` for a known kind with
/// unreadable values (an unknown program, a bad escape).
#[allow(clippy::result_unit_err)]
pub fn parse_line(line: &str) -> Result<Option<Undo>, ()> {
    let mut words = line.split_whitespace();
    let on_interface = match words.next() {
        Some("iface") => true,
        Some("host") => false,
        _ => return Err(()),
    };
    let Some(program) = words.next().and_then(|p| PROGRAMS.into_iter().find(|k| *k == p)) else {
        return Ok(None);
    };
    let args: Option<Vec<String>> = words.map(unescape).collect();
    Ok(args.map(|args| Undo { cmd: Cmd { program, args }, on_interface }))
}

/// The header line of `owner` (without newline).
pub fn header(owner: &Owner) -> String {
    format!("pid {} {}", owner.pid, owner.start)
}

fn parse_header(lines: &[&str]) -> Option<Owner> {
    let mut w = lines.first()?.strip_prefix("pid ")?.split_whitespace();
    let owner = Owner { pid: w.next()?.parse().ok()?, start: w.next()?.parse().ok()? };
    w.next().is_none().then_some(owner)
}

/// A marker read back: its owner (if the header is readable) and undo entries.
pub type Parsed = marker_text::Parsed<Owner, Undo>;

/// Parses a marker's text (see `marker_text`); an error names a line of an unknown kind.
pub fn parse(text: &str) -> Result<Parsed, String> {
    let header = Header { lines: 1, prefixes: &["pid "], owner: parse_header };
    marker_text::parse(text, &header, parse_line)
}

/// The whole marker text for `owner` and `done` (oldest first).
pub fn render(owner: &Owner, done: &[Undo]) -> String {
    let mut text = header(owner);
    text.push('\n');
    for u in done {
        text.push_str(&line(u));
        text.push('\n');
    }
    text
}

/// The marker of a running applier: rewritten whole (write, then rename) with each
/// change of the undo list; removed when the list is empty.
#[derive(Debug)]
pub struct MarkerFile {
    path: PathBuf,
    owner: Owner,
}

impl MarkerFile {
    /// A marker at `path` for `owner` (nothing written until the first entry).
    pub fn new(path: PathBuf, owner: Owner) -> MarkerFile {
        MarkerFile { path, owner }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lists `done` (oldest first); no entries: the file goes.
    pub fn write(&self, done: &[Undo]) -> io::Result<()> {
        if done.is_empty() {
            return match std::fs::remove_file(&self.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("state.tmp");
        std::fs::write(&tmp, render(&self.owner, done))?;
        std::fs::rename(&tmp, &self.path)
    }
}

/// A [`Runner`] that keeps the undo list in a [`MarkerFile`] ([`Runner::journal`]); a
/// marker that cannot be written is logged, the change goes ahead.
#[derive(Debug)]
pub struct Marked<R: Runner> {
    /// The runner the commands go to.
    pub inner: R,
    marker: MarkerFile,
}

impl<R: Runner> Marked<R> {
    /// `inner`, journaled to `marker`.
    pub fn new(inner: R, marker: MarkerFile) -> Marked<R> {
        Marked { inner, marker }
    }
}

impl<R: Runner> Runner for Marked<R> {
    fn run(&mut self, cmd: &Cmd) -> Result<String, String> {
        self.inner.run(cmd)
    }

    fn journal(&mut self, done: &[Undo]) {
        if let Err(e) = self.marker.write(done) {
            tracing::warn!(path = %self.marker.path.display(), error = %e, "crash marker");
        }
    }
}

/// What a stale marker asks to undo, newest first. `Err` when the writer still runs
/// (`alive`), a line is of an unknown kind, or the header is unreadable (then nobody can
/// tell whether its writer runs).
pub fn stale(text: &str, alive: impl Fn(&Owner) -> bool) -> Result<(Owner, Vec<Undo>), String> {
    let parsed = parse(text)?;
    let owner = parsed.owner.ok_or("the marker's header is unreadable")?;
    if alive(&owner) {
        return Err(format!("managed by the running process {}", owner.pid));
    }
    let mut entries = parsed.entries;
    entries.reverse();
    Ok((owner, entries))
}

/// Undoes what a stale marker at `path` lists and removes it. `Ok` with the undo lines
/// run (empty: there was no marker); `Err` (the marker stays) if its writer still runs
/// (`alive`, which counts this very process as running), or the marker is unreadable.
///
/// The undo commands run newest first; one that fails is logged and the rest still
/// run. Entries on the interface are skipped: a `utun` goes, with its addresses and
/// routes, when the process that opened it dies, and an interface of that name now is a
/// new one.
pub fn cleanup_stale<R: Runner>(
    runner: &mut R,
    path: &Path,
    alive: impl Fn(&Owner) -> bool,
    log: &dyn Fn(&str),
) -> Result<Vec<String>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let (owner, entries) = stale(&text, alive).map_err(|e| format!("{}: {e}", path.display()))?;
    log(&format!("[#] stale {} of the dead process {}: undoing it", path.display(), owner.pid));
    let mut undone = Vec::new();
    for u in &entries {
        if u.on_interface {
            log(&format!("[#] gone with the interface: {}", u.cmd));
            continue;
        }
        match revert(runner, u) {
            Ok(()) => {
                log(&format!("[#] undone: {}", u.cmd));
                undone.push(u.cmd.to_string());
            }
            Err(e) => log(&format!("[#] undo failed (going on): {e}")),
        }
    }
    let _ = std::fs::remove_file(path.with_extension("state.tmp"));
    std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(undone)
}

#[cfg(test)]
mod tests;
