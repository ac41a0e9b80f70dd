//! Handshake messages that pass MAC1, straight into the protocol functions: a response
//! to a pending initiation, an initiation to the responder (consume, finish, answer),
//! a cookie reply to a generator that sent a message, and arbitrary-length input to the
//! cookie checker. Each input is either raw bytes or XORed into a genuine message, and
//! MAC1 is rewritten after mutation so the input reaches the Noise and cookie code.
//! Any panic is a bug.
#![no_main]

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use ferrowg_core::cookie::{CookieChecker, CookieGenerator, MacState};
use ferrowg_core::keys::PrivateKey;
use ferrowg_core::messages::{
    CookieReply, Initiation, Response, COOKIE_REPLY_LEN, INITIATION_LEN, RESPONSE_LEN,
};
use ferrowg_core::noise::{consume_initiation, create_initiation, LocalStatic, RemoteStatic};
use libfuzzer_sys::fuzz_target;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

struct State {
    a: LocalStatic,
    b: LocalStatic,
    /// The initiator's view of the responder (its table is built once, not per input).
    a_sees_b: RemoteStatic,
    /// The responder's view of the initiator; its replay state carries over.
    b_sees_a: RemoteStatic,
    /// Checks what the initiator receives (responses, keyed with A's public key).
    a_checker: CookieChecker,
    /// Checks what the responder receives (initiations, keyed with B's public key).
    b_checker: CookieChecker,
    now: Instant,
}

fn wall(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

#[allow(clippy::disallowed_methods)] // the fuzz harness needs a base instant
fn state() -> &'static Mutex<State> {
    static STATE: OnceLock<Mutex<State>> = OnceLock::new();
    STATE.get_or_init(|| {
        let a = LocalStatic::new(&PrivateKey::from_bytes([1; 32]));
        let b = LocalStatic::new(&PrivateKey::from_bytes([2; 32]));
        let a_sees_b = RemoteStatic::new(&a, *b.public_key(), None);
        let b_sees_a = RemoteStatic::new(&b, *a.public_key(), None);
        let a_checker = CookieChecker::new(a.public_key());
        let b_checker = CookieChecker::new(b.public_key());
        Mutex::new(State { a, b, a_sees_b, b_sees_a, a_checker, b_checker, now: Instant::now() })
    })
}

/// `base` with `rest` XORed into it (mode bit set), or `rest` itself padded/cut to `N`.
fn shape<const N: usize>(xor: bool, base: &[u8; N], rest: &[u8]) -> [u8; N] {
    let mut m = if xor { *base } else { [0u8; N] };
    for (b, x) in m.iter_mut().zip(rest) {
        *b ^= x;
    }
    m
}

fn source(rest: &[u8]) -> SocketAddr {
    let mut ip = [0u8; 16];
    for (d, s) in ip.iter_mut().zip(rest) {
        *d = *s;
    }
    let port = u16::from_le_bytes([rest.first().copied().unwrap_or(0), 7]);
    SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut st = state().lock().unwrap();
    let st = &mut *st;
    let mut rng = ChaCha20Rng::seed_from_u64(u64::from(mode));
    let xor = mode & 4 != 0;
    // An unmutated genuine message must be accepted: proves the harness reaches the end.
    let genuine_input = xor && rest.iter().all(|b| *b == 0);
    let later = st.now + Duration::from_millis(u64::from(mode) * 30);
    match mode & 3 {
        // A response to A's pending initiation, MAC1 valid for A.
        0 => {
            let mut init = [0u8; INITIATION_LEN];
            let Ok(sent) = create_initiation(&st.a, &st.a_sees_b, 5, wall(0), &mut rng, &mut init)
            else {
                return;
            };
            // A genuine response from B to this initiation as the XOR base.
            let mut genuine = [0u8; RESPONSE_LEN];
            let mut fresh_b = RemoteStatic::new(&st.b, *st.a.public_key(), None);
            if let Ok(c) = consume_initiation(&st.b, &Initiation::parse(&init).unwrap())
                .and_then(|r| r.finish(&mut fresh_b, st.now))
            {
                let _ = c.create_response(&st.b_sees_a, 9, &mut rng, &mut genuine);
            }
            let mut resp = shape(xor, &genuine, rest);
            resp[..4].copy_from_slice(&[2, 0, 0, 0]);
            CookieGenerator::new(st.a.public_key()).write_macs(&mut resp, st.now);
            assert!(st.a_checker.check_mac1(&resp));
            let Ok(msg) = Response::parse(&resp) else {
                return;
            };
            let result = sent.consume_response(&st.a, &st.a_sees_b, &msg);
            assert!(!genuine_input || result.is_ok());
        }
        // An initiation to B, MAC1 valid for B, from a fuzzed source.
        1 => {
            let mut genuine = [0u8; INITIATION_LEN];
            let secs = u64::from(rest.len() as u32);
            let _ = create_initiation(&st.a, &st.a_sees_b, 3, wall(secs), &mut rng, &mut genuine);
            let mut init = shape(xor, &genuine, rest);
            init[..4].copy_from_slice(&[1, 0, 0, 0]);
            CookieGenerator::new(st.b.public_key()).write_macs(&mut init, st.now);
            let src = source(rest);
            let state = st.b_checker.check_macs(&init, src, later, &mut rng);
            assert_ne!(state, MacState::Invalid);
            let Ok(msg) = Initiation::parse(&init) else {
                return;
            };
            let Ok(received) = consume_initiation(&st.b, &msg) else {
                return;
            };
            let Ok(consumed) = received.finish(&mut st.b_sees_a, later) else {
                return;
            };
            let mut out = [0u8; RESPONSE_LEN];
            let _ = consumed.create_response(&st.b_sees_a, 11, &mut rng, &mut out);
        }
        // A cookie reply to a generator that has just sent an initiation to B.
        2 => {
            let mut gen = CookieGenerator::new(st.b.public_key());
            let mut init = [0u8; INITIATION_LEN];
            init[0] = 1;
            gen.write_macs(&mut init, st.now);
            let mut genuine = [0u8; COOKIE_REPLY_LEN];
            let src = source(rest);
            st.b_checker.create_reply(&init, 3, src, st.now, &mut rng, &mut genuine).unwrap();
            let reply = shape(xor, &genuine, rest);
            let Ok(msg) = CookieReply::parse(&reply) else {
                return;
            };
            let result = gen.consume_reply(&msg, st.now);
            assert!(!genuine_input || result.is_ok());
            if result.is_ok() {
                gen.write_macs(&mut init, later);
                let _ = st.b_checker.check_macs(&init, src, later, &mut rng);
            }
        }
        // Any length into the checker: MAC1, MACs, and a cookie reply to it.
        _ => {
            let src = source(rest);
            let _ = st.b_checker.check_mac1(rest);
            let _ = st.b_checker.check_macs(rest, src, later, &mut rng);
            let mut out = [0u8; COOKIE_REPLY_LEN];
            let _ = st.b_checker.create_reply(rest, 1, src, later, &mut rng, &mut out);
            let mut copy = rest.to_vec();
            CookieGenerator::new(st.b.public_key()).write_macs(&mut copy, later);
            if copy.len() >= 32 {
                assert!(st.b_checker.check_mac1(&copy));
            }
        }
    }
});
