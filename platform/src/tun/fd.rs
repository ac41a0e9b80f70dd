//! A TUN device behind a Unix file descriptor: Linux `/dev/net/tun`, macOS utun, or a
//! descriptor adopted from the host app (Android `VpnService.detachFd`, Apple
//! `NEPacketTunnelProvider`). One packet per read/write; with [`Framing::AfHeader`] the
//! 4-byte header goes through `readv`/`writev` so packets are never copied.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ferrowg_core::io::Tun;

use super::framing::{self, Framing, AF_HEADER_LEN};
#[cfg(target_os = "linux")]
use super::vnet::{Tally, Vnet};
use crate::sys::unix::{self as sys, Readiness};

/// How long a write waits for room before giving up on the rest of a batch.
const WRITE_WAIT: Duration = Duration::from_millis(50);

/// A TUN device on a non-blocking descriptor. Implements [`Tun`].
#[derive(Debug)]
pub struct FdTun {
    fd: OwnedFd,
    mtu: usize,
    framing: Framing,
    name: Option<String>,
    dropped: AtomicU64,
    /// Segmentation offload (Linux `IFF_VNET_HDR`); `None` for plain packets.
    #[cfg(target_os = "linux")]
    vnet: Option<Vnet>,
}

impl FdTun {
    /// Takes ownership of `fd`, an open TUN descriptor carrying packets framed as
    /// `framing`, and makes it non-blocking. `mtu` is what [`Tun::mtu`] reports; it is
    /// not applied to the interface (the host that created it did that).
    pub fn adopt(fd: OwnedFd, mtu: usize, framing: Framing) -> io::Result<Self> {
        sys::set_nonblocking(fd.as_fd())?;
        Ok(Self {
            fd,
            mtu,
            framing,
            name: None,
            dropped: AtomicU64::new(0),
            #[cfg(target_os = "linux")]
            vnet: None,
        })
    }

    /// Marks the descriptor as carrying virtio-net headers (the caller set
    /// `IFF_VNET_HDR` and `TUNSETOFFLOAD`); `udp`: the kernel accepted USO.
    #[cfg(target_os = "linux")]
    pub(crate) fn with_vnet(mut self, udp: bool) -> Self {
        self.vnet = Some(Vnet::new(udp));
        self
    }

    /// Whether segmentation offload is on: `Some(uso)` when the descriptor carries
    /// virtio-net headers (TSO, and USO if `uso`), `None` for plain packets.
    pub fn offload(&self) -> Option<bool> {
        #[cfg(target_os = "linux")]
        return self.vnet.as_ref().map(Vnet::udp);
        #[cfg(not(target_os = "linux"))]
        None
    }

    pub(crate) fn with_name(mut self, name: String) -> Self {
        self.name = Some(name);
        self
    }

    /// The interface name, when this crate created the device or could read it back.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// How packets are framed on the descriptor.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Packets dropped so far: received frames that are empty or have a bad header, and
    /// outgoing packets that are not IP or that the OS refused.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn drop_one(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads one packet into `buf`: `Ok(Some(len))`, `Ok(None)` for a dropped frame,
    /// `Err(WouldBlock)` when nothing is queued, `Err(UnexpectedEof)` when the read
    /// returned nothing: a TUN never does, so the descriptor's other end is gone (an
    /// adopted socket whose peer closed) and every further read would return nothing too.
    fn read_one(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        let eof = || io::Error::new(io::ErrorKind::UnexpectedEof, "end of file on the NIC");
        match self.framing {
            Framing::None => {
                let n = sys::read(self.fd.as_fd(), buf)?;
                if n == 0 {
                    return Err(eof());
                }
                Ok(Some(n))
            }
            Framing::AfHeader => {
                let mut header = [0u8; AF_HEADER_LEN];
                let n = sys::read_prefixed(self.fd.as_fd(), &mut header, buf)?;
                if n == 0 {
                    return Err(eof());
                }
                let Some(len) = n.checked_sub(AF_HEADER_LEN) else { return Ok(None) };
                let packet = buf.get(..len).unwrap_or_default();
                Ok(framing::af_header_matches(header, packet).then_some(len))
            }
        }
    }

    fn write_one(&self, packet: &[u8]) -> io::Result<()> {
        match self.framing {
            Framing::None => sys::write(self.fd.as_fd(), packet).map(drop),
            Framing::AfHeader => match framing::af_header_for(packet) {
                Some(header) => sys::write_prefixed(self.fd.as_fd(), &header, packet).map(drop),
                None => Err(io::Error::from(io::ErrorKind::InvalidInput)),
            },
        }
    }
}

impl Tun for FdTun {
    fn recv_batch(
        &self,
        bufs: &mut [&mut [u8]],
        sizes: &mut [usize],
        timeout: Duration,
    ) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        if let Some(v) = &self.vnet {
            let mut tally = Tally::default();
            let r = v.recv_batch(self.fd.as_fd(), self.mtu, bufs, sizes, timeout, &mut tally);
            self.dropped.fetch_add(tally.dropped, Ordering::Relaxed);
            return r;
        }
        let want = bufs.len().min(sizes.len());
        let mut got = 0;
        let mut waited = false;
        while got < want {
            match self.read_one(bufs[got]) {
                Ok(Some(len)) => {
                    sizes[got] = len;
                    got += 1;
                }
                Ok(None) => self.drop_one(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if got > 0 || waited || timeout.is_zero() {
                        break;
                    }
                    waited = true;
                    if !sys::poll(&[self.fd.as_fd()], Readiness::Read, timeout)? {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if got > 0 => {
                    tracing::debug!(error = %e, "tun read failed after {got} packets");
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(got)
    }

    fn send_batch(&self, packets: &[&[u8]]) -> io::Result<usize> {
        #[cfg(target_os = "linux")]
        if let Some(v) = &self.vnet {
            let mut tally = Tally::default();
            let r = v.send_batch(self.fd.as_fd(), packets, WRITE_WAIT, &mut tally);
            self.dropped.fetch_add(tally.dropped, Ordering::Relaxed);
            return r;
        }
        let mut done = 0;
        let mut waited = false;
        while let Some(packet) = packets.get(done) {
            match self.write_one(packet) {
                Ok(()) => done += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if waited || !sys::poll(&[self.fd.as_fd()], Readiness::Write, WRITE_WAIT)? {
                        break;
                    }
                    waited = true;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A packet the OS refuses (bad header, too big) is dropped, not retried.
                Err(e)
                    if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EMSGSIZE))
                        || e.kind() == io::ErrorKind::InvalidInput =>
                {
                    self.drop_one();
                    done += 1;
                }
                Err(e) if done > 0 => {
                    tracing::debug!(error = %e, "tun write failed after {done} packets");
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    fn mtu(&self) -> usize {
        self.mtu
    }

    fn wait_fd(&self) -> Option<i32> {
        use std::os::fd::AsRawFd;
        Some(self.fd.as_raw_fd())
    }
}

impl AsFd for FdTun {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for FdTun {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
