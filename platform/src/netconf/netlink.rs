//! A blocking rtnetlink socket: one request at a time, each acknowledged.

use std::io;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferrowg_core::config::AllowedIp;
use ferrowg_core::netplan::{Family, PolicyRule};
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteMessage};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleFlags, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// A connected `NETLINK_ROUTE` socket in the caller's network namespace.
pub(crate) struct Netlink {
    socket: Socket,
    seq: u32,
}

/// Flags for a request that creates something and fails if it exists (`ip ... add`).
pub(crate) const CREATE: u16 = NLM_F_CREATE | NLM_F_EXCL;

impl Netlink {
    /// Opens the socket.
    pub(crate) fn open() -> io::Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Netlink { socket, seq: 0 })
    }

    /// Sends `msg` with `NLM_F_REQUEST | NLM_F_ACK | flags` and waits for its
    /// acknowledgement; a kernel error comes back as the matching `io::Error`.
    /// Returns the messages the kernel sent before the acknowledgement.
    pub(crate) fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        let mut replies = Vec::new();
        // Bounded: the kernel answers one request with its replies and one ACK.
        for _ in 0..1024 {
            let (data, _) = self.socket.recv_from_full()?;
            let mut offset = 0;
            while offset < data.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[offset..])
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                let len = reply.header.length as usize;
                if reply.header.sequence_number == self.seq {
                    match reply.payload {
                        NetlinkPayload::Error(e) => {
                            return match e.code {
                                None => Ok(replies),
                                Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                            };
                        }
                        NetlinkPayload::Done(_) => return Ok(replies),
                        NetlinkPayload::InnerMessage(m) => replies.push(m),
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                offset += len;
            }
        }
        Err(io::Error::new(io::ErrorKind::TimedOut, "netlink: no acknowledgement"))
    }

    /// The index of the interface `name`.
    pub(crate) fn ifindex(&mut self, name: &str) -> io::Result<u32> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        let replies = self.request(RouteNetlinkMessage::GetLink(msg), 0)?;
        replies
            .iter()
            .find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
                _ => None,
            })
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no interface {name}")))
    }
}

impl Netlink {
    /// The destinations of the main-table routes of `family` through interface `index`
    /// (what `ip route show dev IF` lists).
    pub(crate) fn main_routes_via(
        &mut self,
        index: u32,
        family: Family,
    ) -> io::Result<Vec<AllowedIp>> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = family_of(family);
        let replies = self.request(RouteNetlinkMessage::GetRoute(msg), NLM_F_DUMP)?;
        let main = u32::from(RouteHeader::RT_TABLE_MAIN);
        Ok(replies
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(r) => Some(r),
                _ => None,
            })
            .filter(|r| {
                let table = r.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Table(t) => Some(*t),
                    _ => None,
                });
                table.unwrap_or(u32::from(r.header.table)) == main
                    && r.attributes.contains(&RouteAttribute::Oif(index))
            })
            .filter_map(|r| {
                let dest = r.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Destination(RouteAddress::Inet(a)) => Some(IpAddr::V4(*a)),
                    RouteAttribute::Destination(RouteAddress::Inet6(a)) => Some(IpAddr::V6(*a)),
                    _ => None,
                });
                let dest = dest.unwrap_or(match family {
                    Family::V4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    Family::V6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                });
                AllowedIp::new(dest, r.header.destination_prefix_length).ok()
            })
            .collect())
    }
}

/// The netlink address family of `f`.
pub(crate) fn family_of(f: Family) -> AddressFamily {
    match f {
        Family::V4 => AddressFamily::Inet,
        Family::V6 => AddressFamily::Inet6,
    }
}

/// The netlink form of a policy rule (what `ip rule add ...` sends).
pub(crate) fn rule(r: &PolicyRule) -> RuleMessage {
    let mut msg = RuleMessage::default();
    msg.header.family = family_of(r.family());
    msg.header.action = RuleAction::ToTable;
    let table = match r {
        PolicyRule::NotFwmark { fwmark, table, .. } => {
            msg.header.flags = RuleFlags::Invert;
            msg.attributes.push(RuleAttribute::FwMark(*fwmark));
            *table
        }
        PolicyRule::SuppressMainDefault { .. } => {
            msg.attributes.push(RuleAttribute::SuppressPrefixLen(0));
            u32::from(RouteHeader::RT_TABLE_MAIN)
        }
        _ => u32::from(RouteHeader::RT_TABLE_MAIN),
    };
    msg.header.table = u8::try_from(table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
    msg.attributes.push(RuleAttribute::Table(table));
    msg
}
