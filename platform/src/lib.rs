//! ferrowg-platform: the OS side of the engine's [`ferrowg_core::io`] traits.
//!
//! - [`tun`]: virtual NICs that implement [`ferrowg_core::io::Tun`] — Linux
//!   `/dev/net/tun`, macOS utun, Windows wintun, and an adopted file descriptor
//!   (Android `VpnService`, Apple `NEPacketTunnelProvider`).
//! - [`udp`]: the dual-stack UDP [`ferrowg_core::io::Transport`], batched with
//!   `recvmmsg`/`sendmmsg` on Linux; [`std_udp`]: a portable one-socket transport over
//!   `std::net::UdpSocket` (tests, the demo, the FFI's host mode).
//! - [`cpu`]: the machine's CPU topology as a [`ferrowg_core::sched::CpuTopology`], and
//!   thread placement.
//! - [`random_seed`]: the OS CSPRNG, for the engine's seed and new keys.
//! - [`resolve`]: endpoint hostnames resolved before a config reaches the engine.
//!
//! The only crate besides `ferrowg-ffi` that contains `unsafe`: raw calls live in one
//! private `sys` module per OS (plus the wintun adapter), every block with a
//! `// SAFETY:` line.

#[cfg(windows)]
pub mod console;
pub mod cpu;
mod error;
pub mod killswitch;
#[cfg(any(target_os = "linux", target_os = "macos", windows))]
pub mod netconf;
#[cfg(windows)]
pub mod pipe;
mod random;
pub mod resolve;
pub mod std_udp;
#[allow(unsafe_code)]
mod sys;
pub mod tun;
pub mod udp;

pub use error::Error;
pub use random::random_seed;
