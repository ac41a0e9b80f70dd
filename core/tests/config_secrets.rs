//! Parse errors never echo key material (security review, finding 3): real private and
//! preshared keys, and slices of them, pasted into every line shape of a wg-quick file,
//! a UAPI request and a UAPI get response. No error's Display or Debug may contain any
//! 8-character window of the key's base64 or hex text.

use ferrowg_core::config::uapi::{parse_get_response, parse_request, parse_set};
use ferrowg_core::config::WgQuickConfig;
use ferrowg_core::keys::{PresharedKey, PrivateKey};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// Shortest window of a key that must never appear in an error.
const WINDOW: usize = 8;

/// A valid public key for peer sections (public keys are not secret).
const PEER: &str = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";
const PEER_HEX: &str = "6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283";

/// One secret in its two text forms.
struct Secret {
    b64: String,
    hex: String,
}

fn secrets(n: usize) -> Vec<Secret> {
    let mut rng = ChaCha20Rng::from_seed([0x5e; 32]);
    (0..n)
        .map(|i| {
            let mut bytes = [0u8; 32];
            rng.fill_bytes(&mut bytes);
            if i % 2 == 0 {
                let k = PrivateKey::from_bytes(bytes);
                Secret { b64: k.to_base64(), hex: k.to_hex() }
            } else {
                let k = PresharedKey::from_bytes(bytes);
                Secret { b64: k.to_base64(), hex: k.to_hex() }
            }
        })
        .collect()
}

/// Every text form of `s` an error could leak, with every slice of `WINDOW` or more.
fn forms(s: &Secret) -> Vec<String> {
    vec![
        s.b64.clone(),
        s.b64.trim_end_matches('=').to_owned(),
        s.hex.clone(),
        s.hex.to_ascii_uppercase(),
    ]
}

/// The pieces a test pastes into lines: the whole key in every form, and slices.
fn pastes(s: &Secret) -> Vec<String> {
    let mut out = forms(s);
    for form in forms(s) {
        for len in [WINDOW, 11, 16, 24, 32, 40] {
            for start in [0, 3, form.len().saturating_sub(len)] {
                if let Some(slice) = form.get(start..start + len) {
                    out.push(slice.to_owned());
                }
            }
        }
    }
    out
}

/// Fails if `text` holds any `WINDOW`-long piece of the key (hex compared caselessly).
fn assert_no_leak(text: &str, s: &Secret, input: &str) {
    let lower = text.to_ascii_lowercase();
    let b64 = s.b64.as_bytes();
    for w in b64.windows(WINDOW) {
        let w = std::str::from_utf8(w).unwrap();
        assert!(
            !text.contains(w),
            "base64 key piece `{w}` leaked\n input: {input:?}\n error: {text}"
        );
    }
    for w in s.hex.as_bytes().windows(WINDOW) {
        let w = std::str::from_utf8(w).unwrap();
        assert!(
            !lower.contains(w),
            "hex key piece `{w}` leaked\n input: {input:?}\n error: {text}"
        );
    }
}

/// wg-quick files with `{}` where the pasted text goes. Each one must be refused.
const WG_QUICK: &[&str] = &[
    "[Interface]\n{}\n",
    "[Interface]\n{} =\n",
    "[Interface]\n  {}  # a comment\n",
    "{}\n[Interface]\n",
    "[Interface]\nPrivateKey: {}\n",
    "[Interface]\nPrivateKey {}\n",
    "[Interface]\nPrivateKey = {} trailing\n",
    "[Interface]\nPrivateKey = {}{}\n",
    "[Interface]\nPrivateKey = {}!\n",
    "[Interface]\nPrivateKey = \"{}\"\n",
    "[Interface]\n[{}]\n",
    "[{}]\n",
    "[Interface]\n[ {} ]\n",
    "[Peer {}]\n",
    "[Interface]\n{} = {}\n",
    "[Interface]\n{} = 1\n",
    "[Interface]\nBogus{} = 1\n",
    "[Interface]\nx{}x\n",
    "[Interface]\nListenPort = {}\n",
    "[Interface]\nListenPort = 1{}\n",
    "[Interface]\nFwMark = {}\n",
    "[Interface]\nFwMark = 0x{}\n",
    "[Interface]\nMTU = {}\n",
    "[Interface]\nTable = {}=\n",
    "[Interface]\nTable = {} x\n",
    "[Interface]\nSaveConfig = {}\n",
    "[Interface]\nAddress = {}\n",
    "[Interface]\nAddress = 10.0.0.1/{}\n",
    "[Interface]\nAddress = 10.0.0.1/24, {}\n",
    "[Interface]\nDNS = {}:53\n",
    "[Interface]\nDNS = 1.1.1.1,{}:\n",
    "[Interface]\nPostUp = wg set %i private-key <(echo {})\nBroken line\n",
    "[Interface]\nPublicKey = {}\n",
    "[Interface]\n\n[Peer]\nPrivateKey = {}\n",
    "[Peer]\nPublicKey = {}x\n",
    "[Peer]\nPublicKey = PEER\nPresharedKey = {}trailing\n",
    "[Peer]\nPublicKey = PEER\nPresharedKey = {}{}\n",
    "[Peer]\nPublicKey = PEER\nEndpoint = {}\n",
    "[Peer]\nPublicKey = PEER\nEndpoint = {}:99999\n",
    "[Peer]\nPublicKey = PEER\nEndpoint = [{}]:99999\n",
    "[Peer]\nPublicKey = PEER\nEndpoint = [{}\n",
    "[Peer]\nPublicKey = PEER\nEndpoint = a.{}/b:1\n",
    "[Peer]\nPublicKey = PEER\nAllowedIPs = {}\n",
    "[Peer]\nPublicKey = PEER\nAllowedIPs = 10.0.0.0/{}\n",
    "[Peer]\nPublicKey = PEER\nAllowedIPs = ::/{}/1\n",
    "[Peer]\nPublicKey = PEER\nPersistentKeepalive = {}\n",
    "[Peer]\nPublicKey = PEER\n{} = PEER\n",
    "[Peer]\nPublicKey = PEER\nAllowedIPs = {}\n[Peer]\n",
];

/// UAPI `set=1` requests (whole requests, for `parse_request`). Each must be refused.
const UAPI_SET: &[&str] = &[
    "{}\n\n",
    "{}=1\n\n",
    "get=1\n{}\n\n",
    "set=1\n{}\n\n",
    "set=1\n{}=\n\n",
    "set=1\n{}={}\n\n",
    "set=1\nprivate_key={}zz\n\n",
    "set=1\nprivate_key={}{}\n\n",
    "set=1\nprivate_key=x{}\n\n",
    "set=1\nprivate_key:{}\n\n",
    "set=1\nprivate_key {}\n\n",
    "set=1\nlisten_port={}\n\n",
    "set=1\nfwmark={}\n\n",
    "set=1\nreplace_peers={}\n\n",
    "set=1\npublic_key=PEER_HEX\npreshared_key={}x\n\n",
    "set=1\npublic_key=PEER_HEX\nendpoint={}\n\n",
    "set=1\npublic_key=PEER_HEX\nendpoint={}:1\n\n",
    "set=1\npublic_key=PEER_HEX\nallowed_ip={}\n\n",
    "set=1\npublic_key=PEER_HEX\nallowed_ip=10.0.0.0/{}\n\n",
    "set=1\npublic_key=PEER_HEX\npersistent_keepalive_interval={}\n\n",
    "set=1\npublic_key=PEER_HEX\nprotocol_version={}\n\n",
    "set=1\npublic_key=PEER_HEX\nremove={}\n\n",
    "set=1\npublic_key=PEER_HEX\nupdate_only={}\n\n",
    "set=1\npublic_key=PEER_HEX\nreplace_allowed_ips={}\n\n",
    "set=1\npublic_key=PEER_HEX\n{}=1\n\n",
    "set=1\npublic_key=PEER_HEX\n{}\n\n",
];

/// UAPI `get=1` responses (for `parse_get_response`). Each must be refused.
const UAPI_GET: &[&str] = &[
    "{}\nerrno=0\n\n",
    "private_key={}x\nerrno=0\n\n",
    "listen_port={}\nerrno=0\n\n",
    "errno={}\n\n",
    "public_key=PEER_HEX\npreshared_key={}x\nerrno=0\n\n",
    "public_key=PEER_HEX\nendpoint={}\nerrno=0\n\n",
    "public_key=PEER_HEX\nallowed_ip={}\nerrno=0\n\n",
    "public_key=PEER_HEX\nrx_bytes={}\nerrno=0\n\n",
    "public_key=PEER_HEX\nprotocol_version={}\nerrno=0\n\n",
];

fn fill(shape: &str, paste: &str) -> String {
    shape.replace("PEER_HEX", PEER_HEX).replace("PEER", PEER).replace("{}", paste)
}

/// Checks every shape with `paste`; with a whole key (`must_fail`) every wg-quick and
/// `set=1` shape must be refused, so no case passes by parsing. Returns the error count.
fn check_all(s: &Secret, paste: &str, must_fail: bool) -> usize {
    let mut errors = 0;
    let mut check = |input: &str, result: Option<String>| match result {
        Some(text) => {
            assert_no_leak(&text, s, input);
            errors += 1;
        }
        None => assert!(!must_fail, "accepted: {input:?}"),
    };
    for shape in WG_QUICK {
        let input = fill(shape, paste);
        check(&input, WgQuickConfig::parse(&input).err().map(|e| format!("{e} {e:?}")));
    }
    for shape in UAPI_SET {
        let input = fill(shape, paste);
        check(&input, parse_request(&input).err().map(|e| format!("{e} {e:?}")));
        if let Some(body) = input.strip_prefix("set=1\n") {
            check(&input, parse_set(body).err().map(|e| format!("{e} {e:?}")));
        }
    }
    for shape in UAPI_GET {
        let input = fill(shape, paste);
        if let Err(e) = parse_get_response(&input) {
            check(&input, Some(format!("{e} {e:?}")));
        }
    }
    errors
}

#[test]
fn keys_and_key_slices_never_appear_in_parse_errors() {
    let (mut cases, mut errors) = (0, 0);
    for s in secrets(8) {
        for paste in forms(&s) {
            errors += check_all(&s, &paste, true);
        }
        for paste in pastes(&s) {
            cases += WG_QUICK.len() + UAPI_SET.len() * 2 + UAPI_GET.len();
            errors += check_all(&s, &paste, false);
        }
    }
    // Slices may happen to parse (a run of hex digits is a fine port); most must not.
    assert!(errors > cases * 3 / 4, "only {errors} of {cases} inputs were refused");
}

#[test]
fn errors_still_name_the_line_and_the_key() {
    let s = &secrets(1)[0];
    let cases = [
        (format!("[Interface]\nPrivateKey = {}!\n", s.b64), "line 2: PrivateKey: "),
        (format!("[Interface]\nPrivateKey: {}\n", s.b64), "line 2: PrivateKey: <hidden>: "),
        (format!("[Interface]\n{}\n", s.b64), "line 2: <hidden>: unknown key"),
        (format!("[Interface]\n[{}]\n", s.b64), "line 2: [<hidden>]: unknown section"),
        (format!("[Interface]\nListenPort = {}\n", s.b64), "line 2: ListenPort: `<hidden>`"),
    ];
    for (input, want) in cases {
        let err = WgQuickConfig::parse(&input).unwrap_err().to_string();
        assert!(err.starts_with(want), "{err:?} does not start with {want:?}");
    }
    let err = parse_request(&format!("set=1\nlisten_port={}\n\n", s.hex)).unwrap_err();
    assert_eq!(err.to_string(), "line 2: listen_port: `<hidden>` is not a number from 0 to 65535");
}

fn proptest_config() -> Config {
    Config {
        cases: 512,
        rng_seed: RngSeed::Fixed(0x6b65_7973),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(proptest_config())]

    /// A key (or a slice of one) between arbitrary punctuation, on any line of a file
    /// or request: whatever the parser makes of it, an error holds no piece of it.
    #[test]
    fn a_key_anywhere_in_a_line_never_leaks(
        bytes in any::<[u8; 32]>(),
        hex in any::<bool>(),
        cut in 0usize..40,
        len in WINDOW..=64,
        before in "[ =\\[\\]:#,/.a-z0-9%-]{0,6}",
        after in "[ =\\[\\]:#,/.a-z0-9%-]{0,6}",
        line in 0usize..4,
    ) {
        let k = PrivateKey::from_bytes(bytes);
        let s = Secret { b64: k.to_base64(), hex: k.to_hex() };
        let text = if hex { &s.hex } else { &s.b64 };
        let start = cut.min(text.len() - WINDOW);
        let piece = &text[start..(start + len).min(text.len())];
        let pasted = format!("{before}{piece}{after}");
        let peer = format!("PublicKey = {PEER}");
        let mut wq = vec!["[Interface]", "ListenPort = 1", "[Peer]", &peer];
        wq.insert(line, &pasted);
        let input = wq.join("\n");
        if let Err(err) = WgQuickConfig::parse(&input) {
            assert_no_leak(&format!("{err} {err:?}"), &s, &input);
        }
        let peer = format!("public_key={PEER_HEX}");
        let mut uapi = vec!["set=1", "listen_port=1", &peer, "allowed_ip=::/0"];
        uapi.insert(line + 1, &pasted);
        let input = uapi.join("\n") + "\n\n";
        if let Err(err) = parse_request(&input) {
            assert_no_leak(&format!("{err} {err:?}"), &s, &input);
        }
    }
}
