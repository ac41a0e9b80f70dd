//! Engine options a host may choose when it starts a tunnel: the TX path (direct, queued,
//! CoDel), the ring between the TX thread and the crypto workers, CoDel on the receive
//! side, a scheduler slice and a real-time priority for the engine's threads. Unset fields keep
//! the engine's defaults ([`DeviceOptions`]), so a host that sets nothing gets exactly
//! what `Tunnel::start` gives.

use std::sync::Arc;
use std::time::Duration;

use ferrowg_core::device::{DeviceOptions, RingKind};
use ferrowg_core::CodelParams;
use ferrowg_platform::cpu::{PriorityHook, SliceHook};

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
    /// A real-time priority (1–99) for the engine's packet threads (TX, RX, crypto; not
    /// the control thread): Linux SCHED_FIFO at this priority (needs CAP_SYS_NICE or
    /// RLIMIT_RTPRIO, else logged and the threads keep the normal policy), Windows
    /// THREAD_PRIORITY_HIGHEST, elsewhere nothing; unset or 0: none (the threads are
    /// left alone). Above 99: an invalid argument.
    #[uniffi(default)]
    pub rt_priority: Option<u8>,
    /// With `rt_priority`: raise the packet threads only while the tunnel is saturated
    /// (the shared I/O thread reports it) instead of for their whole life; unset: false.
    /// True without a priority: an invalid argument.
    #[uniffi(default)]
    pub rt_priority_when_saturated: Option<bool>,
}

/// The highest real-time priority a host may ask for (Linux SCHED_FIFO's range is 1–99).
pub(crate) const MAX_RT_PRIORITY: u8 = 99;

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
        // The priority hook runs inside the slice hook: setting the slice puts a thread
        // back in the normal policy, so the real-time policy must be set after it.
        self.apply_priority(opts)?;
        if let Some(slice) = self.sched_slice_us.filter(|&s| s != 0) {
            let hook = SliceHook::new(Duration::from_micros(slice.into()));
            opts.thread_hook = Some(match opts.thread_hook.take() {
                Some(inner) => Arc::new(hook.with_inner(inner)),
                None => Arc::new(hook),
            });
        }
        Ok(())
    }

    /// Puts the real-time priority hook around the hooks already there (pinning, say).
    fn apply_priority(&self, opts: &mut DeviceOptions) -> Result<(), TunnelError> {
        let priority = self.rt_priority.unwrap_or(0);
        let saturated = self.rt_priority_when_saturated.unwrap_or(false);
        if priority > MAX_RT_PRIORITY {
            return Err(TunnelError::invalid(format!(
                "real-time priority {priority} is above {MAX_RT_PRIORITY}"
            )));
        }
        if priority == 0 {
            if saturated {
                return Err(TunnelError::invalid(
                    "real-time priority when saturated given without a priority",
                ));
            }
            return Ok(());
        }
        let hook = match saturated {
            true => PriorityHook::when_saturated(priority),
            false => PriorityHook::new(priority),
        };
        opts.thread_hook = Some(match opts.thread_hook.take() {
            Some(inner) => Arc::new(hook.with_inner(inner)),
            None => Arc::new(hook),
        });
        Ok(())
    }

    /// The options in effect on a device, every field set (the receive CoDel values are
    /// those it would use when off; the slice and the real-time priority, which the engine
    /// keeps opaque, as asked).
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
            rt_priority: Some(asked.rt_priority.unwrap_or(0)),
            rt_priority_when_saturated: Some(asked.rt_priority_when_saturated.unwrap_or(false)),
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
        for (mode, ring, rx, rt) in [
            (TxQueueMode::Direct, RingMode::Locked, true, (0, false)),
            (TxQueueMode::Queued, RingMode::LockFree, false, (5, false)),
            (TxQueueMode::Codel, RingMode::Locked, true, (99, true)),
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
                rt_priority: Some(rt.0),
                rt_priority_when_saturated: Some(rt.1),
            };
            let mut asked = want.clone();
            if !rx {
                (asked.rx_codel_target_us, asked.rx_codel_interval_us) = (None, None);
            }
            let mut o = DeviceOptions::default();
            asked.apply(&mut o).unwrap();
            assert_eq!(TunnelOptions::in_effect(&o, &asked), want);
            assert_eq!(o.thread_hook.is_some(), rx || rt.0 != 0);
        }
        // Unset: reported as none.
        let mut o = DeviceOptions::default();
        let eff = TunnelOptions::in_effect(&o, &TunnelOptions::default());
        assert_eq!((eff.rt_priority, eff.rt_priority_when_saturated), (Some(0), Some(false)));
        TunnelOptions { rt_priority: Some(0), ..Default::default() }.apply(&mut o).unwrap();
        assert!(o.thread_hook.is_none(), "priority 0 is none");
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

    /// The policy a packet thread (`Rx`) and the control thread run with after the hook
    /// saw their start and, if `saturate`, a saturation report.
    fn policies(hook: &Arc<dyn ThreadHook>, saturate: bool) -> [(i32, i32); 2] {
        [ThreadRole::Rx, ThreadRole::Control].map(|role| {
            std::thread::scope(|s| {
                s.spawn(|| {
                    hook.on_thread_start(role, None);
                    if saturate {
                        hook.on_saturation(role, true);
                    }
                    ferrowg_platform::cpu::current_thread_priority().unwrap_or((-1, -1))
                })
                .join()
                .unwrap_or((-1, -1))
            })
        })
    }

    #[test]
    fn the_priority_survives_the_slice_and_raises_packet_threads() {
        for saturated in [false, true] {
            let inner = Arc::new(Counting(AtomicU64::new(0)));
            let mut d = DeviceOptions { thread_hook: Some(inner.clone()), ..Default::default() };
            let o = TunnelOptions {
                sched_slice_us: Some(200),
                rt_priority: Some(7),
                rt_priority_when_saturated: Some(saturated),
                ..Default::default()
            };
            o.apply(&mut d).unwrap();
            let hook = d.thread_hook.expect("priority hook");
            let [rx, control] = policies(&hook, false);
            assert_eq!(inner.0.load(Ordering::Relaxed), 2, "the slice and inner hooks still run");
            let [rx_saturated, _] = policies(&hook, true);
            // Linux: SCHED_FIFO (1) at 7 for packet threads, or, without the privilege,
            // the normal policy (refusal logged). Windows: THREAD_PRIORITY_HIGHEST (2).
            #[cfg(target_os = "linux")]
            {
                let privileged = std::thread::scope(|s| {
                    s.spawn(|| ferrowg_platform::cpu::set_current_thread_realtime(1).is_ok())
                        .join()
                        .unwrap_or(false)
                });
                let raised = if privileged { (1, 7) } else { (0, 0) };
                assert_eq!(rx, if saturated { (0, 0) } else { raised }, "privileged: {privileged}");
                assert_eq!(rx_saturated, raised, "privileged: {privileged}");
                assert_eq!(control, (0, 0), "the control thread is left alone");
            }
            #[cfg(windows)]
            {
                assert_eq!(
                    (rx.1, rx_saturated.1, control.1),
                    (if saturated { 0 } else { 2 }, 2, 0)
                );
            }
            let _ = (rx, control, rx_saturated);
        }
    }

    #[test]
    fn bad_priorities_are_refused() {
        for bad in [
            TunnelOptions { rt_priority: Some(100), ..Default::default() },
            TunnelOptions { rt_priority: Some(255), ..Default::default() },
            TunnelOptions { rt_priority_when_saturated: Some(true), ..Default::default() },
            TunnelOptions {
                rt_priority: Some(0),
                rt_priority_when_saturated: Some(true),
                ..Default::default()
            },
        ] {
            let mut d = DeviceOptions::default();
            let err = bad.apply(&mut d).expect_err("refused");
            assert!(matches!(err, TunnelError::InvalidArgument { .. }), "{err:?}");
            assert!(d.thread_hook.is_none());
        }
        let e = TunnelOptions { rt_priority: Some(100), ..Default::default() }
            .apply(&mut DeviceOptions::default())
            .expect_err("refused");
        assert!(e.to_string().contains("above 99"), "{e}");
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
