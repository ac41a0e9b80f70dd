//! The process-wide log sink. The library has one logging channel: core, platform and
//! this crate emit `tracing` events (targets `ferrowg::*`); the first
//! [`set_log_sink`] installs a global `tracing` subscriber that forwards them to the
//! host's sink (C callback, uniffi `LogSink`, C# delegate), levels mapped one to one.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

use crate::callback::{in_callback, Slot};
use crate::error::TunnelError;

/// Severity of a log line. The C values (1-5) never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
#[repr(u8)]
pub enum LogLevel {
    /// Something failed.
    Error = 1,
    /// Something odd that the engine recovered from.
    Warn = 2,
    /// Lifecycle information.
    Info = 3,
    /// Details for debugging.
    Debug = 4,
    /// Very verbose details.
    Trace = 5,
}

impl LogLevel {
    /// The level with this C value; values above 5 mean `Trace`, 0 and below `Error`.
    pub fn from_c(value: i32) -> Self {
        match value {
            i32::MIN..=1 => Self::Error,
            2 => Self::Warn,
            3 => Self::Info,
            4 => Self::Debug,
            _ => Self::Trace,
        }
    }

    fn from_tracing(level: &tracing::Level) -> Self {
        match *level {
            tracing::Level::ERROR => Self::Error,
            tracing::Level::WARN => Self::Warn,
            tracing::Level::INFO => Self::Info,
            tracing::Level::DEBUG => Self::Debug,
            tracing::Level::TRACE => Self::Trace,
        }
    }
}

/// Receives log lines. Called from library threads; must return quickly and must not
/// call [`set_log_sink`].
#[uniffi::export(with_foreign)]
pub trait LogSink: Send + Sync {
    /// One log line.
    fn on_log(&self, level: LogLevel, message: String);
}

static SINK: OnceLock<Slot<dyn LogSink>> = OnceLock::new();
static MAX_LEVEL: AtomicU8 = AtomicU8::new(0);

fn sink() -> &'static Slot<dyn LogSink> {
    SINK.get_or_init(Slot::new)
}

/// Installs (or with `None` removes) the process-wide log sink, receiving lines up to
/// `max_level`. After it returns the previous sink is never called again. The first
/// call also installs a global `tracing` subscriber feeding the sink, unless the host
/// already installed one.
#[uniffi::export]
pub fn set_log_sink(
    sink: Option<Arc<dyn LogSink>>,
    max_level: LogLevel,
) -> Result<(), TunnelError> {
    static SUBSCRIBER: OnceLock<()> = OnceLock::new();
    SUBSCRIBER.get_or_init(|| {
        let _ = tracing::subscriber::set_global_default(SinkSubscriber);
    });
    let level = if sink.is_some() { max_level as u8 } else { 0 };
    self::sink().set(sink)?;
    MAX_LEVEL.store(level, Ordering::Release);
    Ok(())
}

/// Logs one line of this crate (target `ferrowg::ffi`) through `tracing`, like every
/// other log line of the library.
pub(crate) fn log(level: LogLevel, message: &str) {
    const T: &str = "ferrowg::ffi";
    match level {
        LogLevel::Error => tracing::error!(target: T, "{message}"),
        LogLevel::Warn => tracing::warn!(target: T, "{message}"),
        LogLevel::Info => tracing::info!(target: T, "{message}"),
        LogLevel::Debug => tracing::debug!(target: T, "{message}"),
        LogLevel::Trace => tracing::trace!(target: T, "{message}"),
    }
}

/// Sends one line to the sink if its level is enabled. Lines produced while a sink call
/// is running on this thread are dropped (a sink that logs must not recurse).
fn forward(level: LogLevel, message: String) {
    if (level as u8) > MAX_LEVEL.load(Ordering::Acquire) || in_callback() {
        return;
    }
    sink().call(|s| s.on_log(level, message));
}

/// A minimal `tracing` subscriber: formats each event's fields into one line,
/// `target: message key=value ...`.
struct SinkSubscriber;

impl Subscriber for SinkSubscriber {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // The sink and level change at run time, so never let tracing cache a verdict.
        Interest::sometimes()
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        (LogLevel::from_tracing(metadata.level()) as u8) <= MAX_LEVEL.load(Ordering::Relaxed)
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        let mut line = Line(String::new());
        event.record(&mut line);
        forward(LogLevel::from_tracing(meta.level()), format!("{}: {}", meta.target(), line.0));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, "{}={value:?}", field.name());
        }
    }
}
