//! Per-source token buckets for handshake initiations under load.
