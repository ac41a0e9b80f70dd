//! Windows: WFP filters in a provider and sublayer of ferrowg's own, all PERSISTENT (not
//! a dynamic session): they survive the engine process and a reboot, and go only when
//! [`disable`] deletes them. Layers, conditions and weights come from
//! [`ferrowg_core::killswitch::wfp`]; this file only fills in the `FWPM_*` structures.
//!
//! One kill switch per machine: the provider and sublayer keys are fixed, so enabling for
//! another tunnel replaces the first, in one WFP transaction.

use std::ptr;

use ferrowg_core::killswitch::wfp::{self, Condition, Filter, Layer};
use ferrowg_core::killswitch::{KillSwitchSpec, Verdict};
use windows::core::{GUID, PCWSTR, PWSTR};
use windows::Win32::Foundation::{ERROR_SUCCESS, HANDLE};
use windows::Win32::NetworkManagement::IpHelper::ConvertInterfaceAliasToLuid;
use windows::Win32::NetworkManagement::Ndis::NET_LUID_LH;
use windows::Win32::NetworkManagement::WindowsFilteringPlatform::{
    FwpmEngineClose0, FwpmEngineOpen0, FwpmFilterAdd0, FwpmFilterCreateEnumHandle0,
    FwpmFilterDeleteByKey0, FwpmFilterDestroyEnumHandle0, FwpmFilterEnum0, FwpmFreeMemory0,
    FwpmProviderAdd0, FwpmProviderDeleteByKey0, FwpmProviderGetByKey0, FwpmSubLayerAdd0,
    FwpmSubLayerDeleteByKey0, FwpmTransactionAbort0, FwpmTransactionBegin0, FwpmTransactionCommit0,
    FWPM_ACTION0, FWPM_CONDITION_FLAGS, FWPM_CONDITION_IP_LOCAL_INTERFACE,
    FWPM_CONDITION_IP_LOCAL_PORT, FWPM_CONDITION_IP_PROTOCOL, FWPM_CONDITION_IP_REMOTE_ADDRESS,
    FWPM_CONDITION_IP_REMOTE_PORT, FWPM_DISPLAY_DATA0, FWPM_FILTER0, FWPM_FILTER_CONDITION0,
    FWPM_FILTER_ENUM_TEMPLATE0, FWPM_FILTER_FLAG_PERSISTENT, FWPM_LAYER_ALE_AUTH_CONNECT_V4,
    FWPM_LAYER_ALE_AUTH_CONNECT_V6, FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V4,
    FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V6, FWPM_PROVIDER0, FWPM_PROVIDER_FLAG_PERSISTENT,
    FWPM_SESSION0, FWPM_SUBLAYER0, FWPM_SUBLAYER_FLAG_PERSISTENT, FWP_ACTION_BLOCK,
    FWP_ACTION_PERMIT, FWP_CONDITION_FLAG_IS_LOOPBACK, FWP_CONDITION_VALUE0,
    FWP_CONDITION_VALUE0_0, FWP_FILTER_ENUM_OVERLAPPING, FWP_MATCH_EQUAL, FWP_MATCH_FLAGS_ALL_SET,
    FWP_UINT16, FWP_UINT32, FWP_UINT64, FWP_UINT8, FWP_V4_ADDR_AND_MASK, FWP_V4_ADDR_MASK,
    FWP_V6_ADDR_AND_MASK, FWP_V6_ADDR_MASK, FWP_VALUE0, FWP_VALUE0_0,
};
use windows::Win32::System::Rpc::RPC_C_AUTHN_WINNT;

use super::Error;

/// ferrowg's WFP provider.
const PROVIDER: GUID = GUID::from_u128(0x5f0c_2a4e_8d1b_4c6f_9a3e_1b7d_2c4f_6a01);
/// ferrowg's sublayer (weight 0xffff, the highest, as wireguard-windows).
const SUBLAYER: GUID = GUID::from_u128(0x5f0c_2a4e_8d1b_4c6f_9a3e_1b7d_2c4f_6a02);
/// Filter keys are this plus the filter's index.
const FILTER_BASE: u128 = 0x5f0c_2a4e_8d1b_4c6f_9a3e_1b7d_2c4f_0000;

const LAYERS: [GUID; 4] = [
    FWPM_LAYER_ALE_AUTH_CONNECT_V4,
    FWPM_LAYER_ALE_AUTH_CONNECT_V6,
    FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V4,
    FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V6,
];

pub(super) fn enable(spec: &KillSwitchSpec) -> Result<(), Error> {
    let filters = wfp::filters(spec)?;
    let luid = tunnel_luid(&spec.tunnel)?;
    let engine = Engine::open()?;
    engine.transaction(|h| {
        remove_all(h)?;
        add_provider_and_sublayer(h)?;
        for (i, f) in filters.iter().enumerate() {
            add_filter(h, f, i, luid)?;
        }
        Ok(())
    })
}

pub(super) fn disable(_ifname: &str) -> Result<bool, Error> {
    let engine = Engine::open()?;
    let was = provider_exists(engine.0)?;
    engine.transaction(remove_all)?;
    Ok(was)
}

pub(super) fn status(_ifname: &str) -> Result<bool, Error> {
    let engine = Engine::open()?;
    provider_exists(engine.0)
}

/// An open WFP engine handle, closed on drop.
struct Engine(HANDLE);

impl Engine {
    fn open() -> Result<Self, Error> {
        // A default (non-dynamic) session: objects added through it outlive it.
        let session = FWPM_SESSION0::default();
        let mut h = HANDLE::default();
        // SAFETY: `session` and `h` are valid for the call; a null server name means the
        // local machine.
        let rc = unsafe {
            FwpmEngineOpen0(PCWSTR::null(), RPC_C_AUTHN_WINNT, None, Some(&session), &mut h)
        };
        check("FwpmEngineOpen0", rc)?;
        Ok(Engine(h))
    }

    /// Runs `f` in one WFP transaction: committed if it succeeds, aborted otherwise.
    fn transaction(&self, f: impl FnOnce(HANDLE) -> Result<(), Error>) -> Result<(), Error> {
        // SAFETY: `self.0` is an open engine handle.
        check("FwpmTransactionBegin0", unsafe { FwpmTransactionBegin0(self.0, 0) })?;
        match f(self.0) {
            // SAFETY: as above, inside the transaction begun here.
            Ok(()) => check("FwpmTransactionCommit0", unsafe { FwpmTransactionCommit0(self.0) }),
            Err(e) => {
                // SAFETY: as above.
                unsafe { FwpmTransactionAbort0(self.0) };
                Err(e)
            }
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: the handle came from FwpmEngineOpen0 and is closed once.
        unsafe { FwpmEngineClose0(self.0) };
    }
}

fn check(op: &'static str, rc: u32) -> Result<(), Error> {
    if rc == ERROR_SUCCESS.0 {
        Ok(())
    } else {
        Err(Error::Os { op, code: rc })
    }
}

fn tunnel_luid(name: &str) -> Result<u64, Error> {
    let wide = wide(name);
    let mut luid = NET_LUID_LH::default();
    // SAFETY: `wide` is NUL-terminated and outlives the call; `luid` is a valid out-pointer.
    let rc = unsafe { ConvertInterfaceAliasToLuid(PCWSTR(wide.as_ptr()), &mut luid) };
    check("ConvertInterfaceAliasToLuid", rc.0)?;
    // SAFETY: every bit pattern of the union is a valid u64.
    Ok(unsafe { luid.Value })
}

fn provider_exists(h: HANDLE) -> Result<bool, Error> {
    let mut p: *mut FWPM_PROVIDER0 = ptr::null_mut();
    // SAFETY: `h` is open; on success `p` points to memory WFP allocated, freed below.
    let rc = unsafe { FwpmProviderGetByKey0(h, &PROVIDER, &mut p) };
    if rc == ERROR_SUCCESS.0 {
        // SAFETY: `p` was allocated by WFP and is freed once.
        unsafe { FwpmFreeMemory0(ptr::addr_of_mut!(p).cast()) };
        Ok(true)
    } else {
        Ok(false)
    }
}

/// Deletes every filter of ferrowg's provider, then the sublayer and the provider.
fn remove_all(h: HANDLE) -> Result<(), Error> {
    if !provider_exists(h)? {
        return Ok(());
    }
    let mut provider = PROVIDER;
    let mut keys = Vec::new();
    for layer in LAYERS {
        let template = FWPM_FILTER_ENUM_TEMPLATE0 {
            providerKey: &mut provider,
            layerKey: layer,
            enumType: FWP_FILTER_ENUM_OVERLAPPING,
            actionMask: u32::MAX,
            ..Default::default()
        };
        let mut e = HANDLE::default();
        // SAFETY: `template` and `provider` outlive the call; `e` is a valid out-pointer.
        check("FwpmFilterCreateEnumHandle0", unsafe {
            FwpmFilterCreateEnumHandle0(h, Some(&template), &mut e)
        })?;
        let mut entries: *mut *mut FWPM_FILTER0 = ptr::null_mut();
        let mut n = 0u32;
        // SAFETY: `e` is the enum handle just created; WFP allocates `entries`.
        let rc = unsafe { FwpmFilterEnum0(h, e, 4096, &mut entries, &mut n) };
        if rc == ERROR_SUCCESS.0 && !entries.is_null() {
            for i in 0..n as usize {
                // SAFETY: WFP returned `n` valid filter pointers in `entries`.
                keys.push(unsafe { (**entries.add(i)).filterKey });
            }
            // SAFETY: allocated by FwpmFilterEnum0, freed once.
            unsafe { FwpmFreeMemory0(ptr::addr_of_mut!(entries).cast()) };
        }
        // SAFETY: `e` was created above and is destroyed once.
        unsafe { FwpmFilterDestroyEnumHandle0(h, e) };
        check("FwpmFilterEnum0", rc)?;
    }
    for key in &keys {
        // SAFETY: `h` is open inside a transaction; `key` is a valid GUID.
        check("FwpmFilterDeleteByKey0", unsafe { FwpmFilterDeleteByKey0(h, key) })?;
    }
    // The sublayer may be missing after a half-done earlier run; the provider exists.
    // SAFETY: as above.
    let _ = unsafe { FwpmSubLayerDeleteByKey0(h, &SUBLAYER) };
    // SAFETY: as above.
    check("FwpmProviderDeleteByKey0", unsafe { FwpmProviderDeleteByKey0(h, &PROVIDER) })
}

fn add_provider_and_sublayer(h: HANDLE) -> Result<(), Error> {
    let mut name = wide("ferrowg kill switch");
    let mut desc = wide("Blocks traffic outside the ferrowg tunnel");
    let display = FWPM_DISPLAY_DATA0 {
        name: PWSTR(name.as_mut_ptr()),
        description: PWSTR(desc.as_mut_ptr()),
    };
    let provider = FWPM_PROVIDER0 {
        providerKey: PROVIDER,
        displayData: display,
        flags: FWPM_PROVIDER_FLAG_PERSISTENT,
        ..Default::default()
    };
    // SAFETY: `provider` and the strings it points to outlive the call.
    check("FwpmProviderAdd0", unsafe { FwpmProviderAdd0(h, &provider, None) })?;
    let mut provider_key = PROVIDER;
    let sublayer = FWPM_SUBLAYER0 {
        subLayerKey: SUBLAYER,
        displayData: display,
        flags: FWPM_SUBLAYER_FLAG_PERSISTENT,
        providerKey: &mut provider_key,
        weight: u16::MAX,
        ..Default::default()
    };
    // SAFETY: `sublayer`, `provider_key` and the strings outlive the call.
    check("FwpmSubLayerAdd0", unsafe { FwpmSubLayerAdd0(h, &sublayer, None) })
}

/// Storage the pointers in a condition refer to; must outlive `FwpmFilterAdd0`.
/// Boxed: the conditions point into them while the vectors still grow.
#[derive(Default)]
#[allow(clippy::vec_box)]
struct Values {
    u64s: Vec<Box<u64>>,
    v4: Vec<Box<FWP_V4_ADDR_AND_MASK>>,
    v6: Vec<Box<FWP_V6_ADDR_AND_MASK>>,
}

fn add_filter(h: HANDLE, f: &Filter, index: usize, luid: u64) -> Result<(), Error> {
    let mut values = Values::default();
    let mut conditions: Vec<FWPM_FILTER_CONDITION0> =
        f.conditions.iter().map(|c| condition(c, luid, &mut values)).collect();
    let mut name =
        wide(&format!("ferrowg kill switch: {:?} {:?}", f.rule.reason, f.rule.direction));
    let mut weight = Box::new(f.weight);
    let mut provider_key = PROVIDER;
    let layer = match f.layer {
        Layer::ConnectV4 => FWPM_LAYER_ALE_AUTH_CONNECT_V4,
        Layer::ConnectV6 => FWPM_LAYER_ALE_AUTH_CONNECT_V6,
        Layer::RecvAcceptV4 => FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V4,
        Layer::RecvAcceptV6 => FWPM_LAYER_ALE_AUTH_RECV_ACCEPT_V6,
    };
    let action = match f.verdict {
        Verdict::Allow => FWP_ACTION_PERMIT,
        Verdict::Block => FWP_ACTION_BLOCK,
    };
    let filter = FWPM_FILTER0 {
        filterKey: GUID::from_u128(FILTER_BASE | index as u128),
        displayData: FWPM_DISPLAY_DATA0 {
            name: PWSTR(name.as_mut_ptr()),
            description: PWSTR::null(),
        },
        flags: FWPM_FILTER_FLAG_PERSISTENT,
        providerKey: &mut provider_key,
        layerKey: layer,
        subLayerKey: SUBLAYER,
        weight: FWP_VALUE0 { r#type: FWP_UINT64, Anonymous: FWP_VALUE0_0 { uint64: &mut *weight } },
        numFilterConditions: conditions.len() as u32,
        filterCondition: if conditions.is_empty() {
            ptr::null_mut()
        } else {
            conditions.as_mut_ptr()
        },
        action: FWPM_ACTION0 { r#type: action, ..Default::default() },
        ..Default::default()
    };
    // SAFETY: `filter` and everything it points to (`conditions`, `values`, `weight`,
    // `name`, `provider_key`) live until this call returns.
    check("FwpmFilterAdd0", unsafe { FwpmFilterAdd0(h, &filter, None, None) })
}

fn condition(c: &Condition, luid: u64, v: &mut Values) -> FWPM_FILTER_CONDITION0 {
    let cond = |field: GUID, value: FWP_CONDITION_VALUE0| FWPM_FILTER_CONDITION0 {
        fieldKey: field,
        matchType: FWP_MATCH_EQUAL,
        conditionValue: value,
    };
    let val = |t, a| FWP_CONDITION_VALUE0 { r#type: t, Anonymous: a };
    match *c {
        Condition::Loopback => FWPM_FILTER_CONDITION0 {
            fieldKey: FWPM_CONDITION_FLAGS,
            matchType: FWP_MATCH_FLAGS_ALL_SET,
            conditionValue: val(
                FWP_UINT32,
                FWP_CONDITION_VALUE0_0 { uint32: FWP_CONDITION_FLAG_IS_LOOPBACK },
            ),
        },
        Condition::TunnelInterface => {
            v.u64s.push(Box::new(luid));
            let p: *mut u64 = v.u64s.last_mut().map_or(ptr::null_mut(), |b| &mut **b);
            cond(
                FWPM_CONDITION_IP_LOCAL_INTERFACE,
                val(FWP_UINT64, FWP_CONDITION_VALUE0_0 { uint64: p }),
            )
        }
        Condition::RemoteV4 { addr, mask } => {
            v.v4.push(Box::new(FWP_V4_ADDR_AND_MASK { addr, mask }));
            let p: *mut FWP_V4_ADDR_AND_MASK =
                v.v4.last_mut().map_or(ptr::null_mut(), |b| &mut **b);
            cond(
                FWPM_CONDITION_IP_REMOTE_ADDRESS,
                val(FWP_V4_ADDR_MASK, FWP_CONDITION_VALUE0_0 { v4AddrMask: p }),
            )
        }
        Condition::RemoteV6 { addr, prefix } => {
            v.v6.push(Box::new(FWP_V6_ADDR_AND_MASK { addr, prefixLength: prefix }));
            let p: *mut FWP_V6_ADDR_AND_MASK =
                v.v6.last_mut().map_or(ptr::null_mut(), |b| &mut **b);
            cond(
                FWPM_CONDITION_IP_REMOTE_ADDRESS,
                val(FWP_V6_ADDR_MASK, FWP_CONDITION_VALUE0_0 { v6AddrMask: p }),
            )
        }
        Condition::Protocol(p) => {
            cond(FWPM_CONDITION_IP_PROTOCOL, val(FWP_UINT8, FWP_CONDITION_VALUE0_0 { uint8: p }))
        }
        Condition::RemotePort(p) => cond(
            FWPM_CONDITION_IP_REMOTE_PORT,
            val(FWP_UINT16, FWP_CONDITION_VALUE0_0 { uint16: p }),
        ),
        // FWPM_CONDITION_ICMP_TYPE is #defined as FWPM_CONDITION_IP_LOCAL_PORT in fwpmu.h.
        Condition::LocalPort(p) | Condition::IcmpType(p) => cond(
            FWPM_CONDITION_IP_LOCAL_PORT,
            val(FWP_UINT16, FWP_CONDITION_VALUE0_0 { uint16: p }),
        ),
    }
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}
