//! The Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s handshake.
