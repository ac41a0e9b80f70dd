//! Engine options for the daemon forms (`ferrowg [-f] IFNAME`, and through the
//! environment `ferrowg up`), for comparing the TX paths in the netns rig:
//!
//! - `--tx-queue=MODE` / `FERROWG_TX_QUEUE=MODE`: `direct` (packets go from the NIC batch
//!   straight to encryption), `queued` (per-peer queues, DQL byte limit, never dropping:
//!   the baseline), `codel` (the same queues with CoDel, RFC 8289 5 ms / 100 ms) or
//!   `codel:TARGET_US,INTERVAL_US`.
//! - `--ring=KIND` / `FERROWG_RING=KIND`: `lockfree` or `locked`, the ring between the
//!   TX thread and the crypto workers.
//! - `--rx-codel=off|on|TARGET_US,INTERVAL_US` / `FERROWG_RX_CODEL`: CoDel on the
//!   receive side, judged by how long each datagram waited in the UDP socket buffer
//!   (`on`: [`RX_CODEL_ON`]); see `DeviceOptions::rx_codel`.
//! - `--io-threads=per-direction|shared` / `FERROWG_IO_THREADS`: one I/O thread per
//!   direction, or one for both (`DeviceOptions::io_threads`).
//! - `--sched-slice=off|US` / `FERROWG_SCHED_SLICE`: a short scheduler slice for the
//!   engine's threads (Linux EEVDF custom slice, `ferrowg_platform::cpu::SliceHook`).
//! - `--rt-priority=off|N` / `FERROWG_RT_PRIORITY`: real-time priority (Linux
//!   `SCHED_FIFO` N, 1–99) for the engine's packet threads
//!   (`ferrowg_platform::cpu::PriorityHook`); `saturated[:N]`: only while the tunnel
//!   is saturated. **On by default: [`DEFAULT_RT`], `saturated:1`**: under CPU
//!   contention a ping through a saturated tunnel otherwise waits for the receiving
//!   thread to get a CPU (docs/performance.md). Without the privilege the threads keep
//!   the normal policy.
//!
//! A flag wins over its variable; unset means the engine's default ([`DeviceOptions`]).

use std::time::Duration;

use std::sync::Arc;

use ferrowg_core::device::{DeviceOptions, IoThreads, RingKind};
use ferrowg_core::CodelParams;
use ferrowg_platform::cpu::{Raise, DEFAULT_RT_PRIORITY};

/// The daemon's real-time priority when none is asked for: priority 1 while the tunnel
/// is saturated (docs/performance.md: the ping target with less CPU per byte than
/// always).
pub const DEFAULT_RT: (u8, Raise) = (DEFAULT_RT_PRIORITY, Raise::WhenSaturated);

/// `--rx-codel=on`: the engine's [`ferrowg_core::device::RX_CODEL_ON`] (1 ms / 10 ms).
pub const RX_CODEL_ON: (Duration, Duration) =
    (ferrowg_core::device::RX_CODEL_ON.target, ferrowg_core::device::RX_CODEL_ON.interval);

/// The TX path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxQueue {
    /// No engine queue.
    Direct,
    /// Per-peer queues without drops.
    Queued,
    /// Per-peer queues with CoDel; `None`: RFC 8289's value.
    Codel {
        /// CoDel's target.
        target: Option<Duration>,
        /// CoDel's interval.
        interval: Option<Duration>,
    },
}

/// Engine options chosen on the command line or in the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tuning {
    /// `None`: the engine's default TX path.
    pub tx_queue: Option<TxQueue>,
    /// `None`: the engine's default ring.
    pub ring: Option<RingKind>,
    /// `None`: the engine's default; `Some(None)`: off; else (target, interval).
    pub rx_codel: Option<Option<(Duration, Duration)>>,
    /// `None`: the default (no slice asked for); `Some(None)`: off; else the slice.
    pub sched_slice: Option<Option<Duration>>,
    /// `None`: the engine's default I/O threads.
    pub io_threads: Option<IoThreads>,
    /// `None`: the daemon's default ([`DEFAULT_RT`]); `Some(None)`: off; else that
    /// priority, raised always or only while saturated.
    pub rt_priority: Option<Option<(u8, Raise)>>,
}

const TX_QUEUE_FLAG: &str = "--tx-queue=";
const RING_FLAG: &str = "--ring=";
const RX_CODEL_FLAG: &str = "--rx-codel=";
const SLICE_FLAG: &str = "--sched-slice=";
const IO_FLAG: &str = "--io-threads=";
const RT_FLAG: &str = "--rt-priority=";

impl Tuning {
    /// Whether `arg` is one of the tuning flags.
    pub fn is_flag(arg: &str) -> bool {
        [TX_QUEUE_FLAG, RING_FLAG, RX_CODEL_FLAG, SLICE_FLAG, IO_FLAG, RT_FLAG]
            .iter()
            .any(|f| arg.starts_with(f))
    }

    /// The options from the environment, overridden by `flags` (each [`Self::is_flag`]).
    pub fn from_flags_and_env(flags: &[&str]) -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut t = Tuning {
            tx_queue: var("FERROWG_TX_QUEUE")
                .map(|v| parse_tx_queue(&v).map_err(|e| format!("FERROWG_TX_QUEUE: {e}")))
                .transpose()?,
            ring: var("FERROWG_RING")
                .map(|v| parse_ring(&v).map_err(|e| format!("FERROWG_RING: {e}")))
                .transpose()?,
            rx_codel: var("FERROWG_RX_CODEL")
                .map(|v| parse_rx_codel(&v).map_err(|e| format!("FERROWG_RX_CODEL: {e}")))
                .transpose()?,
            sched_slice: var("FERROWG_SCHED_SLICE")
                .map(|v| parse_slice(&v).map_err(|e| format!("FERROWG_SCHED_SLICE: {e}")))
                .transpose()?,
            io_threads: var("FERROWG_IO_THREADS")
                .map(|v| parse_io(&v).map_err(|e| format!("FERROWG_IO_THREADS: {e}")))
                .transpose()?,
            rt_priority: var("FERROWG_RT_PRIORITY")
                .map(|v| parse_rt(&v).map_err(|e| format!("FERROWG_RT_PRIORITY: {e}")))
                .transpose()?,
        };
        t.apply_flags(flags)?;
        Ok(t)
    }

    /// Overrides with `flags`; an unknown flag is an error.
    pub fn apply_flags(&mut self, flags: &[&str]) -> Result<(), String> {
        for f in flags {
            if let Some(v) = f.strip_prefix(TX_QUEUE_FLAG) {
                self.tx_queue = Some(parse_tx_queue(v).map_err(|e| format!("--tx-queue: {e}"))?);
            } else if let Some(v) = f.strip_prefix(RING_FLAG) {
                self.ring = Some(parse_ring(v).map_err(|e| format!("--ring: {e}"))?);
            } else if let Some(v) = f.strip_prefix(RX_CODEL_FLAG) {
                self.rx_codel = Some(parse_rx_codel(v).map_err(|e| format!("--rx-codel: {e}"))?);
            } else if let Some(v) = f.strip_prefix(SLICE_FLAG) {
                self.sched_slice = Some(parse_slice(v).map_err(|e| format!("--sched-slice: {e}"))?);
            } else if let Some(v) = f.strip_prefix(IO_FLAG) {
                self.io_threads = Some(parse_io(v).map_err(|e| format!("--io-threads: {e}"))?);
            } else if let Some(v) = f.strip_prefix(RT_FLAG) {
                self.rt_priority = Some(parse_rt(v).map_err(|e| format!("--rt-priority: {e}"))?);
            } else {
                return Err(format!("unknown option {f}"));
            }
        }
        Ok(())
    }

    /// The flags that give these options (for the daemonized child).
    #[cfg(any(unix, test))]
    pub fn to_flags(self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(q) = self.tx_queue {
            let mode = match q {
                TxQueue::Direct => "direct".to_owned(),
                TxQueue::Queued => "queued".to_owned(),
                TxQueue::Codel { target: None, interval: None } => "codel".to_owned(),
                TxQueue::Codel { target, interval } => {
                    let d = CodelParams::default();
                    format!(
                        "codel:{},{}",
                        target.unwrap_or(d.target).as_micros(),
                        interval.unwrap_or(d.interval).as_micros()
                    )
                }
            };
            v.push(format!("{TX_QUEUE_FLAG}{mode}"));
        }
        if let Some(r) = self.ring {
            let kind = match r {
                RingKind::LockFree => "lockfree",
                RingKind::Locked => "locked",
            };
            v.push(format!("{RING_FLAG}{kind}"));
        }
        match self.rx_codel {
            None => {}
            Some(None) => v.push(format!("{RX_CODEL_FLAG}off")),
            Some(Some((t, i))) => {
                v.push(format!("{RX_CODEL_FLAG}{},{}", t.as_micros(), i.as_micros()));
            }
        }
        match self.sched_slice {
            None => {}
            Some(None) => v.push(format!("{SLICE_FLAG}off")),
            Some(Some(d)) => v.push(format!("{SLICE_FLAG}{}", d.as_micros())),
        }
        if let Some(io) = self.io_threads {
            v.push(format!("{IO_FLAG}{}", io_word(io)));
        }
        match self.rt_priority {
            None => {}
            Some(None) => v.push(format!("{RT_FLAG}off")),
            Some(Some((p, Raise::Always))) => v.push(format!("{RT_FLAG}{p}")),
            Some(Some((p, Raise::WhenSaturated))) => v.push(format!("{RT_FLAG}saturated:{p}")),
        }
        v
    }

    /// Puts the chosen options into `opts` (the rest stay as they are), and the
    /// daemon's own default: real-time priority for the packet threads unless
    /// `--rt-priority=off`.
    pub fn apply(self, opts: &mut DeviceOptions) {
        match self.tx_queue {
            None => {}
            Some(TxQueue::Direct) => (opts.codel, opts.tx_queue) = (false, false),
            Some(TxQueue::Queued) => (opts.codel, opts.tx_queue) = (false, true),
            Some(TxQueue::Codel { target, interval }) => {
                (opts.codel, opts.tx_queue) = (true, true);
                if let Some(t) = target {
                    opts.codel_params.target = t;
                }
                if let Some(i) = interval {
                    opts.codel_params.interval = i;
                }
            }
        }
        if let Some(r) = self.ring {
            opts.ring = r;
        }
        if let Some(io) = self.io_threads {
            opts.io_threads = io;
        }
        if let Some(rx) = self.rx_codel {
            opts.rx_codel = rx.map(|(target, interval)| CodelParams {
                target,
                interval,
                ..CodelParams::default()
            });
        }
        match self.sched_slice {
            None | Some(None) => {}
            Some(Some(slice)) => {
                let hook = ferrowg_platform::cpu::SliceHook::new(slice);
                opts.thread_hook = Some(match opts.thread_hook.take() {
                    Some(inner) => Arc::new(hook.with_inner(inner)),
                    None => Arc::new(hook),
                });
            }
        }
        let rt = match self.rt_priority {
            None => Some(DEFAULT_RT),
            Some(p) => p,
        };
        if let Some((p, raise)) = rt {
            let hook = match raise {
                Raise::Always => ferrowg_platform::cpu::PriorityHook::new(p),
                Raise::WhenSaturated => ferrowg_platform::cpu::PriorityHook::when_saturated(p),
            };
            opts.thread_hook = Some(match opts.thread_hook.take() {
                Some(inner) => Arc::new(hook.with_inner(inner)),
                None => Arc::new(hook),
            });
        }
    }
}

fn parse_io(s: &str) -> Result<IoThreads, String> {
    match s {
        "per-direction" => Ok(IoThreads::PerDirection),
        "shared" => Ok(IoThreads::Shared),
        _ => Err(format!("{s:?}: expected per-direction or shared")),
    }
}

#[cfg(any(unix, test))]
fn io_word(io: IoThreads) -> &'static str {
    match io {
        IoThreads::PerDirection => "per-direction",
        IoThreads::Shared => "shared",
    }
}

fn parse_tx_queue(s: &str) -> Result<TxQueue, String> {
    match s {
        "direct" => Ok(TxQueue::Direct),
        "queued" => Ok(TxQueue::Queued),
        "codel" => Ok(TxQueue::Codel { target: None, interval: None }),
        _ => {
            let params = s.strip_prefix("codel:").ok_or_else(|| {
                format!("{s:?}: expected direct, queued, codel or codel:TARGET_US,INTERVAL_US")
            })?;
            let (t, i) = params
                .split_once(',')
                .ok_or_else(|| format!("{s:?}: expected codel:TARGET_US,INTERVAL_US"))?;
            let us = |v: &str| match v.trim().parse::<u64>() {
                Ok(n) if n > 0 => Ok(Duration::from_micros(n)),
                _ => Err(format!("{v:?} is not a positive number of microseconds")),
            };
            let (target, interval) = (us(t)?, us(i)?);
            if target >= interval {
                return Err(format!("{s:?}: the target must be shorter than the interval"));
            }
            Ok(TxQueue::Codel { target: Some(target), interval: Some(interval) })
        }
    }
}

/// A positive number of microseconds.
fn micros(v: &str) -> Result<Duration, String> {
    match v.trim().parse::<u64>() {
        Ok(n) if n > 0 => Ok(Duration::from_micros(n)),
        _ => Err(format!("{v:?} is not a positive number of microseconds")),
    }
}

fn parse_rx_codel(s: &str) -> Result<Option<(Duration, Duration)>, String> {
    match s {
        "off" => Ok(None),
        "on" => Ok(Some(RX_CODEL_ON)),
        _ => {
            let (t, i) = s
                .split_once(',')
                .ok_or_else(|| format!("{s:?}: expected off, on or TARGET_US,INTERVAL_US"))?;
            let (target, interval) = (micros(t)?, micros(i)?);
            if target >= interval {
                return Err(format!("{s:?}: the target must be shorter than the interval"));
            }
            Ok(Some((target, interval)))
        }
    }
}

fn parse_slice(s: &str) -> Result<Option<Duration>, String> {
    match s {
        "off" => Ok(None),
        _ => micros(s).map(Some).map_err(|e| format!("{e}; or off")),
    }
}

fn parse_rt(s: &str) -> Result<Option<(u8, Raise)>, String> {
    let (n, raise) = match s {
        "off" => return Ok(None),
        "saturated" => return Ok(Some((DEFAULT_RT_PRIORITY, Raise::WhenSaturated))),
        _ => match s.strip_prefix("saturated:") {
            Some(n) => (n, Raise::WhenSaturated),
            None => (s, Raise::Always),
        },
    };
    match n.trim().parse::<u8>() {
        Ok(n @ 1..=99) => Ok(Some((n, raise))),
        _ => Err(format!("{s:?}: expected off, N, saturated or saturated:N (N: 1-99)")),
    }
}

fn parse_ring(s: &str) -> Result<RingKind, String> {
    match s {
        "lockfree" | "lock-free" => Ok(RingKind::LockFree),
        "locked" => Ok(RingKind::Locked),
        _ => Err(format!("{s:?}: expected lockfree or locked")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(flags: &[&str]) -> Result<Tuning, String> {
        let mut t = Tuning::default();
        t.apply_flags(flags).map(|()| t)
    }

    /// Flags, then `codel`, `tx_queue`, `ring`, CoDel target and interval.
    type Case<'a> = (&'a [&'a str], bool, bool, RingKind, Duration, Duration);

    #[test]
    fn flags_parse_and_reach_the_device_options() {
        let ms = Duration::from_millis;
        let cases: &[Case] = &[
            // flags                       codel  queue  ring                target  interval
            (&[], false, false, RingKind::LockFree, ms(5), ms(100)),
            (&["--tx-queue=direct"], false, false, RingKind::LockFree, ms(5), ms(100)),
            (&["--tx-queue=queued"], false, true, RingKind::LockFree, ms(5), ms(100)),
            (&["--tx-queue=codel"], true, true, RingKind::LockFree, ms(5), ms(100)),
            (&["--tx-queue=codel:2000,50000"], true, true, RingKind::LockFree, ms(2), ms(50)),
            (
                &["--ring=locked", "--tx-queue=queued"],
                false,
                true,
                RingKind::Locked,
                ms(5),
                ms(100),
            ),
            (
                &["--tx-queue=codel", "--tx-queue=direct"],
                false,
                false,
                RingKind::LockFree,
                ms(5),
                ms(100),
            ),
        ];
        for (i, (flags, codel, queue, ring, target, interval)) in cases.iter().enumerate() {
            let t = parsed(flags).unwrap();
            let mut o = DeviceOptions::default();
            t.apply(&mut o);
            let got = (o.codel, o.tx_queue, o.ring, o.codel_params.target, o.codel_params.interval);
            assert_eq!(got, (*codel, *queue, *ring, *target, *interval), "case {}", i + 1);
            // The daemonized child gets the same options.
            let again: Vec<String> = t.to_flags();
            let again: Vec<&str> = again.iter().map(String::as_str).collect();
            assert_eq!(parsed(&again).unwrap(), t, "case {}", i + 1);
        }
    }

    #[test]
    fn io_threads_parse_and_reach_the_device_options() {
        for (flag, want) in [
            ("--io-threads=shared", IoThreads::Shared),
            ("--io-threads=per-direction", IoThreads::PerDirection),
        ] {
            let t = parsed(&[flag]).unwrap();
            let other = match want {
                IoThreads::Shared => IoThreads::PerDirection,
                IoThreads::PerDirection => IoThreads::Shared,
            };
            let mut o = DeviceOptions { io_threads: other, ..Default::default() };
            t.apply(&mut o);
            assert_eq!(o.io_threads, want, "{flag}");
            let again: Vec<String> = t.to_flags();
            let again: Vec<&str> = again.iter().map(String::as_str).collect();
            assert_eq!(parsed(&again).unwrap(), t, "{flag}");
        }
        assert!(parsed(&["--io-threads=one"]).unwrap_err().contains("per-direction or shared"));
    }

    #[test]
    fn rx_codel_and_slice_parse_and_reach_the_device_options() {
        let t = parsed(&["--rx-codel=500,5000", "--sched-slice=200"]).unwrap();
        let mut o = DeviceOptions::default();
        t.apply(&mut o);
        let rx = o.rx_codel.expect("rx_codel on");
        assert_eq!(
            (rx.target, rx.interval),
            (Duration::from_micros(500), Duration::from_millis(5))
        );
        assert!(o.thread_hook.is_some(), "slice hook installed");
        let again: Vec<String> = t.to_flags();
        let again: Vec<&str> = again.iter().map(String::as_str).collect();
        assert_eq!(parsed(&again).unwrap(), t);
        let on = parsed(&["--rx-codel=on"]).unwrap();
        assert_eq!(on.rx_codel, Some(Some(RX_CODEL_ON)));
        let off = parsed(&["--rx-codel=off", "--sched-slice=off", "--rt-priority=off"]).unwrap();
        let mut o = DeviceOptions { rx_codel: Some(CodelParams::default()), ..Default::default() };
        off.apply(&mut o);
        assert!(o.rx_codel.is_none() && o.thread_hook.is_none());
        let again: Vec<String> = off.to_flags();
        let again: Vec<&str> = again.iter().map(String::as_str).collect();
        assert_eq!(parsed(&again).unwrap(), off);
    }

    #[test]
    fn the_default_is_left_to_the_engine_except_the_priority() {
        let mut o = DeviceOptions::default();
        Tuning::default().apply(&mut o);
        assert!(o.thread_hook.take().is_some(), "real-time priority hook by default");
        let d = DeviceOptions::default();
        assert_eq!(format!("{o:?}"), format!("{d:?}"));
        let mut o = DeviceOptions::default();
        parsed(&["--rt-priority=off"]).unwrap().apply(&mut o);
        assert_eq!(format!("{o:?}"), format!("{d:?}"), "off: no hook at all");
    }

    #[test]
    fn rt_priority_parses_and_survives_the_daemon_fork() {
        for (flag, want) in [
            ("--rt-priority=off", Some(None)),
            ("--rt-priority=1", Some(Some((1, Raise::Always)))),
            ("--rt-priority=99", Some(Some((99, Raise::Always)))),
            ("--rt-priority=saturated", Some(Some((1, Raise::WhenSaturated)))),
            ("--rt-priority=saturated:7", Some(Some((7, Raise::WhenSaturated)))),
        ] {
            let t = parsed(&[flag]).unwrap();
            assert_eq!(t.rt_priority, want, "{flag}");
            let again: Vec<String> = t.to_flags();
            let again: Vec<&str> = again.iter().map(String::as_str).collect();
            assert_eq!(parsed(&again).unwrap(), t, "{flag}");
        }
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            "--tx-queue=",
            "--tx-queue=fifo",
            "--tx-queue=codel:5000",
            "--tx-queue=codel:0,100000",
            "--tx-queue=codel:100000,5000",
            "--tx-queue=codel:x,y",
            "--ring=spin",
            "--rx-codel=",
            "--rx-codel=1000",
            "--rx-codel=10000,1000",
            "--sched-slice=0",
            "--sched-slice=fast",
            "--rt-priority=0",
            "--rt-priority=100",
            "--rt-priority=high",
            "--rt-priority=saturated:0",
            "--rt-priority=saturated:",
            "--rt-priority=",
            "--tx-queue-typo=codel",
        ] {
            assert!(parsed(&[bad]).is_err(), "{bad}");
        }
    }
}
