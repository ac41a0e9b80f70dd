//! Arbitrary text into the UAPI request parser, then `apply` onto an empty device and onto
//! a device that already has peers. Any panic is a bug; bad requests must come back as an
//! error with an errno.
#![no_main]

use std::sync::OnceLock;

use ferrowg_core::config::uapi::{self, Request};
use ferrowg_core::config::{DeviceConfig, WgQuickConfig};
use libfuzzer_sys::fuzz_target;

fn populated() -> &'static DeviceConfig {
    static BASE: OnceLock<DeviceConfig> = OnceLock::new();
    BASE.get_or_init(|| {
        let text = "[Interface]\n\
            PrivateKey = AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A=\n\
            ListenPort = 51820\n\
            [Peer]\n\
            PublicKey = ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=\n\
            AllowedIPs = 10.0.0.0/24, fd00::/64\n\
            Endpoint = 127.0.0.1:51820\n\
            PersistentKeepalive = 25\n";
        WgQuickConfig::parse(text).expect("seed config parses").device
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match uapi::parse_request(text) {
        Ok(Request::Set(ops)) => {
            let _ = uapi::format_set(&ops);
            for base in [&DeviceConfig::default(), populated()] {
                match uapi::apply(&ops, base) {
                    Ok(cfg) => {
                        if let Ok(set) = cfg.to_uapi_set() {
                            let reparsed = uapi::parse_request(&set).expect("own set text parses");
                            let Request::Set(ops2) = reparsed else {
                                panic!("own set text is not a set request");
                            };
                            let back = uapi::apply(&ops2, &DeviceConfig::default())
                                .expect("own set text applies");
                            assert_eq!(back, cfg, "set text round trip changed the config");
                        }
                    }
                    Err(e) => {
                        let _ = e.errno();
                        let _ = e.response();
                    }
                }
            }
        }
        Ok(_) => {}
        Err(e) => {
            let _ = e.errno();
        }
    }
    let _ = uapi::parse_get_response(text);
});
