//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod alloc;
pub mod engine;
#[cfg(target_os = "linux")]
pub mod netns;
pub mod udp;
