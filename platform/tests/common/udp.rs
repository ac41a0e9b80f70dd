//! Receiving from a transport in tests.

use std::net::SocketAddr;
use std::time::Duration;

use ferrowg_core::io::{RecvMeta, Transport};
use ferrowg_platform::udp::UdpTransport;

/// Receives until `n` datagrams arrived (bounded: 50 calls of up to `wait` each).
pub fn recv_n(t: &UdpTransport, n: usize, wait: Duration) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut storage = vec![[0u8; 2048]; 64];
    let mut out = Vec::new();
    for _ in 0..50 {
        if out.len() >= n {
            break;
        }
        let mut bufs: Vec<&mut [u8]> = storage.iter_mut().map(|b| &mut b[..]).collect();
        let mut meta = vec![RecvMeta::default(); bufs.len()];
        let got = t.recv_batch(&mut bufs, &mut meta, wait).unwrap();
        out.extend((0..got).map(|i| (meta[i].src, bufs[i][..meta[i].len].to_vec())));
    }
    out
}
