//! C function pointers behind the library's callback traits.

use std::ffi::{c_char, c_void, CString};

use super::FerrowgEvent;
use crate::host::RawPacketSink;
use crate::logging::{LogLevel, LogSink};
use crate::records::TunnelEvent;
use crate::tunnel::RawObserver;
use crate::SocketProtector;

/// The app's `ctx` pointer, handed back to its callbacks.
#[derive(Clone, Copy)]
pub(super) struct Ctx(pub(super) *mut c_void);

// SAFETY: the registering call's contract makes the app responsible for `ctx` being
// usable from any thread; the library never dereferences it.
unsafe impl Send for Ctx {}
// SAFETY: as above.
unsafe impl Sync for Ctx {}

pub(super) struct CLogSink {
    pub(super) f: unsafe extern "C-unwind" fn(*mut c_void, i32, *const c_char),
    pub(super) ctx: Ctx,
}

impl LogSink for CLogSink {
    fn on_log(&self, level: LogLevel, message: String) {
        let msg = CString::new(message.replace('\0', " ")).unwrap_or_default();
        // SAFETY: the app registered `f` to be called with its `ctx` from any thread;
        // `msg` lives across the call.
        unsafe { (self.f)(self.ctx.0, level as i32, msg.as_ptr()) }
    }
}

pub(super) struct CObserver {
    pub(super) f: unsafe extern "C-unwind" fn(*mut c_void, *const FerrowgEvent),
    pub(super) ctx: Ctx,
}

impl RawObserver for CObserver {
    fn event(&self, event: &TunnelEvent) {
        let cs = |s: &str| CString::new(s.replace('\0', " ")).unwrap_or_default();
        let (peer, endpoint, message) = match event {
            TunnelEvent::HandshakeComplete { peer }
            | TunnelEvent::SessionExpired { peer }
            | TunnelEvent::PeerUnreachable { peer } => (Some(cs(peer)), None, None),
            TunnelEvent::EndpointChanged { peer, endpoint } => {
                (Some(cs(peer)), Some(cs(endpoint)), None)
            }
            TunnelEvent::Error { message } => (None, None, Some(cs(message))),
        };
        let ptr = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
        let ev = FerrowgEvent {
            kind: event.c_kind(),
            peer: ptr(&peer),
            endpoint: ptr(&endpoint),
            message: ptr(&message),
        };
        // SAFETY: the app registered `f` for calls from any thread with its `ctx`; `ev`
        // and the strings it points to live across the call.
        unsafe { (self.f)(self.ctx.0, &ev) }
    }
}

pub(super) struct CPacketSink {
    pub(super) f: unsafe extern "C-unwind" fn(*mut c_void, *const *const u8, *const usize, usize),
    pub(super) ctx: Ctx,
}

impl RawPacketSink for CPacketSink {
    fn deliver(&self, packets: &[&[u8]]) {
        let ptrs: Vec<*const u8> = packets.iter().map(|p| p.as_ptr()).collect();
        let lens: Vec<usize> = packets.iter().map(|p| p.len()).collect();
        // SAFETY: the app registered `f` for calls from any thread with its `ctx`; the
        // arrays and packets live across the call.
        unsafe { (self.f)(self.ctx.0, ptrs.as_ptr(), lens.as_ptr(), ptrs.len()) }
    }
}

pub(super) struct CProtector {
    pub(super) f: unsafe extern "C-unwind" fn(*mut c_void, i64) -> bool,
    pub(super) ctx: Ctx,
}

impl SocketProtector for CProtector {
    fn protect(&self, socket: i64) -> bool {
        // SAFETY: the app registered `f` for calls from any thread with its `ctx`.
        unsafe { (self.f)(self.ctx.0, socket) }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::{c_char, c_void};
    use std::sync::atomic::Ordering;

    use super::super::{ferrowg_set_logger, FerrowgLogFn};
    use crate::callback::CALLBACK_PANICS;
    use crate::logging::{log, LogLevel};
    use crate::FERROWG_OK;

    /// An app callback written in Rust (or any language whose unwinding Rust catches).
    unsafe extern "C-unwind" fn panicking_logger(_: *mut c_void, _: i32, _: *const c_char) {
        panic!("app bug in a log callback");
    }

    /// Security review, finding 6: the callback types are `C-unwind`, so an unwind out
    /// of an app callback is defined behaviour. A Rust panic is contained and counted;
    /// a foreign (C++) exception aborts the process (bindings/c/test_foreign_exception.cpp).
    #[test]
    #[allow(unsafe_code)] // registering a C callback
    fn an_unwinding_c_callback_is_contained() {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let before = CALLBACK_PANICS.load(Ordering::SeqCst);
        let callback: FerrowgLogFn = Some(panicking_logger);
        // SAFETY: the callback ignores `ctx` and may be called from any thread.
        assert_eq!(unsafe { ferrowg_set_logger(callback, std::ptr::null_mut(), 1) }, FERROWG_OK);
        log(LogLevel::Error, "a line for the throwing logger");
        // SAFETY: NULL removes the logger.
        assert_eq!(unsafe { ferrowg_set_logger(None, std::ptr::null_mut(), 0) }, FERROWG_OK);
        std::panic::set_hook(prev);
        assert!(CALLBACK_PANICS.load(Ordering::SeqCst) > before);
    }
}
