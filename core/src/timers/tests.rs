//! Table tests of every timer's schedule, on a virtual clock.

use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// An arbitrary origin for the virtual clock; the tests only ever add offsets to it.
#[allow(clippy::disallowed_methods)]
fn origin() -> Instant {
    Instant::now()
}

/// Every action due at `now`, in the order `handle_timeout` returns them.
fn fire(t: &mut Timers, now: Instant) -> Vec<TimerAction> {
    let mut out = Vec::new();
    while let Some(action) = t.handle_timeout(now) {
        out.push(action);
        assert!(out.len() <= 10, "handle_timeout did not settle: {out:?}");
    }
    out
}

/// Asserts nothing fires 1 ms before `at` and exactly `action` fires at `at`.
fn expect_fires_at(t: &mut Timers, at: Instant, action: TimerAction) {
    assert_eq!(fire(t, at - MS), vec![], "fired early, before {action:?}");
    assert_eq!(fire(t, at), vec![action]);
}

#[test]
fn handshake_retransmits_with_jitter_then_gives_up_like_the_kernel() {
    let t0 = origin();
    let mut t = Timers::new(None);
    let jitters =
        [0, 333, 17, 250, 1, 100, 332, 5, 0, 80, 300, 42, 7, 200, 150, 90, 60, 30, 10, 320];
    t.on_handshake_requested();
    t.on_handshake_initiated(t0, ms(jitters[0]));
    let mut sent_at = t0;
    // The first initiation plus 19 retries: the kernel logs "did not complete after
    // MAX_TIMER_HANDSHAKES + 2 attempts".
    for (retry, &jitter_ms) in jitters.iter().enumerate().skip(1) {
        let due = sent_at + REKEY_TIMEOUT + ms(jitters[retry - 1]);
        assert_eq!(t.poll_timeout(), Some((due, TimerKind::RetransmitHandshake)));
        expect_fires_at(&mut t, due, TimerAction::RetransmitHandshake);
        assert_eq!(t.handshake_attempts(), retry as u32);
        assert_eq!(t.poll_timeout(), None, "rearmed only by the next send");
        t.on_any_authenticated_packet_traversal(due);
        t.on_any_authenticated_packet_sent(due);
        t.on_handshake_initiated(due, ms(jitter_ms));
        sent_at = due;
    }
    assert_eq!(t.handshake_attempts(), MAX_TIMER_HANDSHAKES + 1);
    let give_up = sent_at + REKEY_TIMEOUT + ms(jitters[19]);
    expect_fires_at(&mut t, give_up, TimerAction::GiveUpHandshake);
    let total: u64 = jitters.iter().sum();
    assert_eq!(give_up - t0, 20 * REKEY_TIMEOUT + ms(total));
    assert!(give_up - t0 >= secs(100) && give_up - t0 < secs(107));
    assert_eq!(t.deadline(TimerKind::RetransmitHandshake), None);
    assert_eq!(t.poll_timeout(), Some((give_up + ZERO_KEYS_AFTER, TimerKind::ZeroKeys)));
}

#[test]
fn give_up_cancels_keepalive_and_keeps_an_armed_zero_keys_deadline() {
    let t0 = origin();
    let mut t = Timers::new(None);
    t.on_session_derived(t0);
    t.on_handshake_initiated(t0, Duration::ZERO);
    let mut now = t0;
    for _ in 0..=MAX_TIMER_HANDSHAKES {
        now += REKEY_TIMEOUT;
        assert_eq!(fire(&mut t, now), vec![TimerAction::RetransmitHandshake]);
        t.on_handshake_initiated(now, Duration::ZERO);
    }
    t.on_data_received(now);
    now += REKEY_TIMEOUT;
    assert_eq!(fire(&mut t, now), vec![TimerAction::GiveUpHandshake]);
    assert_eq!(t.deadline(TimerKind::SendKeepalive), None);
    assert_eq!(t.deadline(TimerKind::ZeroKeys), Some(t0 + ZERO_KEYS_AFTER));
}

#[test]
fn new_request_resets_attempts_and_completion_stops_retries() {
    let t0 = origin();
    let mut t = Timers::new(None);
    t.on_handshake_initiated(t0, Duration::ZERO);
    let mut now = t0;
    for _ in 0..5 {
        now += REKEY_TIMEOUT;
        assert_eq!(fire(&mut t, now), vec![TimerAction::RetransmitHandshake]);
        t.on_handshake_initiated(now, Duration::ZERO);
    }
    assert_eq!(t.handshake_attempts(), 5);
    t.on_handshake_requested();
    assert_eq!(t.handshake_attempts(), 0);
    now += SEC;
    t.on_handshake_complete(now);
    assert_eq!(t.deadline(TimerKind::RetransmitHandshake), None);
    assert_eq!(fire(&mut t, now + 60 * SEC), vec![]);
}

#[test]
fn passive_keepalive_after_data_received_and_nothing_sent() {
    let t0 = origin();
    // (received at, sent at, expected keepalive times) in seconds from t0.
    let cases: [(&[u64], &[u64], &[u64]); 5] = [
        (&[0], &[], &[10]),
        (&[0], &[3], &[]),
        (&[0, 4], &[], &[10, 20]),
        (&[0, 4], &[12], &[10]),
        (&[0, 12], &[], &[10, 22]),
    ];
    for (received, sent, want) in cases {
        let mut t = Timers::new(None);
        let mut got = Vec::new();
        for s in 0..=40u64 {
            let now = t0 + secs(s);
            if received.contains(&s) {
                t.on_data_received(now);
            }
            if sent.contains(&s) {
                t.on_any_authenticated_packet_sent(now);
            }
            for action in fire(&mut t, now) {
                assert_eq!(action, TimerAction::SendKeepalive);
                got.push(s);
            }
        }
        assert_eq!(got, want, "received {received:?} sent {sent:?}");
    }
}

#[test]
fn sending_the_keepalive_cancels_the_extra_one() {
    let t0 = origin();
    let mut t = Timers::new(None);
    t.on_data_received(t0);
    t.on_data_received(t0 + 4 * SEC);
    assert_eq!(fire(&mut t, t0 + KEEPALIVE_TIMEOUT), vec![TimerAction::SendKeepalive]);
    assert_eq!(t.deadline(TimerKind::SendKeepalive), Some(t0 + 2 * KEEPALIVE_TIMEOUT));
    t.on_any_authenticated_packet_sent(t0 + KEEPALIVE_TIMEOUT);
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn new_handshake_when_sent_data_gets_no_answer() {
    let t0 = origin();
    let mut t = Timers::new(None);
    t.set_new_handshake_jitter(ms(200));
    // Three retransmissions, the last one not followed by a send (say, rate limited).
    t.on_handshake_initiated(t0, Duration::ZERO);
    for i in 1..=3 {
        let now = t0 + i * REKEY_TIMEOUT;
        assert_eq!(fire(&mut t, now), vec![TimerAction::RetransmitHandshake]);
        if i < 3 {
            t.on_handshake_initiated(now, Duration::ZERO);
        }
    }
    assert_eq!(t.handshake_attempts(), 3);
    let sent = t0 + secs(15);
    t.on_data_sent(sent);
    t.on_data_sent(sent + secs(7));
    let due = sent + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + ms(200);
    assert_eq!(t.poll_timeout(), Some((due, TimerKind::NewHandshake)));
    assert_eq!(due - sent, ms(15_200));
    expect_fires_at(&mut t, due, TimerAction::NewHandshake);
    assert_eq!(t.handshake_attempts(), 0);
}

#[test]
fn new_handshake_cancelled_by_any_received_packet() {
    let t0 = origin();
    // (packet received at, new handshake wanted at) in seconds; data sent at 0.
    let cases: [(Option<u64>, Option<u64>); 4] =
        [(None, Some(15)), (Some(14), None), (Some(0), None), (Some(16), Some(15))];
    for (received_at, want) in cases {
        let mut t = Timers::new(None);
        t.on_data_sent(t0);
        let mut got = None;
        for s in 0..=40u64 {
            let now = t0 + secs(s);
            for action in fire(&mut t, now) {
                assert_eq!((action, got), (TimerAction::NewHandshake, None));
                got = Some(s);
            }
            if received_at == Some(s) {
                t.on_any_authenticated_packet_received(now);
            }
        }
        assert_eq!(got, want, "received at {received_at:?}");
    }
}

#[test]
fn jitters_are_clamped_to_the_maximum() {
    let t0 = origin();
    let mut t = Timers::new(None);
    t.on_handshake_initiated(t0, 10 * SEC);
    assert_eq!(
        t.deadline(TimerKind::RetransmitHandshake),
        Some(t0 + REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX)
    );
    t.set_new_handshake_jitter(SEC);
    t.on_data_sent(t0);
    assert_eq!(
        t.deadline(TimerKind::NewHandshake),
        Some(t0 + KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + REKEY_TIMEOUT_JITTER_MAX)
    );
}

#[test]
fn zero_keys_540_s_after_the_last_session() {
    let t0 = origin();
    // Sessions derived at these seconds; keys zeroed 540 s after the last one.
    let cases: [(&[u64], u64); 3] = [(&[0], 540), (&[0, 100], 640), (&[0, 539], 1079)];
    for (derived, want) in cases {
        let mut t = Timers::new(None);
        for &s in derived {
            t.on_session_derived(t0 + secs(s));
        }
        assert_eq!(ZERO_KEYS_AFTER, 3 * REJECT_AFTER_TIME);
        expect_fires_at(&mut t, t0 + secs(want), TimerAction::ZeroKeys);
        assert_eq!(t.poll_timeout(), None);
    }
}

#[test]
fn persistent_keepalive_on_schedule_and_reset_by_traffic() {
    let t0 = origin();
    // Interval 25 s; authenticated packets at these seconds; expected keepalives. Each
    // keepalive sent is itself a traversal, as on a real peer.
    let cases: [(&[u64], &[u64]); 3] = [
        (&[0], &[25, 50, 75, 100]),
        (&[0, 10, 30], &[55, 80, 105]),
        (&[0, 24, 48, 72, 96], &[121]),
    ];
    for (traffic, want) in cases {
        let mut t = Timers::new(Some(25 * SEC));
        let mut got = Vec::new();
        for s in 0..=121u64 {
            let now = t0 + secs(s);
            if traffic.contains(&s) {
                t.on_any_authenticated_packet_traversal(now);
            }
            for action in fire(&mut t, now) {
                assert_eq!(action, TimerAction::SendPersistentKeepalive);
                got.push(s);
                t.on_any_authenticated_packet_traversal(now);
            }
        }
        assert_eq!(got, want, "traffic {traffic:?}");
    }
}

#[test]
fn persistent_keepalive_configuration_changes() {
    let t0 = origin();
    let mut t = Timers::new(None);
    t.on_any_authenticated_packet_traversal(t0);
    assert_eq!(t.poll_timeout(), None, "off: traffic arms nothing");
    t.set_persistent_keepalive(Some(25 * SEC), t0 + SEC);
    assert_eq!(fire(&mut t, t0 + SEC), vec![TimerAction::SendPersistentKeepalive]);
    t.on_any_authenticated_packet_traversal(t0 + SEC);
    t.set_persistent_keepalive(Some(5 * SEC), t0 + 2 * SEC);
    assert_eq!(t.deadline(TimerKind::PersistentKeepalive), Some(t0 + 26 * SEC));
    t.on_any_authenticated_packet_traversal(t0 + 3 * SEC);
    assert_eq!(t.deadline(TimerKind::PersistentKeepalive), Some(t0 + 8 * SEC));
    t.set_persistent_keepalive(Some(Duration::ZERO), t0 + 4 * SEC);
    assert_eq!(t.persistent_keepalive(), None);
    assert_eq!(t.poll_timeout(), None);

    let mut t = Timers::new(Some(25 * SEC));
    assert_eq!(t.poll_timeout(), None);
    t.on_interface_up(t0);
    assert_eq!(fire(&mut t, t0), vec![TimerAction::SendPersistentKeepalive]);
    let mut t = Timers::new(Some(Duration::ZERO));
    t.on_interface_up(t0);
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn huge_intervals_never_fire_and_never_panic() {
    let t0 = origin();
    let mut t = Timers::new(Some(Duration::MAX));
    t.on_any_authenticated_packet_traversal(t0);
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn due_timers_fire_in_deadline_order_and_stop_clears_all() {
    let t0 = origin();
    let mut t = Timers::new(Some(25 * SEC));
    t.on_session_derived(t0);
    t.on_any_authenticated_packet_traversal(t0);
    t.on_data_received(t0 + 20 * SEC);
    t.on_data_sent(t0);
    t.on_handshake_initiated(t0 + 4 * SEC, Duration::ZERO);
    assert_eq!(t.poll_timeout(), Some((t0 + 9 * SEC, TimerKind::RetransmitHandshake)));
    assert_eq!(
        fire(&mut t, t0 + 1000 * SEC),
        vec![
            TimerAction::RetransmitHandshake,     // 9 s
            TimerAction::NewHandshake,            // 15 s
            TimerAction::SendPersistentKeepalive, // 25 s
            TimerAction::SendKeepalive,           // 30 s
            TimerAction::ZeroKeys,                // 540 s
        ]
    );
    t.on_session_derived(t0);
    t.on_data_received(t0);
    t.on_data_sent(t0);
    t.stop();
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn initiations_rate_limited_for_rekey_timeout() {
    let t0 = origin();
    let mut t = Timers::new(None);
    assert!(!t.initiation_rate_limited(t0));
    t.on_handshake_initiated(t0, Duration::ZERO);
    assert!(t.initiation_rate_limited(t0 + REKEY_TIMEOUT - MS));
    assert!(!t.initiation_rate_limited(t0 + REKEY_TIMEOUT));
    t.on_handshake_response_sent(t0 + 10 * SEC);
    assert!(t.initiation_rate_limited(t0 + 11 * SEC));
}

#[test]
fn rekey_on_send_edges() {
    let rekey_after = REKEY_AFTER_TIME;
    let cases: [(bool, Duration, u64, bool); 8] = [
        (true, rekey_after - MS, 0, false),
        (true, rekey_after, 0, true),
        (false, rekey_after, 0, false),
        (false, REJECT_AFTER_TIME, 0, false),
        (false, Duration::ZERO, REKEY_AFTER_MESSAGES, false),
        (false, Duration::ZERO, REKEY_AFTER_MESSAGES + 1, true),
        (true, Duration::ZERO, REKEY_AFTER_MESSAGES + 1, true),
        (true, Duration::ZERO, REKEY_AFTER_MESSAGES, false),
    ];
    for (initiator, age, counter, want) in cases {
        assert_eq!(
            should_rekey_on_send(initiator, age, counter),
            want,
            "{initiator} {age:?} {counter}"
        );
    }
}

#[test]
fn rekey_on_receive_edges_and_latch() {
    let edge = Duration::from_secs(165);
    let cases: [(bool, Duration, bool); 4] = [
        (true, edge - MS, false),
        (true, edge, true),
        (false, edge, false),
        (false, 179 * SEC, false),
    ];
    for (initiator, age, want) in cases {
        assert_eq!(should_rekey_on_receive(initiator, age), want, "{initiator} {age:?}");
    }
    let mut t = Timers::new(None);
    assert!(!t.take_lastminute_handshake(true, edge - MS));
    assert!(t.take_lastminute_handshake(true, edge));
    assert!(!t.take_lastminute_handshake(true, edge + SEC), "once per handshake");
    t.on_handshake_complete(origin());
    assert!(t.take_lastminute_handshake(true, edge));
}

#[test]
fn random_jitter_stays_below_the_maximum_and_varies() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let draws: Vec<Duration> = (0..1000).map(|_| random_jitter(&mut rng)).collect();
    assert!(draws.iter().all(|&j| j < REKEY_TIMEOUT_JITTER_MAX));
    let min = draws.iter().min().copied().unwrap_or_default();
    let max = draws.iter().max().copied().unwrap_or_default();
    assert!(min < 10 * MS && max > 323 * MS, "min {min:?} max {max:?}");
}
