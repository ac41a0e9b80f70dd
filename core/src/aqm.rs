//! Bufferbloat control: CoDel (RFC 8289) and DQL-style byte limits.
