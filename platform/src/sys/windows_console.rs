//! Console control events (Ctrl-C, Ctrl-Break, close, logoff, shutdown) as a flag.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use windows_sys::Win32::Foundation::{BOOL, FALSE, TRUE};
use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;

static STOP: AtomicBool = AtomicBool::new(false);

unsafe extern "system" fn on_ctrl(_kind: u32) -> BOOL {
    STOP.store(true, Ordering::SeqCst);
    TRUE
}

/// Installs the handler (once is enough; repeats add the same routine again, harmless).
pub(crate) fn install() -> io::Result<()> {
    // SAFETY: `on_ctrl` is a valid `extern "system"` handler that lives for the whole
    // process and only stores to an atomic.
    if unsafe { SetConsoleCtrlHandler(Some(on_ctrl), TRUE) } == FALSE {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether a console control event arrived since [`install`].
pub(crate) fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
