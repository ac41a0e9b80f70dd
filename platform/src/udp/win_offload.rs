//! Windows UDP segmentation offload (USO, `UDP_SEND_MSG_SIZE`) and receive coalescing
//! (URO, `UDP_RECV_MAX_COALESCED_SIZE` / `UDP_COALESCED_INFO`): the pure parts, tested
//! on every host — grouping a send batch into USO super-datagrams, the control-message
//! bytes `WSASendMsg` takes and `WSARecvMsg` returns, splitting a coalesced receive into
//! its datagrams, and the guard that switches URO off when a NIC delivers bad coalesced
//! data (firezone saw NICs report segment sizes that do not match the buffer).
//!
//! Layout (Winsock `WSACMSGHDR`): `cmsg_len: SIZE_T`, `cmsg_level: INT`, `cmsg_type:
//! INT`, then the data, each header and data start aligned to `size_of::<usize>()`
//! (`WSA_CMSGHDR_ALIGN` / `WSA_CMSGDATA_ALIGN`), the value a `DWORD`.

use std::ops::Range;

/// `IPPROTO_UDP`: the control-message level.
pub const IPPROTO_UDP: i32 = 17;
/// `UDP_SEND_MSG_SIZE`: segment size for USO (socket option and control message).
pub const UDP_SEND_MSG_SIZE: i32 = 2;
/// `UDP_RECV_MAX_COALESCED_SIZE`: enables URO with this many bytes at most.
pub const UDP_RECV_MAX_COALESCED_SIZE: i32 = 3;
/// `UDP_COALESCED_INFO`: the control message carrying the segment size of a coalesced
/// receive.
pub const UDP_COALESCED_INFO: i32 = 3;
/// Largest USO super-datagram / URO buffer: one IP datagram's payload.
pub const MAX_COALESCED: usize = 65_507;
/// Most segments Windows accepts in one USO send.
pub const MAX_SEGMENTS: usize = 64;

const ALIGN: usize = std::mem::size_of::<usize>();
const HDR: usize = std::mem::size_of::<usize>() + 8;

const fn align(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}

/// `WSA_CMSG_SPACE(sizeof(DWORD))`: bytes one DWORD control message takes.
pub const CMSG_DWORD_SPACE: usize = align(HDR) + align(4);

/// Encodes one `IPPROTO_UDP` control message with a DWORD value (e.g.
/// `UDP_SEND_MSG_SIZE` with the segment size) into `buf`; returns the bytes used
/// (`WSAMSG.Control.len`), or `None` if `buf` is too small.
pub fn encode_dword_cmsg(buf: &mut [u8], kind: i32, value: u32) -> Option<usize> {
    let out = buf.get_mut(..CMSG_DWORD_SPACE)?;
    out.fill(0);
    let len = align(HDR) + 4; // WSA_CMSG_LEN(sizeof(DWORD))
    out[..ALIGN].copy_from_slice(&len.to_ne_bytes());
    out[ALIGN..ALIGN + 4].copy_from_slice(&IPPROTO_UDP.to_ne_bytes());
    out[ALIGN + 4..ALIGN + 8].copy_from_slice(&kind.to_ne_bytes());
    out[align(HDR)..align(HDR) + 4].copy_from_slice(&value.to_ne_bytes());
    Some(CMSG_DWORD_SPACE)
}

/// Finds the `IPPROTO_UDP`/`kind` DWORD control message in the control bytes `WSARecvMsg`
/// filled (`control`, already cut to `Control.len`). Malformed headers end the walk.
pub fn find_dword_cmsg(control: &[u8], kind: i32) -> Option<u32> {
    let mut at = 0;
    while let Some(hdr) = control.get(at..at + HDR) {
        let len = usize::from_ne_bytes(hdr[..ALIGN].try_into().ok()?);
        let level = i32::from_ne_bytes(hdr[ALIGN..ALIGN + 4].try_into().ok()?);
        let ty = i32::from_ne_bytes(hdr[ALIGN + 4..ALIGN + 8].try_into().ok()?);
        if len < HDR || at.checked_add(len)? > control.len() {
            return None;
        }
        if level == IPPROTO_UDP && ty == kind && len >= align(HDR) + 4 {
            let d = control.get(at + align(HDR)..at + align(HDR) + 4)?;
            return Some(u32::from_ne_bytes(d.try_into().ok()?));
        }
        at += align(len);
    }
    None
}

/// One USO send: datagrams `range` of the batch, all to the same destination, every one
/// `segment` bytes except possibly the last (shorter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsoGroup {
    /// Indices into the batch.
    pub range: Range<usize>,
    /// The segment size to put in `UDP_SEND_MSG_SIZE`.
    pub segment: usize,
}

/// Splits a batch (each datagram's length and destination key) into USO groups: runs of
/// consecutive datagrams to the same destination, equal in size but for a shorter last
/// one, at most [`MAX_SEGMENTS`] and [`MAX_COALESCED`] bytes. A group of one is sent
/// without the control message.
pub fn group_for_uso<K: PartialEq>(lens: &[usize], dsts: &[K]) -> Vec<UsoGroup> {
    let n = lens.len().min(dsts.len());
    let mut groups = Vec::new();
    let mut start = 0;
    while start < n {
        let segment = lens[start];
        let mut end = start + 1;
        let mut total = segment;
        while end < n
            && segment > 0
            && dsts[end] == dsts[start]
            && lens[end] <= segment
            && end - start < MAX_SEGMENTS
            && total + lens[end] <= MAX_COALESCED
        {
            total += lens[end];
            end += 1;
            if lens[end - 1] < segment {
                break; // a shorter datagram ends the group
            }
        }
        groups.push(UsoGroup { range: start..end, segment });
        start = end;
    }
    groups
}

/// The datagrams in a coalesced receive of `len` bytes with segment size `segment`
/// (every one `segment` bytes, the last possibly shorter); `None` if the pair is
/// impossible (zero segment, segment larger than the buffer's limit, or more segments
/// than a buffer of [`MAX_COALESCED`] can hold) — bad data from the NIC.
pub fn split_coalesced(len: usize, segment: usize) -> Option<Vec<Range<usize>>> {
    if segment == 0 || segment > MAX_COALESCED || len > MAX_COALESCED {
        return None;
    }
    if len == 0 {
        return Some(Vec::new());
    }
    Some((0..len).step_by(segment).map(|s| s..(s + segment).min(len)).collect())
}

/// What [`scatter`] did with one coalesced read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scatter {
    /// Buffers filled (their lengths are in `lens[..placed]`).
    pub placed: usize,
    /// Ranges consumed (placed or dropped); the rest are left for the next call.
    pub used: usize,
    /// Datagrams dropped because they were larger than the buffer they would go to.
    pub oversized: usize,
}

/// Copies the datagrams `ranges` of the coalesced read `data` into `bufs` in order, one
/// datagram per buffer, writing each length to `lens`; stops when the buffers run out.
/// A datagram larger than the next buffer is dropped (as a plain receive would cut and
/// drop it). Ranges outside `data` are dropped too.
pub fn scatter(
    data: &[u8],
    ranges: &[Range<usize>],
    bufs: &mut [&mut [u8]],
    lens: &mut [usize],
) -> Scatter {
    let room = bufs.len().min(lens.len());
    let mut out = Scatter::default();
    for r in ranges {
        if out.placed == room {
            break;
        }
        out.used += 1;
        let (Some(src), Some(buf)) = (data.get(r.clone()), bufs.get_mut(out.placed)) else {
            out.oversized += 1;
            continue;
        };
        let Some(dst) = buf.get_mut(..src.len()) else {
            out.oversized += 1;
            continue;
        };
        dst.copy_from_slice(src);
        lens[out.placed] = src.len();
        out.placed += 1;
    }
    out
}

/// Decides whether URO stays on. Every coalesced receive is checked
/// ([`UroGuard::check`]); the engine also reports datagrams of a coalesced receive that
/// failed authentication while the same peer's single datagrams pass
/// ([`UroGuard::report_bad_segment`]). After `limit` bad observations URO is switched off
/// for the socket's lifetime and receives fall back to one datagram each.
#[derive(Debug, Clone)]
pub struct UroGuard {
    bad: u32,
    limit: u32,
    enabled: bool,
}

impl UroGuard {
    /// A guard that allows `limit - 1` bad observations.
    pub fn new(enabled: bool, limit: u32) -> Self {
        Self { bad: 0, limit: limit.max(1), enabled }
    }

    /// Whether URO is (still) on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Splits a coalesced receive, counting an impossible one as bad (its bytes are
    /// dropped: there is no trustworthy way to cut them).
    pub fn check(&mut self, len: usize, segment: usize) -> Option<Vec<Range<usize>>> {
        let split = split_coalesced(len, segment);
        if split.is_none() {
            self.report_bad_segment();
        }
        split
    }

    /// Counts one bad coalesced delivery; returns true when this switched URO off.
    pub fn report_bad_segment(&mut self) -> bool {
        if !self.enabled {
            return false;
        }
        self.bad += 1;
        if self.bad >= self.limit {
            self.enabled = false;
            return true;
        }
        false
    }
}

/// What a probe of the two socket options found (set at socket creation; a failing
/// `setsockopt`/`getsockopt` means the OS or driver lacks the feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OffloadSupport {
    /// `UDP_SEND_MSG_SIZE` accepted.
    pub uso: bool,
    /// `UDP_RECV_MAX_COALESCED_SIZE` accepted.
    pub uro: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmsg_round_trips_and_has_winsock_layout() {
        let mut buf = [0xffu8; 64];
        let used = encode_dword_cmsg(&mut buf, UDP_SEND_MSG_SIZE, 1452).unwrap();
        assert_eq!(used, CMSG_DWORD_SPACE);
        if ALIGN == 8 {
            // x64: 8-byte len, level, type, then the DWORD at offset 16; len 20, space 24.
            assert_eq!(used, 24);
            assert_eq!(&buf[..8], &20usize.to_ne_bytes());
            assert_eq!(&buf[8..12], &17i32.to_ne_bytes());
            assert_eq!(&buf[12..16], &2i32.to_ne_bytes());
            assert_eq!(&buf[16..20], &1452u32.to_ne_bytes());
        }
        assert_eq!(find_dword_cmsg(&buf[..used], UDP_SEND_MSG_SIZE), Some(1452));
        assert_eq!(find_dword_cmsg(&buf[..used], 99), None);
        assert_eq!(encode_dword_cmsg(&mut buf[..10], 2, 1), None);
    }

    #[test]
    fn cmsg_walk_skips_others_and_refuses_garbage() {
        let mut two = [0u8; 2 * CMSG_DWORD_SPACE];
        encode_dword_cmsg(&mut two, 1, 7).unwrap(); // some other UDP message first
        encode_dword_cmsg(&mut two[CMSG_DWORD_SPACE..], UDP_COALESCED_INFO, 1280).unwrap();
        assert_eq!(find_dword_cmsg(&two, UDP_COALESCED_INFO), Some(1280));
        // A length running past the buffer, or below the header size: no answer.
        let mut bad = two;
        bad[..ALIGN].copy_from_slice(&1000usize.to_ne_bytes());
        assert_eq!(find_dword_cmsg(&bad, UDP_COALESCED_INFO), None);
        bad[..ALIGN].copy_from_slice(&3usize.to_ne_bytes());
        assert_eq!(find_dword_cmsg(&bad, UDP_COALESCED_INFO), None);
        assert_eq!(find_dword_cmsg(&[], UDP_COALESCED_INFO), None);
        assert_eq!(find_dword_cmsg(&two[..5], UDP_COALESCED_INFO), None);
    }

    #[test]
    fn uso_groups_equal_runs_per_destination() {
        let lens = [1452, 1452, 1452, 900, 1452, 1452, 100, 60];
        let dsts = ['a', 'a', 'a', 'a', 'a', 'b', 'b', 'b'];
        let g = group_for_uso(&lens, &dsts);
        assert_eq!(
            g,
            vec![
                UsoGroup { range: 0..4, segment: 1452 }, // shorter last one joins
                UsoGroup { range: 4..5, segment: 1452 }, // destination changes
                UsoGroup { range: 5..7, segment: 1452 },
                UsoGroup { range: 7..8, segment: 60 },
            ]
        );
        // Each group fits the limits.
        for grp in &g {
            let total: usize = lens[grp.range.clone()].iter().sum();
            assert!(total <= MAX_COALESCED && grp.range.len() <= MAX_SEGMENTS);
        }
    }

    #[test]
    fn uso_groups_respect_byte_and_segment_limits() {
        let lens = vec![1452; 100];
        let dsts = vec![0u8; 100];
        let g = group_for_uso(&lens, &dsts);
        // 65,507 / 1452 = 45 segments per send.
        assert_eq!(g[0].range, 0..45);
        assert_eq!(g[1].range, 45..90);
        assert_eq!(g[2].range, 90..100);
        let small = vec![32; 100];
        let g = group_for_uso(&small, &dsts);
        assert_eq!(g[0].range, 0..MAX_SEGMENTS);
        assert_eq!(g[1].range, MAX_SEGMENTS..100);
        // Growing sizes never group; empty input is empty.
        assert_eq!(group_for_uso(&[10, 20, 30], &[0, 0, 0]).len(), 3);
        assert!(group_for_uso::<u8>(&[], &[]).is_empty());
        // Zero-length datagrams are sent on their own.
        assert_eq!(group_for_uso(&[0, 0], &[0, 0]).len(), 2);
    }

    #[test]
    fn coalesced_receives_split_by_segment_size() {
        assert_eq!(split_coalesced(3000, 1452), Some(vec![0..1452, 1452..2904, 2904..3000]));
        assert_eq!(split_coalesced(2904, 1452), Some(vec![0..1452, 1452..2904]));
        assert_eq!(split_coalesced(100, 1452), Some(std::iter::once(0..100).collect()));
        assert_eq!(split_coalesced(0, 1452), Some(vec![]));
        assert_eq!(split_coalesced(3000, 0), None);
        assert_eq!(split_coalesced(70_000, 1452), None);
        assert_eq!(split_coalesced(100, 70_000), None);
    }

    #[test]
    fn uro_guard_switches_off_after_repeated_bad_data() {
        let mut g = UroGuard::new(true, 3);
        assert_eq!(g.check(2904, 1452).map(|v| v.len()), Some(2));
        assert!(g.check(2904, 0).is_none());
        assert!(!g.report_bad_segment());
        assert!(g.enabled());
        assert!(g.report_bad_segment(), "third bad observation switches URO off");
        assert!(!g.enabled());
        assert!(!g.report_bad_segment(), "already off");
        let mut off = UroGuard::new(false, 1);
        assert!(!off.report_bad_segment());
        assert!(!off.enabled());
    }

    #[test]
    fn scatter_fills_buffers_in_order_and_leaves_the_rest() {
        let data: Vec<u8> = (0..10u8).collect();
        let ranges = split_coalesced(10, 4).unwrap(); // 0..4, 4..8, 8..10
        let (mut a, mut b) = ([0u8; 4], [0u8; 4]);
        let mut bufs: Vec<&mut [u8]> = vec![&mut a, &mut b];
        let mut lens = [0; 2];
        let s = scatter(&data, &ranges, &mut bufs, &mut lens);
        assert_eq!(s, Scatter { placed: 2, used: 2, oversized: 0 });
        assert_eq!((a, b, lens), ([0, 1, 2, 3], [4, 5, 6, 7], [4, 4]));
        // The third range is left for the next call.
        assert_eq!(ranges[s.used..].to_vec(), vec![8..10]);
    }

    #[test]
    fn scatter_drops_datagrams_larger_than_their_buffer() {
        let data = [7u8; 12];
        let ranges = [0..6, 6..9, 9..12, 0..40];
        let (mut small, mut big) = ([0u8; 3], [0u8; 8]);
        let mut bufs: Vec<&mut [u8]> = vec![&mut small, &mut big];
        let mut lens = [0; 2];
        let s = scatter(&data, &ranges, &mut bufs, &mut lens);
        // 0..6 does not fit the 3-byte buffer: dropped; 6..9 and 9..12 placed.
        assert_eq!(s, Scatter { placed: 2, used: 3, oversized: 1 });
        assert_eq!(lens, [3, 3]);
        let mut one = [0u8; 64];
        let mut bufs: Vec<&mut [u8]> = vec![&mut one];
        let s = scatter(&data, &ranges[3..], &mut bufs, &mut lens);
        assert_eq!(s, Scatter { placed: 0, used: 1, oversized: 1 }, "range past the data");
        assert_eq!(scatter(&data, &ranges, &mut [], &mut []), Scatter::default());
    }
}
