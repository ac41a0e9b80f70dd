//! Windows console control events (Ctrl-C, close, shutdown) for a foreground process:
//! [`install_ctrl_handler`] once, then poll [`stop_requested`].

use std::io;

use crate::sys::windows_console;

/// Makes console control events set a flag instead of ending the process.
pub fn install_ctrl_handler() -> io::Result<()> {
    windows_console::install()
}

/// Whether a console control event arrived since [`install_ctrl_handler`].
pub fn stop_requested() -> bool {
    windows_console::requested()
}
