//! ferrowg-core: the WireGuard protocol as a sans-IO library, plus the threaded engine.
//!
//! The protocol modules (`messages`, `noise`, `cookie`, `keypair`, `replay`, `timers`,
//! `peer`) never read the clock or the OS RNG: every call that needs time takes `now`,
//! and randomness comes from an RNG handed in at construction. [`interface`] is the
//! multi-peer state machine (every decision of a WireGuard interface) that both the
//! engine and the deterministic simulator drive. The engine in [`device`]
//! is the one place that owns threads; it reaches the OS only through the traits in
//! [`io`], which `ferrowg-platform` implements per OS and tests implement in memory.
#![deny(unsafe_code)]

pub mod allowedips;
pub mod aqm;
pub mod config;
pub mod cookie;
pub mod crypto;
pub mod device;
pub mod error;
pub mod interface;
pub mod io;
pub mod keypair;
pub mod keys;
pub mod killswitch;
pub mod logging;
pub mod messages;
pub mod netplan;
pub mod noise;
pub mod offload;
pub mod peer;
pub mod peer_lookup;
pub mod queue;
pub mod ratelimiter;
pub mod replay;
pub mod sched;
pub mod timers;
