//! One peer's protocol state: handshake, keypairs, timers, staged packets, endpoint.
