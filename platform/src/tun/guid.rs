//! A stable wintun adapter GUID derived from the tunnel name, so Windows sees the same
//! adapter on every connect and does not create a new network profile ("Network 2",
//! "Network 3", ...) each time.
//!
//! The GUID is a name-based UUID in the RFC 9562 version 8 (custom) layout: the first 16
//! bytes of BLAKE2s-256 over a fixed namespace string and the UTF-8 name, with the
//! version and variant bits set. (Version 5 would need SHA-1, which nothing else here
//! uses.) The output must never change between releases: the tests pin it.

use blake2::{Blake2s256, Digest};

/// Domain separation for the hash; changing it changes every adapter's GUID.
const NAMESPACE: &[u8] = b"ferrowg wintun adapter GUID v1\0";

/// The adapter GUID for `tunnel_name`, as the `u128` whose big-endian bytes are the
/// textual order (what `wintun::Adapter::create` and `GUID::from_u128` take).
pub fn adapter_guid(tunnel_name: &str) -> u128 {
    let mut h = Blake2s256::new();
    h.update(NAMESPACE);
    h.update(tunnel_name.as_bytes());
    let digest = h.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80; // version 8
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 9562 variant
    u128::from_be_bytes(bytes)
}

/// Formats a GUID the way Windows shows it: `{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`.
pub fn format_guid(guid: u128) -> String {
    let hex = format!("{guid:032X}");
    format!("{{{}-{}-{}-{}-{}}}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_same_guid_and_names_differ() {
        assert_eq!(adapter_guid("wg0"), adapter_guid("wg0"));
        assert_ne!(adapter_guid("wg0"), adapter_guid("wg1"));
        assert_ne!(adapter_guid("wg0"), adapter_guid("WG0"));
        assert_ne!(adapter_guid(""), adapter_guid("\0"));
    }

    #[test]
    fn version_and_variant_bits() {
        for name in ["wg0", "Office VPN", "ü-tunnel", ""] {
            let b = adapter_guid(name).to_be_bytes();
            assert_eq!(b[6] >> 4, 8, "version nibble for {name:?}");
            assert_eq!(b[8] >> 6, 0b10, "variant bits for {name:?}");
        }
    }

    #[test]
    fn pinned_values_never_change() {
        // Computed independently with Python:
        // b = hashlib.blake2s(b"ferrowg wintun adapter GUID v1\0" + name).digest()[:16],
        // then the same version/variant masking. A change here renames users' adapters.
        assert_eq!(format_guid(adapter_guid("wg0")), PINNED_WG0);
        assert_eq!(format_guid(adapter_guid("Office VPN")), PINNED_OFFICE);
    }

    const PINNED_WG0: &str = "{6AE585BD-9DF6-85D6-AF00-1720382C25D2}";
    const PINNED_OFFICE: &str = "{6F166831-3D98-8044-9B50-24A621EA04D7}";

    #[test]
    fn format_matches_windows_layout() {
        let s = format_guid(0x0123_4567_89AB_CDEF_0011_2233_4455_6677);
        assert_eq!(s, "{01234567-89AB-CDEF-0011-223344556677}");
    }
}
