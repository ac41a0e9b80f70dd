//! Where the CLI's log lines go: every `tracing` event of the library (core's
//! `ferrowg::handshake`, `ferrowg::rx`, `ferrowg::peer`, `ferrowg::device`, platform's)
//! and of the CLI itself (`ferrowg::cli`), printed to stderr by tracing-subscriber's
//! formatter. Which ones: `LOG_LEVEL` as wireguard-go reads it (`verbose`/`debug`,
//! `info`, `error`, `silent`), or a `FERROWG_LOG` filter such as
//! `info,ferrowg::rx=debug` (tracing-subscriber's `Targets` syntax), which wins.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Installs the stderr printer with the filter from the environment (`default` when
/// neither variable is set).
pub fn init(default: LevelFilter) -> Result<(), String> {
    let filter = filter(
        std::env::var("LOG_LEVEL").ok().as_deref(),
        std::env::var("FERROWG_LOG").ok().as_deref(),
        default,
    )?;
    let printer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    tracing_subscriber::registry()
        .with(printer.with_filter(filter))
        .try_init()
        .map_err(|e| format!("cannot install the log printer: {e}"))
}

/// The filter for `LOG_LEVEL` and `FERROWG_LOG` (`None`: unset).
pub fn filter(
    log_level: Option<&str>,
    ferrowg_log: Option<&str>,
    default: LevelFilter,
) -> Result<Targets, String> {
    if let Some(spec) = ferrowg_log.filter(|s| !s.trim().is_empty()) {
        return spec.parse().map_err(|e| format!("FERROWG_LOG={spec:?}: {e}"));
    }
    let level = match log_level.unwrap_or_default() {
        "verbose" | "debug" => LevelFilter::DEBUG,
        "info" => LevelFilter::INFO,
        "error" => LevelFilter::ERROR,
        "silent" => LevelFilter::OFF,
        _ => default,
    };
    Ok(Targets::new().with_default(level))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn levels_from_the_environment() {
        let on = |t: &Targets, target: &str, level| t.would_enable(target, &level);
        let info = filter(None, None, LevelFilter::INFO).unwrap();
        assert!(on(&info, "ferrowg::device", Level::INFO));
        assert!(!on(&info, "ferrowg::handshake", Level::DEBUG));
        let verbose = filter(Some("verbose"), None, LevelFilter::INFO).unwrap();
        assert!(on(&verbose, "ferrowg::handshake", Level::DEBUG));
        assert!(!on(&verbose, "ferrowg::handshake", Level::TRACE));
        let silent = filter(Some("silent"), None, LevelFilter::INFO).unwrap();
        assert!(!on(&silent, "ferrowg::device", Level::ERROR));
        let error = filter(Some("error"), None, LevelFilter::INFO).unwrap();
        assert!(!on(&error, "ferrowg::device", Level::WARN));
        // FERROWG_LOG wins and can pick targets.
        let rx = filter(Some("silent"), Some("warn,ferrowg::rx=debug"), LevelFilter::INFO).unwrap();
        assert!(on(&rx, "ferrowg::rx", Level::DEBUG));
        assert!(!on(&rx, "ferrowg::handshake", Level::INFO));
        assert!(on(&rx, "ferrowg::handshake", Level::WARN));
        assert!(filter(None, Some("ferrowg::rx=loud"), LevelFilter::INFO).is_err());
    }
}
