//! MAC1/MAC2, cookie replies (XChaCha20-Poly1305) and cookie secret rotation.
