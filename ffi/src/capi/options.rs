//! `ferrowg_tunnel_start_opts`: one start call for every NIC mode, with the engine
//! options (TX path, CoDel, worker ring, receive CoDel, scheduler slice, real-time
//! priority). The options struct is versioned by its first field: a caller sets
//! `struct_size = sizeof(FerrowgTunnelOptions)`; later versions only append fields and
//! keep accepting every earlier size (the fields it lacks read as zero).

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::boundary::*;
use super::callbacks::{CProtector, Ctx};
use super::{FerrowgProtectFn, FerrowgTunnel};
use crate::bind::SocketProtector;
use crate::error::*;
use crate::options::{RingMode, TunnelOptions, TxQueueMode, MAX_RT_PRIORITY};
use crate::tunnel::NicMode;

/// `FerrowgTunnelOptions.nic`: host packet I/O (`bind_address` optional).
pub const FERROWG_NIC_HOST_PACKETS: i32 = 0;
/// `FerrowgTunnelOptions.nic`: create the OS adapter `adapter_name`.
pub const FERROWG_NIC_ADAPTER: i32 = 1;
/// `FerrowgTunnelOptions.nic`: adopt the TUN descriptor `fd` (duplicated).
pub const FERROWG_NIC_FD: i32 = 2;

/// `FerrowgTunnelOptions.tx_queue`: the engine's default.
pub const FERROWG_TX_QUEUE_DEFAULT: i32 = 0;
/// `FerrowgTunnelOptions.tx_queue`: from the NIC batch straight to encryption.
pub const FERROWG_TX_QUEUE_DIRECT: i32 = 1;
/// `FerrowgTunnelOptions.tx_queue`: per-peer queues that never drop (the baseline).
pub const FERROWG_TX_QUEUE_QUEUED: i32 = 2;
/// `FerrowgTunnelOptions.tx_queue`: per-peer queues with CoDel (RFC 8289).
pub const FERROWG_TX_QUEUE_CODEL: i32 = 3;

/// `FerrowgTunnelOptions.ring`: the engine's default.
pub const FERROWG_RING_DEFAULT: i32 = 0;
/// `FerrowgTunnelOptions.ring`: the lock-free ring.
pub const FERROWG_RING_LOCK_FREE: i32 = 1;
/// `FerrowgTunnelOptions.ring`: the locked ring (a mutex around a deque).
pub const FERROWG_RING_LOCKED: i32 = 2;

/// `FerrowgTunnelOptions.rx_codel`: the engine's default (off), or on if
/// `rx_codel_target_us` or `rx_codel_interval_us` is set.
pub const FERROWG_RX_CODEL_DEFAULT: i32 = 0;
/// `FerrowgTunnelOptions.rx_codel`: no CoDel on the receive side.
pub const FERROWG_RX_CODEL_OFF: i32 = 1;
/// `FerrowgTunnelOptions.rx_codel`: CoDel on the receive side, judged by how long each
/// datagram waited in the UDP socket buffer.
pub const FERROWG_RX_CODEL_ON: i32 = 2;

/// How to start a tunnel. Zero-initialise it, set `struct_size` to
/// `sizeof(FerrowgTunnelOptions)`, then the fields wanted: zero means the default.
#[repr(C)]
pub struct FerrowgTunnelOptions {
    /// `sizeof(FerrowgTunnelOptions)` as the caller compiled it (the version).
    pub struct_size: u32,
    /// One of `FERROWG_NIC_*`.
    pub nic: i32,
    /// The adapter name (`FERROWG_NIC_ADAPTER`), NUL-terminated.
    pub adapter_name: *const c_char,
    /// The TUN descriptor (`FERROWG_NIC_FD`).
    pub fd: i32,
    /// Limit the UDP socket to this local address (host packet I/O); NULL: all.
    pub bind_address: *const c_char,
    /// Called for every UDP socket before it is used (as in
    /// `ferrowg_tunnel_start_fd_protected`); NULL: none.
    pub protect: FerrowgProtectFn,
    /// Passed back to `protect`.
    pub protect_ctx: *mut c_void,
    /// One of `FERROWG_TX_QUEUE_*`.
    pub tx_queue: i32,
    /// CoDel's target in microseconds; 0: 5000.
    pub codel_target_us: u32,
    /// CoDel's interval in microseconds; 0: 100000.
    pub codel_interval_us: u32,
    /// One of `FERROWG_RING_*`.
    pub ring: i32,
    /// One of `FERROWG_RX_CODEL_*`.
    pub rx_codel: i32,
    /// Receive CoDel's target in microseconds; 0: 1000.
    pub rx_codel_target_us: u32,
    /// Receive CoDel's interval in microseconds; 0: 10000.
    pub rx_codel_interval_us: u32,
    /// A scheduler slice in microseconds for the engine's threads (Linux EEVDF custom
    /// slice); 0: none.
    pub sched_slice_us: u32,
    /// (Version 2.) A real-time priority (1–99) for the engine's packet threads (Linux
    /// SCHED_FIFO, needs CAP_SYS_NICE or RLIMIT_RTPRIO, else logged and ignored; Windows
    /// THREAD_PRIORITY_HIGHEST; elsewhere nothing); 0: none. Above 99: refused.
    pub rt_priority: u32,
    /// (Version 2.) 1: raise the packet threads only while the tunnel is saturated; 0:
    /// for their whole life. 1 needs `rt_priority`.
    pub rt_priority_when_saturated: u32,
}

/// `struct_size` of version 1 of `FerrowgTunnelOptions` (up to `sched_slice_us`):
/// still accepted, the later fields read as zero.
const V1_SIZE: usize = std::mem::offset_of!(FerrowgTunnelOptions, rt_priority)
    .next_multiple_of(std::mem::align_of::<FerrowgTunnelOptions>());
/// `struct_size` of this version.
const V2_SIZE: usize = std::mem::size_of::<FerrowgTunnelOptions>();
const _: () = assert!(V1_SIZE < V2_SIZE, "version 2 appends fields");

/// Starts a tunnel from wg-quick or UAPI `config` text as `options` say. On success
/// `*out` is the new handle. `FERROWG_ERR_INVALID_ARGUMENT` for an unknown
/// `struct_size`, NIC mode, TX path, ring or receive CoDel mode, CoDel values that
/// cannot work (either side), a real-time priority above 99 or
/// `rt_priority_when_saturated` other than 0 or 1 or without a priority.
///
/// # Safety
/// `config` is a NUL-terminated string; `options` points to a `FerrowgTunnelOptions` of
/// `struct_size` bytes whose strings are NUL-terminated; `protect`, if set, must be
/// callable from any thread with `protect_ctx` until the tunnel is freed; `out` is
/// writable.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_tunnel_start_opts(
    config: *const c_char,
    options: *const FerrowgTunnelOptions,
    out: *mut FerrowgTunnel,
) -> i32 {
    boundary(|| {
        // SAFETY: forwarded caller contract.
        let (o, _) = unsafe { read_options(options) }?;
        let mode = match o.nic {
            FERROWG_NIC_HOST_PACKETS => NicMode::HostPackets,
            FERROWG_NIC_ADAPTER => {
                // SAFETY: forwarded caller contract.
                let name = unsafe { c_str(o.adapter_name) }?;
                NicMode::CreateAdapter { name: name.to_owned() }
            }
            FERROWG_NIC_FD => NicMode::AdoptFd { fd: o.fd },
            n => return Err(invalid(format!("unknown NIC mode {n}"))),
        };
        let bind_address = if o.bind_address.is_null() {
            None
        } else {
            // SAFETY: forwarded caller contract.
            Some(unsafe { c_str(o.bind_address) }?.to_owned())
        };
        let tunnel_options = TunnelOptions {
            bind_address,
            tx_queue: match o.tx_queue {
                FERROWG_TX_QUEUE_DEFAULT => None,
                FERROWG_TX_QUEUE_DIRECT => Some(TxQueueMode::Direct),
                FERROWG_TX_QUEUE_QUEUED => Some(TxQueueMode::Queued),
                FERROWG_TX_QUEUE_CODEL => Some(TxQueueMode::Codel),
                n => return Err(invalid(format!("unknown TX queue mode {n}"))),
            },
            codel_target_us: (o.codel_target_us != 0).then_some(o.codel_target_us),
            codel_interval_us: (o.codel_interval_us != 0).then_some(o.codel_interval_us),
            ring: match o.ring {
                FERROWG_RING_DEFAULT => None,
                FERROWG_RING_LOCK_FREE => Some(RingMode::LockFree),
                FERROWG_RING_LOCKED => Some(RingMode::Locked),
                n => return Err(invalid(format!("unknown ring {n}"))),
            },
            rx_codel: match o.rx_codel {
                FERROWG_RX_CODEL_DEFAULT => None,
                FERROWG_RX_CODEL_OFF => Some(false),
                FERROWG_RX_CODEL_ON => Some(true),
                n => return Err(invalid(format!("unknown receive CoDel mode {n}"))),
            },
            rx_codel_target_us: (o.rx_codel_target_us != 0).then_some(o.rx_codel_target_us),
            rx_codel_interval_us: (o.rx_codel_interval_us != 0).then_some(o.rx_codel_interval_us),
            sched_slice_us: (o.sched_slice_us != 0).then_some(o.sched_slice_us),
            rt_priority: match o.rt_priority {
                0 => None,
                p => Some(u8::try_from(p).map_err(|_| {
                    invalid(format!("real-time priority {p} is above {MAX_RT_PRIORITY}"))
                })?),
            },
            rt_priority_when_saturated: match o.rt_priority_when_saturated {
                0 => None,
                1 => Some(true),
                n => return Err(invalid(format!("rt_priority_when_saturated {n} is not 0 or 1"))),
            },
        };
        let protector = o.protect.map(|f| {
            Arc::new(CProtector { f, ctx: Ctx(o.protect_ctx) }) as Arc<dyn SocketProtector>
        });
        // SAFETY: forwarded caller contract.
        unsafe { start_with(config, out, mode, &tunnel_options, protector) }
    })
}

/// The engine options in effect on `tunnel`: sets `tx_queue`, `codel_target_us`,
/// `codel_interval_us`, `ring`, `rx_codel`, `rx_codel_target_us`, `rx_codel_interval_us`
/// (the values receive CoDel uses when on), `sched_slice_us`, `rt_priority` and
/// `rt_priority_when_saturated` (as asked; 0: none), never `*_DEFAULT`, and leaves the
/// other fields alone. A version 1 struct gets only its own fields.
///
/// # Safety
/// `options` points to a writable `FerrowgTunnelOptions` of `struct_size` bytes.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_tunnel_get_options(
    tunnel: FerrowgTunnel,
    options: *mut FerrowgTunnelOptions,
) -> i32 {
    boundary(|| {
        // SAFETY: forwarded caller contract (checks the size).
        let (_, size) = unsafe { read_options(options) }?;
        let t = lookup(tunnel)?.options();
        let o = non_null(options)?;
        /// Writes one field; only fields inside the caller's `struct_size` are named.
        macro_rules! set {
            ($field:ident, $value:expr) => {
                // SAFETY: non-NULL, and the field lies within the `struct_size` bytes
                // the caller made writable (version 1 fields always; later ones checked).
                unsafe { std::ptr::addr_of_mut!((*o).$field).write_unaligned($value) }
            };
        }
        set!(
            tx_queue,
            match t.tx_queue {
                Some(TxQueueMode::Direct) => FERROWG_TX_QUEUE_DIRECT,
                Some(TxQueueMode::Queued) => FERROWG_TX_QUEUE_QUEUED,
                Some(TxQueueMode::Codel) => FERROWG_TX_QUEUE_CODEL,
                None => FERROWG_TX_QUEUE_DEFAULT,
            }
        );
        set!(codel_target_us, t.codel_target_us.unwrap_or(0));
        set!(codel_interval_us, t.codel_interval_us.unwrap_or(0));
        set!(
            ring,
            match t.ring {
                Some(RingMode::LockFree) => FERROWG_RING_LOCK_FREE,
                Some(RingMode::Locked) => FERROWG_RING_LOCKED,
                None => FERROWG_RING_DEFAULT,
            }
        );
        set!(
            rx_codel,
            match t.rx_codel {
                Some(true) => FERROWG_RX_CODEL_ON,
                Some(false) => FERROWG_RX_CODEL_OFF,
                None => FERROWG_RX_CODEL_DEFAULT,
            }
        );
        set!(rx_codel_target_us, t.rx_codel_target_us.unwrap_or(0));
        set!(rx_codel_interval_us, t.rx_codel_interval_us.unwrap_or(0));
        set!(sched_slice_us, t.sched_slice_us.unwrap_or(0));
        if size >= V2_SIZE {
            set!(rt_priority, t.rt_priority.unwrap_or(0).into());
            set!(rt_priority_when_saturated, t.rt_priority_when_saturated.unwrap_or(false).into());
        }
        Ok(())
    })
}

fn invalid(message: String) -> CError {
    CError::new(FERROWG_ERR_INVALID_ARGUMENT, message)
}

/// Reads the caller's options after checking their version; returns them (the fields
/// an earlier version lacks zero) and the caller's `struct_size`.
///
/// # Safety
/// `p` is NULL or points to at least `struct_size` readable bytes, `struct_size` first.
unsafe fn read_options(
    p: *const FerrowgTunnelOptions,
) -> Result<(FerrowgTunnelOptions, usize), CError> {
    let p = non_null(p.cast_mut())?;
    // SAFETY: non-NULL; the struct starts with its u32 size per the caller contract.
    let size = unsafe { std::ptr::addr_of!((*p).struct_size).read_unaligned() } as usize;
    // Version 1 ends with `sched_slice_us` (the receive CoDel and slice fields were never
    // released without it); version 2 appends the real-time priority fields.
    if size != V1_SIZE && size != V2_SIZE {
        return Err(invalid(format!(
            "struct_size {size} is not sizeof(FerrowgTunnelOptions) = {V2_SIZE} of this \
             library (nor {V1_SIZE} of its version 1)"
        )));
    }
    let mut out = std::mem::MaybeUninit::<FerrowgTunnelOptions>::zeroed();
    // SAFETY: `size` (at most the whole struct) bytes are readable per the caller
    // contract and `out` has room for them; the regions do not overlap. Every field is an
    // integer, a raw pointer or an optional function pointer, for which the caller's
    // bytes or zero are valid values.
    Ok((
        unsafe {
            std::ptr::copy_nonoverlapping(p.cast::<u8>(), out.as_mut_ptr().cast::<u8>(), size);
            out.assume_init()
        },
        size,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capi::ferrowg_tunnel_free;
    use crate::FERROWG_OK;

    fn device_options(t: FerrowgTunnel) -> ferrowg_core::device::DeviceOptions {
        let tunnel = lookup(t).map_err(|_| "no such handle").unwrap();
        tunnel.device_options().unwrap()
    }

    fn options() -> FerrowgTunnelOptions {
        FerrowgTunnelOptions {
            struct_size: std::mem::size_of::<FerrowgTunnelOptions>() as u32,
            nic: FERROWG_NIC_HOST_PACKETS,
            adapter_name: std::ptr::null(),
            fd: -1,
            bind_address: c"127.0.0.1".as_ptr(),
            protect: None,
            protect_ctx: std::ptr::null_mut(),
            tx_queue: FERROWG_TX_QUEUE_DEFAULT,
            codel_target_us: 0,
            codel_interval_us: 0,
            ring: FERROWG_RING_DEFAULT,
            rx_codel: FERROWG_RX_CODEL_DEFAULT,
            rx_codel_target_us: 0,
            rx_codel_interval_us: 0,
            sched_slice_us: 0,
            rt_priority: 0,
            rt_priority_when_saturated: 0,
        }
    }

    const CONFIG: &std::ffi::CStr =
        c"[Interface]\nPrivateKey = YAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n";

    #[test]
    fn the_options_reach_the_device() {
        let mut o = options();
        o.tx_queue = FERROWG_TX_QUEUE_CODEL;
        o.codel_target_us = 3_000;
        o.codel_interval_us = 60_000;
        o.ring = FERROWG_RING_LOCKED;
        o.rx_codel = FERROWG_RX_CODEL_ON;
        o.rx_codel_interval_us = 20_000;
        o.sched_slice_us = 250;
        o.rt_priority = 3;
        o.rt_priority_when_saturated = 1;
        let mut t: FerrowgTunnel = 0;
        // SAFETY: valid strings and options; `t` is writable.
        assert_eq!(unsafe { ferrowg_tunnel_start_opts(CONFIG.as_ptr(), &o, &mut t) }, FERROWG_OK);
        let device = device_options(t);
        assert!(device.codel && device.tx_queue, "{device:?}");
        assert_eq!(device.codel_params.target, std::time::Duration::from_micros(3_000));
        assert_eq!(device.codel_params.interval, std::time::Duration::from_micros(60_000));
        assert_eq!(device.ring, ferrowg_core::device::RingKind::Locked);
        let rx = device.rx_codel.expect("receive CoDel on");
        assert_eq!(rx.target, std::time::Duration::from_micros(1_000));
        assert_eq!(rx.interval, std::time::Duration::from_micros(20_000));
        assert!(device.thread_hook.is_some(), "slice hook installed");
        let mut back = options();
        // SAFETY: `back` is a writable struct of this version.
        assert_eq!(unsafe { ferrowg_tunnel_get_options(t, &mut back) }, FERROWG_OK);
        assert_eq!(
            (back.tx_queue, back.codel_target_us, back.codel_interval_us, back.ring),
            (FERROWG_TX_QUEUE_CODEL, 3_000, 60_000, FERROWG_RING_LOCKED)
        );
        assert_eq!(
            (back.rx_codel, back.rx_codel_target_us, back.rx_codel_interval_us),
            (FERROWG_RX_CODEL_ON, 1_000, 20_000)
        );
        assert_eq!(back.sched_slice_us, 250);
        assert_eq!((back.rt_priority, back.rt_priority_when_saturated), (3, 1));
        assert_eq!(ferrowg_tunnel_free(t), FERROWG_OK);

        // Zero fields: exactly the engine's defaults.
        let zero = options();
        // SAFETY: as above.
        let rc = unsafe { ferrowg_tunnel_start_opts(CONFIG.as_ptr(), &zero, &mut t) };
        assert_eq!(rc, FERROWG_OK);
        let device = device_options(t);
        let mut want = ferrowg_core::device::DeviceOptions::default();
        (want.rng_seed, want.topology) = (device.rng_seed, device.topology.clone());
        assert_eq!(format!("{device:?}"), format!("{want:?}"));
        assert_eq!(ferrowg_tunnel_free(t), FERROWG_OK);
    }

    #[test]
    fn bad_options_are_refused() {
        let cases: [fn(&mut FerrowgTunnelOptions); 14] = [
            |o| o.struct_size = 4,
            |o| o.struct_size += 8,
            // The size before the receive CoDel and slice fields (never released).
            |o| o.struct_size = V1_SIZE as u32 - 16,
            |o| o.struct_size = V1_SIZE as u32 + 4,
            |o| o.rt_priority = 100,
            |o| o.rt_priority_when_saturated = 1,
            |o| (o.rt_priority, o.rt_priority_when_saturated) = (1, 2),
            |o| o.nic = 7,
            |o| o.tx_queue = 9,
            |o| o.ring = -1,
            |o| (o.codel_target_us, o.codel_interval_us) = (200_000, 100_000),
            |o| o.rx_codel = 3,
            |o| (o.rx_codel, o.rx_codel_target_us) = (FERROWG_RX_CODEL_ON, 10_000),
            |o| (o.rx_codel, o.rx_codel_interval_us) = (FERROWG_RX_CODEL_OFF, 10_000),
        ];
        for (i, change) in cases.iter().enumerate() {
            let mut o = options();
            change(&mut o);
            let mut t: FerrowgTunnel = 0;
            // SAFETY: valid strings; `o` is a whole struct whatever `struct_size` says.
            let rc = unsafe { ferrowg_tunnel_start_opts(CONFIG.as_ptr(), &o, &mut t) };
            assert_eq!(rc, FERROWG_ERR_INVALID_ARGUMENT, "case {}", i + 1);
        }
        let mut t: FerrowgTunnel = 0;
        // SAFETY: NULL options are refused before anything is read.
        let rc = unsafe { ferrowg_tunnel_start_opts(CONFIG.as_ptr(), std::ptr::null(), &mut t) };
        assert_eq!(rc, FERROWG_ERR_NULL_ARGUMENT);
    }

    /// `FerrowgTunnelOptions` as version 1 callers compiled it (before `rt_priority`).
    #[repr(C)]
    struct OptionsV1 {
        struct_size: u32,
        nic: i32,
        adapter_name: *const c_char,
        fd: i32,
        bind_address: *const c_char,
        protect: FerrowgProtectFn,
        protect_ctx: *mut c_void,
        tx_queue: i32,
        codel_target_us: u32,
        codel_interval_us: u32,
        ring: i32,
        rx_codel: i32,
        rx_codel_target_us: u32,
        rx_codel_interval_us: u32,
        sched_slice_us: u32,
    }

    /// A version 1 struct and what follows it in the caller's memory.
    #[repr(C)]
    struct Guarded {
        v1: OptionsV1,
        after: [u32; 4],
    }

    #[test]
    fn a_version_1_caller_still_works() {
        assert_eq!(std::mem::size_of::<OptionsV1>(), V1_SIZE);
        let mut g = Guarded {
            v1: OptionsV1 {
                struct_size: V1_SIZE as u32,
                nic: FERROWG_NIC_HOST_PACKETS,
                adapter_name: std::ptr::null(),
                fd: -1,
                bind_address: c"127.0.0.1".as_ptr(),
                protect: None,
                protect_ctx: std::ptr::null_mut(),
                tx_queue: FERROWG_TX_QUEUE_QUEUED,
                codel_target_us: 0,
                codel_interval_us: 0,
                ring: FERROWG_RING_DEFAULT,
                rx_codel: FERROWG_RX_CODEL_DEFAULT,
                rx_codel_target_us: 0,
                rx_codel_interval_us: 0,
                sched_slice_us: 150,
            },
            // What a newer caller would read as a priority: must be neither read nor
            // written for a version 1 struct.
            after: [0xEE; 4],
        };
        let p = std::ptr::addr_of_mut!(g.v1).cast::<FerrowgTunnelOptions>();
        let mut t: FerrowgTunnel = 0;
        // SAFETY: valid strings; `p` points to `V1_SIZE` readable bytes (its size).
        assert_eq!(unsafe { ferrowg_tunnel_start_opts(CONFIG.as_ptr(), p, &mut t) }, FERROWG_OK);
        let device = device_options(t);
        assert!(device.tx_queue && !device.codel, "{device:?}");
        assert!(device.thread_hook.is_some(), "slice hook installed");
        let tunnel = lookup(t).map_err(|_| "no such handle").unwrap();
        let eff = tunnel.options();
        assert_eq!((eff.rt_priority, eff.rt_priority_when_saturated), (Some(0), Some(false)));
        g.v1.tx_queue = FERROWG_TX_QUEUE_DEFAULT;
        g.v1.sched_slice_us = 0;
        // SAFETY: `p` points to `V1_SIZE` writable bytes.
        assert_eq!(unsafe { ferrowg_tunnel_get_options(t, p) }, FERROWG_OK);
        assert_eq!((g.v1.tx_queue, g.v1.sched_slice_us), (FERROWG_TX_QUEUE_QUEUED, 150));
        assert_eq!(g.after, [0xEE; 4], "nothing written past a version 1 struct");
        assert_eq!(ferrowg_tunnel_free(t), FERROWG_OK);
    }
}
