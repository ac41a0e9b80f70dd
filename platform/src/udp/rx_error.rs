//! What a receive error means for the datagrams still queued. Windows reports some
//! per-datagram conditions as errors of the next `recvfrom`; they must count as one
//! dropped datagram, never as a failing socket (an error event and a pause per datagram
//! would let any remote sender throttle the receive path).

use std::io;

/// `WSAEMSGSIZE`: the datagram was larger than the buffer (and was cut and consumed).
pub(crate) const WSAEMSGSIZE: i32 = 10040;
/// `WSAENETRESET`: an ICMP TTL-expired report for an earlier send (`SIO_UDP_NETRESET`).
pub(crate) const WSAENETRESET: i32 = 10052;
/// `WSAECONNRESET`: an ICMP port-unreachable report for an earlier send
/// (`SIO_UDP_CONNRESET`).
pub(crate) const WSAECONNRESET: i32 = 10054;

/// How the receive loop treats an error from one `recvfrom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecvErrorClass {
    /// Nothing more is queued.
    Empty,
    /// Interrupted by a signal: try again.
    Retry,
    /// One datagram (or one ICMP report) was consumed: count it as dropped and go on.
    Dropped,
    /// The socket itself failed: report it.
    Fatal,
}

/// Classifies a receive error by its OS code and kind. Pure, so the Windows codes are
/// tested on every OS (they do not collide with Unix errno values).
pub(crate) fn classify_recv_error(code: Option<i32>, kind: io::ErrorKind) -> RecvErrorClass {
    match (code, kind) {
        (Some(WSAEMSGSIZE | WSAENETRESET | WSAECONNRESET), _) => RecvErrorClass::Dropped,
        (_, io::ErrorKind::WouldBlock) => RecvErrorClass::Empty,
        (_, io::ErrorKind::Interrupted) => RecvErrorClass::Retry,
        _ => RecvErrorClass::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_per_datagram_errors_are_drops() {
        for code in [WSAEMSGSIZE, WSAENETRESET, WSAECONNRESET] {
            // std maps WSAECONNRESET to ConnectionReset and WSAEMSGSIZE to Other-ish
            // kinds; the code decides, whatever the kind.
            for kind in [io::ErrorKind::ConnectionReset, io::ErrorKind::Other] {
                assert_eq!(classify_recv_error(Some(code), kind), RecvErrorClass::Dropped);
            }
        }
    }

    #[test]
    fn other_errors_keep_their_meaning() {
        use io::ErrorKind as K;
        assert_eq!(classify_recv_error(Some(10035), K::WouldBlock), RecvErrorClass::Empty);
        assert_eq!(classify_recv_error(Some(11), K::WouldBlock), RecvErrorClass::Empty);
        assert_eq!(classify_recv_error(Some(4), K::Interrupted), RecvErrorClass::Retry);
        assert_eq!(classify_recv_error(Some(10038), K::Other), RecvErrorClass::Fatal);
        assert_eq!(classify_recv_error(None, K::Other), RecvErrorClass::Fatal);
        assert_eq!(classify_recv_error(Some(9), K::Other), RecvErrorClass::Fatal);
    }

    #[cfg(windows)]
    #[test]
    fn codes_match_windows_sys() {
        use windows_sys::Win32::Networking::WinSock as ws;
        assert_eq!(WSAEMSGSIZE, ws::WSAEMSGSIZE);
        assert_eq!(WSAENETRESET, ws::WSAENETRESET);
        assert_eq!(WSAECONNRESET, ws::WSAECONNRESET);
    }
}
