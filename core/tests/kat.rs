//! Known-answer tests, byte exact.
//!
//! Every expected hex string below was produced independently of ferrowg by
//! `python3 core/tests/kat_vectors.py` (Python's hashlib.blake2s and hmac, and the
//! `cryptography` package's X25519 and ChaCha20-Poly1305, following whitepaper 5.4).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrowg_core::cookie::{mac1_key, CookieChecker, CookieGenerator};
use ferrowg_core::crypto::{kdf1, kdf2, kdf3};
use ferrowg_core::keypair::Keypair;
use ferrowg_core::keys::{PresharedKey, PrivateKey};
use ferrowg_core::messages::{Initiation, Response, INITIATION_LEN, RESPONSE_LEN};
use ferrowg_core::noise::{
    consume_initiation, create_initiation, initial_chaining_key, initial_hash, LocalStatic,
    RemoteStatic,
};

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn hex32(s: &str) -> [u8; 32] {
    hex(s).try_into().unwrap()
}

/// Hands out a fixed byte string (the ephemeral private keys of the vectors).
struct FixedRng(Vec<u8>);

impl rand_core::RngCore for FixedRng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        assert!(self.0.len() >= dest.len(), "FixedRng exhausted");
        let rest = self.0.split_off(dest.len());
        dest.copy_from_slice(&self.0);
        self.0 = rest;
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rand_core::CryptoRng for FixedRng {}

const C0: &str = "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36";
const H0: &str = "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3";

#[test]
fn initial_chaining_key_and_hash() {
    assert_eq!(initial_chaining_key(), hex32(C0));
    assert_eq!(initial_hash(), hex32(H0));
}

#[test]
fn kdf_vectors() {
    let c0 = hex32(C0);
    assert_eq!(
        *kdf1(&c0, b"abc"),
        hex32("c25935f5ae2c033bd2731a7e9eb36e8465130ab5c7efaed99c9b0a8e9952adaf")
    );
    let (a, b) = kdf2(&c0, b"");
    assert_eq!(*a, hex32("bd968725a9177942a8c2e4253d1dde31cf7b19ec001b4a3a3d141cd9d998d3ba"));
    assert_eq!(*b, hex32("aab5462b323780fa615bf80ffe469510239ff361575a663968e686a7ae41d693"));
    let (a, b, c) = kdf3(&[0; 32], &[0x42; 32]);
    assert_eq!(*a, hex32("d562d90c902a8416f811e37e4f33281c5fae9f062115e54ef704049a5253ae32"));
    assert_eq!(*b, hex32("cead4ce1126df7722a144f2b025fc9092ccb724bc7f8db9d320649df2456c021"));
    assert_eq!(*c, hex32("0491beb3e24135f5c0a12d283440513a5eb2fded8998d4afb8c96a5c80fd0684"));
}

const ALICE: &str = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
const BOB: &str = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
const INITIATION: &str = "01000000443322118f40c5adb68f25624ae5b214ea767a6ec94d829d3d7b5e1ad1ba6f3e2138285fa6766329390656afa10f82819b732869ef96ee45b4fe4fc362db07b74cfc749ae66606f5fbeca63673d75505b7d68d8f290d458107032e63a2642f7c915b21d21321d138cf956d589db981fa1c45cdcfbff781da8c75eb1720d29e4d00000000000000000000000000000000";
const RESPONSE: &str = "020000008877665544332211358072d6365880d1aeea329adf9121383851ed21a28e3b75e965d0d2cd16625448a6c5cf60d7069c6f0010703ec86a62ca1fcbca636263b017608ba7727f1d6600000000000000000000000000000000";
const SEND_I: &str = "aa8f59338518a771e30f02ce0852ac124dd872a9b0dc767a74b5f22c9377f954";
const RECV_I: &str = "c47a54c07ebe25e0497c44c68ecebe3a166fe3fa8989db393b0c6be23606b0c4";
const FIRST_DATA: &str = "040000008877665500000000000000008afb52c5b4042568f9978dfd2b3ff44a24b92af5cf5df1594801417a70e4cfb5";

#[allow(clippy::disallowed_methods)] // an arbitrary base instant for tests
fn t0() -> Instant {
    Instant::now()
}

#[test]
fn full_handshake_and_first_data_message_are_byte_exact() {
    let alice = PrivateKey::from_hex(ALICE).unwrap();
    let bob = PrivateKey::from_hex(BOB).unwrap();
    let psk = PresharedKey::from_bytes([0x42; 32]);
    let (la, lb) = (LocalStatic::new(&alice), LocalStatic::new(&bob));
    let a_sees_b = RemoteStatic::new(&la, *lb.public_key(), Some(&psk));
    let mut b_sees_a = RemoteStatic::new(&lb, *la.public_key(), Some(&psk));
    let wall: SystemTime = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
    let now = t0();

    let mut init = [0u8; INITIATION_LEN];
    let mut rng = FixedRng((0u8..32).collect());
    let sent = create_initiation(&la, &a_sees_b, 0x1122_3344, wall, &mut rng, &mut init).unwrap();
    CookieGenerator::new(lb.public_key()).write_macs(&mut init, now);
    assert_eq!(init.to_vec(), hex(INITIATION));

    let received = consume_initiation(&lb, &Initiation::parse(&init).unwrap()).unwrap();
    assert_eq!(received.remote_static(), la.public_key());
    let consumed = received.finish(&mut b_sees_a, now).unwrap();
    let mut resp = [0u8; RESPONSE_LEN];
    let mut rng = FixedRng((32u8..64).collect());
    let kb = consumed.create_response(&b_sees_a, 0x5566_7788, &mut rng, &mut resp).unwrap();
    CookieGenerator::new(la.public_key()).write_macs(&mut resp, now);
    assert_eq!(resp.to_vec(), hex(RESPONSE));

    let ka = sent.consume_response(&la, &a_sees_b, &Response::parse(&resp).unwrap()).unwrap();
    assert_eq!(ka.send, hex32(SEND_I));
    assert_eq!(ka.recv, hex32(RECV_I));
    assert_eq!((kb.send, kb.recv), (ka.recv, ka.send));

    let kp = Keypair::new(&ka, now);
    let mut buf = [0u8; 48];
    buf[16] = 0x45;
    let n = kp.seal(kp.next_send_counter().unwrap(), &mut buf, 1).unwrap();
    assert_eq!(buf[..n].to_vec(), hex(FIRST_DATA));
}

#[test]
fn mac1_over_the_fixed_initiation() {
    // The vector's MAC1 is keyed with HASH("mac1----" || Bob's public key).
    let bob = LocalStatic::new(&PrivateKey::from_hex(BOB).unwrap());
    let init = hex(INITIATION);
    let checker = CookieChecker::new(bob.public_key());
    assert!(checker.check_mac1(&init));
    let mut flipped = init.clone();
    flipped[100] ^= 0x80;
    assert!(!checker.check_mac1(&flipped));
    assert_eq!(mac1_key(bob.public_key()).to_vec(), hex(MAC1_KEY_BOB));
}

const MAC1_KEY_BOB: &str = "52c0a95717f46ba7941f80cec1ead35984c9f023a996170d9e47e314d260dc96";
