//! ferrowg-platform: the OS side of the engine's [`ferrowg_core::io`] traits.
//!
//! The only crate besides `ferrowg-ffi` that contains `unsafe`; every block carries a
//! `// SAFETY:` line.
