//! Transport keypairs: keys, send counters, receive replay window.
