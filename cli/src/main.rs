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
mod logging;
#[cfg(target_os = "macos")]
mod mac_cleanup;
mod packet;
#[cfg(any(target_os = "linux", target_os = "macos"))]
mod show;
mod tuning;
#[cfg(test)]
mod uapi_parity;
#[cfg(windows)]
mod uapi_pipe;
mod uapi_server;
#[cfg(target_os = "linux")]
mod up;
#[cfg(all(test, windows))]
mod wg_exe;

use std::process::ExitCode;

use tracing_subscriber::filter::LevelFilter;

const USAGE: &str = "\
usage:
  ferrowg [-f|--foreground] IFNAME   create the TUN device IFNAME and serve the UAPI
                                     on /var/run/wireguard/IFNAME.sock (like wireguard-go;
                                     Windows: wintun adapter, UAPI on the named pipe
                                     \\\\.\\pipe\\ProtectedPrefix\\Administrators\\WireGuard\\IFNAME)
      [--tx-queue=direct|queued|codel|codel:TARGET_US,INTERVAL_US]
                                     the TX path: straight to encryption, per-peer
                                     queues without drops, or with CoDel (RFC 8289
                                     5 ms/100 ms, or the given values); default: the
                                     engine's. Env FERROWG_TX_QUEUE (also for `up`)
      [--ring=lockfree|locked]       the TX-to-workers ring; env FERROWG_RING
      [--rx-codel=off|on|TARGET_US,INTERVAL_US]
                                     CoDel on the time datagrams waited in the UDP
                                     receive buffer (on: 1 ms/10 ms); env FERROWG_RX_CODEL
      [--sched-slice=off|US]         short scheduler slice for the engine threads
                                     (Linux EEVDF); env FERROWG_SCHED_SLICE
      [--rt-priority=off|N|saturated[:N]]
                                     real-time priority (Linux SCHED_FIFO N, 1-99) for
                                     the packet threads, always or while the tunnel is
                                     saturated; default saturated:1 (low latency under
                                     CPU contention); env FERROWG_RT_PRIORITY
  ferrowg up CONFIG.conf             bring a wg-quick config up in the foreground
  ferrowg up --kill-switch CONFIG.conf
                                     the same, blocking all traffic outside the tunnel
                                     (the block outlives a crash of this process)
  ferrowg kill-switch on CONFIG.conf | off IFNAME | status IFNAME
  ferrowg cleanup IFNAME             undo what a crashed `ferrowg up` left (routes,
                                     rules, firewall, DNS) and its kill switch (macOS:
                                     what a crashed app's network setup of IFNAME left)
  ferrowg show [IFNAME]              show interfaces (like `wg show`)
  ferrowg demo                       two tunnels in this process over 127.0.0.1 (no root)
  ferrowg --version
logging (stderr): LOG_LEVEL=verbose|debug|info|error|silent (as wireguard-go), or a
  filter FERROWG_LOG=info,ferrowg::rx=debug (targets ferrowg::handshake, ::rx, ::peer,
  ::device, ::cli).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (flags, argv): (Vec<&str>, Vec<&str>) =
        args.iter().map(String::as_str).partition(|a| tuning::Tuning::is_flag(a));
    // The commands that print their own output log only warnings unless asked.
    let chatty = !matches!(argv.first(), Some(&("demo" | "show")));
    if let Err(e) = logging::init(if chatty { LevelFilter::INFO } else { LevelFilter::WARN }) {
        eprintln!("ferrowg: {e}");
        return ExitCode::from(2);
    }
    if !flags.is_empty() && !is_daemon_form(&argv) {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    }
    let tuning = || tuning::Tuning::from_flags_and_env(&flags);
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
        #[cfg(target_os = "linux")]
        ["cleanup", ifname] => up::cleanup(ifname),
        #[cfg(target_os = "macos")]
        ["cleanup", ifname] => mac_cleanup::cleanup(ifname),
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
            tuning().and_then(|t| daemon::run(ifname, true, t))
        }
        #[cfg(any(target_os = "linux", target_os = "macos", windows))]
        [ifname] if is_ifname(ifname) => tuning().and_then(|t| daemon::run(ifname, false, t)),
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
fn is_ifname(s: &str) -> bool {
    const WORDS: [&str; 8] =
        ["up", "show", "demo", "bench", "help", "version", "kill-switch", "cleanup"];
    !s.is_empty() && !s.starts_with('-') && !WORDS.contains(&s)
}

/// `ferrowg [-f] IFNAME` (the one form the tuning flags apply to).
fn is_daemon_form(argv: &[&str]) -> bool {
    match argv {
        ["-f" | "--foreground", name] | [name, "-f" | "--foreground"] | [name] => is_ifname(name),
        _ => false,
    }
}
