//! The `ferrowg` binary: a drop-in for `wireguard-go` (`ferrowg [-f] IFNAME`), plus
//! `up`, `show` and `demo`. (The in-process benchmark table that was `ferrowg bench` is
//! `cargo bench -p ferrowg-core --bench overview`.)

#[cfg(any(target_os = "linux", target_os = "macos", windows))]
mod bind;
#[cfg(any(target_os = "linux", target_os = "macos"))]
mod daemon;
#[cfg(windows)]
#[path = "daemon_windows.rs"]
mod daemon;
mod demo;
#[cfg(target_os = "linux")]
mod killswitch;
mod packet;
#[cfg(any(target_os = "linux", target_os = "macos"))]
mod show;
#[cfg(test)]
mod uapi_parity;
#[cfg(windows)]
mod uapi_pipe;
mod uapi_server;
#[cfg(target_os = "linux")]
mod up;

use std::process::ExitCode;

const USAGE: &str = "\
usage:
  ferrowg [-f|--foreground] IFNAME   create the TUN device IFNAME and serve the UAPI
                                     on /var/run/wireguard/IFNAME.sock (like wireguard-go;
                                     Windows: wintun adapter, UAPI on the named pipe
                                     \\\\.\\pipe\\ProtectedPrefix\\Administrators\\WireGuard\\IFNAME)
  ferrowg up CONFIG.conf             bring a wg-quick config up in the foreground
  ferrowg up --kill-switch CONFIG.conf
                                     the same, blocking all traffic outside the tunnel
                                     (the block outlives a crash of this process)
  ferrowg kill-switch on CONFIG.conf | off IFNAME | status IFNAME
  ferrowg show [IFNAME]              show interfaces (like `wg show`)
  ferrowg demo                       two tunnels in this process over 127.0.0.1 (no root)
  ferrowg --version";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match argv.as_slice() {
        ["demo"] => demo::run(),
        #[cfg(target_os = "linux")]
        ["up", path] => up::run(std::path::Path::new(path)),
        #[cfg(target_os = "linux")]
        ["up", "--kill-switch", path] => killswitch::up(std::path::Path::new(path)),
        #[cfg(target_os = "linux")]
        ["kill-switch", "on", path] => killswitch::enable(std::path::Path::new(path)).map(drop),
        #[cfg(target_os = "linux")]
        ["kill-switch", "off", ifname] => killswitch::disable(ifname),
        #[cfg(target_os = "linux")]
        ["kill-switch", "status", ifname] => killswitch::status(ifname),
        #[cfg(any(target_os = "linux", target_os = "macos"))]
        ["show"] => show::run(None),
        #[cfg(any(target_os = "linux", target_os = "macos"))]
        ["show", ifname] => show::run(Some(ifname)),
        ["--version" | "-v" | "version"] => {
            println!("ferrowg v{}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        ["--help" | "-h" | "help"] => {
            println!("{USAGE}");
            Ok(())
        }
        #[cfg(any(target_os = "linux", target_os = "macos", windows))]
        ["-f" | "--foreground", ifname] | [ifname, "-f" | "--foreground"] if is_ifname(ifname) => {
            daemon::run(ifname, true)
        }
        #[cfg(any(target_os = "linux", target_os = "macos", windows))]
        [ifname] if is_ifname(ifname) => daemon::run(ifname, false),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrowg: {e}");
            ExitCode::FAILURE
        }
    }
}

/// An interface name (not an option, not a subcommand word).
#[cfg(any(target_os = "linux", target_os = "macos", windows))]
fn is_ifname(s: &str) -> bool {
    const WORDS: [&str; 7] = ["up", "show", "demo", "bench", "help", "version", "kill-switch"];
    !s.is_empty() && !s.starts_with('-') && !WORDS.contains(&s)
}
