//! The shared plan table (tests/plans/*.conf) applied for real by the Linux applier
//! (`netconf::apply`: netlink, nft, sysctl, resolvconf), one file at a time, inside a
//! network namespace this test creates, on a persistent TUN interface it creates and
//! deletes per file. What the namespace then holds (link, addresses, routes of every
//! table through the interface, policy rules, the nft table, `src_valid_mark`,
//! resolv.conf) is compared with the file's `.linux` expectation; then the undo must
//! leave nothing. DNS goes through openresolv inside a private mount namespace of the
//! applying thread (/etc/resolv.conf and /etc/resolvconf.conf bind-mounted from a
//! temporary directory), so the host's resolv.conf is never touched. Needs root, nft and
//! resolvconf, as CI has (`scripts/test.sh` installs them): without them it fails.
#![cfg(target_os = "linux")]

mod common;

use std::path::{Path, PathBuf};

use common::netns::{run, Netns};
use ferrowg_core::config::WgQuickConfig;
use ferrowg_core::netplan::NetworkPlan;

include!(concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/plans/table.rs"));

/// The namespace's DNS before any apply (from another interface, through openresolv).
const RESOLV_BEFORE: &str = "nameserver 198.18.0.53\n";

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes the files [`private_resolv_conf`] mounts: a resolvconf.conf whose state
/// lives in `dir`, and a resolv.conf.
fn prepare_resolv_conf(dir: &Path) {
    let state = dir.join("resolvconf-state");
    std::fs::create_dir_all(&state).unwrap();
    let conf = format!("resolv_conf=/etc/resolv.conf\nstate_dir={}\n", state.display());
    std::fs::write(dir.join("resolvconf.conf"), conf).unwrap();
    std::fs::write(dir.join("resolv.conf"), "").unwrap();
}

/// Gives the calling thread (and the processes it starts) a private mount namespace in
/// which /etc/resolv.conf and /etc/resolvconf.conf are the files of `dir`.
#[allow(unsafe_code)] // unshare(2) and mount(2) have no safe wrapper in std
fn private_resolv_conf(dir: &Path) {
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    let (resolv, conf) = (dir.join("resolv.conf"), dir.join("resolvconf.conf"));
    // SAFETY: unshare only affects this thread (a fresh one, from `Netns::enter`).
    let rc = unsafe { libc::unshare(libc::CLONE_NEWNS) };
    assert_eq!(rc, 0, "unshare(CLONE_NEWNS): {}", std::io::Error::last_os_error());
    let root = c(Path::new("/"));
    // SAFETY: valid NUL-terminated paths; flags only, no data. Making every mount
    // private first keeps the bind mounts below out of the host's namespace.
    let rc = unsafe {
        libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "mount --make-rprivate /: {}", std::io::Error::last_os_error());
    for (src, target) in [(&resolv, "/etc/resolv.conf"), (&conf, "/etc/resolvconf.conf")] {
        assert!(
            Path::new(target).exists(),
            "{target} missing: install openresolv (scripts/test.sh does)"
        );
        let (src, target) = (c(src), c(Path::new(target)));
        // SAFETY: as above; a bind mount of one file over another.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                target.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "bind mount: {}", std::io::Error::last_os_error());
    }
}

/// Runs `program args` with `input` on stdin, panicking if it fails.
fn run_with_input(program: &str, args: &[&str], input: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// The words of every line of `text`, with the interface's name as `IF`.
fn lines(text: &str, ifname: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ").replace(ifname, "IF"))
        .filter(|l| !l.is_empty())
        .collect()
}

/// What the namespace holds of the interface, one line per item (run in the namespace).
fn state(ifname: &str) -> Vec<String> {
    let mut out = Vec::new();
    let link = run("ip", &["-o", "link", "show", "dev", ifname]);
    let mtu = link.split_whitespace().skip_while(|w| *w != "mtu").nth(1).unwrap_or("?");
    let up = if link.contains(",UP") || link.contains("<UP") { "up" } else { "down" };
    out.push(format!("link mtu {mtu} {up}"));
    for family in ["-4", "-6"] {
        // `ip -o addr`: "N: IF inet ADDR/LEN scope S ...".
        for l in run("ip", &["-o", family, "addr", "show", "dev", ifname]).lines() {
            let words: Vec<&str> = l.split_whitespace().collect();
            let addr = words.iter().position(|w| *w == "inet" || *w == "inet6");
            let scope = words.iter().position(|w| *w == "scope");
            if let (Some(a), Some(s)) = (addr, scope) {
                if words[s + 1] != "link" {
                    out.push(format!("addr {} scope {}", words[a + 1], words[s + 1]));
                }
            }
        }
    }
    for family in ["-4", "-6"] {
        // The local table only mirrors the addresses; link-local is the kernel's own.
        let routes = run("ip", &[family, "route", "show", "table", "all", "dev", ifname]);
        out.extend(
            lines(&routes, ifname)
                .into_iter()
                .filter(|l| !l.contains("table local") && !l.starts_with("fe80::/64"))
                .map(|l| format!("route {family} {l}")),
        );
    }
    for family in ["-4", "-6"] {
        out.extend(
            lines(&run("ip", &[family, "rule"]), ifname)
                .into_iter()
                .filter(|l| !is_default_rule(l))
                .map(|l| format!("rule {family} {l}")),
        );
    }
    let tables = run("nft", &["list", "tables"]);
    for family in ["ip", "ip6"] {
        let table = format!("ferrowg-{ifname}");
        if tables.lines().any(|l| l.trim() == format!("table {family} {table}")) {
            let listing = run("nft", &["list", "table", family, &table]);
            out.extend(lines(&listing, ifname).into_iter().map(|l| format!("nft {l}")));
        }
    }
    let mark = std::fs::read_to_string("/proc/sys/net/ipv4/conf/all/src_valid_mark").unwrap();
    out.push(format!("src_valid_mark {}", mark.trim()));
    let resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap();
    out.extend(
        resolv
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| format!("resolv.conf {l}")),
    );
    out
}

/// The rules every namespace starts with.
fn is_default_rule(line: &str) -> bool {
    ["0: from all lookup local", "32766: from all lookup main", "32767: from all lookup default"]
        .contains(&line)
}

/// Applies one file on a fresh interface, reads the state back, undoes, checks that
/// nothing is left, deletes the interface. Returns the rendered state.
fn apply_one(ns: &Netns, dir: &Path, ifname: &str, stem: &str, text: &str) -> String {
    let config = WgQuickConfig::parse(text).unwrap_or_else(|e| panic!("{stem}.conf: {e}"));
    let plan = NetworkPlan::from_config(&config);
    ns.ip(&["tuntap", "add", "mode", "tun", "name", ifname]);
    let before = ns.enter(|| {
        private_resolv_conf(dir);
        std::fs::write("/proc/sys/net/ipv4/conf/all/src_valid_mark", "0").unwrap();
        state(ifname)
    });
    let got = ns.enter(|| {
        private_resolv_conf(dir);
        let log: Box<dyn Fn(&str) + Send> = Box::new(|_| {});
        let mut applied = ferrowg_platform::netconf::apply(ifname, &plan, log)
            .unwrap_or_else(|e| panic!("{stem}: apply: {e}"));
        let got = state(ifname);
        let errors = applied.undo();
        assert!(errors.is_empty(), "{stem}: undo: {errors:?}");
        let mut after = state(ifname);
        // The applier leaves the link's MTU and state (the interface is the caller's)
        // and src_valid_mark (as wg-quick: another tunnel may rely on it).
        let keep = |l: &String| !l.starts_with("link ") && !l.starts_with("src_valid_mark");
        after.retain(keep);
        let before: Vec<String> = before.iter().filter(|l| keep(l)).cloned().collect();
        assert_eq!(after, before, "{stem}: left behind after undo");
        got
    });
    ns.ip(&["link", "del", "dev", ifname]);
    let marker = Path::new(ferrowg_platform::netconf::MARKER_DIR).join(format!("{ifname}.state"));
    assert!(!marker.exists(), "{stem}: crash marker left: {}", marker.display());
    got.join("\n") + "\n"
}

/// True when `cmd` is on `PATH`.
fn have(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
}

#[test]
fn plan_table_linux_apply_and_undo() {
    // Without resolvconf the applier would reach for systemd-resolved, which is not
    // namespaced: refuse rather than touch the host's DNS.
    for cmd in ["resolvconf", "nft", "ip"] {
        assert!(
            have(cmd),
            "{cmd} missing (scripts/test.sh installs openresolv, nftables, iproute2)"
        );
    }
    let ns = Netns::new("plantable");
    let ifname = format!("fpt{}", std::process::id());
    let dir =
        TempDir(std::env::temp_dir().join(format!("ferrowg-plantable-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    prepare_resolv_conf(&dir.0);
    ns.enter(|| {
        private_resolv_conf(&dir.0);
        let args = ["-a", "ferrowg-underlay", "-m", "0"];
        run_with_input("resolvconf", &args, RESOLV_BEFORE);
    });
    check_table("linux", |stem, text| apply_one(&ns, &dir.0, &ifname, stem, text));
}
