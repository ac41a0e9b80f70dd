//! AEAD backends: ring on the data path (default feature), RustCrypto as fallback.
