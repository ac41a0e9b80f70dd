//! Deterministic two-peer simulations (issue 2, "What it must show" item 4): two sans-IO
//! peers, a virtual clock and a seeded lossy network (see `sim/`). Every run is fixed by
//! its seed; an hour of simulated time takes well under a second of real work per
//! simulated minute, and no assertion depends on the real clock.
//!
//! Timer expectations follow the Linux kernel (`timers.c`), which ferrowg's timers
//! mirror: a handshake is given up at the retransmit timeout that finds more than
//! `MAX_TIMER_HANDSHAKES` (18) retries, i.e. after 20 initiations, each followed by
//! `REKEY_TIMEOUT` (5 s) plus up to 333 ms of jitter: 100–106.7 s after the first
//! initiation, not a strict `REKEY_ATTEMPT_TIME` (90 s).

mod sim;

use std::time::Duration;

use ferrowg_core::error::DropReason;
use ferrowg_core::messages::{
    KEEPALIVE_TIMEOUT, MAX_TIMER_HANDSHAKES, REJECT_AFTER_TIME, REKEY_AFTER_TIME, REKEY_TIMEOUT,
    REKEY_TIMEOUT_JITTER_MAX, ZERO_KEYS_AFTER,
};
use ferrowg_core::peer::PeerEvent;
use sim::{Impairment, Kind, NodeId, Setup, What, World};

const A: NodeId = NodeId::A;
const B: NodeId = NodeId::B;

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn is_handshake_complete(initiator: bool) -> impl Fn(&What) -> bool {
    move |w| *w == What::Event(PeerEvent::HandshakeComplete { initiator })
}

/// A handshake from A's first packet, then one packet each way; returns the world at 1 s.
fn established(setup: &Setup) -> World {
    let mut w = World::new(setup);
    w.send(A);
    w.run_until(secs(0.5));
    w.send(B);
    w.run_until(secs(1.0));
    assert_eq!(w.log.count(A, is_handshake_complete(true)), 1, "{}", w.log.dump_from(secs(0.0)));
    assert_eq!(w.log.count(B, is_handshake_complete(false)), 1);
    w
}

/// The initiations `node` sent in `[from, to)`.
fn initiations(w: &World, node: NodeId, from: Duration, to: Duration) -> Vec<Duration> {
    w.log.sent(node, Kind::Initiation).into_iter().filter(|&t| t >= from && t < to).collect()
}

/// The kernel's give-up schedule: `MAX_TIMER_HANDSHAKES + 2` initiations, each followed
/// by REKEY_TIMEOUT plus jitter, then `Unreachable` at the last one's timeout.
fn assert_kernel_give_up(w: &World, inits: &[Duration]) -> Duration {
    let expected = MAX_TIMER_HANDSHAKES as usize + 2;
    assert_eq!(inits.len(), expected, "initiations: {inits:?}");
    let (lo, hi) = (REKEY_TIMEOUT, REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX);
    for pair in inits.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= lo && gap < hi, "retransmit gap {gap:?} outside [{lo:?}, {hi:?})");
    }
    let gave_up = w.log.times(A, |e| *e == What::Event(PeerEvent::Unreachable));
    assert_eq!(gave_up.len(), 1, "one Unreachable event: {gave_up:?}");
    let last_gap = gave_up[0] - inits[inits.len() - 1];
    assert!(last_gap >= lo && last_gap < hi, "give-up {last_gap:?} after the last initiation");
    let total = gave_up[0] - inits[0];
    let (min, max) = (lo * expected as u32, hi * expected as u32);
    assert!(total >= min && total < max, "gave up {total:?} after the first initiation");
    println!("gave up {:.3} s after the first of {} initiations", total.as_secs_f64(), inits.len());
    gave_up[0]
}

#[test]
fn one_hour_session_keeps_delivering_with_keys_rotating_every_two_minutes() {
    let mut setup = Setup::new(1);
    setup.impairment = Impairment {
        loss: 0.02,
        duplicate: 0.02,
        reorder: 0.05,
        reorder_delay: Duration::from_millis(30),
        ..Impairment::clean()
    };
    let mut w = World::new(&setup);
    // A burst of 4 packets each second each way (bursts let reordering overtake).
    for s in 0..3600u64 {
        for from in [A, B] {
            let at = secs(s as f64 + if from == A { 0.0 } else { 0.5 });
            w.run_until(at);
            for _ in 0..4 {
                w.send(from);
            }
        }
    }
    w.run_until(secs(3601.0));

    for from in [A, B] {
        let ledger = w.ledger(from);
        ledger.assert_exactly_once(&format!("{from:?} -> {:?}", from.other()));
        assert_eq!(ledger.sent.len(), 4 * 3600);
        assert!(ledger.dropped_by_sender.is_empty(), "{:?}", ledger.dropped_by_sender);
        assert!(ledger.lost_in_network() > 0 && ledger.extra_copies() > 0);
        let replays = w.log.count(from.other(), |e| *e == What::Rejected(Kind::Data, DropReason::Replay));
        assert_eq!(replays, ledger.extra_copies() as usize, "every duplicate rejected as a replay");
        let late_accepted = w
            .log
            .entries()
            .windows(2)
            .filter(|p| {
                p[0].node == from.other()
                    && matches!(p[0].what, What::Arrived { kind: Kind::Data, copy: 0, late: true })
                    && matches!(p[1].what, What::Accepted(_))
            })
            .count();
        assert!(late_accepted > 0, "some packets were overtaken and still accepted");
        println!(
            "{from:?}: sent {}, lost in network {}, duplicates rejected {replays}, overtaken but accepted {late_accepted}",
            ledger.sent.len(),
            ledger.lost_in_network(),
        );
    }

    let done = w.log.times(A, is_handshake_complete(true));
    let confirmed = w.log.count(B, is_handshake_complete(false));
    let initiations = w.log.sent(A, Kind::Initiation).len();
    println!(
        "one hour: {} handshakes completed (A initiated, {} initiations sent), {confirmed} confirmed at B",
        done.len(),
        initiations,
    );
    assert!((28..=31).contains(&done.len()), "handshakes: {}", done.len());
    assert!(confirmed + 1 >= done.len() && confirmed <= done.len());
    assert_eq!(w.log.count(B, is_handshake_complete(true)), 0, "the responder never needed to rekey");
    for pair in done.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= REKEY_AFTER_TIME && gap < REJECT_AFTER_TIME, "rotation after {gap:?}");
    }
    for node in [A, B] {
        let bad = w.log.count(node, |e| {
            matches!(e, What::Event(PeerEvent::Unreachable | PeerEvent::SessionExpired))
        });
        assert_eq!(bad, 0);
    }
}
