//! The network plan in the C ABI: numbered handles of applied plans (see
//! `apply_network_plan` in the Rust docs).

use std::collections::HashMap;
use std::ffi::c_char;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::boundary::{boundary, c_str, non_null, CError};
use crate::error::FERROWG_ERR_INVALID_HANDLE;
use crate::NetworkSetup;

/// A handle of an applied network plan. 0 is never a valid handle; handles are never
/// reused.
pub type FerrowgNetwork = u64;

fn networks() -> &'static Mutex<HashMap<FerrowgNetwork, Arc<NetworkSetup>>> {
    static NETWORKS: OnceLock<Mutex<HashMap<FerrowgNetwork, Arc<NetworkSetup>>>> = OnceLock::new();
    NETWORKS.get_or_init(Default::default)
}

fn lookup(network: FerrowgNetwork) -> Result<Arc<NetworkSetup>, CError> {
    networks().lock().get(&network).cloned().ok_or_else(invalid)
}

fn invalid() -> CError {
    CError::new(FERROWG_ERR_INVALID_HANDLE, "not a live network setup handle")
}

/// Applies the network plan of the wg-quick text `config` (addresses, MTU, routes,
/// rules, firewall, DNS) to the existing tunnel interface `interface`: its name on
/// Linux and macOS (`utunN`); on Windows the adapter's name or its interface index in
/// decimal. On success `*out` is the new handle; undo with `ferrowg_network_undo` or
/// `ferrowg_network_free`. On an error nothing is left applied. NetworkExtension apps
/// use the network settings for NetworkExtension instead. `FERROWG_ERR_UNSUPPORTED` on
/// iOS and other OSes; `FERROWG_ERR_NETWORK`
/// when the OS refuses a change. Needs administrator rights.
///
/// # Safety
/// `interface` and `config` are NUL-terminated strings; `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_network_apply(
    interface: *const c_char,
    config: *const c_char,
    out: *mut FerrowgNetwork,
) -> i32 {
    boundary(|| {
        let out = non_null(out)?;
        // SAFETY: forwarded caller contract.
        let interface = unsafe { c_str(interface) }?;
        // SAFETY: forwarded caller contract.
        let config = unsafe { c_str(config) }?;
        let setup = crate::apply_network_plan(interface.to_owned(), config.to_owned())?;
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let handle = NEXT.fetch_add(1, Ordering::Relaxed);
        networks().lock().insert(handle, setup);
        // SAFETY: non-NULL and writable per the caller contract.
        unsafe { *out = handle };
        Ok(())
    })
}

/// The mark the tunnel's UDP sockets must carry (Linux policy-routed default route;
/// set it with UAPI `fwmark=N`), in `*out`; 0 when none is needed.
///
/// # Safety
/// `out` is writable.
#[no_mangle]
pub unsafe extern "C" fn ferrowg_network_fwmark(network: FerrowgNetwork, out: *mut u32) -> i32 {
    boundary(|| {
        let out = non_null(out)?;
        let mark = lookup(network)?.fwmark().unwrap_or(0);
        // SAFETY: non-NULL and writable per the caller contract.
        unsafe { *out = mark };
        Ok(())
    })
}

/// Reverts the changes of `ferrowg_network_apply`, newest first. Idempotent; the
/// handle stays valid until freed. `FERROWG_ERR_NETWORK` names what could not be undone
/// (not retried).
#[no_mangle]
pub extern "C" fn ferrowg_network_undo(network: FerrowgNetwork) -> i32 {
    boundary(|| Ok(lookup(network)?.undo()?))
}

/// Undoes the changes if `ferrowg_network_undo` was not called, and releases the
/// handle. Afterwards every call with it returns `FERROWG_ERR_INVALID_HANDLE` (so does
/// a second free). An undo error is returned, the handle is released anyway.
#[no_mangle]
pub extern "C" fn ferrowg_network_free(network: FerrowgNetwork) -> i32 {
    boundary(|| {
        let setup = networks().lock().remove(&network).ok_or_else(invalid)?;
        Ok(setup.undo()?)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::*;

    #[test]
    fn arguments_and_handles_are_checked() {
        let config = c"[Interface]\nPrivateKey = YAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n";
        let mut handle = 0;
        // SAFETY: valid NUL-terminated strings and a writable handle; NULL where the
        // test says so.
        unsafe {
            let rc = ferrowg_network_apply(c"wg0".as_ptr(), config.as_ptr(), std::ptr::null_mut());
            assert_eq!(rc, FERROWG_ERR_NULL_ARGUMENT);
            let rc = ferrowg_network_apply(std::ptr::null(), config.as_ptr(), &mut handle);
            assert_eq!(rc, FERROWG_ERR_NULL_ARGUMENT);
            let rc = ferrowg_network_apply(c"".as_ptr(), config.as_ptr(), &mut handle);
            assert_eq!(rc, FERROWG_ERR_INVALID_ARGUMENT);
            let bad = c"[Interface]\nBogus = 1\n";
            let rc = ferrowg_network_apply(c"wg0".as_ptr(), bad.as_ptr(), &mut handle);
            assert_eq!(rc, FERROWG_ERR_CONFIG);
            let mut mark = 7;
            assert_eq!(ferrowg_network_fwmark(0, &mut mark), FERROWG_ERR_INVALID_HANDLE);
            assert_eq!(mark, 7);
        }
        assert_eq!(handle, 0);
        assert_eq!(ferrowg_network_undo(0), FERROWG_ERR_INVALID_HANDLE);
        assert_eq!(ferrowg_network_free(u64::MAX), FERROWG_ERR_INVALID_HANDLE);
    }
}
