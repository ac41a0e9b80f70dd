//! The text of the Windows and macOS crash markers (`win_marker`, `mac_marker`): a
//! header naming the owner, then one undo entry per line, oldest first. A marker is
//! rewritten whole with each change, so a crash can leave at most its last line torn
//! (no newline): that line is ignored, as is every line that cannot be read, and a line
//! of an unknown kind refuses the whole marker.

/// A marker read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<O, E> {
    /// The header; `None` when torn or unreadable.
    pub owner: Option<O>,
    /// The readable entries, oldest first.
    pub entries: Vec<E>,
    /// Lines ignored (torn or unreadable).
    pub ignored: Vec<String>,
}

/// How a marker's header looks.
pub(crate) struct Header<'a, O> {
    /// Its number of lines.
    pub(crate) lines: usize,
    /// What its lines start with (such a line is ignored when the header is unreadable).
    pub(crate) prefixes: &'a [&'a str],
    /// Reads the owner from the first lines.
    pub(crate) owner: fn(&[&str]) -> Option<O>,
}

/// Parses a marker's text; `entry` reads one line (`Ok(None)`: unreadable, `Err`: of
/// an unknown kind). An error names a line of an unknown kind.
pub(crate) fn parse<O, E>(
    text: &str,
    header: &Header<'_, O>,
    entry: impl Fn(&str) -> Result<Option<E>, ()>,
) -> Result<Parsed<O, E>, String> {
    let mut lines: Vec<&str> = text.lines().collect();
    let mut ignored = Vec::new();
    if !text.ends_with('\n') {
        ignored.extend(lines.pop().map(str::to_owned));
    }
    let owner = (header.owner)(&lines);
    let body = match owner {
        Some(_) => lines.get(header.lines..).unwrap_or_default(),
        None => &lines[..],
    };
    let mut entries = Vec::new();
    for line in body {
        if owner.is_none() && header.prefixes.iter().any(|p| line.starts_with(p)) {
            ignored.push((*line).to_owned());
            continue;
        }
        match entry(line) {
            Ok(Some(e)) => entries.push(e),
            Ok(None) => ignored.push((*line).to_owned()),
            Err(()) => return Err(format!("unknown marker line `{line}`")),
        }
    }
    Ok(Parsed { owner, entries, ignored })
}
