//! `ferrowg [-f] NAME` on Windows: the wireguard-go drop-in. Creates (or reclaims, by
//! its name-derived GUID) the wintun adapter `NAME` with wintun.dll from next to
//! `ferrowg.exe`, starts the engine with an empty config, and serves the UAPI on
//! `\\.\pipe\ProtectedPrefix\Administrators\WireGuard\NAME` (only SYSTEM and
//! Administrators may open it; its owner is SYSTEM, so run it as SYSTEM, e.g. as a
//! service, as wireguard-go's tunnel service runs). Always in the foreground (a Windows
//! service is the daemon); ends on Ctrl-C / console close.

use std::sync::Arc;
use std::time::Duration;

use ferrowg_core::config::DeviceConfig;
use ferrowg_core::device::{Device, DeviceOptions};
use ferrowg_core::io::{SystemClock, Tun};

use crate::bind::PlatformBind;
use crate::packet::os_random32;
use crate::tuning::Tuning;
use crate::uapi_pipe::UapiPipe;
use crate::uapi_server::UapiTarget;

/// wireguard-go's default MTU.
const DEFAULT_MTU: usize = 1420;
/// How often the process checks for Ctrl-C.
const POLL: Duration = Duration::from_millis(200);

/// Runs `ferrowg [-f] NAME` (the `-f` is accepted and implied) with the engine options
/// `tuning`.
pub fn run(name: &str, _foreground: bool, tuning: Tuning) -> Result<(), String> {
    let log: Arc<dyn Fn(&str) + Send + Sync> = {
        let name = name.to_owned();
        Arc::new(
            move |msg: &str| tracing::info!(target: "ferrowg::cli", interface = %name, "{msg}"),
        )
    };
    ferrowg_platform::console::install_ctrl_handler()
        .map_err(|e| format!("cannot install the Ctrl-C handler: {e}"))?;
    let tun = ferrowg_platform::tun::create(name, DEFAULT_MTU)
        .map_err(|e| format!("cannot create the wintun adapter {name}: {e}"))?;
    log(&format!("wintun adapter {name} ready, GUID {:032x}", tun.guid()));
    let tun = Arc::new(tun);
    let mut opts = DeviceOptions { rng_seed: Some(os_random32()), ..Default::default() };
    tuning.apply(&mut opts);
    let device = Arc::new(
        Device::start(
            DeviceConfig::default(),
            tun.clone() as Arc<dyn Tun>,
            Arc::new(PlatformBind),
            Arc::new(SystemClock),
            opts,
        )
        .map_err(|e| format!("cannot start the engine: {e}"))?,
    );
    log(&format!("engine started, UDP port {}", device.listen_port()));
    let pipe = UapiPipe::bind(name, device.clone() as Arc<dyn UapiTarget>, log.clone())
        .map_err(|e| format!("cannot serve UAPI: {e}"))?;
    log(&format!("UAPI listening on {}", pipe.path()));
    while !ferrowg_platform::console::stop_requested() {
        std::thread::sleep(POLL);
    }
    log("shutting down");
    drop(pipe);
    let _ = tun.shutdown();
    match Arc::try_unwrap(device) {
        Ok(d) => d.stop(),
        Err(d) => drop(d),
    }
    log("stopped");
    Ok(())
}
