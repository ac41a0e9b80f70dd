//! Error and drop-reason types shared across the protocol and the engine.
