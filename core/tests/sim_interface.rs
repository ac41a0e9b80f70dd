//! Deterministic simulation of the whole multi-peer [`Interface`] — the state machine
//! the threaded engine runs — over hours of virtual time (see `isim/`).
//!
//! `FERROWG_SIM_SEED=<n>` replays one seed (a failure prints it); by default CI runs
//! seeds 1 and 2. Each covers 50 peers and 6 virtual hours with loss, duplication,
//! reordering, partitions, NAT rebinding, per-node suspends and a whole-world clock
//! jump, handshake floods (under load) and a client spoofing another's address.
//!
//! [`Interface`]: ferrowg_core::interface::Interface

mod isim;

#[allow(clippy::disallowed_methods)] // the replay seed comes from the environment
fn seeds() -> Vec<u64> {
    match std::env::var("FERROWG_SIM_SEED") {
        Ok(s) => vec![s.trim().parse().expect("FERROWG_SIM_SEED must be a number")],
        Err(_) => vec![1, 2],
    }
}

#[test]
fn fifty_peers_six_virtual_hours_keep_every_invariant() {
    for seed in seeds() {
        let w = isim::run(isim::Scenario::ci(seed));
        assert!(w.check.app_delivered > 0);
    }
}
