//! The Windows marker's lines and file, on every host.

use super::*;

const OWNER: Owner = Owner {
    pid: 4242,
    created: 133_500_000_000_000_000,
    luid: 0x6000_0000_1234,
    guid: 0x0123_4567_89ab_cdef_0011_2233_4455_6677,
};

fn entries() -> Vec<Entry> {
    vec![
        Entry::Interface { family: Family::V4, mtu: 1500, metric: 25, automatic_metric: true },
        Entry::Interface { family: Family::V6, mtu: 1280, metric: 5, automatic_metric: false },
        Entry::Address { addr: "198.19.0.2".parse().unwrap(), prefix_len: 24 },
        Entry::Address { addr: "fd19::2".parse().unwrap(), prefix_len: 64 },
        Entry::Dns(Family::V4),
        Entry::Dns(Family::V6),
        Entry::Route { prefix: "0.0.0.0".parse().unwrap(), prefix_len: 0 },
        Entry::Route { prefix: "::".parse().unwrap(), prefix_len: 0 },
    ]
}

fn text(entries: &[Entry]) -> String {
    let mut t = header(&OWNER);
    for e in entries {
        t.push_str(&e.line());
        t.push('\n');
    }
    t
}

#[test]
fn round_trip() {
    let t = text(&entries());
    assert!(t.starts_with("pid 4242 133500000000000000\nluid 105553116271156\nguid 0123456789abcdef0011223344556677\ninterface v4 1500 25 auto\n"), "{t}");
    let parsed = parse(&t).unwrap();
    assert_eq!(parsed, Parsed { owner: Some(OWNER), entries: entries(), ignored: vec![] });
}

#[test]
fn torn_and_unreadable_lines_are_ignored() {
    let mut t = text(&entries()[..2]);
    t.push_str("address 198.19.0.300/24\nroute 10.0.0.0/33\ninterface v4 x 1 auto\ndns v5\nroute 10.0.0.0/8\naddress 198.19.0.2/2");
    let parsed = parse(&t).unwrap();
    let mut want = entries()[..2].to_vec();
    want.push(Entry::Route { prefix: "10.0.0.0".parse().unwrap(), prefix_len: 8 });
    assert_eq!(parsed.entries, want);
    assert_eq!(parsed.ignored.len(), 5, "{:?}", parsed.ignored);
    assert_eq!(parsed.ignored[0], "address 198.19.0.2/2", "the torn last line");
    // A torn header: no owner, so no cleanup (the interface is unknown).
    let err = stale("pid 42 13", |_, _| false).unwrap_err();
    assert!(err.contains("header"), "{err}");
}

#[test]
fn unknown_lines_refuse_the_cleanup() {
    let t = format!("{}firewall v4 block\n", text(&entries()[..1]));
    let err = stale(&t, |_, _| false).unwrap_err();
    assert!(err.contains("firewall v4 block"), "{err}");
}

#[test]
fn a_live_owner_refuses_and_a_dead_or_reused_pid_gives_the_entries_newest_first() {
    let t = text(&entries());
    let err = stale(&t, |pid, created| pid == 4242 && created == OWNER.created).unwrap_err();
    assert!(err.contains("running process 4242"), "{err}");
    // The pid runs again but as another process (another creation time): stale.
    let (owner, undo) = stale(&t, |pid, created| pid == 4242 && created == 1).unwrap();
    assert_eq!(owner, OWNER);
    let mut want = entries();
    want.reverse();
    assert_eq!(undo, want);
}

#[test]
fn the_file_exists_exactly_while_something_is_listed() {
    let dir = std::env::temp_dir().join(format!("ferrowg-winmarker-{}", std::process::id()));
    let path = marker_path(&dir, "My Tunnel\\1");
    assert_eq!(path.file_name().unwrap(), "My_Tunnel_1.state");
    let mut m = MarkerFile::new(path.clone(), &OWNER);
    assert!(!path.exists());
    let [a, b, ..] = <[Entry; 8]>::try_from(entries()).unwrap();
    m.push(a.clone()).unwrap();
    m.push(b.clone()).unwrap();
    assert_eq!(
        parse(&std::fs::read_to_string(&path).unwrap()).unwrap().entries,
        vec![a.clone(), b.clone()]
    );
    m.remove(&a).unwrap();
    assert_eq!(parse(&std::fs::read_to_string(&path).unwrap()).unwrap().entries, vec![b.clone()]);
    m.remove(&b).unwrap();
    assert!(!path.exists());
    assert!(m.entries().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_marker_of_this_very_process_is_not_taken_from_under_it() {
    let me = Owner { pid: std::process::id(), ..OWNER };
    let t = format!("{}{}\n", header(&me), entries()[0].line());
    let err = stale(&t, |pid, created| pid == me.pid && created == me.created).unwrap_err();
    assert!(err.contains("running process"), "{err}");
}
