//! The kernel's counter selftest (`selftest/counter.c`) case by case, full-window runs,
//! and a seeded comparison against a naive model.

use std::collections::HashSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{ReplayWindow, REPLAY_WINDOW_SIZE};
use crate::messages::REJECT_AFTER_MESSAGES;

/// The kernel's `T_LIM`: one more than the window size.
const LIM: u64 = REPLAY_WINDOW_SIZE + 1;

fn expect(w: &mut ReplayWindow, case: &str, counter: u64, fresh: bool) {
    assert_eq!(w.check_and_update(counter), fresh, "case {case}: counter {counter}");
}

#[test]
fn window_size_matches_kernel() {
    assert_eq!(REPLAY_WINDOW_SIZE, 8192 - 64);
}

#[test]
fn kernel_selftest_table() {
    let r = REJECT_AFTER_MESSAGES;
    let table: [(u64, bool); 34] = [
        /* 1 */ (0, true),
        /* 2 */ (1, true),
        /* 3 */ (1, false),
        /* 4 */ (9, true),
        /* 5 */ (8, true),
        /* 6 */ (7, true),
        /* 7 */ (7, false),
        /* 8 */ (LIM, true),
        /* 9 */ (LIM - 1, true),
        /* 10 */ (LIM - 1, false),
        /* 11 */ (LIM - 2, true),
        /* 12 */ (2, true),
        /* 13 */ (2, false),
        /* 14 */ (LIM + 16, true),
        /* 15 */ (3, false),
        /* 16 */ (LIM + 16, false),
        /* 17 */ (LIM * 4, true),
        /* 18 */ (LIM * 4 - (LIM - 1), true),
        /* 19 */ (10, false),
        /* 20 */ (LIM * 4 - LIM, false),
        /* 21 */ (LIM * 4 - (LIM + 1), false),
        /* 22 */ (LIM * 4 - (LIM - 2), true),
        /* 23 */ (LIM * 4 + 1 - LIM, false),
        /* 24 */ (0, false),
        /* 25 */ (r, false),
        /* 26 */ (r - 1, true),
        /* 27 */ (r, false),
        /* 28 */ (r - 1, false),
        /* 29 */ (r - 2, true),
        /* 30 */ (r + 1, false),
        /* 31 */ (r + 2, false),
        /* 32 */ (r - 2, false),
        /* 33 */ (r - 3, true),
        /* 34 */ (0, false),
    ];
    let mut w = ReplayWindow::new();
    for (i, &(counter, fresh)) in table.iter().enumerate() {
        expect(&mut w, &(i + 1).to_string(), counter, fresh);
    }
    assert_eq!(w.highest(), Some(r - 1));
}

#[test]
fn forward_full_window_then_zero_once() {
    let mut w = ReplayWindow::new();
    for i in 1..=REPLAY_WINDOW_SIZE {
        expect(&mut w, "forward", i, true);
    }
    expect(&mut w, "zero at the window's edge", 0, true);
    expect(&mut w, "zero again", 0, false);
}

#[test]
fn forward_from_two_then_one_then_zero_too_old() {
    let mut w = ReplayWindow::new();
    for i in 2..=REPLAY_WINDOW_SIZE + 1 {
        expect(&mut w, "forward", i, true);
    }
    expect(&mut w, "one at the window's edge", 1, true);
    expect(&mut w, "zero one past the edge", 0, false);
}

#[test]
fn backward_full_window_all_fresh() {
    let mut w = ReplayWindow::new();
    for i in (0..=REPLAY_WINDOW_SIZE).rev() {
        expect(&mut w, "backward", i, true);
    }
}

#[test]
fn backward_from_one_past_then_zero_too_old() {
    let mut w = ReplayWindow::new();
    for i in (1..=REPLAY_WINDOW_SIZE + 1).rev() {
        expect(&mut w, "backward", i, true);
    }
    expect(&mut w, "zero one past the edge", 0, false);
}

#[test]
fn backward_then_top_again_then_zero_too_old() {
    let mut w = ReplayWindow::new();
    for i in (1..=REPLAY_WINDOW_SIZE).rev() {
        expect(&mut w, "backward", i, true);
    }
    expect(&mut w, "new top", REPLAY_WINDOW_SIZE + 1, true);
    expect(&mut w, "zero pushed out", 0, false);
}

#[test]
fn backward_then_zero_then_top() {
    let mut w = ReplayWindow::new();
    for i in (1..=REPLAY_WINDOW_SIZE).rev() {
        expect(&mut w, "backward", i, true);
    }
    expect(&mut w, "zero inside", 0, true);
    expect(&mut w, "new top", REPLAY_WINDOW_SIZE + 1, true);
}

#[test]
fn jump_clears_stale_bits_of_every_recycled_word() {
    // Every counter of a full window, then a jump of exactly one ring (8192): the
    // recycled words must not still claim the new counters were seen.
    let mut w = ReplayWindow::new();
    for i in 0..8192 {
        assert!(w.check_and_update(i));
    }
    for i in 8192..2 * 8192 {
        expect(&mut w, "after one ring", i, true);
    }
}

/// The naive model: a set of every accepted counter plus the maximum.
#[derive(Default)]
struct Naive {
    seen: HashSet<u64>,
    max: Option<u64>,
}

impl Naive {
    fn check_and_update(&mut self, counter: u64) -> bool {
        if counter >= REJECT_AFTER_MESSAGES {
            return false;
        }
        if let Some(max) = self.max {
            if counter + REPLAY_WINDOW_SIZE < max {
                return false;
            }
        }
        if !self.seen.insert(counter) {
            return false;
        }
        self.max = Some(self.max.map_or(counter, |m| m.max(counter)));
        true
    }
}

fn compare_with_naive(seed: u64, start: u64, steps: usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut w = ReplayWindow::new();
    let mut naive = Naive::default();
    let mut top = start;
    let (mut accepted, mut rejected) = (0u32, 0u32);
    for step in 0..steps {
        let counter = match rng.gen_range(0..100) {
            // Mostly in order, some reordered within and around the window's edge.
            0..=49 => top.saturating_add(rng.gen_range(0..4)),
            50..=79 => top.saturating_sub(rng.gen_range(0..REPLAY_WINDOW_SIZE + 200)),
            80..=89 => {
                top.saturating_sub(rng.gen_range(REPLAY_WINDOW_SIZE - 70..REPLAY_WINDOW_SIZE + 70))
            }
            90..=97 => top.saturating_add(rng.gen_range(0..3 * 8192)),
            _ => REJECT_AFTER_MESSAGES - rng.gen_range(0..4) + rng.gen_range(0..4),
        };
        let got = w.check_and_update(counter);
        assert_eq!(
            got,
            naive.check_and_update(counter),
            "seed {seed} step {step} counter {counter}"
        );
        if got {
            accepted += 1;
            top = top.max(counter);
        } else {
            rejected += 1;
        }
    }
    // Both outcomes must have been exercised for the comparison to mean anything.
    assert!(accepted > 100 && rejected > 100, "accepted {accepted} rejected {rejected}");
}

#[test]
fn matches_naive_model_from_zero() {
    compare_with_naive(0x5eed_0001, 0, 200_000);
}

#[test]
fn matches_naive_model_near_reject_limit() {
    compare_with_naive(0x5eed_0002, REJECT_AFTER_MESSAGES - 40_000, 50_000);
}
