//! Waking up after a stall (issue 16, suspend/resume): one peer stopped for 10 minutes
//! (SIGSTOP, a suspended laptop) while the other one's initiations pile up in its socket
//! buffer. On waking it reads and answers them (stale: their initiator gave up and zeroed
//! its handshake long ago), and its first packet must still get through within one round
//! trip, not after REKEY_TIMEOUT — whether it reads the socket buffer before its
//! application sends or after.

mod sim;

use std::time::Duration;

use ferrowg_core::messages::REKEY_TIMEOUT;
use ferrowg_core::peer::PeerEvent;
use sim::{Kind, NodeId, Setup, What, World};

const A: NodeId = NodeId::A;
const B: NodeId = NodeId::B;
/// One way on the simulator's clean link.
const ONE_WAY: Duration = Duration::from_millis(10);

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn established(seed: u64) -> World {
    let mut w = World::new(&Setup::new(seed));
    w.send(A);
    w.run_until(secs(0.5));
    w.send(B);
    w.run_until(secs(1.0));
    let done = |i| move |e: &What| *e == What::Event(PeerEvent::HandshakeComplete { initiator: i });
    assert_eq!((w.log.count(A, done(true)), w.log.count(B, done(false))), (1, 1));
    w
}

/// A stalls from 1 s to 601 s; B has data for A at 200 s (its key expired: it
/// initiates, retries, gives up, zeroes keys at 540 s). Returns the world just after A
/// woke and read its socket buffer.
fn stall_with_stale_initiations(seed: u64) -> World {
    let mut w = established(seed);
    w.pause(A);
    w.run_until(secs(200.0));
    w.send(B);
    w.run_until(secs(601.0));
    let held = w.held(A).iter().filter(|d| Kind::of(&d.bytes) == Kind::Initiation).count();
    assert!(held >= 15, "B's initiations wait in A's socket buffer ({held})");
    assert!(w.log.count(B, |e| *e == What::Event(PeerEvent::Unreachable)) >= 1, "B gave up");
    w.wake(A);
    // The oldest is answered; the rest come within the 20 ms flood limit and are dropped.
    let answered = w.log.sent(A, Kind::Response).len();
    assert_eq!(answered, 1, "A answered the oldest stale initiation");
    w
}

#[test]
fn after_a_ten_minute_stall_the_first_packet_gets_through_within_one_round_trip() {
    for seed in [1, 2, 3] {
        let mut w = stall_with_stale_initiations(seed);
        let woke = w.elapsed();
        // `ping -i 1` through the tunnel: one packet a second for 10 s.
        let mut seqs = Vec::new();
        for i in 0..10 {
            w.run_until(woke + secs(f64::from(i)));
            seqs.push(w.send(A));
        }
        w.run_until(woke + secs(30.0));
        let at = w.log.times(B, |e| matches!(e, What::Accepted(s) if seqs.contains(s)));
        assert!(!at.is_empty(), "seed {seed}: nothing delivered\n{}", w.log.dump_from(woke));
        let took = at[0] - woke;
        println!("seed {seed}: first packet after waking arrived after {took:?}");
        // A new handshake (initiation + response) and the packet: three one-way trips.
        assert!(
            took <= ONE_WAY * 3,
            "seed {seed}: first packet took {took:?} (REKEY_TIMEOUT is {REKEY_TIMEOUT:?})\n{}",
            w.log.dump_from(woke)
        );
        // And B's answer comes back under the new session.
        let reply = w.send(B);
        w.run_for(secs(1.0));
        assert_eq!(w.log.count(A, |e| *e == What::Accepted(reply)), 1, "seed {seed}");
    }
}

/// Like [`stall_with_stale_initiations`], but on waking A's application sends before A
/// reads its socket buffer: A initiates at once (its session is past REJECT_AFTER_TIME),
/// then answers the oldest stale initiation, which replaces its own handshake state.
/// Returns the world and the packet's sequence number.
fn stall_then_send_before_reading(seed: u64) -> (World, u64) {
    let mut w = established(seed);
    w.pause(A);
    w.run_until(secs(200.0));
    w.send(B);
    w.run_until(secs(601.0));
    assert!(w.held(A).iter().any(|d| Kind::of(&d.bytes) == Kind::Initiation));
    w.unpause(A);
    let seq = w.send(A);
    w.read_held(A);
    (w, seq)
}

#[test]
fn a_packet_sent_before_the_stale_initiations_are_read_gets_through_within_one_round_trip() {
    for seed in [1, 2, 3] {
        let (mut w, seq) = stall_then_send_before_reading(seed);
        let woke = w.elapsed();
        w.run_until(woke + secs(30.0));
        let at = w.log.times(B, |e| *e == What::Accepted(seq));
        assert!(!at.is_empty(), "seed {seed}: nothing delivered\n{}", w.log.dump_from(woke));
        let took = at[0] - woke;
        println!("seed {seed}: first packet (sent before reading) arrived after {took:?}");
        // The answer to A's own initiation (kept pending while A answered the stale one)
        // and the packet: three one-way trips (the kernel and wireguard-go: 5 s).
        assert!(
            took <= ONE_WAY * 3,
            "seed {seed}: first packet took {took:?} (REKEY_TIMEOUT is {REKEY_TIMEOUT:?})\n{}",
            w.log.dump_from(woke)
        );
        let reply = w.send(B);
        w.run_for(secs(1.0));
        assert_eq!(w.log.count(A, |e| *e == What::Accepted(reply)), 1, "seed {seed}");
    }
}

#[test]
fn a_fresh_initiation_is_confirmed_without_an_extra_handshake() {
    // No stall: B initiates (its key expired), A answers in time and has data of its own
    // right after; A must not start a second handshake of its own (rate limit kept).
    let mut w = established(5);
    w.run_until(secs(200.0));
    w.send(B);
    w.run_for(ONE_WAY);
    w.send(A);
    w.run_for(secs(10.0));
    let inits = w.log.sent(A, Kind::Initiation).into_iter().filter(|&t| t > secs(1.0)).count();
    assert_eq!(
        inits,
        0,
        "A initiated although B's fresh handshake confirmed\n{}",
        w.log.dump_from(secs(199.0))
    );
}
