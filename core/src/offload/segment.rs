//! TX side: one frame read from a TUN with a virtio-net header → packets that fit the
//! MTU. For a GSO frame every segment gets its own IP header (IPv4 total length, ID +
//! index, header checksum; IPv6 payload length), TCP sequence number (FIN and PSH only on
//! the last segment, CWR only on the first) or UDP length, and a full transport checksum
//! (the pseudo-header plus the segment). A non-GSO frame whose checksum the kernel left
//! partial (`F_NEEDS_CSUM`) is completed from the partial sum at `csum_start`.
//!
//! Nothing in the frame is trusted: the header length comes from the packet itself, and
//! every offset is checked, so a lying header gives an [`OffloadError`], never a panic.

use super::checksum;
use super::virtio::{self, VirtioNetHdr};
use super::{addr_span, tcp_flags, OffloadError, PROTO_TCP, PROTO_UDP, UDP_HEADER_LEN};

/// How one frame turns into packets: computed once by [`plan`], then each packet is
/// written by [`write_segment`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    kind: Kind,
    /// Length of the IP packet (the frame minus the virtio header).
    len: usize,
    segments: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Copy as is.
    Plain,
    /// Copy, then complete the partial checksum at `start + offset`.
    Partial { start: usize, offset: usize },
    /// Split.
    Gso(Gso),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Gso {
    v6: bool,
    proto: u8,
    /// IP header length (= `csum_start`).
    ip_len: usize,
    /// IP + transport header length.
    hdr_len: usize,
    /// Payload bytes per segment.
    mss: usize,
}

impl Plan {
    /// How many packets the frame yields (at least 1).
    pub fn segments(&self) -> usize {
        self.segments
    }

    /// Whether the frame is a GSO super-frame (more than a copy).
    pub fn is_gso(&self) -> bool {
        matches!(self.kind, Kind::Gso(_))
    }
}

/// Validates `frame` (virtio header + IP packet) and works out its packets, each of
/// which must fit `mtu` bytes.
pub fn plan(frame: &[u8], mtu: usize) -> Result<Plan, OffloadError> {
    let hdr = VirtioNetHdr::decode(frame).ok_or(OffloadError::Truncated)?;
    let pkt = frame.get(virtio::LEN..).ok_or(OffloadError::Truncated)?;
    let len = pkt.len();
    if len == 0 {
        return Err(OffloadError::Truncated);
    }
    let gso_type = hdr.gso_type & !virtio::GSO_ECN;
    if gso_type == virtio::GSO_NONE {
        if len > mtu {
            return Err(OffloadError::TooBig);
        }
        let kind = if hdr.flags & virtio::F_NEEDS_CSUM != 0 {
            let (start, offset) = (usize::from(hdr.csum_start), usize::from(hdr.csum_offset));
            if start + offset + 2 > len {
                return Err(OffloadError::Truncated);
            }
            Kind::Partial { start, offset }
        } else {
            Kind::Plain
        };
        return Ok(Plan { kind, len, segments: 1 });
    }
    let version = pkt[0] >> 4;
    let v6 = match (version, gso_type) {
        (4, virtio::GSO_TCPV4 | virtio::GSO_UDP_L4) => false,
        (6, virtio::GSO_TCPV6 | virtio::GSO_UDP_L4) => true,
        _ => return Err(OffloadError::UnsupportedGso),
    };
    let proto = if gso_type == virtio::GSO_UDP_L4 { PROTO_UDP } else { PROTO_TCP };
    let ip_len = if v6 {
        // No extension headers: the transport header follows the fixed header.
        if *pkt.get(6).ok_or(OffloadError::Truncated)? != proto {
            return Err(OffloadError::BadHeader);
        }
        40
    } else {
        let ihl = usize::from(pkt[0] & 0x0f) * 4;
        if ihl < 20 || *pkt.get(9).ok_or(OffloadError::Truncated)? != proto {
            return Err(OffloadError::BadHeader);
        }
        ihl
    };
    if usize::from(hdr.csum_start) != ip_len {
        return Err(OffloadError::BadHeader);
    }
    let (l4_len, csum_offset) = if proto == PROTO_TCP {
        let off = *pkt.get(ip_len + 12).ok_or(OffloadError::Truncated)?;
        let thl = usize::from(off >> 4) * 4;
        if thl < 20 {
            return Err(OffloadError::BadHeader);
        }
        (thl, 16)
    } else {
        (UDP_HEADER_LEN, 6)
    };
    if usize::from(hdr.csum_offset) != csum_offset {
        return Err(OffloadError::BadHeader);
    }
    let hdr_len = ip_len + l4_len;
    if hdr_len > len {
        return Err(OffloadError::Truncated);
    }
    let mss = usize::from(hdr.gso_size);
    if mss == 0 {
        return Err(OffloadError::BadHeader);
    }
    let payload = len - hdr_len;
    if hdr_len + mss.min(payload) > mtu || len - ip_len > usize::from(u16::MAX) {
        return Err(OffloadError::TooBig);
    }
    let segments = payload.div_ceil(mss).max(1);
    Ok(Plan { kind: Kind::Gso(Gso { v6, proto, ip_len, hdr_len, mss }), len, segments })
}

/// Writes packet `index` of `frame` (as described by `plan`, which must come from the
/// same frame) into `out`. Returns its length.
pub fn write_segment(
    frame: &[u8],
    plan: &Plan,
    index: usize,
    out: &mut [u8],
) -> Result<usize, OffloadError> {
    let pkt =
        frame.get(virtio::LEN..).and_then(|p| p.get(..plan.len)).ok_or(OffloadError::Truncated)?;
    if index >= plan.segments {
        return Err(OffloadError::Truncated);
    }
    match plan.kind {
        Kind::Plain => {
            out.get_mut(..pkt.len()).ok_or(OffloadError::TooBig)?.copy_from_slice(pkt);
            Ok(pkt.len())
        }
        Kind::Partial { start, offset } => {
            let o = out.get_mut(..pkt.len()).ok_or(OffloadError::TooBig)?;
            o.copy_from_slice(pkt);
            complete_partial(o, start, offset)?;
            Ok(pkt.len())
        }
        Kind::Gso(g) => write_gso(pkt, &g, plan.segments, index, out),
    }
}

/// Completes a partial checksum: the field holds the (folded, not inverted) pseudo-header
/// sum; the result covers it and everything from `start`.
fn complete_partial(pkt: &mut [u8], start: usize, offset: usize) -> Result<(), OffloadError> {
    let at = start + offset;
    let field = pkt.get_mut(at..at + 2).ok_or(OffloadError::Truncated)?;
    let initial = u64::from(u16::from_be_bytes([field[0], field[1]]));
    field.fill(0);
    let data = pkt.get(start..).ok_or(OffloadError::Truncated)?;
    let c = checksum::finish(data, initial);
    pkt.get_mut(at..at + 2).ok_or(OffloadError::Truncated)?.copy_from_slice(&c.to_be_bytes());
    Ok(())
}

fn write_gso(
    pkt: &[u8],
    g: &Gso,
    segments: usize,
    index: usize,
    out: &mut [u8],
) -> Result<usize, OffloadError> {
    let data_start = g.hdr_len + index * g.mss;
    let data_end = (data_start + g.mss).min(pkt.len());
    let seg_data = pkt.get(data_start..data_end).ok_or(OffloadError::Truncated)?;
    let total = g.hdr_len + seg_data.len();
    let o = out.get_mut(..total).ok_or(OffloadError::TooBig)?;
    let (head, body) = o.split_at_mut(g.hdr_len);
    head.copy_from_slice(pkt.get(..g.hdr_len).ok_or(OffloadError::Truncated)?);
    body.copy_from_slice(seg_data);
    let (ip, l4) = o.split_at_mut(g.ip_len);
    if g.v6 {
        ip[4..6].copy_from_slice(&((total - g.ip_len) as u16).to_be_bytes());
    } else {
        ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        let id = u16::from_be_bytes([ip[4], ip[5]]).wrapping_add(index as u16);
        ip[4..6].copy_from_slice(&id.to_be_bytes());
        ip[10..12].fill(0);
        let c = checksum::finish(ip, 0);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
    }
    let csum_at = if g.proto == PROTO_TCP {
        let seq =
            u32::from_be_bytes([l4[4], l4[5], l4[6], l4[7]]).wrapping_add((index * g.mss) as u32);
        l4[4..8].copy_from_slice(&seq.to_be_bytes());
        if index + 1 < segments {
            l4[13] &= !(tcp_flags::FIN | tcp_flags::PSH);
        }
        if index > 0 {
            l4[13] &= !tcp_flags::CWR;
        }
        16
    } else {
        let ulen = l4.len() as u16;
        l4[4..6].copy_from_slice(&ulen.to_be_bytes());
        6
    };
    l4[csum_at..csum_at + 2].fill(0);
    let (a, n) = addr_span(g.v6);
    let pseudo = checksum::pseudo_header(&ip[a..a + n], &ip[a + n..a + 2 * n], g.proto, l4.len());
    let mut c = checksum::finish(l4, pseudo);
    if g.proto == PROTO_UDP && c == 0 {
        c = 0xffff;
    }
    l4[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
    Ok(total)
}
