//! SipHash-keyed resizable tables: public key to peer, receiver index to keypair.
