//! Network namespaces for tests: created by the test, deleted on drop.
// setns(2) has no safe wrapper in std; the one block below carries its SAFETY line.
#![allow(unsafe_code)]

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;

/// A network namespace that exists for the life of the value.
pub struct Netns {
    /// The namespace's name (for `ip -n`).
    pub name: String,
}

impl Netns {
    /// Creates `ferrowg-pt-{tag}-{pid}` (removing a leftover of the same name).
    pub fn new(tag: &str) -> Self {
        let name = format!("ferrowg-pt-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        run("ip", &["netns", "add", &name]);
        Self { name }
    }

    /// Runs `ip -n NAME args...` and returns its output.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Runs `f` on a thread that has entered this namespace.
    pub fn enter<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let ns = File::open(format!("/var/run/netns/{}", self.name)).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: setns only changes this (fresh, scoped) thread's network
                // namespace; `ns` is an open namespace file.
                let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .unwrap()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).output();
    }
}

/// Runs a command, panicking with its stderr if it fails.
pub fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
