//! Engine options a host may choose when it starts a tunnel: the TX path (direct, queued,
//! CoDel) and the ring between the TX thread and the crypto workers. Unset fields keep
//! the engine's defaults ([`DeviceOptions`]), so a host that sets nothing gets exactly
//! what `Tunnel::start` gives.

use std::time::Duration;

use ferrowg_core::device::{DeviceOptions, RingKind};

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
}

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
            0 => Err(TunnelError::invalid(format!("CoDel {what} must be positive"))),
            _ => Ok(Duration::from_micros(v.into())),
        };
        if let Some(t) = self.codel_target_us {
            opts.codel_params.target = us(t, "target")?;
        }
        if let Some(i) = self.codel_interval_us {
            opts.codel_params.interval = us(i, "interval")?;
        }
        if opts.codel_params.target >= opts.codel_params.interval {
            return Err(TunnelError::invalid("CoDel target must be shorter than its interval"));
        }
        match self.ring {
            None => {}
            Some(RingMode::LockFree) => opts.ring = RingKind::LockFree,
            Some(RingMode::Locked) => opts.ring = RingKind::Locked,
        }
        Ok(())
    }

    /// The options in effect on a device, every field set.
    pub(crate) fn in_effect(opts: &DeviceOptions, bind_address: Option<String>) -> Self {
        let us = |d: Duration| u32::try_from(d.as_micros()).unwrap_or(u32::MAX);
        Self {
            bind_address,
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_options_keep_the_engine_defaults() {
        let mut o = DeviceOptions::default();
        TunnelOptions::default().apply(&mut o).unwrap();
        assert_eq!(format!("{o:?}"), format!("{:?}", DeviceOptions::default()));
    }

    #[test]
    fn options_map_both_ways() {
        for (mode, ring) in [
            (TxQueueMode::Direct, RingMode::Locked),
            (TxQueueMode::Queued, RingMode::LockFree),
            (TxQueueMode::Codel, RingMode::Locked),
        ] {
            let want = TunnelOptions {
                bind_address: None,
                tx_queue: Some(mode),
                codel_target_us: Some(2_000),
                codel_interval_us: Some(40_000),
                ring: Some(ring),
            };
            let mut o = DeviceOptions::default();
            want.apply(&mut o).unwrap();
            assert_eq!(TunnelOptions::in_effect(&o, None), want);
        }
        let bad = TunnelOptions { codel_target_us: Some(200_000), ..Default::default() };
        assert!(bad.apply(&mut DeviceOptions::default()).is_err());
        let zero = TunnelOptions { codel_interval_us: Some(0), ..Default::default() };
        assert!(zero.apply(&mut DeviceOptions::default()).is_err());
    }
}
