//! Fixed cases, most ported from the kernel's `selftest/allowedips.c`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::*;

fn ip4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn ip6(a: u32, b: u32, c: u32, d: u32) -> IpAddr {
    let v = (u128::from(a) << 96) | (u128::from(b) << 64) | (u128::from(c) << 32) | u128::from(d);
    IpAddr::V6(Ipv6Addr::from(v))
}

fn p(addr: IpAddr, cidr: u8) -> Prefix {
    Prefix::new(addr, cidr).unwrap()
}

fn insert(t: &mut Table<u32>, peer: u32, addr: IpAddr, cidr: u8) {
    t.insert(p(addr, cidr), peer).unwrap();
    t.check_invariants().unwrap();
}

const A: u32 = 1;
const B: u32 = 2;
const C: u32 = 3;
const D: u32 = 4;
const E: u32 = 5;
const F: u32 = 6;
const G: u32 = 7;
const H: u32 = 8;

#[test]
fn kernel_selftest_lookups() {
    let mut t = Table::new();
    insert(&mut t, A, ip4(192, 168, 4, 0), 24);
    insert(&mut t, B, ip4(192, 168, 4, 4), 32);
    insert(&mut t, C, ip4(192, 168, 0, 0), 16);
    insert(&mut t, D, ip4(192, 95, 5, 64), 27);
    // Replaces the previous entry; host bits must be masked.
    insert(&mut t, C, ip4(192, 95, 5, 65), 27);
    insert(&mut t, D, ip6(0x26075300, 0x60006b00, 0, 0xc05f0543), 128);
    insert(&mut t, C, ip6(0x26075300, 0x60006b00, 0, 0), 64);
    insert(&mut t, E, ip4(0, 0, 0, 0), 0);
    insert(&mut t, E, ip6(0, 0, 0, 0), 0);
    insert(&mut t, F, ip6(0, 0, 0, 0), 0);
    insert(&mut t, G, ip6(0x24046800, 0, 0, 0), 32);
    insert(&mut t, H, ip6(0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef), 64);
    insert(&mut t, A, ip6(0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef), 128);
    insert(&mut t, C, ip6(0x24446800, 0x40e40800, 0xdeaebeef, 0xdefbeef), 128);
    insert(&mut t, B, ip6(0x24446800, 0xf0e40800, 0xeeaebeef, 0), 98);
    insert(&mut t, G, ip4(64, 15, 112, 0), 20);
    insert(&mut t, H, ip4(64, 15, 123, 211), 25);
    insert(&mut t, A, ip4(10, 0, 0, 0), 25);
    insert(&mut t, B, ip4(10, 0, 0, 128), 25);
    insert(&mut t, A, ip4(10, 1, 0, 0), 30);
    insert(&mut t, B, ip4(10, 1, 0, 4), 30);
    insert(&mut t, C, ip4(10, 1, 0, 8), 29);
    insert(&mut t, D, ip4(10, 1, 0, 16), 29);

    let cases: &[(u32, IpAddr)] = &[
        /* 1 */ (A, ip4(192, 168, 4, 20)),
        /* 2 */ (A, ip4(192, 168, 4, 0)),
        /* 3 */ (B, ip4(192, 168, 4, 4)),
        /* 4 */ (C, ip4(192, 168, 200, 182)),
        /* 5 */ (C, ip4(192, 95, 5, 68)),
        /* 6 */ (E, ip4(192, 95, 5, 96)),
        /* 7 */ (D, ip6(0x26075300, 0x60006b00, 0, 0xc05f0543)),
        /* 8 */ (C, ip6(0x26075300, 0x60006b00, 0, 0xc02e01ee)),
        /* 9 */ (F, ip6(0x26075300, 0x60006b01, 0, 0)),
        /* 10 */ (G, ip6(0x24046800, 0x40040806, 0, 0x1006)),
        /* 11 */ (G, ip6(0x24046800, 0x40040806, 0x1234, 0x5678)),
        /* 12 */ (F, ip6(0x240467ff, 0x40040806, 0x1234, 0x5678)),
        /* 13 */ (F, ip6(0x24046801, 0x40040806, 0x1234, 0x5678)),
        /* 14 */ (H, ip6(0x24046800, 0x40040800, 0x1234, 0x5678)),
        /* 15 */ (H, ip6(0x24046800, 0x40040800, 0, 0)),
        /* 16 */ (H, ip6(0x24046800, 0x40040800, 0x10101010, 0x10101010)),
        /* 17 */ (A, ip6(0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef)),
        /* 18 */ (G, ip4(64, 15, 116, 26)),
        /* 19 */ (G, ip4(64, 15, 127, 3)),
        /* 20 */ (G, ip4(64, 15, 123, 1)),
        /* 21 */ (H, ip4(64, 15, 123, 128)),
        /* 22 */ (H, ip4(64, 15, 123, 129)),
        /* 23 */ (A, ip4(10, 0, 0, 52)),
        /* 24 */ (B, ip4(10, 0, 0, 220)),
        /* 25 */ (A, ip4(10, 1, 0, 2)),
        /* 26 */ (B, ip4(10, 1, 0, 6)),
        /* 27 */ (C, ip4(10, 1, 0, 10)),
        /* 28 */ (D, ip4(10, 1, 0, 20)),
    ];
    let check = |t: &Table<u32>, how: &str| {
        for (n, &(peer, addr)) in cases.iter().enumerate() {
            assert_eq!(t.lookup(addr), Some(&peer), "{how}: case {} ({addr})", n + 1);
        }
    };
    check(&t, "plain");
    t.reindex();
    t.check_invariants().unwrap();
    check(&t, "indexed");
    let mut compacted = t.clone();
    compacted.compact();
    compacted.check_invariants().unwrap();
    check(&compacted, "compacted");
    for peer in A..=H {
        let before: Vec<_> = t.prefixes(&peer).collect();
        assert_eq!(compacted.prefixes(&peer).collect::<Vec<_>>(), before, "peer {peer}");
    }
    // The raw-header entry points agree with the IpAddr one.
    assert_eq!(t.lookup_v4(&[192, 168, 4, 4]), Some(&B));
    let v6 = match ip6(0x24046800, 0x40040800, 0xdeadbeef, 0xdeadbeef) {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(_) => unreachable!(),
    };
    assert_eq!(t.lookup_v6(&v6), Some(&A));
}

#[test]
fn remove_by_peer_leaves_nothing_behind() {
    let mut t = Table::new();
    insert(&mut t, A, ip4(1, 0, 0, 0), 32);
    insert(&mut t, A, ip4(64, 0, 0, 0), 32);
    insert(&mut t, A, ip4(128, 0, 0, 0), 32);
    insert(&mut t, A, ip4(192, 0, 0, 0), 32);
    insert(&mut t, A, ip4(255, 0, 0, 0), 32);
    insert(&mut t, B, ip4(10, 0, 0, 0), 8);
    assert_eq!(t.remove_peer(&A), 5);
    t.check_invariants().unwrap();
    for first in [1, 64, 128, 192, 255] {
        assert_eq!(t.lookup(ip4(first, 0, 0, 0)), None);
    }
    assert_eq!(t.lookup(ip4(10, 9, 9, 9)), Some(&B));
    assert_eq!((t.len(), t.peer_count(), t.node_count()), (1, 1, 1));

    let mut t = Table::new();
    insert(&mut t, A, ip4(192, 168, 0, 0), 16);
    insert(&mut t, A, ip4(192, 168, 0, 0), 24);
    assert_eq!(t.remove_peer(&A), 2);
    assert_eq!(t.lookup(ip4(192, 168, 0, 1)), None);
    assert!(t.is_empty());
    assert_eq!(t.node_count(), 0);
    assert_eq!(t.remove_peer(&A), 0);
}

#[test]
fn deep_v6_chain_inserts_and_frees() {
    // The kernel's MAX_ALLOWEDIPS_BITS case: 128 host routes each one bit off all-ones.
    let mut t = Table::new();
    for i in 0..128u32 {
        let addr = !(1u128 << i);
        insert(&mut t, A, IpAddr::V6(Ipv6Addr::from(addr)), 128);
    }
    assert_eq!(t.len(), 128);
    assert_eq!(t.node_count(), 255);
    for i in 0..128u32 {
        assert_eq!(t.lookup(IpAddr::V6(Ipv6Addr::from(!(1u128 << i)))), Some(&A));
    }
    assert_eq!(t.lookup(IpAddr::V6(Ipv6Addr::from(u128::MAX))), None);
    assert_eq!(t.remove_peer(&A), 128);
    assert_eq!(t.node_count(), 0);
}

#[test]
fn prefix_list_read_back_is_canonical_in_insertion_order() {
    let mut t = Table::new();
    insert(&mut t, A, ip4(192, 95, 5, 93), 27);
    insert(&mut t, A, ip6(0x26075300, 0x60006b00, 0, 0xc05f0543), 128);
    insert(&mut t, A, ip4(10, 1, 0, 20), 29);
    insert(&mut t, A, ip6(0x26075300, 0x6d8a6bf8, 0xdab1f1df, 0xc05f1523), 83);
    insert(&mut t, A, ip6(0x26075300, 0x6d8a6bf8, 0xdab1f1df, 0xc05f1523), 21);
    let got: Vec<String> = t.prefixes(&A).map(|p| p.to_string()).collect();
    assert_eq!(
        got,
        [
            "192.95.5.64/27",
            "2607:5300:6000:6b00::c05f:543/128",
            "10.1.0.16/29",
            "2607:5300:6d8a:6bf8:dab1:e000::/83",
            "2607:5000::/21",
        ]
    );
    // Re-inserting moves a prefix to the end, like the kernel's list_move_tail.
    insert(&mut t, A, ip4(10, 1, 0, 17), 29);
    let last = t.prefixes(&A).last().unwrap();
    assert_eq!(last.to_string(), "10.1.0.16/29");
    assert_eq!(t.peer_prefix_count(&A), 5);
}

#[test]
fn mask_self_replace_and_extremes() {
    let mut t = Table::new();
    // Host bits are masked: both spellings are one prefix, and the second replaces.
    insert(&mut t, A, ip4(10, 1, 2, 3), 8);
    insert(&mut t, B, ip4(10, 0, 0, 0), 8);
    assert_eq!(t.len(), 1);
    assert_eq!(t.lookup(ip4(10, 200, 0, 1)), Some(&B));
    assert_eq!(t.prefixes(&A).count(), 0);
    assert_eq!(t.peer_count(), 1);
    assert_eq!(t.prefixes(&B).next(), Some(p(ip4(10, 0, 0, 0), 8)));

    // /0 catches everything of its family only.
    insert(&mut t, C, ip4(1, 2, 3, 4), 0);
    assert_eq!(t.lookup(ip4(255, 255, 255, 255)), Some(&C));
    assert_eq!(t.lookup(ip6(0, 0, 0, 1)), None);
    assert_eq!(t.prefixes(&C).next().unwrap().to_string(), "0.0.0.0/0");

    // /32 and /128 match exactly one address.
    insert(&mut t, D, ip4(10, 1, 1, 1), 32);
    assert_eq!(t.lookup(ip4(10, 1, 1, 1)), Some(&D));
    assert_eq!(t.lookup(ip4(10, 1, 1, 0)), Some(&B));
    insert(&mut t, E, ip6(0xfd19, 0, 0, 1), 128);
    assert_eq!(t.lookup(ip6(0xfd19, 0, 0, 1)), Some(&E));
    assert_eq!(t.lookup(ip6(0xfd19, 0, 0, 2)), None);
    insert(&mut t, F, ip6(0, 0, 0, 0), 0);
    assert_eq!(t.lookup(ip6(0xfd19, 0, 0, 2)), Some(&F));

    // Removing one prefix only works for its own peer.
    assert!(!t.remove(p(ip4(10, 1, 1, 1), 32), &B));
    assert!(t.remove(p(ip4(10, 1, 1, 1), 32), &D));
    assert_eq!(t.lookup(ip4(10, 1, 1, 1)), Some(&B));
    assert!(!t.remove(p(ip4(10, 1, 1, 1), 32), &D));
    t.check_invariants().unwrap();
}

#[test]
fn prefix_parsing_and_validation() {
    assert_eq!("10.1.2.3/8".parse::<Prefix>().unwrap().to_string(), "10.0.0.0/8");
    assert_eq!("10.1.2.3".parse::<Prefix>().unwrap().to_string(), "10.1.2.3/32");
    assert_eq!("fd19::1:2/112".parse::<Prefix>().unwrap().to_string(), "fd19::1:0/112");
    assert_eq!("::/0".parse::<Prefix>().unwrap().cidr(), 0);
    assert_eq!(
        Prefix::new(ip4(1, 2, 3, 4), 33),
        Err(AllowedIpsError::InvalidCidr { cidr: 33, max: 32 })
    );
    assert!(Prefix::new(ip6(0, 0, 0, 0), 129).is_err());
    for bad in ["10.0.0.0/", "10.0.0/8", "10.0.0.0/x", "/8", ""] {
        assert!(bad.parse::<Prefix>().is_err(), "{bad}");
    }
}

#[test]
fn arc_handles_compare_by_pointer() {
    let one = Arc::new("peer");
    let two = Arc::new("peer");
    let mut t = Table::new();
    t.insert(p(ip4(10, 0, 0, 0), 8), one.clone()).unwrap();
    t.insert(p(ip4(10, 1, 0, 0), 16), two.clone()).unwrap();
    assert!(Arc::ptr_eq(t.lookup(ip4(10, 0, 0, 1)).unwrap(), &one));
    assert!(Arc::ptr_eq(t.lookup(ip4(10, 1, 0, 1)).unwrap(), &two));
    assert_eq!(t.peer_count(), 2);
    assert_eq!(t.remove_peer(&one), 1);
    // The table released its clone of `one`.
    assert_eq!(Arc::strong_count(&one), 1);
    assert_eq!(Arc::strong_count(&two), 2);
}

#[test]
fn dot_dump_is_balanced_and_complete() {
    let mut t = Table::new();
    insert(&mut t, A, ip4(192, 168, 4, 0), 24);
    insert(&mut t, B, ip4(192, 168, 4, 4), 32);
    insert(&mut t, C, ip4(10, 0, 0, 0), 8);
    insert(&mut t, D, ip6(0x20010db8, 0, 0, 0), 32);
    insert(&mut t, E, ip6(0x20010db9, 0, 0, 0), 32);
    let dot = t.to_dot();
    assert!(dot.starts_with("digraph allowedips {"));
    assert_eq!(dot.matches('{').count(), dot.matches('}').count());
    assert_eq!(dot.matches('"').count() % 2, 0);
    let node_lines = dot.lines().filter(|l| l.contains("[label=") && !l.contains("->")).count();
    assert_eq!(node_lines, t.node_count());
    let edge_lines = dot.lines().filter(|l| l.contains("->")).count();
    assert_eq!(edge_lines, t.node_count() - 2, "a forest of two trees");
    for prefix in ["192.168.4.0/24", "192.168.4.4/32", "10.0.0.0/8", "2001:db8::/32"] {
        assert!(dot.contains(&format!("\"{prefix}\\npeer")), "{prefix} missing:\n{dot}");
    }
    // Branching node between 10/8 and 192.168/16: dashed, human byte order.
    assert!(dot.contains("\"0.0.0.0/0\", style=dashed"), "{dot}");
}

#[test]
fn index_below_a_shared_root_prefix() {
    // Every prefix sits under 10.0.0.0/8, so the index starts after the root's 8 bits
    // (or more) and must still refuse addresses outside the root's prefix.
    let mut t = Table::new();
    insert(&mut t, A, ip4(10, 0, 0, 0), 8);
    for i in 0..200u8 {
        insert(&mut t, u32::from(i) + 100, ip4(10, 7, i / 16, i), 32);
    }
    insert(&mut t, B, ip4(10, 7, 3, 0), 24);
    let before: Vec<_> = (0..=255u8).map(|i| t.lookup(ip4(10, 7, 3, i)).copied()).collect();
    t.reindex();
    t.check_invariants().unwrap();
    let after: Vec<_> = (0..=255u8).map(|i| t.lookup(ip4(10, 7, 3, i)).copied()).collect();
    assert_eq!(before, after);
    assert_eq!(t.lookup(ip4(10, 7, 0, 5)), Some(&105));
    assert_eq!(t.lookup(ip4(10, 7, 3, 250)), Some(&B));
    assert_eq!(t.lookup(ip4(10, 8, 0, 1)), Some(&A));
    assert_eq!(t.lookup(ip4(11, 7, 0, 5)), None);
    assert_eq!(t.lookup(ip4(138, 7, 0, 5)), None);
    // Without the /8 the root is a branch deeper down; outside addresses find nothing.
    assert!(t.remove(p(ip4(10, 0, 0, 0), 8), &A));
    t.reindex();
    t.check_invariants().unwrap();
    assert_eq!(t.lookup(ip4(10, 8, 0, 1)), None);
    assert_eq!(t.lookup(ip4(10, 7, 0, 5)), Some(&105));
    // A mutation drops the index; lookups stay right without it.
    insert(&mut t, C, ip4(10, 7, 0, 5), 32);
    assert_eq!(t.lookup(ip4(10, 7, 0, 5)), Some(&C));
}

#[test]
fn index_is_patched_in_place_by_small_updates() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut t = Table::new();
    let random_prefix = |rng: &mut rand_chacha::ChaCha8Rng, cidr: u8| {
        p(IpAddr::V4(Ipv4Addr::from(rng.gen::<u32>())), cidr)
    };
    for i in 0..2000u32 {
        let cidr = rng.gen_range(1..=32);
        t.insert(random_prefix(&mut rng, cidr), i % 50).unwrap();
    }
    t.reindex();
    assert!(!t.inner.v4.index_stale());
    let mut stored = Vec::new();
    for step in 0..400u32 {
        // Mostly long prefixes (one slot each), now and then a short one (many slots).
        let cidr = if step % 25 == 0 { rng.gen_range(4..=10) } else { rng.gen_range(12..=32) };
        if step % 3 == 2 {
            if let Some((prefix, peer)) = stored.pop() {
                assert!(t.remove(prefix, &peer));
            }
        } else {
            let prefix = random_prefix(&mut rng, cidr);
            t.insert(prefix, step % 60).unwrap();
            stored.push((prefix, step % 60));
        }
        // check_invariants compares every index slot with a walk from the root.
        t.check_invariants().unwrap();
    }
    assert!(!t.inner.v4.index_stale(), "small updates keep the index instead of dropping it");
}
