//! Arbitrary bytes into the platform's pure parsers: the Windows processor-information
//! buffer, macOS sysctl text, Linux CPU lists, the utun AF header framing and the utun
//! name. Any panic is a bug; every topology must list each CPU id once.
#![no_main]

use std::collections::HashSet;

use ferrowg_core::sched::CpuTopology;
use ferrowg_platform::cpu::{glpi, sysctl, sysfs};
use ferrowg_platform::tun::{framing, utun_unit};
use libfuzzer_sys::fuzz_target;

fn check(topo: &CpuTopology) {
    let mut ids = HashSet::new();
    assert!(topo.cpus.iter().all(|c| ids.insert(c.id)), "a CPU id appears twice");
}

fuzz_target!(|data: &[u8]| {
    check(&glpi::parse(data));
    let mut out = vec![0u8; data.len().saturating_add(4)];
    if let Some(n) = framing::encode(data, &mut out) {
        assert_eq!(framing::decode(&out[..n]), Some(data));
    }
    let _ = framing::decode(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check(&sysctl::topology(&sysctl::SysctlValues::parse(text)));
    if let Some(list) = sysfs::parse_cpu_list(text) {
        assert!(list.windows(2).all(|w| w[0] < w[1]), "CPU list not sorted and unique");
    }
    let _ = utun_unit(text);
});
