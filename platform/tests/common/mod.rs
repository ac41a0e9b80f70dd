//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod alloc;
pub mod engine;
#[cfg(target_os = "linux")]
pub mod netns;
#[cfg(target_os = "linux")]
pub mod sched;
pub mod udp;
