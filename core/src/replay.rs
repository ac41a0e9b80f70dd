//! The 8192-bit sliding replay window (RFC 6479 style, as in the kernel).
