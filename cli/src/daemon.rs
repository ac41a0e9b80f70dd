//! `ferrowg [-f] IFNAME`: the wireguard-go drop-in (Linux; macOS with `utun`/`utunN`
//! names, type-checked only).
//!
//! Foreground: SIGINT/SIGTERM are blocked in the main thread before any thread starts
//! (so every thread inherits the mask) and taken by one thread with `sigwait`; then the
//! TUN device is created, the engine started with an empty config, and the UAPI served
//! on `/var/run/wireguard/IFNAME.sock`. It runs until a signal, until the interface is
//! deleted (`ip link del`, `wg-quick down`), or until the socket file is removed; then
//! it removes the socket and closes the TUN (which deletes the interface).
//!
//! Without `-f` (and without `WG_PROCESS_FOREGROUND=1`) the process re-executes itself
//! in the foreground mode in a new process group, before any thread exists, and returns
//! once the child serves the socket, like wireguard-go does; so
//! `WG_QUICK_USERSPACE_IMPLEMENTATION=ferrowg wg-quick up wg0` works.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrowg_core::config::DeviceConfig;
use ferrowg_core::device::{Device, DeviceEvent, DeviceObserver, DeviceOptions};
use ferrowg_core::io::{SystemClock, Tun};
use nix::sys::signal::{SigSet, Signal};

use crate::bind::PlatformBind;
use crate::packet::os_random32;
use crate::tuning::Tuning;
use crate::uapi_server::{UapiSocket, UapiTarget, SOCKET_DIR};

/// wireguard-go's default MTU.
const DEFAULT_MTU: usize = 1420;
/// How long the daemonizing parent waits for the child to serve the socket.
const DAEMON_WAIT: Duration = Duration::from_secs(15);
/// How often the foreground process checks that its interface and socket still exist.
const HEALTH_POLL: Duration = Duration::from_millis(500);

/// Why the foreground process ends.
#[derive(Debug)]
enum Shutdown {
    Signal(Signal),
    InterfaceGone,
    SocketGone,
}

/// Runs `ferrowg [-f] IFNAME` with the engine options `tuning`.
pub fn run(ifname: &str, foreground: bool, tuning: Tuning) -> Result<(), String> {
    let foreground = foreground || std::env::var("WG_PROCESS_FOREGROUND").is_ok_and(|v| v == "1");
    if foreground {
        run_foreground(ifname, tuning)
    } else {
        daemonize(ifname, tuning)
    }
}

/// Starts `ferrowg -f IFNAME` as a detached child and waits until it serves the socket.
fn daemonize(ifname: &str, tuning: Tuning) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let mut child = Command::new(exe)
        .arg("-f")
        .arg(ifname)
        .args(tuning.to_flags())
        .env("WG_PROCESS_FOREGROUND", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start the daemon: {e}"))?;
    let sock = Path::new(SOCKET_DIR).join(format!("{ifname}.sock"));
    let start = Instant::now();
    while start.elapsed() < DAEMON_WAIT {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("daemon exited during start: {status}"));
        }
        if std::os::unix::net::UnixStream::connect(&sock).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!("daemon did not serve {} within {DAEMON_WAIT:?}", sock.display()))
}

fn run_foreground(ifname: &str, tuning: Tuning) -> Result<(), String> {
    let signals = block_signals()?;
    let tunnel = Tunnel::start_tuned(ifname, DEFAULT_MTU, DeviceConfig::default(), None, tuning)?;
    let why = tunnel.wait(signals)?;
    tunnel.log(&format!("shutting down: {why}"));
    tunnel.stop();
    Ok(())
}

/// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread. Call it before any thread
/// is spawned, so every thread inherits the mask and [`Tunnel::wait`] takes them.
pub fn block_signals() -> Result<SigSet, String> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGHUP);
    // Not a shutdown: `Tunnel::wait` resumes the device (SIGCONT after SIGSTOP).
    set.add(Signal::SIGCONT);
    set.thread_block().map_err(|e| format!("cannot block signals: {e}"))?;
    Ok(set)
}

/// A running TUN device + engine + UAPI socket.
pub struct Tunnel {
    /// The interface name the kernel gave.
    pub ifname: String,
    device: Arc<Device>,
    socket: UapiSocket,
    log: Arc<dyn Fn(&str) + Send + Sync>,
    tx: mpsc::Sender<Shutdown>,
    rx: mpsc::Receiver<Shutdown>,
    name_file: Option<std::path::PathBuf>,
}

impl Tunnel {
    /// Creates the TUN device `ifname` with `mtu`, starts the engine with `config`
    /// (UDP sockets marked with `fwmark` unless the config has its own) and serves the
    /// UAPI socket. The mark goes into the running config, so `wg show` reports it and
    /// `wg set fwmark` changes it.
    #[cfg(target_os = "linux")] // `ferrowg up`
    pub fn start(
        ifname: &str,
        mtu: usize,
        config: DeviceConfig,
        fwmark: Option<u32>,
    ) -> Result<Tunnel, String> {
        Self::start_tuned(ifname, mtu, config, fwmark, Tuning::from_flags_and_env(&[])?)
    }

    /// Like `Tunnel::start`, with the engine options `tuning` (flags and environment).
    pub fn start_tuned(
        ifname: &str,
        mtu: usize,
        mut config: DeviceConfig,
        fwmark: Option<u32>,
        tuning: Tuning,
    ) -> Result<Tunnel, String> {
        config.fwmark = config.fwmark.filter(|m| *m != 0).or(fwmark);
        let log: Arc<dyn Fn(&str) + Send + Sync> = {
            let name = ifname.to_owned();
            Arc::new(
                move |msg: &str| tracing::info!(target: "ferrowg::cli", interface = %name, "{msg}"),
            )
        };
        // Linux: /dev/net/tun named IFNAME; macOS: `utun` or `utunN` (the kernel names it).
        let tun = ferrowg_platform::tun::create(ifname, mtu)
            .map_err(|e| format!("cannot create TUN device {ifname}: {e}"))?;
        let actual = tun.name().unwrap_or(ifname).to_owned();
        // wg-quick on macOS asks for the kernel's name through this file, as with
        // wireguard-go.
        let name_file = std::env::var_os("WG_TUN_NAME_FILE").map(std::path::PathBuf::from);
        if let Some(f) = &name_file {
            std::fs::write(f, format!("{actual}\n"))
                .map_err(|e| format!("cannot write {}: {e}", f.display()))?;
        }
        log(&format!("TUN device {actual} created, MTU {}", tun.mtu()));
        let tun: Arc<dyn Tun> = Arc::new(tun);

        let topology = ferrowg_platform::cpu::topology()
            .unwrap_or_else(|_| ferrowg_core::sched::CpuTopology::uniform(num_cpus()));
        let mut opts =
            DeviceOptions { rng_seed: Some(os_random32()), topology, ..Default::default() };
        tuning.apply(&mut opts);
        tracing::debug!(target: "ferrowg::cli", options = ?opts, "engine options");
        let device = Arc::new(
            Device::start(config, tun, Arc::new(PlatformBind), Arc::new(SystemClock), opts)
                .map_err(|e| format!("cannot start the engine: {e}"))?,
        );
        let (tx, rx) = mpsc::channel::<Shutdown>();
        device.set_observer(Some(Arc::new(NicWatch {
            nic_failed: tx.clone(),
            nic_errors: AtomicU64::new(0),
        })));
        log(&format!("engine started, UDP port {}", device.listen_port()));

        let socket = UapiSocket::bind(
            Path::new(SOCKET_DIR),
            &actual,
            device.clone() as Arc<dyn UapiTarget>,
            log.clone(),
        )
        .map_err(|e| format!("cannot serve UAPI: {e}"))?;
        log(&format!("UAPI listening on {}", socket.path().display()));
        Ok(Tunnel { ifname: actual, device, socket, log, tx, rx, name_file })
    }

    /// Writes a line to the log (stderr).
    pub fn log(&self, msg: &str) {
        (self.log)(msg)
    }

    /// Waits for one of `signals`, the interface being deleted or the socket file
    /// being removed; says which.
    pub fn wait(&self, signals: SigSet) -> Result<String, String> {
        let tx = self.tx.clone();
        let (device, log) = (Arc::downgrade(&self.device), self.log.clone());
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || loop {
                match signals.wait() {
                    Ok(Signal::SIGCONT) => {
                        log("continued (SIGCONT): resuming");
                        if let Some(Err(e)) = device.upgrade().map(|d| d.resume()) {
                            log(&format!("resume: {e}"));
                        }
                    }
                    Ok(sig) => {
                        let _ = tx.send(Shutdown::Signal(sig));
                        return;
                    }
                    Err(_) => return,
                }
            })
            .map_err(|e| format!("cannot spawn the signal thread: {e}"))?;
        let sys_path = Path::new("/sys/class/net").join(&self.ifname);
        let check_sys = sys_path.exists();
        let reason = loop {
            match self.rx.recv_timeout(HEALTH_POLL) {
                Ok(reason) => break reason,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    break Shutdown::Signal(Signal::SIGTERM)
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if check_sys && !sys_path.exists() {
                break Shutdown::InterfaceGone;
            }
            if !self.socket.path().exists() {
                break Shutdown::SocketGone;
            }
        };
        Ok(match reason {
            Shutdown::Signal(sig) => format!("received {}", sig.as_str()),
            Shutdown::InterfaceGone => format!("interface {} was deleted", self.ifname),
            Shutdown::SocketGone => "the UAPI socket was removed".to_owned(),
        })
    }

    /// Removes the socket, stops the engine and closes the TUN (deleting the interface).
    pub fn stop(self) {
        let Tunnel { device, socket, log, name_file, .. } = self;
        drop(socket);
        if let Some(f) = name_file {
            let _ = std::fs::remove_file(f);
        }
        device.set_observer(None);
        match Arc::try_unwrap(device) {
            Ok(d) => d.stop(),
            Err(d) => drop(d),
        }
        log("stopped");
    }
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Ends the process when the NIC fails (the interface was deleted). Log lines come from
/// the engine's `tracing` events, not from here.
struct NicWatch {
    nic_failed: mpsc::Sender<Shutdown>,
    nic_errors: AtomicU64,
}

impl DeviceObserver for NicWatch {
    fn on_event(&self, event: &DeviceEvent) {
        // Like wireguard-go, a failed TUN read (the interface was deleted) ends the
        // device; the first one is enough.
        if let DeviceEvent::Error { message } = event {
            if message.starts_with("NIC read")
                && self.nic_errors.fetch_add(1, Ordering::Relaxed) == 0
            {
                let _ = self.nic_failed.send(Shutdown::InterfaceGone);
            }
        }
    }
}
