//! RX side (GRO): consecutive in-order segments of one TCP flow (or, with USO, one UDP
//! flow) → one super-frame behind a virtio-net header, written to the TUN in one write.
//!
//! [`run_len`] says how many packets from the front of a batch go into one frame; 1
//! means "write this packet alone, unchanged". A packet joins the run only when it is
//! plainly mergeable: IPv4 without options or fragments, or IPv6 without extension
//! headers; not ECN CE; same addresses, TOS/traffic class, DF, TTL/hop limit; TCP with
//! only ACK (and PSH on the last) set, same ports, ack, window and options, sequence
//! number right after the previous segment; every segment the size of the first except
//! a shorter last; each packet's own checksums (IPv4 header, transport) valid (the merged frame goes up with a
//! partial checksum, so the kernel would no longer see a bad one). [`build`] writes the
//! merged frame.

use super::checksum;
use super::virtio::{self, VirtioNetHdr};
use super::{addr_span, tcp_flags, PROTO_TCP, PROTO_UDP, UDP_HEADER_LEN};

/// Largest IP packet a super-frame may become (IPv4 total length / IPv6 payload length
/// are 16-bit).
pub const MAX_FRAME: usize = 65535;
/// Most UDP segments in one frame (the kernel's `UDP_MAX_SEGMENTS`).
pub const MAX_UDP_SEGMENTS: usize = 64;

/// The parts of a segment that decide whether it merges.
#[derive(Debug, Clone, Copy)]
struct Seg {
    v6: bool,
    proto: u8,
    ip_len: usize,
    /// IP + transport header length.
    hdr_len: usize,
    payload: usize,
    seq: u32,
    psh: bool,
}

fn parse(p: &[u8], udp: bool) -> Option<Seg> {
    let first = *p.first()?;
    let (v6, proto, ip_len) = match first >> 4 {
        4 => {
            let ip = p.get(..20)?;
            let frag = u16::from_be_bytes([ip[6], ip[7]]);
            if first != 0x45
                || usize::from(u16::from_be_bytes([ip[2], ip[3]])) != p.len()
                || frag & 0x3fff != 0
                || ip[1] & 3 == 3
                || checksum::fold(checksum::sum(ip, 0)) != 0xffff
            {
                return None;
            }
            (false, ip[9], 20)
        }
        6 => {
            let ip = p.get(..40)?;
            if usize::from(u16::from_be_bytes([ip[4], ip[5]])) + 40 != p.len()
                || (ip[1] >> 4) & 3 == 3
            {
                return None;
            }
            (true, ip[6], 40)
        }
        _ => return None,
    };
    let l4 = p.get(ip_len..)?;
    match proto {
        PROTO_TCP => {
            let th = l4.get(..20)?;
            let thl = usize::from(th[12] >> 4) * 4;
            let flags = th[13];
            if thl < 20 || thl > l4.len() || flags & !tcp_flags::PSH != tcp_flags::ACK {
                return None;
            }
            let payload = l4.len() - thl;
            (payload > 0).then_some(Seg {
                v6,
                proto,
                ip_len,
                hdr_len: ip_len + thl,
                payload,
                seq: u32::from_be_bytes([th[4], th[5], th[6], th[7]]),
                psh: flags & tcp_flags::PSH != 0,
            })
        }
        PROTO_UDP if udp => {
            let uh = l4.get(..UDP_HEADER_LEN)?;
            let payload = l4.len() - UDP_HEADER_LEN;
            let ulen = usize::from(u16::from_be_bytes([uh[4], uh[5]]));
            // A zero checksum (IPv4 "none") cannot become a partial one.
            if ulen != l4.len() || payload == 0 || uh[6..8] == [0, 0] {
                return None;
            }
            Some(Seg {
                v6,
                proto,
                ip_len,
                hdr_len: ip_len + UDP_HEADER_LEN,
                payload,
                seq: 0,
                psh: false,
            })
        }
        _ => None,
    }
}

/// Whether `b` belongs to the same flow as `a`, with identical mergeable headers.
fn same_flow(a: &[u8], sa: &Seg, b: &[u8], sb: &Seg) -> bool {
    if sa.v6 != sb.v6 || sa.proto != sb.proto || sa.hdr_len != sb.hdr_len {
        return false;
    }
    let ip_same = if sa.v6 {
        // version/traffic class/flow label, next header + hop limit, addresses.
        a.get(..4) == b.get(..4) && a.get(6..40) == b.get(6..40)
    } else {
        // TOS; DF; TTL + protocol; addresses.
        a.get(1) == b.get(1)
            && a.get(6).map(|x| x & 0xe0) == b.get(6).map(|x| x & 0xe0)
            && a.get(8..10) == b.get(8..10)
            && a.get(12..20) == b.get(12..20)
    };
    if !ip_same {
        return false;
    }
    let (ta, tb) = (a.get(sa.ip_len..sa.hdr_len), b.get(sb.ip_len..sb.hdr_len));
    let (Some(ta), Some(tb)) = (ta, tb) else { return false };
    if sa.proto == PROTO_UDP {
        return ta.get(..4) == tb.get(..4);
    }
    // Ports; ack; data offset; window; urgent pointer; options.
    ta.get(..4) == tb.get(..4)
        && ta.get(8..13) == tb.get(8..13)
        && ta.get(14..16) == tb.get(14..16)
        && ta.get(18..) == tb.get(18..)
}

/// Whether the transport checksum of `p` verifies.
fn checksum_ok(p: &[u8], s: &Seg) -> bool {
    let (a, n) = addr_span(s.v6);
    let (Some(src), Some(dst), Some(l4)) =
        (p.get(a..a + n), p.get(a + n..a + 2 * n), p.get(s.ip_len..))
    else {
        return false;
    };
    let pseudo = checksum::pseudo_header(src, dst, s.proto, l4.len());
    checksum::fold(checksum::sum(l4, pseudo)) == 0xffff
}

/// How many packets from the front of `packets` merge into one frame of at most
/// `max_len` bytes (IP packet, without the virtio header; capped at [`MAX_FRAME`]).
/// UDP merges only when `udp` (the TUN accepted USO). Returns 1 when the first packet
/// goes alone (and 0 for an empty slice).
pub fn run_len(packets: &[&[u8]], udp: bool, max_len: usize) -> usize {
    let Some(&first) = packets.first() else { return 0 };
    let Some(s0) = parse(first, udp) else { return 1 };
    if s0.psh {
        return 1;
    }
    let max_len = max_len.min(MAX_FRAME);
    let mss = s0.payload;
    let mut total = first.len();
    let mut prev = s0;
    let mut n = 1;
    for &p in packets.iter().skip(1) {
        if s0.proto == PROTO_UDP && n == MAX_UDP_SEGMENTS {
            break;
        }
        let Some(s) = parse(p, udp) else { break };
        if !same_flow(first, &s0, p, &s)
            || s.payload > mss
            || prev.payload != mss
            || prev.psh
            || total + s.payload > max_len
            || (s.proto == PROTO_TCP && s.seq != prev.seq.wrapping_add(prev.payload as u32))
        {
            break;
        }
        if n == 1 && !checksum_ok(first, &s0) {
            return 1;
        }
        if !checksum_ok(p, &s) {
            break;
        }
        total += s.payload;
        prev = s;
        n += 1;
    }
    n
}

/// Most bytes [`build_header`] writes: the virtio header, an IPv6 header and the longest
/// TCP header.
pub const MAX_HEADER: usize = virtio::LEN + 40 + 60;

/// Writes `packets` (a run [`run_len`] accepted, at least one packet) into `out` as a
/// virtio-net header followed by one super-frame. Returns the bytes written, or `None`
/// if `out` is too small or the packets are not a run.
pub fn build(packets: &[&[u8]], out: &mut [u8]) -> Option<usize> {
    let (&first, rest) = packets.split_first()?;
    if rest.is_empty() {
        // A run of one goes out unchanged, behind an empty header.
        out.get_mut(virtio::LEN..virtio::LEN + first.len())?.copy_from_slice(first);
        out.get_mut(..virtio::LEN)?.copy_from_slice(&VirtioNetHdr::default().encode());
        return Some(virtio::LEN + first.len());
    }
    let (mut len, hdr_len) = build_header(packets, out)?;
    for &p in packets {
        let body = p.get(hdr_len..)?;
        out.get_mut(len..len + body.len())?.copy_from_slice(body);
        len += body.len();
    }
    Some(len)
}

/// The gather form of [`build`] for a run of at least two packets: writes the virtio-net
/// header and the merged frame's IP and transport headers into `out` (at most
/// [`MAX_HEADER`] bytes). The frame is those bytes followed by `p[hdr_len..]` of every
/// packet `p` in order. Returns (bytes written, `hdr_len`).
pub fn build_header(packets: &[&[u8]], out: &mut [u8]) -> Option<(usize, usize)> {
    let (&first, rest) = packets.split_first()?;
    let last = rest.last()?;
    let s0 = parse(first, true)?;
    let hdr_len = s0.hdr_len;
    let mut len = first.len();
    for &p in rest {
        len += p.len().checked_sub(hdr_len)?;
    }
    let psh = last.get(s0.ip_len + 13).is_some_and(|f| f & tcp_flags::PSH != 0);
    let head = out.get_mut(virtio::LEN..virtio::LEN + hdr_len)?;
    head.copy_from_slice(first.get(..hdr_len)?);
    let l4_len = len - s0.ip_len;
    let (ip, l4) = head.split_at_mut(s0.ip_len);
    if s0.v6 {
        ip[4..6].copy_from_slice(&u16::try_from(l4_len).ok()?.to_be_bytes());
    } else {
        ip[2..4].copy_from_slice(&u16::try_from(len).ok()?.to_be_bytes());
        ip[10..12].fill(0);
        let c = checksum::finish(ip, 0);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
    }
    let (gso_type, csum_offset) = match (s0.proto, s0.v6) {
        (PROTO_TCP, false) => (virtio::GSO_TCPV4, 16),
        (PROTO_TCP, true) => (virtio::GSO_TCPV6, 16),
        _ => (virtio::GSO_UDP_L4, 6),
    };
    if s0.proto == PROTO_TCP {
        if psh {
            l4[13] |= tcp_flags::PSH;
        }
    } else {
        l4[4..6].copy_from_slice(&u16::try_from(l4_len).ok()?.to_be_bytes());
    }
    let (a, n) = addr_span(s0.v6);
    let partial = checksum::fold(checksum::pseudo_header(
        &ip[a..a + n],
        &ip[a + n..a + 2 * n],
        s0.proto,
        l4_len,
    ));
    l4[csum_offset..csum_offset + 2].copy_from_slice(&partial.to_be_bytes());
    let hdr = VirtioNetHdr {
        flags: virtio::F_NEEDS_CSUM,
        gso_type,
        hdr_len: hdr_len as u16,
        gso_size: s0.payload as u16,
        csum_start: s0.ip_len as u16,
        csum_offset: csum_offset as u16,
    };
    out.get_mut(..virtio::LEN)?.copy_from_slice(&hdr.encode());
    Some((virtio::LEN + hdr_len, hdr_len))
}
