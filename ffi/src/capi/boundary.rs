//! The panic boundary, the thread-local last error, the handle registry and the
//! string and pointer helpers behind every export.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use super::FerrowgTunnel;
use crate::error::*;
use crate::tunnel::{NicMode, Tunnel};
use crate::{SocketProtector, TunnelOptions};

/// A failed C call: code and message.
pub(crate) struct CError {
    code: i32,
    message: String,
}

impl CError {
    pub(crate) fn new(code: i32, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

impl From<TunnelError> for CError {
    fn from(e: TunnelError) -> Self {
        Self { code: e.code(), message: e.to_string() }
    }
}

thread_local! {
    pub(super) static LAST_ERROR: RefCell<Option<(i32, CString)>> = const { RefCell::new(None) };
}

pub(super) fn set_last_error(e: Option<CError>) {
    let value = e.map(|e| {
        let msg = CString::new(e.message.replace('\0', " ")).unwrap_or_default();
        (e.code, msg)
    });
    LAST_ERROR.with(|l| *l.borrow_mut() = value);
}

/// Runs `f`, turning an error or a panic into a code and the thread's last error.
pub(super) fn boundary(f: impl FnOnce() -> Result<(), CError>) -> i32 {
    let result = catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_owned());
        Err(CError::new(FERROWG_ERR_INTERNAL, format!("internal error: {what}")))
    });
    match result {
        Ok(()) => {
            set_last_error(None);
            FERROWG_OK
        }
        Err(e) => {
            let code = e.code;
            set_last_error(Some(e));
            code
        }
    }
}

pub(super) fn registry() -> &'static Mutex<HashMap<FerrowgTunnel, Arc<Tunnel>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<FerrowgTunnel, Arc<Tunnel>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

pub(super) fn issued_strings() -> &'static Mutex<HashSet<usize>> {
    static ISSUED: OnceLock<Mutex<HashSet<usize>>> = OnceLock::new();
    ISSUED.get_or_init(Default::default)
}

pub(super) fn issue_string(s: &str) -> *mut c_char {
    let p = CString::new(s.replace('\0', " ")).unwrap_or_default().into_raw();
    issued_strings().lock().insert(p as usize);
    p
}

pub(super) fn invalid_handle() -> CError {
    CError::new(FERROWG_ERR_INVALID_HANDLE, "not a live tunnel handle")
}

pub(super) fn lookup(tunnel: FerrowgTunnel) -> Result<Arc<Tunnel>, CError> {
    registry().lock().get(&tunnel).cloned().ok_or_else(invalid_handle)
}

pub(super) fn non_null<T>(p: *mut T) -> Result<*mut T, CError>
where
    *mut T: Sized,
{
    if p.is_null() {
        Err(CError::new(FERROWG_ERR_NULL_ARGUMENT, "a required pointer argument is NULL"))
    } else {
        Ok(p)
    }
}

/// # Safety
/// `p` is NULL or a NUL-terminated string that outlives `'a`.
pub(super) unsafe fn c_str<'a>(p: *const c_char) -> Result<&'a str, CError> {
    if p.is_null() {
        return Err(CError::new(FERROWG_ERR_NULL_ARGUMENT, "a required string argument is NULL"));
    }
    // SAFETY: non-NULL and NUL-terminated per the caller contract.
    unsafe { CStr::from_ptr(p) }
        .to_str()
        .map_err(|e| CError::new(FERROWG_ERR_INVALID_UTF8, format!("string is not UTF-8: {e}")))
}

/// # Safety
/// As for the `ferrowg_tunnel_start_*` exports.
pub(super) unsafe fn start(
    config: *const c_char,
    bind_address: *const c_char,
    out: *mut FerrowgTunnel,
    mode: NicMode,
    protector: Option<Arc<dyn SocketProtector>>,
) -> Result<(), CError> {
    let bind = if bind_address.is_null() {
        None
    } else {
        // SAFETY: forwarded caller contract.
        Some(unsafe { c_str(bind_address) }?.to_owned())
    };
    let options = TunnelOptions { bind_address: bind, ..TunnelOptions::default() };
    // SAFETY: forwarded caller contract.
    unsafe { start_with(config, out, mode, &options, protector) }
}

/// # Safety
/// `config` is a NUL-terminated string; `out` is NULL or writable.
pub(super) unsafe fn start_with(
    config: *const c_char,
    out: *mut FerrowgTunnel,
    mode: NicMode,
    options: &TunnelOptions,
    protector: Option<Arc<dyn SocketProtector>>,
) -> Result<(), CError> {
    let out = non_null(out)?;
    // SAFETY: forwarded caller contract.
    let config = unsafe { c_str(config) }?;
    let tunnel = Arc::new(Tunnel::start_inner(config, mode, options, protector)?);
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let handle = NEXT.fetch_add(1, Ordering::Relaxed);
    registry().lock().insert(handle, tunnel);
    // SAFETY: non-NULL and writable per the caller contract.
    unsafe { *out = handle };
    Ok(())
}
