//! Engine options a host may choose when it starts a tunnel: the TX path (direct, queued,
//! CoDel), the ring between the TX thread and the crypto workers, CoDel on the receive
//! side and a scheduler slice for the engine's threads. Unset fields keep
//! the engine's defaults ([`DeviceOptions`]), so a host that sets nothing gets exactly
//! what `Tunnel::start` gives.

use std::sync::Arc;
use std::time::Duration;

use ferrowg_core::device::{DeviceOptions, RingKind};
use ferrowg_core::CodelParams;
use ferrowg_platform::cpu::SliceHook;

use crate::error::TunnelError;

/// How outgoing packets reach encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum TxQueueMode {
    /// From the NIC batch straight to encryption (no queue inside the engine).
    Direct,
    /// Per-peer queues inside the engine (DQL byte limit), never dropping: the baseline
    /// for comparing CoDel.
    Queued,
    /// Per-peer queues with CoDel (RFC 8289; target and interval below).
    Codel,
}

/// The bounded ring between the TX thread and the crypto workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RingMode {
    /// Vyukov's bounded MPMC array.
    LockFree,
    /// A mutex around a deque.
    Locked,
}

/// Options for `Tunnel::start_with_options`; every field may be left unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct TunnelOptions {
    /// Limit the UDP socket to one local address (e.g. `127.0.0.1`); unset: all.
    #[uniffi(default)]
    pub bind_address: Option<String>,
    /// The TX path; unset: the engine's default.
    #[uniffi(default)]
    pub tx_queue: Option<TxQueueMode>,
    /// CoDel's target in microseconds (with `Codel`); unset: 5000.
    #[uniffi(default)]
    pub codel_target_us: Option<u32>,
    /// CoDel's interval in microseconds (with `Codel`); unset: 100000.
    #[uniffi(default)]
    pub codel_interval_us: Option<u32>,
    /// The worker ring; unset: the engine's default.
    #[uniffi(default)]
    pub ring: Option<RingMode>,
    /// CoDel on the receive side, judged by how long each datagram waited in the UDP
    /// socket buffer (kernel receive timestamps); unset: the engine's default (off), or
    /// on if a value below is set.
    #[uniffi(default)]
    pub rx_codel: Option<bool>,
    /// Receive CoDel's target in microseconds; unset: 1000.
    #[uniffi(default)]
    pub rx_codel_target_us: Option<u32>,
    /// Receive CoDel's interval in microseconds; unset: 10000.
    #[uniffi(default)]
    pub rx_codel_interval_us: Option<u32>,
    /// A scheduler slice in microseconds for the engine's threads (Linux EEVDF custom
    /// slice; the kernel clamps it to 100–100000); unset or 0: none.
    #[uniffi(default)]
    pub sched_slice_us: Option<u32>,
}

/// Receive CoDel's target when the host sets none (µs): the engine's
/// [`ferrowg_core::device::RX_CODEL_ON`].
const RX_CODEL_TARGET_US: u32 = ferrowg_core::device::RX_CODEL_ON.target.as_micros() as u32;
/// Receive CoDel's interval when the host sets none (µs).
const RX_CODEL_INTERVAL_US: u32 = ferrowg_core::device::RX_CODEL_ON.interval.as_micros() as u32;

impl TunnelOptions {
    /// Puts the chosen options into `opts`; refuses CoDel values that cannot work.
    pub(crate) fn apply(&self, opts: &mut DeviceOptions) -> Result<(), TunnelError> {
        match self.tx_queue {
            None => {}
            Some(TxQueueMode::Direct) => (opts.codel, opts.tx_queue) = (false, false),
            Some(TxQueueMode::Queued) => (opts.codel, opts.tx_queue) = (false, true),
            Some(TxQueueMode::Codel) => (opts.codel, opts.tx_queue) = (true, true),
        }
        let us = |v: u32, what: &str| match v {
            0 => Err(TunnelError::invalid(format!("{what} must be positive"))),
            _ => Ok(Duration::from_micros(v.into())),
        };
        if let Some(t) = self.codel_target_us {
            opts.codel_params.target = us(t, "CoDel target")?;
        }
        if let Some(i) = self.codel_interval_us {
            opts.codel_params.interval = us(i, "CoDel interval")?;
        }
        if opts.codel_params.target >= opts.codel_params.interval {
            return Err(TunnelError::invalid("CoDel target must be shorter than its interval"));
        }
        match self.ring {
            None => {}
            Some(RingMode::LockFree) => opts.ring = RingKind::LockFree,
            Some(RingMode::Locked) => opts.ring = RingKind::Locked,
        }
        let rx_values = self.rx_codel_target_us.is_some() || self.rx_codel_interval_us.is_some();
        match self.rx_codel {
            Some(false) if rx_values => {
                return Err(TunnelError::invalid("receive CoDel values given with it off"));
            }
            Some(false) => opts.rx_codel = None,
            None if !rx_values => {}
            Some(true) | None => {
                let target = self.rx_codel_target_us.unwrap_or(RX_CODEL_TARGET_US);
                let interval = self.rx_codel_interval_us.unwrap_or(RX_CODEL_INTERVAL_US);
                let params = CodelParams {
                    target: us(target, "receive CoDel target")?,
                    interval: us(interval, "receive CoDel interval")?,
                    ..CodelParams::default()
                };
                if params.target >= params.interval {
                    return Err(TunnelError::invalid(
                        "receive CoDel target must be shorter than its interval",
                    ));
                }
                opts.rx_codel = Some(params);
            }
        }
        if let Some(slice) = self.sched_slice_us.filter(|&s| s != 0) {
            let hook = SliceHook::new(Duration::from_micros(slice.into()));
            opts.thread_hook = Some(match opts.thread_hook.take() {
                Some(inner) => Arc::new(hook.with_inner(inner)),
                None => Arc::new(hook),
            });
        }
        Ok(())
    }

    /// The options in effect on a device, every field set (the receive CoDel values are
    /// those it would use when off; the slice, which the engine keeps opaque, as asked).
    pub(crate) fn in_effect(opts: &DeviceOptions, asked: &TunnelOptions) -> Self {
        let us = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        let rx = opts.rx_codel.map(|p| (us(p.target), us(p.interval)));
        Self {
            bind_address: asked.bind_address.clone(),
            tx_queue: Some(match (opts.codel, opts.tx_queue) {
                (true, _) => TxQueueMode::Codel,
                (false, true) => TxQueueMode::Queued,
                (false, false) => TxQueueMode::Direct,
            }),
            codel_target_us: Some(us(opts.codel_params.target)),
            codel_interval_us: Some(us(opts.codel_params.interval)),
            ring: Some(match opts.ring {
                RingKind::LockFree => RingMode::LockFree,
                RingKind::Locked => RingMode::Locked,
            }),
            rx_codel: Some(rx.is_some()),
            rx_codel_target_us: Some(rx.map_or(RX_CODEL_TARGET_US, |(t, _)| t)),
            rx_codel_interval_us: Some(rx.map_or(RX_CODEL_INTERVAL_US, |(_, i)| i)),
            sched_slice_us: Some(asked.sched_slice_us.unwrap_or(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use ferrowg_core::device::{ThreadHook, ThreadRole};

    use super::*;

    #[test]
    fn unset_options_keep_the_engine_defaults() {
        let mut o = DeviceOptions::default();
        TunnelOptions::default().apply(&mut o).unwrap();
        assert_eq!(format!("{o:?}"), format!("{:?}", DeviceOptions::default()));
    }

    #[test]
    fn options_map_both_ways() {
        for (mode, ring, rx) in [
            (TxQueueMode::Direct, RingMode::Locked, true),
            (TxQueueMode::Queued, RingMode::LockFree, false),
            (TxQueueMode::Codel, RingMode::Locked, true),
        ] {
            let want = TunnelOptions {
                bind_address: None,
                tx_queue: Some(mode),
                codel_target_us: Some(2_000),
                codel_interval_us: Some(40_000),
                ring: Some(ring),
                rx_codel: Some(rx),
                rx_codel_target_us: Some(if rx { 500 } else { RX_CODEL_TARGET_US }),
                rx_codel_interval_us: Some(if rx { 8_000 } else { RX_CODEL_INTERVAL_US }),
                sched_slice_us: Some(if rx { 300 } else { 0 }),
            };
            let mut asked = want.clone();
            if !rx {
                (asked.rx_codel_target_us, asked.rx_codel_interval_us) = (None, None);
            }
            let mut o = DeviceOptions::default();
            asked.apply(&mut o).unwrap();
            assert_eq!(TunnelOptions::in_effect(&o, &asked), want);
            assert_eq!(o.thread_hook.is_some(), rx);
        }
        let bad = TunnelOptions { codel_target_us: Some(200_000), ..Default::default() };
        assert!(bad.apply(&mut DeviceOptions::default()).is_err());
        let zero = TunnelOptions { codel_interval_us: Some(0), ..Default::default() };
        assert!(zero.apply(&mut DeviceOptions::default()).is_err());
    }

    #[test]
    fn receive_codel_and_the_slice_reach_the_device() {
        let us = Duration::from_micros;
        // A value alone turns receive CoDel on; the other keeps its default.
        let o = TunnelOptions { rx_codel_target_us: Some(2_000), ..Default::default() };
        let mut d = DeviceOptions::default();
        o.apply(&mut d).unwrap();
        let rx = d.rx_codel.expect("receive CoDel on");
        assert_eq!((rx.target, rx.interval), (us(2_000), us(10_000)));
        assert_eq!(rx.max_packet, CodelParams::default().max_packet);
        // On by itself: the defaults.
        let o = TunnelOptions { rx_codel: Some(true), ..Default::default() };
        let mut d = DeviceOptions::default();
        o.apply(&mut d).unwrap();
        let rx = d.rx_codel.expect("receive CoDel on");
        assert_eq!((rx.target, rx.interval), (us(1_000), us(10_000)));
        // Off turns off what was on.
        let o = TunnelOptions { rx_codel: Some(false), ..Default::default() };
        let mut d = DeviceOptions { rx_codel: Some(CodelParams::default()), ..Default::default() };
        o.apply(&mut d).unwrap();
        assert!(d.rx_codel.is_none());
        // A slice of 0 is none; a slice composes with a hook already there.
        let o = TunnelOptions { sched_slice_us: Some(0), ..Default::default() };
        let mut d = DeviceOptions::default();
        o.apply(&mut d).unwrap();
        assert!(d.thread_hook.is_none());
        let inner = Arc::new(Counting(AtomicU64::new(0)));
        let mut d = DeviceOptions { thread_hook: Some(inner.clone()), ..Default::default() };
        let o = TunnelOptions { sched_slice_us: Some(200), ..Default::default() };
        o.apply(&mut d).unwrap();
        let hook = d.thread_hook.expect("slice hook");
        assert!(!Arc::ptr_eq(&hook, &(inner.clone() as Arc<dyn ThreadHook>)), "wrapped");
        // On a scoped thread: the slice (or the logged refusal) stays with it.
        std::thread::scope(|s| {
            s.spawn(|| hook.on_thread_start(ThreadRole::Control, None));
        });
        assert_eq!(inner.0.load(Ordering::Relaxed), 1, "the inner hook still runs");
    }

    struct Counting(AtomicU64);

    impl ThreadHook for Counting {
        fn on_thread_start(&self, _: ThreadRole, _: Option<ferrowg_core::sched::LogicalCpu>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn bad_receive_codel_values_are_refused() {
        for bad in [
            TunnelOptions { rx_codel_target_us: Some(0), ..Default::default() },
            TunnelOptions {
                rx_codel: Some(true),
                rx_codel_interval_us: Some(0),
                ..Default::default()
            },
            TunnelOptions { rx_codel_target_us: Some(10_000), ..Default::default() },
            TunnelOptions {
                rx_codel_target_us: Some(50_000),
                rx_codel_interval_us: Some(20_000),
                ..Default::default()
            },
            TunnelOptions {
                rx_codel: Some(false),
                rx_codel_target_us: Some(500),
                ..Default::default()
            },
        ] {
            let mut d = DeviceOptions::default();
            assert!(bad.apply(&mut d).is_err(), "{bad:?}");
        }
    }
}
