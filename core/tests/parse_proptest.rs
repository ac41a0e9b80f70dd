//! Bad input never panics: arbitrary and mutated byte strings fed to every message
//! parser and to the datagram handler of a fresh and of an established peer always come
//! back as a value or a `DropReason`. Fixed seed, so runs are reproducible.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ferrowg_core::keys::PrivateKey;
use ferrowg_core::messages::{
    CookieReply, Data, Initiation, Message, Response, COOKIE_REPLY_LEN, INITIATION_LEN,
    RESPONSE_LEN,
};
use ferrowg_core::peer::{Identity, Peer, PeerConfig, RandomIndices, Received};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x5eed_f00d),
        failure_persistence: None,
        ..Config::default()
    }
}

#[allow(clippy::disallowed_methods)] // an arbitrary base instant for tests
fn base() -> Instant {
    Instant::now()
}

fn wall() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// Two peers with an established session; returns (receiver, sender, valid datagrams
/// the sender produced: initiation, response, data).
fn established() -> (Peer, Vec<Vec<u8>>) {
    let ia = Arc::new(Identity::new(&PrivateKey::from_bytes([1; 32])));
    let ib = Arc::new(Identity::new(&PrivateKey::from_bytes([2; 32])));
    let addr_b: SocketAddr = "127.0.0.1:2".parse().unwrap();
    let addr_a: SocketAddr = "127.0.0.1:1".parse().unwrap();
    let mut ca = PeerConfig::new(*ib.public_key());
    ca.endpoint = Some(addr_b);
    let rng = |s| Box::new(ChaCha20Rng::seed_from_u64(s));
    let mut a = Peer::new(ia.clone(), ca, Arc::new(RandomIndices), rng(1));
    let mut b = Peer::new(ib, PeerConfig::new(*ia.public_key()), Arc::new(RandomIndices), rng(2));
    let now = base();
    let mut samples = Vec::new();
    let mut out = vec![0u8; 2048];
    let _ = a.encapsulate(
        &[0x45, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        &mut out,
        now,
        wall(),
    );
    for _ in 0..4 {
        while let Some(t) = a.poll_transmit(now, &mut out) {
            samples.push(out[..t.len].to_vec());
            let _ = b.handle_datagram(&mut out[..t.len], addr_a, now, wall());
        }
        while let Some(t) = b.poll_transmit(now, &mut out) {
            samples.push(out[..t.len].to_vec());
            let _ = a.handle_datagram(&mut out[..t.len], addr_b, now, wall());
        }
    }
    assert!(b.current_keypair().is_some(), "session established");
    (b, samples)
}

fn check_parsers(bytes: &[u8]) {
    let _ = Message::parse(bytes);
    let _ = Initiation::parse(bytes);
    let _ = Response::parse(bytes);
    let _ = CookieReply::parse(bytes);
    let _ = Data::parse(bytes);
}

fn feed(peer: &mut Peer, bytes: &[u8]) {
    let mut buf = bytes.to_vec();
    let src: SocketAddr = "127.0.0.1:9".parse().unwrap();
    if let Ok(Received::Packet(r)) = peer.handle_datagram(&mut buf, src, base(), wall()) {
        assert!(r.end <= buf.len());
    }
    let mut out = vec![0u8; 2048];
    while peer.poll_transmit(base(), &mut out).is_some() {}
}

/// Byte strings biased toward the interesting lengths and type bytes.
fn datagram() -> impl Strategy<Value = Vec<u8>> {
    let len = prop_oneof![
        0usize..40,
        Just(INITIATION_LEN),
        Just(RESPONSE_LEN),
        Just(COOKIE_REPLY_LEN),
        32usize..200,
    ];
    (len, any::<u8>(), any::<bool>()).prop_flat_map(|(len, ty, zero_reserved)| {
        proptest::collection::vec(any::<u8>(), len).prop_map(move |mut v| {
            if let Some(t) = v.first_mut() {
                *t = ty % 6;
            }
            if zero_reserved {
                for b in v.iter_mut().skip(1).take(3) {
                    *b = 0;
                }
            }
            v
        })
    })
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn parsers_never_panic(bytes in datagram()) {
        check_parsers(&bytes);
    }

    #[test]
    fn fresh_peer_never_panics(bytes in datagram()) {
        let id = Arc::new(Identity::new(&PrivateKey::from_bytes([3; 32])));
        let cfg = PeerConfig::new(*Identity::new(&PrivateKey::from_bytes([4; 32])).public_key());
        let mut p = Peer::new(id, cfg, Arc::new(RandomIndices), Box::new(ChaCha20Rng::seed_from_u64(5)));
        feed(&mut p, &bytes);
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn established_peer_survives_mutated_valid_messages(
        which in 0usize..8,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        truncate in proptest::option::of(any::<usize>()),
    ) {
        let (mut peer, samples) = established();
        let mut msg = samples[which % samples.len()].clone();
        for (pos, x) in flips {
            let i = pos % msg.len();
            msg[i] ^= x;
        }
        if let Some(t) = truncate {
            msg.truncate(t % (msg.len() + 1));
        }
        check_parsers(&msg);
        feed(&mut peer, &msg);
    }
}
