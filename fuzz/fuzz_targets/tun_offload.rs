//! Garbage from the TUN side into the offload code: arbitrary virtio-net headers, lying
//! lengths, truncated IP/TCP/UDP headers into the segmenter; arbitrary packet runs into
//! the coalescer. Refusals are errors (the TUN drops and counts them), never panics;
//! every packet written fits the MTU; every merged frame segments back into as many
//! packets as went in.
#![no_main]

use ferrowg_core::offload::coalesce::{build, run_len};
use ferrowg_core::offload::segment::{plan, write_segment};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&m, frame)) = data.split_first() else { return };
    let mtu = 68 + usize::from(m) * 8;
    let mut out = vec![0u8; mtu];
    if let Ok(p) = plan(frame, mtu) {
        for i in 0..p.segments().min(4096) {
            if let Ok(n) = write_segment(frame, &p, i, &mut out) {
                assert!(n <= mtu);
            }
        }
    }
    // The same bytes as a run of packets, each prefixed by a length byte (x8).
    let mut packets = Vec::new();
    let mut rest = frame;
    while let Some((&l, tail)) = rest.split_first() {
        let l = (usize::from(l) * 8).min(tail.len());
        packets.push(&tail[..l]);
        rest = &tail[l..];
    }
    let mut merged = vec![0u8; 70_000];
    let mut at = 0;
    while at < packets.len() {
        let k = run_len(&packets[at..], true, 65_535);
        assert!(k >= 1);
        if let Some(n) = build(&packets[at..at + k], &mut merged) {
            if k > 1 {
                let p = plan(&merged[..n], 65_535).expect("a merged frame segments again");
                assert_eq!(p.segments(), k);
            }
        }
        at += k;
    }
});
