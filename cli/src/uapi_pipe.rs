//! The UAPI on Windows: the named pipe `\\.\pipe\ProtectedPrefix\Administrators\WireGuard\NAME`
//! with wireguard-go's security descriptor (SYSTEM and Administrators only), serving the
//! same protocol as the Unix socket ([`crate::uapi_server::serve_stream`]), one thread
//! per connection.
//!
//! The accept loop blocks in `ConnectNamedPipe`; dropping [`UapiPipe`] sets the stop
//! flag and connects to the pipe once itself to wake it, then disconnects every client
//! still connected (their threads' reads end) and joins all threads.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::windows::io::AsRawHandle;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use ferrowg_platform::pipe::{kick, uapi_pipe_path, PipeListener, UAPI_SDDL};

use crate::uapi_server::{serve_stream, UapiTarget};

/// One connection: its thread and a duplicate of its handle to kick it with (so the
/// handle value stays valid whatever the thread does).
struct Conn {
    thread: JoinHandle<()>,
    handle: File,
}

/// A UAPI named pipe served by a background thread.
pub struct UapiPipe {
    path: String,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<Conn>>>,
    thread: Option<JoinHandle<()>>,
}

impl UapiPipe {
    /// Serves `\\.\pipe\ProtectedPrefix\Administrators\WireGuard\NAME`.
    pub fn bind(
        name: &str,
        device: Arc<dyn UapiTarget>,
        log: Arc<dyn Fn(&str) + Send + Sync>,
    ) -> io::Result<UapiPipe> {
        Self::bind_path(&uapi_pipe_path(name), UAPI_SDDL, device, log)
    }

    /// Serves the pipe `path` with the security descriptor `sddl` (tests use other
    /// names; the product always uses [`UAPI_SDDL`]).
    pub fn bind_path(
        path: &str,
        sddl: &str,
        device: Arc<dyn UapiTarget>,
        log: Arc<dyn Fn(&str) + Send + Sync>,
    ) -> io::Result<UapiPipe> {
        let listener = PipeListener::bind(path, sddl)?;
        let stop = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, conns) = (stop.clone(), conns.clone());
            thread::Builder::new()
                .name("uapi".into())
                .spawn(move || accept_loop(listener, device, &stop, &conns, log))?
        };
        Ok(UapiPipe { path: path.to_owned(), stop, conns, thread: Some(thread) })
    }

    /// The pipe's path.
    pub fn path(&self) -> &str {
        &self.path
    }
}

impl Drop for UapiPipe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop out of ConnectNamedPipe; it sees the flag and ends.
        let waker = connect(&self.path);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        drop(waker);
        let conns = std::mem::take(&mut *self.conns.lock().unwrap_or_else(|e| e.into_inner()));
        for c in &conns {
            kick(c.handle.as_raw_handle());
        }
        for c in conns {
            let _ = c.thread.join();
        }
    }
}

/// Opens a client connection to the pipe `path`, as `wg.exe` does: while every instance
/// is busy (`ERROR_PIPE_BUSY`, the server is between accepts) it retries, for at most
/// about 2 s.
pub fn connect(path: &str) -> io::Result<File> {
    const ERROR_PIPE_BUSY: i32 = 231;
    let mut tries = 0;
    loop {
        match OpenOptions::new().read(true).write(true).open(path) {
            Err(e) if e.raw_os_error() == Some(ERROR_PIPE_BUSY) && tries < 200 => {
                tries += 1;
                thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

fn accept_loop(
    mut listener: PipeListener,
    device: Arc<dyn UapiTarget>,
    stop: &AtomicBool,
    conns: &Mutex<Vec<Conn>>,
    log: Arc<dyn Fn(&str) + Send + Sync>,
) {
    while !stop.load(Ordering::Relaxed) {
        let file = match listener.accept() {
            Ok(f) => f,
            Err(e) => {
                log(&format!("UAPI accept: {e}"));
                thread::sleep(std::time::Duration::from_millis(50));
                continue;
            }
        };
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let (Ok(read_half), Ok(handle)) = (file.try_clone(), file.try_clone()) else {
            continue;
        };
        let (device, log2) = (device.clone(), log.clone());
        let spawned = thread::Builder::new().name("uapi-conn".into()).spawn(move || {
            serve_stream(&*device, read_half, &file, &*log2);
            // Waits until the client has read what was written, then disconnects it
            // (the listener's duplicate handle would otherwise keep the pipe open).
            let _ = file.sync_all();
            kick(file.as_raw_handle());
        });
        let mut list = conns.lock().unwrap_or_else(|e| e.into_inner());
        match spawned {
            Ok(thread) => list.push(Conn { thread, handle }),
            Err(e) => log(&format!("UAPI: cannot spawn a connection thread: {e}")),
        }
        list.retain(|c| !c.thread.is_finished());
    }
}
