//! Handshake round trips, replay/flood refusal, tampering and low-order keys.

use super::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn pair(psk: Option<PresharedKey>) -> (LocalStatic, RemoteStatic, LocalStatic, RemoteStatic) {
    let a = LocalStatic::new(&PrivateKey::from_bytes([0x11; 32]));
    let b = LocalStatic::new(&PrivateKey::from_bytes([0x22; 32]));
    let a_sees_b = RemoteStatic::new(&a, *b.public_key(), psk.as_ref());
    let b_sees_a = RemoteStatic::new(&b, *a.public_key(), psk.as_ref());
    (a, a_sees_b, b, b_sees_a)
}

#[allow(clippy::disallowed_methods)] // an arbitrary base instant for tests
fn t0() -> Instant {
    Instant::now()
}

fn wall(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn handshake(psk: Option<PresharedKey>) -> (TransportKeys, TransportKeys) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let (a, a_sees_b, b, mut b_sees_a) = pair(psk);
    let mut init = [0u8; INITIATION_LEN];
    let sent = create_initiation(&a, &a_sees_b, 7, wall(0), &mut rng, &mut init).unwrap();
    let rcvd = consume_initiation(&b, &Initiation::parse(&init).unwrap()).unwrap();
    assert_eq!(rcvd.remote_static(), a.public_key());
    let consumed = rcvd.finish(&mut b_sees_a, t0()).unwrap();
    let mut resp = [0u8; RESPONSE_LEN];
    let kb = consumed.create_response(&b_sees_a, 9, &mut rng, &mut resp).unwrap();
    let ka = sent.consume_response(&a, &a_sees_b, &Response::parse(&resp).unwrap()).unwrap();
    (ka, kb)
}

#[test]
fn both_sides_derive_matching_keys() {
    for psk in [None, Some(PresharedKey::from_bytes([0x33; 32]))] {
        let (ka, kb) = handshake(psk);
        assert_eq!(ka.send, kb.recv);
        assert_eq!(ka.recv, kb.send);
        assert_ne!(ka.send, ka.recv);
        assert_eq!((ka.local_index, ka.remote_index), (7, 9));
        assert_eq!((kb.local_index, kb.remote_index), (9, 7));
        assert!(ka.is_initiator && !kb.is_initiator);
    }
}

#[test]
fn psk_mismatch_fails_the_response() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let a = LocalStatic::new(&PrivateKey::from_bytes([0x11; 32]));
    let b = LocalStatic::new(&PrivateKey::from_bytes([0x22; 32]));
    let a_sees_b = RemoteStatic::new(&a, *b.public_key(), None);
    let psk = PresharedKey::from_bytes([1; 32]);
    let mut b_sees_a = RemoteStatic::new(&b, *a.public_key(), Some(&psk));
    let mut init = [0u8; INITIATION_LEN];
    let sent = create_initiation(&a, &a_sees_b, 1, wall(0), &mut rng, &mut init).unwrap();
    let c = consume_initiation(&b, &Initiation::parse(&init).unwrap())
        .unwrap()
        .finish(&mut b_sees_a, t0())
        .unwrap();
    let mut resp = [0u8; RESPONSE_LEN];
    c.create_response(&b_sees_a, 2, &mut rng, &mut resp).unwrap();
    let (back, reason) =
        sent.consume_response(&a, &a_sees_b, &Response::parse(&resp).unwrap()).unwrap_err();
    assert_eq!(reason, DropReason::HandshakeDecryptFailed);
    assert_eq!(back.sender_index(), 1);
}

#[test]
fn replayed_and_flooding_initiations_are_refused() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (a, a_sees_b, b, mut b_sees_a) = pair(None);
    let t0 = t0();
    let mut first = [0u8; INITIATION_LEN];
    create_initiation(&a, &a_sees_b, 1, wall(10), &mut rng, &mut first).unwrap();
    let consume = |m: &[u8; INITIATION_LEN], r: &mut RemoteStatic, now| {
        consume_initiation(&b, &Initiation::parse(m).unwrap())?.finish(r, now).map(|_| ())
    };
    consume(&first, &mut b_sees_a, t0).unwrap();
    // The same message again: timestamp not newer.
    let later = t0 + Duration::from_secs(1);
    assert_eq!(consume(&first, &mut b_sees_a, later), Err(DropReason::ReplayedTimestamp));
    // A newer timestamp 10 ms later: flood.
    let mut second = [0u8; INITIATION_LEN];
    create_initiation(&a, &a_sees_b, 2, wall(11), &mut rng, &mut second).unwrap();
    let soon = t0 + Duration::from_millis(10);
    assert_eq!(consume(&second, &mut b_sees_a, soon), Err(DropReason::InitiationFlood));
    consume(&second, &mut b_sees_a, t0 + Duration::from_millis(25)).unwrap();
    // An older timestamp after a newer one: replay.
    let mut old = [0u8; INITIATION_LEN];
    create_initiation(&a, &a_sees_b, 3, wall(5), &mut rng, &mut old).unwrap();
    assert_eq!(consume(&old, &mut b_sees_a, later), Err(DropReason::ReplayedTimestamp));
}

#[test]
fn tampered_initiation_fails_and_low_order_ephemeral_is_refused() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let (a, a_sees_b, b, _) = pair(None);
    let mut m = [0u8; INITIATION_LEN];
    create_initiation(&a, &a_sees_b, 1, wall(0), &mut rng, &mut m).unwrap();
    let mut bad = m;
    bad[50] ^= 1;
    let err = consume_initiation(&b, &Initiation::parse(&bad).unwrap()).err();
    assert_eq!(err, Some(DropReason::HandshakeDecryptFailed));
    let mut zero_e = m;
    zero_e[8..40].fill(0);
    let err = consume_initiation(&b, &Initiation::parse(&zero_e).unwrap()).err();
    assert_eq!(err, Some(DropReason::LowOrderKey));
}

#[test]
fn precomputed_initial_values_match_their_definition() {
    assert_eq!(initial_chaining_key(), hash(&[CONSTRUCTION]));
    assert_eq!(initial_hash(), hash(&[&hash(&[CONSTRUCTION]), IDENTIFIER]));
}

#[test]
fn tai64n_rounds_down_and_orders() {
    let t = UNIX_EPOCH + Duration::new(1, 0x0123_4567);
    let ts = tai64n(t);
    assert_eq!(&ts[..8], &0x4000_0000_0000_000b_u64.to_be_bytes());
    assert_eq!(&ts[8..], &0x0100_0000_u32.to_be_bytes());
    assert!(tai64n(t + Duration::from_millis(17)) > ts);
    assert_eq!(tai64n(t + Duration::from_millis(1)), ts);
}

#[test]
fn forged_response_leaves_the_handshake_pending() {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let (a, a_sees_b, b, mut b_sees_a) = pair(None);
    let mut init = [0u8; INITIATION_LEN];
    let sent = create_initiation(&a, &a_sees_b, 7, wall(0), &mut rng, &mut init).unwrap();
    let c = consume_initiation(&b, &Initiation::parse(&init).unwrap())
        .unwrap()
        .finish(&mut b_sees_a, t0())
        .unwrap();
    let mut resp = [0u8; RESPONSE_LEN];
    let kb = c.create_response(&b_sees_a, 9, &mut rng, &mut resp).unwrap();
    // Wrong receiver index, then a flipped tag, then a low-order ephemeral.
    let mut wrong_index = resp;
    wrong_index[8] ^= 1;
    let mut bad_tag = resp;
    bad_tag[50] ^= 1;
    let mut zero_e = resp;
    zero_e[12..44].fill(0);
    let mut sent = sent;
    for (forged, expect) in [
        (wrong_index, DropReason::UnexpectedHandshake),
        (bad_tag, DropReason::HandshakeDecryptFailed),
        (zero_e, DropReason::LowOrderKey),
    ] {
        let msg = Response::parse(&forged).unwrap();
        let (back, reason) = sent.consume_response(&a, &a_sees_b, &msg).unwrap_err();
        assert_eq!(reason, expect);
        sent = back;
    }
    let ka = sent.consume_response(&a, &a_sees_b, &Response::parse(&resp).unwrap()).unwrap();
    assert_eq!((ka.send, ka.recv), (kb.recv, kb.send));
}

#[test]
fn initiation_is_finished_only_with_its_senders_key() {
    let mut rng = ChaCha20Rng::seed_from_u64(10);
    let (a, a_sees_b, b, _) = pair(None);
    let c = LocalStatic::new(&PrivateKey::from_bytes([0x44; 32]));
    let mut b_sees_c = RemoteStatic::new(&b, *c.public_key(), None);
    let mut init = [0u8; INITIATION_LEN];
    create_initiation(&a, &a_sees_b, 1, wall(0), &mut rng, &mut init).unwrap();
    let rcvd = consume_initiation(&b, &Initiation::parse(&init).unwrap()).unwrap();
    assert_eq!(rcvd.finish(&mut b_sees_c, t0()).err(), Some(DropReason::UnknownPeer));
    // The refused attempt recorded nothing for that peer.
    assert_eq!(b_sees_c.latest_timestamp, [0; TIMESTAMP_LEN]);
    assert!(b_sees_c.last_initiation_consumed.is_none());
}

#[test]
fn a_low_order_static_key_cannot_start_a_handshake() {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let a = LocalStatic::new(&PrivateKey::from_bytes([0x11; 32]));
    let mut one = [0u8; 32];
    one[0] = 1;
    for bad in [[0u8; 32], one] {
        let remote = RemoteStatic::new(&a, PublicKey(bad), None);
        let mut init = [0u8; INITIATION_LEN];
        let err = create_initiation(&a, &remote, 1, wall(0), &mut rng, &mut init).err();
        assert_eq!(err, Some(DropReason::LowOrderKey));
    }
}
