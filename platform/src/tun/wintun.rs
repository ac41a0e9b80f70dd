//! Windows wintun adapter via the `wintun` crate. `wintun.dll` is loaded at run time
//! (next to the executable unless a path is given); the adapter GUID is derived from the
//! tunnel name ([`super::guid::adapter_guid`]) so Windows keeps one network profile per
//! tunnel. Receiving waits on the session's read event and our own shutdown event.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferrowg_core::io::Tun;

use super::guid::adapter_guid;
use super::wintun_ring::{read_batch, write_batch, RingRead, RingWait};
use crate::sys::windows::{wait_any, Event};
use crate::Error;

pub use super::wintun_ring::DEFAULT_RING_CAPACITY;

/// How to create or open the adapter.
#[derive(Debug, Clone)]
pub struct WintunOptions {
    /// Adapter (and tunnel) name, e.g. `"wg0"`; also the GUID seed.
    pub name: String,
    /// Tunnel type shown by Windows (wintun's pool name), e.g. `"ferrowg"`.
    pub tunnel_type: String,
    /// Full path of `wintun.dll`; `None`: the file next to the executable.
    pub dll_path: Option<PathBuf>,
    /// Interface MTU to set.
    pub mtu: usize,
    /// Session ring size in bytes; rounded down to a power of two within wintun's
    /// limits ([`super::wintun_ring::ring_capacity`]). Default 8 MiB; 16 MiB absorbs
    /// larger bursts (firezone's choice).
    pub ring_capacity: u32,
}

impl WintunOptions {
    /// Options for `name` with the defaults: tunnel type "ferrowg", DLL next to the
    /// executable, ring [`DEFAULT_RING_CAPACITY`].
    pub fn new(name: &str, mtu: usize) -> Self {
        Self {
            name: name.to_owned(),
            tunnel_type: "ferrowg".to_owned(),
            dll_path: None,
            mtu,
            ring_capacity: DEFAULT_RING_CAPACITY,
        }
    }
}

/// A wintun session implementing [`Tun`].
pub struct WintunTun {
    session: Arc<wintun::Session>,
    adapter: Arc<wintun::Adapter>,
    shutdown: Event,
    mtu: usize,
    dropped: AtomicU64,
}

impl std::fmt::Debug for WintunTun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WintunTun").field("mtu", &self.mtu).finish_non_exhaustive()
    }
}

fn wintun_err(e: impl std::fmt::Display) -> Error {
    Error::Wintun(e.to_string())
}

impl WintunTun {
    /// Loads wintun.dll, opens the adapter named `options.name` or creates it with the
    /// name-derived GUID, sets the MTU and starts a session. An adapter left behind by
    /// a crashed process (same name, same GUID) is opened and reused: its session died
    /// with that process. A second session on a live adapter fails cleanly.
    pub fn create(options: &WintunOptions) -> Result<Self, Error> {
        let path = match &options.dll_path {
            Some(p) => p.clone(),
            None => std::env::current_exe()
                .map_err(Error::os("current_exe"))?
                .with_file_name("wintun.dll"),
        };
        // SAFETY: loads the DLL the caller pointed at (or the one shipped next to our
        // executable); its DllMain runs, which is the trust wintun's design requires.
        let dll = unsafe { wintun::load_from_path(&path) }.map_err(wintun_err)?;
        let adapter = match wintun::Adapter::open(&dll, &options.name) {
            Ok(a) => a,
            Err(_) => wintun::Adapter::create(
                &dll,
                &options.name,
                &options.tunnel_type,
                Some(adapter_guid(&options.name)),
            )
            .map_err(wintun_err)?,
        };
        adapter.set_mtu(options.mtu).map_err(wintun_err)?;
        let capacity = super::wintun_ring::ring_capacity(u64::from(options.ring_capacity));
        // wintun allows one session per adapter: a second one (another process, or this
        // one twice) fails here with an error, never shares the ring.
        let session = Arc::new(adapter.start_session(capacity).map_err(|e| {
            Error::Wintun(format!(
                "cannot start a session on adapter {} (already in use by another \
                 session?): {e}",
                options.name
            ))
        })?);
        let shutdown = Event::new().map_err(Error::os("CreateEventW"))?;
        Ok(Self { session, adapter, shutdown, mtu: options.mtu, dropped: AtomicU64::new(0) })
    }

    /// Wakes every receiver and makes further receives fail; call before dropping.
    pub fn shutdown(&self) -> io::Result<()> {
        self.shutdown.set()?;
        self.session.shutdown().map_err(io::Error::other)
    }

    /// The adapter's GUID as wintun reports it.
    pub fn guid(&self) -> u128 {
        self.adapter.get_guid()
    }

    /// The adapter's interface index, for route and address setup.
    pub fn interface_index(&self) -> io::Result<u32> {
        self.adapter.get_adapter_index().map_err(io::Error::other)
    }

    /// Packets dropped: larger than the caller's buffer or than wintun accepts.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Tun for WintunTun {
    fn recv_batch(
        &self,
        bufs: &mut [&mut [u8]],
        sizes: &mut [usize],
        timeout: Duration,
    ) -> io::Result<usize> {
        let session = &self.session;
        let out = read_batch::<_, io::Error>(
            bufs,
            sizes,
            || match session.try_receive().map_err(io::Error::other)? {
                Some(packet) => Ok(RingRead::Packet(Received(packet))),
                None => Ok(RingRead::Empty),
            },
            || {
                let read = session.get_read_wait_event().map_err(io::Error::other)?;
                Ok(match wait_any(&[read, self.shutdown.handle()], timeout)? {
                    Some(1) => RingWait::Shutdown,
                    Some(_) => RingWait::Ready,
                    None => RingWait::TimedOut,
                })
            },
        )?;
        self.dropped.fetch_add(out.dropped as u64, Ordering::Relaxed);
        if out.shutdown && out.got == 0 {
            return Err(io::Error::from(io::ErrorKind::ConnectionAborted));
        }
        Ok(out.got)
    }

    fn send_batch(&self, packets: &[&[u8]]) -> io::Result<usize> {
        let out = write_batch::<io::Error>(packets, |p| {
            // `write_batch` passes only packets of 1..=MAX_PACKET bytes.
            let len = u16::try_from(p.len()).map_err(io::Error::other)?;
            let mut packet = self.session.allocate_send_packet(len).map_err(io::Error::other)?;
            packet.bytes_mut().copy_from_slice(p);
            self.session.send_packet(packet);
            Ok(())
        })?;
        self.dropped.fetch_add(out.dropped as u64, Ordering::Relaxed);
        Ok(out.done)
    }

    fn mtu(&self) -> usize {
        self.mtu
    }
}

/// A packet taken from the receive ring; its slot is released when dropped.
struct Received(wintun::Packet);

impl AsRef<[u8]> for Received {
    fn as_ref(&self) -> &[u8] {
        self.0.bytes()
    }
}
