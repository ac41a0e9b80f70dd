//! Allowed-IPs: a native-endian, path-compressed binary trie mapping prefixes to peers.
