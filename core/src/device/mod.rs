//! The engine: threads, workers and batching over the traits in [crate::io].
