//! Windows UDP offloads: probing USO (`UDP_SEND_MSG_SIZE`) and URO
//! (`UDP_RECV_MAX_COALESCED_SIZE`), `WSASendMsg` with a segment-size control message, and
//! `WSARecvMsg` returning the coalesced segment size. The control-message bytes are built
//! and parsed by the pure [`crate::udp::win_offload`].

use std::io;
use std::net::SocketAddr;
use std::os::windows::io::AsRawSocket;

use socket2::{SockAddr, Socket};
use windows_sys::Win32::Networking::WinSock::{
    getsockopt, setsockopt, WSAGetLastError, WSAIoctl, WSASendMsg, IPPROTO_UDP, LPFN_WSARECVMSG,
    SIO_GET_EXTENSION_FUNCTION_POINTER, SOCKADDR, SOCKET, SOCKET_ERROR,
    UDP_RECV_MAX_COALESCED_SIZE, UDP_SEND_MSG_SIZE, WSABUF, WSAID_WSARECVMSG, WSAMSG,
};

use crate::udp::win_offload::{
    encode_dword_cmsg, find_dword_cmsg, OffloadSupport, CMSG_DWORD_SPACE, MAX_COALESCED,
    UDP_COALESCED_INFO,
};

fn wsa_error() -> io::Error {
    // SAFETY: reads this thread's last WinSock error; no memory effects.
    io::Error::from_raw_os_error(unsafe { WSAGetLastError() })
}

fn raw(s: &Socket) -> SOCKET {
    s.as_raw_socket() as SOCKET
}

/// Asks the stack for USO and URO on `sock`: USO is there if `UDP_SEND_MSG_SIZE` can be
/// read; URO is switched on (up to [`MAX_COALESCED`] bytes) if the option is accepted.
pub(crate) fn probe(sock: &Socket) -> OffloadSupport {
    let mut value: u32 = 0;
    let mut len = std::mem::size_of::<u32>() as i32;
    // SAFETY: `value` and `len` are live and describe a u32 buffer for the call.
    let uso = unsafe {
        getsockopt(
            raw(sock),
            IPPROTO_UDP,
            UDP_SEND_MSG_SIZE,
            (&mut value as *mut u32).cast(),
            &mut len,
        )
    } != SOCKET_ERROR;
    let max = MAX_COALESCED as u32;
    // SAFETY: the option value is a live u32 of the size given.
    let uro = unsafe {
        setsockopt(
            raw(sock),
            IPPROTO_UDP,
            UDP_RECV_MAX_COALESCED_SIZE,
            (&max as *const u32).cast(),
            std::mem::size_of::<u32>() as i32,
        )
    } != SOCKET_ERROR;
    OffloadSupport { uso, uro }
}

/// Switches URO off on `sock` (the NIC delivered bad coalesced data).
pub(crate) fn disable_uro(sock: &Socket) -> io::Result<()> {
    let zero: u32 = 0;
    // SAFETY: the option value is a live u32 of the size given.
    let rc = unsafe {
        setsockopt(
            raw(sock),
            IPPROTO_UDP,
            UDP_RECV_MAX_COALESCED_SIZE,
            (&zero as *const u32).cast(),
            std::mem::size_of::<u32>() as i32,
        )
    };
    if rc == SOCKET_ERROR {
        return Err(wsa_error());
    }
    Ok(())
}

/// Sends `data` to `dst` with `WSASendMsg`; with `segment`, as one USO send the stack
/// cuts into `segment`-byte datagrams (the last may be shorter).
pub(crate) fn send_msg(
    sock: &Socket,
    data: &[u8],
    dst: &SockAddr,
    segment: Option<u32>,
) -> io::Result<usize> {
    let mut control = [0u8; CMSG_DWORD_SPACE];
    let control_len = match segment {
        Some(seg) => encode_dword_cmsg(&mut control, UDP_SEND_MSG_SIZE, seg).unwrap_or(0),
        None => 0,
    };
    let mut buf = WSABUF { len: data.len() as u32, buf: data.as_ptr().cast_mut() };
    let msg = WSAMSG {
        name: dst.as_ptr().cast_mut().cast::<SOCKADDR>(),
        namelen: dst.len(),
        lpBuffers: &mut buf,
        dwBufferCount: 1,
        Control: WSABUF { len: control_len as u32, buf: control.as_mut_ptr() },
        dwFlags: 0,
    };
    let mut sent: u32 = 0;
    // SAFETY: `msg` points at live buffers (`data` is only read despite the mut pointer
    // the struct type requires; `control` holds `control_len` valid bytes; `dst` a valid
    // address of `namelen` bytes); no overlapped I/O.
    let rc = unsafe { WSASendMsg(raw(sock), &msg, 0, &mut sent, std::ptr::null_mut(), None) };
    if rc == SOCKET_ERROR {
        return Err(wsa_error());
    }
    Ok(sent as usize)
}

/// `WSARecvMsg`, which is reached through a function pointer.
#[derive(Clone, Copy)]
pub(crate) struct RecvMsg(LPFN_WSARECVMSG);

impl RecvMsg {
    /// Looks the extension function up on `sock`.
    pub(crate) fn load(sock: &Socket) -> io::Result<Self> {
        let guid = WSAID_WSARECVMSG;
        let mut f: LPFN_WSARECVMSG = None;
        let mut returned: u32 = 0;
        // SAFETY: the input is the live GUID, the output a live function-pointer slot of
        // the size given; no overlapped I/O.
        let rc = unsafe {
            WSAIoctl(
                raw(sock),
                SIO_GET_EXTENSION_FUNCTION_POINTER,
                (&guid as *const windows_sys::core::GUID).cast(),
                std::mem::size_of_val(&guid) as u32,
                (&mut f as *mut LPFN_WSARECVMSG).cast(),
                std::mem::size_of::<LPFN_WSARECVMSG>() as u32,
                &mut returned,
                std::ptr::null_mut(),
                None,
            )
        };
        if rc == SOCKET_ERROR || f.is_none() {
            return Err(wsa_error());
        }
        Ok(Self(f))
    }

    /// Receives one (possibly coalesced) datagram into `buf`: its length, source, and
    /// the segment size when the stack coalesced several.
    pub(crate) fn recv(
        &self,
        sock: &Socket,
        buf: &mut [u8],
    ) -> io::Result<(usize, SocketAddr, Option<u32>)> {
        let Some(f) = self.0 else { return Err(io::ErrorKind::Unsupported.into()) };
        let mut storage = socket2::SockAddrStorage::zeroed();
        let mut control = [0u8; 2 * CMSG_DWORD_SPACE];
        let mut data = WSABUF { len: buf.len() as u32, buf: buf.as_mut_ptr() };
        let mut msg = WSAMSG {
            namelen: storage.size_of(),
            name: (&mut storage as *mut socket2::SockAddrStorage).cast(),
            lpBuffers: &mut data,
            dwBufferCount: 1,
            Control: WSABUF { len: control.len() as u32, buf: control.as_mut_ptr() },
            dwFlags: 0,
        };
        let mut got: u32 = 0;
        // SAFETY: every pointer in `msg` refers to a live, writable buffer of the stated
        // length; no overlapped I/O.
        let rc = unsafe { f(raw(sock), &mut msg, &mut got, std::ptr::null_mut(), None) };
        if rc == SOCKET_ERROR {
            return Err(wsa_error());
        }
        // SAFETY: the stack wrote a socket address of `namelen` bytes into `storage`.
        let addr = unsafe { SockAddr::new(std::mem::transmute_copy(&storage), msg.namelen) };
        let src = addr.as_socket().ok_or_else(|| io::Error::other("not an IP source"))?;
        let clen = (msg.Control.len as usize).min(control.len());
        let seg = find_dword_cmsg(&control[..clen], UDP_COALESCED_INFO);
        Ok((got as usize, src, seg))
    }
}
