//! Helpers shared by the integration tests.
#![allow(dead_code)]

#[cfg(target_os = "linux")]
pub mod netns;
