//! Binding the UDP sockets to one interface, so a full tunnel's own encrypted packets
//! leave through the physical interface instead of looping into the tunnel (what
//! wireguard-go's Windows bind and Tailscale do on Windows and macOS):
//! Linux `SO_BINDTOIFINDEX` (the index form of `SO_BINDTODEVICE`), macOS
//! `IP_BOUND_IF`/`IPV6_BOUND_IF`, Windows `IP_UNICAST_IF`/`IPV6_UNICAST_IF`.

use std::io;

/// The `DWORD` Windows expects for `IP_UNICAST_IF` (`v6` false) or `IPV6_UNICAST_IF`:
/// the IPv4 option takes the interface index in network byte order, the IPv6 one in
/// host order (as documented for `IPPROTO_IP` / `IPPROTO_IPV6` socket options).
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn windows_unicast_if_value(index: u32, v6: bool) -> u32 {
    if v6 {
        index
    } else {
        index.to_be()
    }
}

/// Binds `socket` (an IPv6 one when `v6`) to the interface `index`; `None` unbinds it.
pub(super) fn apply(socket: &socket2::Socket, v6: bool, index: Option<u32>) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "macos", target_os = "ios"))]
    {
        let index = index.and_then(std::num::NonZeroU32::new);
        if v6 {
            socket.bind_device_by_index_v6(index)
        } else {
            socket.bind_device_by_index_v4(index)
        }
    }
    #[cfg(windows)]
    {
        let value = windows_unicast_if_value(index.unwrap_or(0), v6);
        crate::sys::windows::set_unicast_if(socket, v6, value)
    }
    #[cfg(not(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios",
        windows
    )))]
    {
        let _ = (socket, v6);
        match index {
            None => Ok(()),
            Some(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "binding sockets to an interface is not supported on this OS",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::windows_unicast_if_value;

    #[test]
    fn windows_ipv4_index_is_in_network_byte_order() {
        // The DWORD's bytes in memory are the index big-endian, whatever the host order.
        assert_eq!(windows_unicast_if_value(1, false).to_ne_bytes(), [0, 0, 0, 1]);
        assert_eq!(windows_unicast_if_value(0x0102_0304, false).to_ne_bytes(), [1, 2, 3, 4]);
        assert_eq!(windows_unicast_if_value(0, false), 0);
    }

    #[test]
    fn windows_ipv6_index_is_in_host_byte_order() {
        assert_eq!(windows_unicast_if_value(1, true), 1);
        assert_eq!(
            windows_unicast_if_value(0x0102_0304, true).to_ne_bytes(),
            0x0102_0304u32.to_ne_bytes()
        );
    }
}
