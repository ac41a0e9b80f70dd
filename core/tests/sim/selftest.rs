//! The toolkit's own checks can fail: a simulator whose checks never fire proves nothing.

use std::time::Duration;

use ferrowg_core::error::DropReason;

use super::{net, traffic, Datagram, Impairment, Ledger, Network, NodeId};

#[test]
fn toolkit_packet_check_rejects_any_altered_byte_and_wrong_origin() {
    for seq in [0u64, 1, 77, 1 << 40] {
        for origin in [0u8, 1] {
            let p = traffic::packet(origin, seq);
            assert_eq!(traffic::check(&p), Some((origin, seq)));
            for i in [0, 3, 20, 21, 28, p.len() - 1] {
                let mut bad = p.clone();
                bad[i] ^= 0x01;
                assert_eq!(traffic::check(&bad), None, "byte {i} of seq {seq}");
            }
            assert_eq!(traffic::check(&p[..p.len() - 1]), None);
        }
    }
}

#[test]
#[should_panic(expected = "accepted more than once")]
fn toolkit_ledger_catches_a_double_delivery() {
    let mut l = Ledger::default();
    l.sent.insert(5);
    l.handed_over.insert(5, 2);
    l.accepted.insert(5, 2);
    l.assert_exactly_once("test");
}

#[test]
#[should_panic(expected = "delivered by the network but rejected")]
fn toolkit_ledger_catches_a_rejected_delivery() {
    let mut l = Ledger::default();
    l.sent.extend([1, 2]);
    l.handed_over.extend([(1, 1), (2, 1)]);
    l.accepted.insert(1, 1);
    l.rejected.insert(2, vec![DropReason::Replay]);
    l.assert_exactly_once("test");
}

#[test]
fn toolkit_network_impairments_happen_at_their_rates() {
    let imp = Impairment { loss: 0.3, duplicate: 0.1, reorder: 0.2, ..Impairment::clean() };
    let mut net = Network::new(77, imp);
    let addr: std::net::SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut arriving = 0;
    for i in 0..10_000u64 {
        let d = Datagram { src: addr, dst: addr, bytes: vec![], seq: Some(i), copy: 0 };
        arriving += net.send(NodeId::A, Duration::ZERO, d);
    }
    let stats = net.stats(NodeId::A);
    let copies = 10_000 + stats.duplicated;
    assert_eq!(stats.sent, 10_000);
    assert_eq!(u64::from(arriving), copies - stats.lost);
    assert_eq!(net.in_flight(), arriving as usize);
    assert!((900..1100).contains(&stats.duplicated), "{stats:?}");
    assert!((3000..3600).contains(&stats.lost), "{stats:?}");
    assert!((1300..1800).contains(&stats.delayed), "{stats:?}");
    assert_eq!(net.stats(NodeId::B), net::LinkStats::default(), "directions are independent");
}
