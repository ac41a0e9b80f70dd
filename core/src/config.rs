//! Typed configuration, wg-quick INI and the UAPI text protocol.
