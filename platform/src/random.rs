//! The OS CSPRNG (getrandom(2) on Linux, `getentropy` on macOS, `ProcessPrng` on
//! Windows, through the `getrandom` crate). Core makes no OS call, so every host fills
//! `DeviceOptions::rng_seed` from here (security review, finding 4).

use std::io;

/// 32 bytes from the OS CSPRNG: the seed for the engine's RNG
/// (`DeviceOptions::rng_seed`: ephemeral keys, indices, cookie secrets) or a new key.
/// Fails only if the OS has no working random source; never falls back to anything
/// weaker.
pub fn random_seed() -> io::Result<[u8; 32]> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(io::Error::from)?;
    Ok(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_fresh_each_call() {
        let seeds: Vec<[u8; 32]> = (0..4).map(|_| random_seed().unwrap()).collect();
        for (i, a) in seeds.iter().enumerate() {
            assert_ne!(*a, [0u8; 32]);
            for b in &seeds[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
