//! Configuration errors handed to the app never echo key material (security review,
//! finding 3): `TunnelError::Config` (Display and Debug) from `Tunnel::start` and
//! `set_config`, and the C last-error string, for keys pasted into bad lines.

use std::ffi::{CStr, CString};

use ferrowg::capi::{ferrowg_last_error_message, ferrowg_tunnel_start_host, FerrowgTunnel};
use ferrowg::{NicMode, Tunnel, FERROWG_ERR_CONFIG};

/// A real private key (base64 and hex) and a preshared key.
const KEY: &str = "yMnKy8zNzs/Q0dLT1NXW19jZ2tvc3d7f4OHi4+Tl5uc=";
const KEY_HEX: &str = "c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7";
const PEER: &str = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";
const PEER_HEX: &str = "6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f80818283";

fn bad_configs() -> Vec<String> {
    vec![
        format!("[Interface]\n{KEY}\n"),
        format!("[Interface]\nPrivateKey: {KEY}\n"),
        format!("[Interface]\n[{KEY}]\n"),
        format!("[Interface]\n{KEY} = {KEY}\n"),
        format!("[Interface]\nPrivateKey = {KEY} trailing\n"),
        format!("[Interface]\nListenPort = {KEY}\n"),
        format!("[Interface]\nAddress = {KEY}\n"),
        format!("[Interface]\nPrivateKey = {KEY}\n[Peer]\nPublicKey = {PEER}\nEndpoint = {KEY}\n"),
        format!(
            "[Interface]\nPrivateKey = {KEY}\n[Peer]\nPublicKey = {PEER}\nPresharedKey = {KEY}x\n"
        ),
        format!("{KEY}\n[Interface]\n"),
        format!("set=1\n{KEY_HEX}\n\n"),
        format!("set=1\nprivate_key={KEY_HEX}zz\n\n"),
        format!("set=1\nlisten_port={KEY_HEX}\n\n"),
        format!("set=1\n{KEY_HEX}={KEY_HEX}\n\n"),
        format!("set=1\npublic_key={PEER_HEX}\npreshared_key={KEY}\n\n"),
        format!("set=1\npublic_key={PEER_HEX}\nendpoint={KEY_HEX}\n\n"),
        format!("private_key:{KEY_HEX}\n"),
    ]
}

fn assert_no_leak(text: &str, input: &str) {
    let lower = text.to_ascii_lowercase();
    for w in KEY.as_bytes().windows(8) {
        let w = std::str::from_utf8(w).unwrap();
        assert!(!text.contains(w), "key piece `{w}` leaked\n input: {input:?}\n error: {text}");
    }
    for w in KEY_HEX.as_bytes().windows(8) {
        let w = std::str::from_utf8(w).unwrap();
        assert!(!lower.contains(w), "key piece `{w}` leaked\n input: {input:?}\n error: {text}");
    }
}

#[test]
fn start_errors_never_echo_keys() {
    for config in bad_configs() {
        let err = Tunnel::start(config.clone(), NicMode::HostPackets, Some("127.0.0.1".into()))
            .err()
            .unwrap_or_else(|| panic!("accepted: {config:?}"));
        assert_eq!(err.code(), FERROWG_ERR_CONFIG, "{err}");
        assert_no_leak(&format!("{err} {err:?}"), &config);
    }
}

#[test]
fn set_config_errors_never_echo_keys() {
    let good = format!("[Interface]\nPrivateKey = {KEY}\n");
    let tunnel = Tunnel::start(good, NicMode::HostPackets, Some("127.0.0.1".into())).unwrap();
    for config in bad_configs() {
        for replace in [true, false] {
            let err = tunnel.set_config(config.clone(), replace).unwrap_err();
            assert_no_leak(&format!("{err} {err:?}"), &config);
        }
    }
    tunnel.stop().unwrap();
}

#[test]
#[allow(unsafe_code)] // the C API is the thing under test
fn c_last_error_never_echoes_keys() {
    for config in bad_configs() {
        let c = CString::new(config.clone()).unwrap();
        let addr = CString::new("127.0.0.1").unwrap();
        let mut out: FerrowgTunnel = 0;
        // SAFETY: NUL-terminated strings and a writable handle, as the call requires.
        let rc = unsafe { ferrowg_tunnel_start_host(c.as_ptr(), addr.as_ptr(), &mut out) };
        assert_eq!(rc, FERROWG_ERR_CONFIG, "{config:?}");
        // SAFETY: valid until the next ferrowg call on this thread.
        let msg = unsafe { CStr::from_ptr(ferrowg_last_error_message()) };
        let msg = msg.to_str().unwrap();
        assert!(msg.contains("line "), "{msg}");
        assert_no_leak(msg, &config);
    }
}
