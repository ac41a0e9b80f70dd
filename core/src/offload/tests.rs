//! Table tests of every header field, a model test against a naive reference, and the
//! malformed-input cases. The reference builds each packet from scratch and checksums it
//! sixteen bits at a time, independently of [`super::checksum`].

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::coalesce::{build, run_len};
use super::segment::{plan, write_segment};
use super::virtio::{self, VirtioNetHdr};
use super::{checksum, tcp_flags as f, OffloadError};

const SRC4: [u8; 4] = [198, 19, 0, 1];
const DST4: [u8; 4] = [198, 19, 0, 2];
const SRC6: [u8; 16] = [0xfd, 0x19, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const DST6: [u8; 16] = [0xfd, 0x19, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const TS_OPTS: [u8; 12] = [1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9];

/// The RFC 1071 sum, one 16-bit word at a time.
fn naive_sum(data: &[u8]) -> u32 {
    let mut s = 0u32;
    for w in data.chunks(2) {
        s += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
    }
    s
}
fn naive_fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s >> 16) + (s & 0xffff);
    }
    s as u16
}
fn pseudo(v6: bool, proto: u8, l4_len: usize) -> u32 {
    let (s, d): (&[u8], &[u8]) = if v6 { (&SRC6, &DST6) } else { (&SRC4, &DST4) };
    naive_sum(s) + naive_sum(d) + u32::from(proto) + l4_len as u32
}
/// Whether a whole packet's IPv4 header and transport checksums verify.
fn verifies(p: &[u8]) -> bool {
    let v6 = p[0] >> 4 == 6;
    let ip_len = if v6 { 40 } else { 20 };
    let proto = if v6 { p[6] } else { p[9] };
    let ip_ok = v6 || naive_fold(naive_sum(&p[..20])) == 0xffff;
    let l4 = &p[ip_len..];
    ip_ok && naive_fold(pseudo(v6, proto, l4.len()) + naive_sum(l4)) == 0xffff
}

struct Tcp<'a> {
    v6: bool,
    id: u16,
    seq: u32,
    flags: u8,
    opts: &'a [u8],
    tos: u8,
    payload: &'a [u8],
}

impl Default for Tcp<'_> {
    fn default() -> Self {
        Self { v6: false, id: 0x1234, seq: 1000, flags: f::ACK, opts: &[], tos: 0, payload: b"" }
    }
}

/// A correct, standalone IP+TCP packet.
fn tcp(t: &Tcp<'_>) -> Vec<u8> {
    let thl = 20 + t.opts.len();
    let mut th = vec![0u8; thl];
    th[0..2].copy_from_slice(&40000u16.to_be_bytes());
    th[2..4].copy_from_slice(&5201u16.to_be_bytes());
    th[4..8].copy_from_slice(&t.seq.to_be_bytes());
    th[8..12].copy_from_slice(&77u32.to_be_bytes());
    th[12] = ((thl / 4) as u8) << 4;
    th[13] = t.flags;
    th[14..16].copy_from_slice(&500u16.to_be_bytes());
    th[20..].copy_from_slice(t.opts);
    th.extend_from_slice(t.payload);
    ip(t.v6, t.id, t.tos, 6, th, 16)
}

fn udp(v6: bool, id: u16, payload: &[u8]) -> Vec<u8> {
    let mut uh = vec![0u8; 8];
    uh[0..2].copy_from_slice(&5353u16.to_be_bytes());
    uh[2..4].copy_from_slice(&9u16.to_be_bytes());
    uh[4..6].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    uh.extend_from_slice(payload);
    ip(v6, id, 0, 17, uh, 6)
}

fn ip(v6: bool, id: u16, tos: u8, proto: u8, mut l4: Vec<u8>, csum_at: usize) -> Vec<u8> {
    let c = !naive_fold(pseudo(v6, proto, l4.len()) + naive_sum(&l4));
    let c = if proto == 17 && c == 0 { 0xffff } else { c };
    l4[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
    let mut p = if v6 {
        let mut h = vec![0x60 | (tos >> 4), tos << 4, 0, 0, 0, 0, proto, 64];
        h[4..6].copy_from_slice(&(l4.len() as u16).to_be_bytes());
        h.extend_from_slice(&SRC6);
        h.extend_from_slice(&DST6);
        h
    } else {
        let mut h = vec![0x45, tos, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
        h[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
        h[4..6].copy_from_slice(&id.to_be_bytes());
        h.extend_from_slice(&SRC4);
        h.extend_from_slice(&DST4);
        let c = !naive_fold(naive_sum(&h));
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h
    };
    p.extend_from_slice(&l4);
    p
}

/// What the kernel hands over for a TSO/USO send: one packet with all the payload, the
/// transport checksum field holding the length-less pseudo-header sum.
fn super_frame(pkt: &[u8], v6: bool, gso_type: u8, mss: usize) -> Vec<u8> {
    let mut p = pkt.to_vec();
    let ip_len = if v6 { 40 } else { 20 };
    let (proto, l4h, off) = if gso_type == virtio::GSO_UDP_L4 {
        (17, 8, 6)
    } else {
        (6, usize::from(p[ip_len + 12] >> 4) * 4, 16)
    };
    let partial = naive_fold(pseudo(v6, proto, 0));
    p[ip_len + off..ip_len + off + 2].copy_from_slice(&partial.to_be_bytes());
    let hdr = VirtioNetHdr {
        flags: virtio::F_NEEDS_CSUM,
        gso_type,
        hdr_len: (ip_len + l4h) as u16,
        gso_size: mss as u16,
        csum_start: ip_len as u16,
        csum_offset: off as u16,
    };
    let mut out = hdr.encode().to_vec();
    out.extend_from_slice(&p);
    out
}

fn split(frame: &[u8], mtu: usize) -> Result<Vec<Vec<u8>>, OffloadError> {
    let plan = plan(frame, mtu)?;
    (0..plan.segments())
        .map(|i| {
            let mut out = vec![0u8; mtu];
            let n = write_segment(frame, &plan, i, &mut out)?;
            out.truncate(n);
            Ok(out)
        })
        .collect()
}

fn payload(n: usize, seed: u64) -> Vec<u8> {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| r.gen()).collect()
}

#[test]
fn virtio_header_round_trips_in_host_order() {
    let h = VirtioNetHdr {
        flags: 1,
        gso_type: 4,
        hdr_len: 0x0102,
        gso_size: 1380,
        csum_start: 40,
        csum_offset: 16,
    };
    let b = h.encode();
    assert_eq!(b[4..6], 1380u16.to_ne_bytes());
    assert_eq!(VirtioNetHdr::decode(&b), Some(h));
    assert_eq!(VirtioNetHdr::decode(&b[..9]), None);
}

#[test]
fn checksum_matches_the_naive_sum_at_every_length() {
    let data = payload(300, 1);
    for n in 0..data.len() {
        for start in [0u64, 0xffff, 0x1_2345_6789] {
            let want = naive_fold(
                naive_fold((start >> 32) as u32) as u32
                    + naive_fold(start as u32) as u32
                    + naive_sum(&data[..n]),
            );
            assert_eq!(checksum::fold(checksum::sum(&data[..n], start)), want, "len {n}");
        }
    }
}

#[test]
fn tcp4_segments_every_header_field() {
    let data = payload(2500, 2);
    let whole = tcp(&Tcp {
        seq: u32::MAX - 100,
        flags: f::ACK | f::PSH | f::FIN | f::CWR,
        payload: &data,
        ..Tcp::default()
    });
    let frame = super_frame(&whole, false, virtio::GSO_TCPV4 | virtio::GSO_ECN, 1000);
    let segs = split(&frame, 1040).unwrap();
    assert_eq!(segs.len(), 3);
    for (i, s) in segs.iter().enumerate() {
        let chunk = &data[i * 1000..((i + 1) * 1000).min(2500)];
        assert_eq!(u16::from_be_bytes([s[2], s[3]]) as usize, 40 + chunk.len(), "total length");
        assert_eq!(u16::from_be_bytes([s[4], s[5]]), 0x1234 + i as u16, "IP ID");
        let seq = u32::from_be_bytes([s[24], s[25], s[26], s[27]]);
        assert_eq!(seq, (u32::MAX - 100).wrapping_add(1000 * i as u32), "seq wraps");
        let flags = s[33];
        assert_eq!(flags & f::CWR != 0, i == 0, "CWR only on the first");
        assert_eq!(flags & (f::PSH | f::FIN) != 0, i == 2, "PSH/FIN only on the last");
        assert!(verifies(s), "checksums of segment {i}");
        // Byte for byte what a naive builder makes of the same segment.
        let want =
            tcp(&Tcp { id: 0x1234 + i as u16, seq, flags, payload: chunk, ..Tcp::default() });
        assert_eq!(s, &want);
    }
}

#[test]
fn tcp6_segments_with_options() {
    let data = payload(3000, 3);
    let whole = tcp(&Tcp {
        v6: true,
        opts: &TS_OPTS,
        flags: f::ACK | f::PSH,
        payload: &data,
        ..Tcp::default()
    });
    let frame = super_frame(&whole, true, virtio::GSO_TCPV6, 1388);
    let segs = split(&frame, 1460).unwrap();
    assert_eq!(segs.len(), 3);
    for (i, s) in segs.iter().enumerate() {
        let chunk = &data[i * 1388..((i + 1) * 1388).min(3000)];
        assert_eq!(u16::from_be_bytes([s[4], s[5]]) as usize, 32 + chunk.len(), "payload length");
        let seq = u32::from_be_bytes([s[44], s[45], s[46], s[47]]);
        let flags = if i == 2 { f::ACK | f::PSH } else { f::ACK };
        let want =
            tcp(&Tcp { v6: true, opts: &TS_OPTS, seq, flags, payload: chunk, ..Tcp::default() });
        assert_eq!(seq, 1000 + 1388 * i as u32);
        assert_eq!(s, &want);
        assert!(verifies(s));
    }
}

#[test]
fn udp_segments_get_their_own_length_and_checksum() {
    for v6 in [false, true] {
        let data = payload(2000, 4);
        let whole = udp(v6, 9, &data);
        let frame = super_frame(&whole, v6, virtio::GSO_UDP_L4, 800);
        let segs = split(&frame, 1000).unwrap();
        assert_eq!(segs.len(), 3);
        for (i, s) in segs.iter().enumerate() {
            let chunk = &data[i * 800..((i + 1) * 800).min(2000)];
            assert_eq!(s, &udp(v6, 9 + i as u16, chunk), "v6={v6} segment {i}");
            assert!(verifies(s));
        }
    }
}

#[test]
fn partial_checksum_is_completed_without_gso() {
    let whole = tcp(&Tcp { payload: b"hello", ..Tcp::default() });
    let mut frame = super_frame(&whole, false, virtio::GSO_NONE, 0);
    // Kernel style for CHECKSUM_PARTIAL: the field holds the pseudo-header with length.
    let partial = naive_fold(pseudo(false, 6, whole.len() - 20));
    frame[10 + 36..10 + 38].copy_from_slice(&partial.to_be_bytes());
    assert_eq!(split(&frame, 1500).unwrap(), vec![whole.clone()]);
    // Without NEEDS_CSUM the packet is copied as is.
    let mut plain = VirtioNetHdr::default().encode().to_vec();
    plain.extend_from_slice(&whole);
    assert_eq!(split(&plain, 1500).unwrap(), vec![whole]);
}

#[test]
fn malformed_frames_are_refused() {
    let data = payload(3000, 5);
    let good = super_frame(
        &tcp(&Tcp { payload: &data, ..Tcp::default() }),
        false,
        virtio::GSO_TCPV4,
        1000,
    );
    assert!(split(&good, 1100).is_ok());
    let with = |edit: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        edit(&mut b);
        split(&b, 1100).err()
    };
    assert_eq!(split(&good[..9], 1100).err(), Some(OffloadError::Truncated));
    assert_eq!(split(&good[..10], 1100).err(), Some(OffloadError::Truncated));
    assert_eq!(
        split(&good[..40], 1100).err(),
        Some(OffloadError::Truncated),
        "cut inside TCP header"
    );
    assert_eq!(with(&|b| b[1] = virtio::GSO_UDP), Some(OffloadError::UnsupportedGso));
    assert_eq!(with(&|b| b[1] = 9), Some(OffloadError::UnsupportedGso));
    assert_eq!(
        with(&|b| b[1] = virtio::GSO_TCPV6),
        Some(OffloadError::UnsupportedGso),
        "v4 packet, v6 GSO"
    );
    assert_eq!(with(&|b| b[10] = 0x75), Some(OffloadError::UnsupportedGso), "IP version 7");
    assert_eq!(with(&|b| b[10] = 0x44), Some(OffloadError::BadHeader), "IHL 16 bytes");
    assert_eq!(with(&|b| b[19] = 17), Some(OffloadError::BadHeader), "protocol is not TCP");
    assert_eq!(
        with(&|b| b[6..8].copy_from_slice(&24u16.to_ne_bytes())),
        Some(OffloadError::BadHeader),
        "csum_start"
    );
    assert_eq!(
        with(&|b| b[8..10].copy_from_slice(&6u16.to_ne_bytes())),
        Some(OffloadError::BadHeader),
        "csum_offset"
    );
    assert_eq!(with(&|b| b[10 + 32] = 0x40), Some(OffloadError::BadHeader), "data offset 16");
    assert_eq!(with(&|b| b[4..6].fill(0)), Some(OffloadError::BadHeader), "gso_size 0");
    assert_eq!(
        with(&|b| b[4..6].copy_from_slice(&1200u16.to_ne_bytes())),
        Some(OffloadError::TooBig)
    );
    // A lying hdr_len is ignored (recomputed from the packet).
    assert!(with(&|b| b[2..4].copy_from_slice(&9000u16.to_ne_bytes())).is_none());
    // Non-GSO: too big, or a partial checksum outside the packet.
    let mut plain =
        VirtioNetHdr { flags: 1, csum_start: 20, csum_offset: 5000, ..Default::default() }
            .encode()
            .to_vec();
    plain.extend_from_slice(&data[..100]);
    assert_eq!(split(&plain, 1100).err(), Some(OffloadError::Truncated));
    assert_eq!(split(&plain, 50).err(), Some(OffloadError::TooBig));
}

fn segs_of(n: usize, mss: usize, v6: bool) -> (Vec<u8>, Vec<Vec<u8>>) {
    let data = payload(n, 6);
    let segs = data
        .chunks(mss)
        .enumerate()
        .map(|(i, c)| {
            tcp(&Tcp {
                v6,
                id: i as u16,
                seq: 1000 + (i * mss) as u32,
                payload: c,
                ..Tcp::default()
            })
        })
        .collect();
    (data, segs)
}

fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
    v.iter().map(|p| p.as_slice()).collect()
}

#[test]
fn coalesced_frame_has_every_header_field() {
    for v6 in [false, true] {
        let (data, mut segs) = segs_of(3500, 1200, v6);
        let ip_len = if v6 { 40 } else { 20 };
        segs[2][ip_len + 13] |= f::PSH;
        let c = !naive_fold(
            pseudo(v6, 6, segs[2].len() - ip_len)
                + naive_sum(&{
                    let mut t = segs[2][ip_len..].to_vec();
                    t[16..18].fill(0);
                    t
                }),
        );
        segs[2][ip_len + 16..ip_len + 18].copy_from_slice(&c.to_be_bytes());
        let list = refs(&segs);
        assert_eq!(run_len(&list, false, 65535), 3);
        let mut out = vec![0u8; 70000];
        let n = build(&list, &mut out).unwrap();
        let hdr = VirtioNetHdr::decode(&out).unwrap();
        let want_type = if v6 { virtio::GSO_TCPV6 } else { virtio::GSO_TCPV4 };
        assert_eq!(
            hdr,
            VirtioNetHdr {
                flags: 1,
                gso_type: want_type,
                hdr_len: ip_len as u16 + 20,
                gso_size: 1200,
                csum_start: ip_len as u16,
                csum_offset: 16
            }
        );
        let p = &out[10..n];
        assert_eq!(p.len(), ip_len + 20 + 3500);
        if v6 {
            assert_eq!(u16::from_be_bytes([p[4], p[5]]), 3520);
        } else {
            assert_eq!(u16::from_be_bytes([p[2], p[3]]) as usize, p.len());
            assert_eq!(u16::from_be_bytes([p[4], p[5]]), 0, "first segment's ID");
            assert_eq!(naive_fold(naive_sum(&p[..20])), 0xffff, "IPv4 header checksum");
        }
        assert_eq!(
            u32::from_be_bytes([p[ip_len + 4], p[ip_len + 5], p[ip_len + 6], p[ip_len + 7]]),
            1000
        );
        assert_eq!(p[ip_len + 13], f::ACK | f::PSH, "PSH of the last segment kept");
        let partial = u16::from_be_bytes([p[ip_len + 16], p[ip_len + 17]]);
        assert_eq!(partial, naive_fold(pseudo(v6, 6, 3520)), "pseudo-header in the checksum field");
        assert_eq!(&p[ip_len + 20..], &data[..]);
    }
}

#[test]
fn what_does_not_qualify_goes_alone_or_ends_the_run() {
    let (_, base) = segs_of(4000, 1000, false);
    let case = |edit: &dyn Fn(&mut Vec<Vec<u8>>)| {
        let mut s = base.clone();
        edit(&mut s);
        run_len(&refs(&s), true, 65535)
    };
    let recsum = |p: &mut Vec<u8>| {
        p[36..38].fill(0);
        let c = !naive_fold(pseudo(false, 6, p.len() - 20) + naive_sum(&p[20..]));
        p[36..38].copy_from_slice(&c.to_be_bytes());
        p[10..12].fill(0);
        let c = !naive_fold(naive_sum(&p[..20]));
        p[10..12].copy_from_slice(&c.to_be_bytes());
    };
    assert_eq!(case(&|_| {}), 4);
    assert_eq!(run_len(&refs(&base), true, 2100), 2, "frame size limit");
    assert_eq!(case(&|s| s.swap(1, 2)), 1, "out of order");
    for bad in [f::SYN, f::FIN, f::RST, f::URG, f::ECE, f::CWR] {
        assert_eq!(
            case(&|s| {
                s[2][33] |= bad;
                recsum(&mut s[2])
            }),
            2,
            "flag {bad:#x}"
        );
    }
    assert_eq!(
        case(&|s| {
            s[0][33] = 0;
            recsum(&mut s[0])
        }),
        1,
        "no ACK"
    );
    assert_eq!(
        case(&|s| {
            s[1][33] |= f::PSH;
            recsum(&mut s[1])
        }),
        2,
        "PSH ends the run, included"
    );
    assert_eq!(
        case(&|s| {
            s[0][33] |= f::PSH;
            recsum(&mut s[0])
        }),
        1,
        "PSH first goes alone"
    );
    assert_eq!(
        case(&|s| {
            s[1][6] |= 0x20;
            recsum(&mut s[1])
        }),
        1,
        "IPv4 MF"
    );
    assert_eq!(
        case(&|s| {
            s[1][7] = 1;
            recsum(&mut s[1])
        }),
        1,
        "fragment offset"
    );
    assert_eq!(
        case(&|s| {
            s[2][1] = 3;
            recsum(&mut s[2])
        }),
        2,
        "ECN CE"
    );
    assert_eq!(
        case(&|s| {
            s[0][1] = 3;
            recsum(&mut s[0])
        }),
        1,
        "ECN CE first"
    );
    assert_eq!(
        case(&|s| {
            s[1][1] = 2;
            recsum(&mut s[1])
        }),
        1,
        "TOS differs"
    );
    assert_eq!(
        case(&|s| {
            s[1][8] = 1;
            recsum(&mut s[1])
        }),
        1,
        "TTL differs"
    );
    assert_eq!(
        case(&|s| {
            s[1][6] = 0;
            recsum(&mut s[1])
        }),
        1,
        "DF differs"
    );
    assert_eq!(
        case(&|s| {
            s[1][15] = 9;
            recsum(&mut s[1])
        }),
        1,
        "source address differs"
    );
    assert_eq!(
        case(&|s| {
            s[1][21] = 9;
            recsum(&mut s[1])
        }),
        1,
        "port differs"
    );
    assert_eq!(
        case(&|s| {
            s[1][31] = 9;
            recsum(&mut s[1])
        }),
        1,
        "ack differs"
    );
    assert_eq!(
        case(&|s| {
            s[1][35] = 9;
            recsum(&mut s[1])
        }),
        1,
        "window differs"
    );
    assert_eq!(case(&|s| { s[1][36] ^= 1 }), 1, "bad checksum on the second");
    assert_eq!(case(&|s| { s[0][36] ^= 1 }), 1, "bad checksum on the first");
    assert_eq!(case(&|s| { s[0][11] ^= 1 }), 1, "not a clean IPv4 header: no merge");
    // A shorter segment may only come last.
    let short = tcp(&Tcp { id: 1, seq: 2000, payload: &[7u8; 500], ..Tcp::default() });
    let after = tcp(&Tcp { id: 2, seq: 2500, payload: &[7u8; 500], ..Tcp::default() });
    assert_eq!(run_len(&[&base[0], &short, &after], true, 65535), 2);
    let long = tcp(&Tcp { id: 1, seq: 2000, payload: &[7u8; 1001], ..Tcp::default() });
    assert_eq!(run_len(&[&base[0], &long], true, 65535), 1, "longer after shorter");
    // Different options.
    let o1 = tcp(&Tcp { opts: &TS_OPTS, payload: &[1u8; 100], ..Tcp::default() });
    let mut ts2 = TS_OPTS;
    ts2[7] = 8;
    let o2 = tcp(&Tcp { id: 1, seq: 1100, opts: &ts2, payload: &[1u8; 100], ..Tcp::default() });
    assert_eq!(run_len(&[&o1, &o2], true, 65535), 1, "options differ");
    // Not TCP/UDP, empty payload, garbage.
    assert_eq!(run_len(&[b"\x45garbage", &base[0]], true, 65535), 1);
    assert_eq!(run_len(&[], true, 65535), 0);
    let empty = tcp(&Tcp::default());
    assert_eq!(run_len(&[&empty, &empty], true, 65535), 1);
    // A run of one is written unchanged behind an empty header.
    let mut out = vec![0u8; 2000];
    let n = build(&[&base[0]], &mut out).unwrap();
    assert_eq!(&out[..10], &[0u8; 10]);
    assert_eq!(&out[10..n], &base[0][..]);
    assert_eq!(build(&refs(&base), &mut out), None, "output too small");
}

#[test]
fn udp_merges_only_with_uso() {
    let segs: Vec<Vec<u8>> = (0..3).map(|i| udp(false, i, &[i as u8; 700])).collect();
    assert_eq!(run_len(&refs(&segs), false, 65535), 1);
    assert_eq!(run_len(&refs(&segs), true, 65535), 3);
    let mut out = vec![0u8; 5000];
    let n = build(&refs(&segs), &mut out).unwrap();
    let hdr = VirtioNetHdr::decode(&out).unwrap();
    assert_eq!(
        (hdr.gso_type, hdr.gso_size, hdr.hdr_len, hdr.csum_offset),
        (virtio::GSO_UDP_L4, 700, 28, 6)
    );
    // And back: segmenting the merged frame gives the original datagrams (IDs aside).
    let back = split(&out[..n], 1500).unwrap();
    for (i, b) in back.iter().enumerate() {
        assert_eq!(b, &udp(false, i as u16, &[i as u8; 700]));
    }
}

/// Model test: random super-frames, segmented, each segment compared with the naive
/// builder's; then re-coalesced: the same byte stream and headers, and segmenting the
/// merged frame again gives the same segments.
#[test]
fn segment_then_coalesce_is_the_identity() {
    let mut r = ChaCha8Rng::seed_from_u64(7);
    for round in 0..300 {
        let v6 = r.gen_bool(0.5);
        let opts: &[u8] = if r.gen_bool(0.5) { &TS_OPTS } else { &[] };
        let mss = r.gen_range(1..=1400usize);
        let max_payload = 65535 - if v6 { 0 } else { 20 } - 20 - opts.len();
        let n = r.gen_range(1..=max_payload.min(mss * 60));
        let data = payload(n, round);
        let seq: u32 = r.gen();
        let psh = if r.gen_bool(0.5) { f::PSH } else { 0 };
        let whole =
            tcp(&Tcp { v6, seq, opts, flags: f::ACK | psh, payload: &data, ..Tcp::default() });
        let gso = if v6 { virtio::GSO_TCPV6 } else { virtio::GSO_TCPV4 };
        let frame = super_frame(&whole, v6, gso, mss);
        let mtu = (if v6 { 40 } else { 20 }) + 20 + opts.len() + mss;
        let segs = split(&frame, mtu).unwrap();
        assert_eq!(segs.len(), n.div_ceil(mss));
        for (i, s) in segs.iter().enumerate() {
            assert!(verifies(s), "round {round} segment {i}");
            let chunk = &data[i * mss..((i + 1) * mss).min(n)];
            let flags = if i + 1 == segs.len() { f::ACK | psh } else { f::ACK };
            let want = tcp(&Tcp {
                v6,
                id: 0x1234u16.wrapping_add(i as u16),
                seq: seq.wrapping_add((i * mss) as u32),
                opts,
                flags,
                payload: chunk,
                ..Tcp::default()
            });
            assert_eq!(s, &want, "round {round} segment {i}");
        }
        let list = refs(&segs);
        let mut out = vec![0u8; 70000];
        let mut at = 0;
        let mut stream = Vec::new();
        while at < list.len() {
            let k = run_len(&list[at..], false, 65535);
            assert!(k >= 1);
            let len = build(&list[at..at + k], &mut out).unwrap();
            // Each merged frame segments back into exactly the packets it came from.
            let again = split(&out[..len], 65535).unwrap();
            for (a, b) in again.iter().zip(&segs[at..at + k]) {
                let ip_len = if v6 { 40 } else { 20 };
                assert_eq!(a[ip_len..], b[ip_len..], "round {round}");
            }
            let hl = (if v6 { 40 } else { 20 }) + 20 + opts.len();
            stream.extend_from_slice(&out[10 + hl..len]);
            at += k;
        }
        assert_eq!(stream, data, "round {round}: byte stream");
        assert_eq!(run_len(&list, false, 65535), segs.len(), "one flow in order merges whole");
    }
}
