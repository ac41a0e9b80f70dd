//! Criterion benchmark: config parsing and formatting as the allowed-IPs list grows
//! (1k, 10k, 100k entries in one peer). Time per entry should stay flat: linear, not
//! quadratic. Run: `cargo bench -p ferrowg-core --bench config -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ferrowg_core::config::uapi::{self, apply, format_get, parse_request, Request};
use ferrowg_core::config::{AllowedIp, DeviceConfig, PeerConfig, PeerStats, WgQuickConfig};
use ferrowg_core::keys::{PrivateKey, PublicKey};

fn device(n: u32) -> DeviceConfig {
    let mut peer = PeerConfig::new(PublicKey([7; 32]));
    peer.allowed_ips = (0..n)
        .map(|i| {
            let text = if i % 2 == 0 {
                format!("10.{}.{}.0/24", (i / 256) % 256, i % 256)
            } else {
                format!("fd00:{:x}:{:x}::/64", i >> 16, i & 0xffff)
            };
            AllowedIp::parse(&text).unwrap()
        })
        .collect();
    DeviceConfig {
        private_key: Some(PrivateKey::from_bytes([9; 32])),
        listen_port: Some(51820),
        fwmark: None,
        peers: vec![peer],
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("config");
    g.sample_size(20);
    for n in [1_000u32, 10_000, 100_000] {
        let dev = device(n);
        let wq = WgQuickConfig { device: dev.clone(), ..WgQuickConfig::default() };
        let ini = wq.to_wg_quick().unwrap();
        let set = uapi::set_text(&dev).unwrap();
        g.throughput(Throughput::Elements(n.into()));
        g.bench_with_input(BenchmarkId::new("wgquick_parse", n), &ini, |b, t| {
            b.iter(|| WgQuickConfig::parse(black_box(t)).unwrap())
        });
        g.bench_with_input(BenchmarkId::new("wgquick_write", n), &wq, |b, w| {
            b.iter(|| black_box(w).to_wg_quick().unwrap())
        });
        g.bench_with_input(BenchmarkId::new("uapi_parse_apply", n), &set, |b, t| {
            b.iter(|| {
                let Ok(Request::Set(ops)) = parse_request(black_box(t)) else { unreachable!() };
                apply(&ops, &DeviceConfig::default()).unwrap()
            })
        });
        g.bench_with_input(BenchmarkId::new("uapi_get", n), &dev, |b, d| {
            b.iter(|| format_get(black_box(d), |_| PeerStats::default()))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
