//! Arbitrary text into the wg-quick INI parser; a parsed config must also write back and
//! re-parse to the same value. Any panic is a bug; bad text must come back as an error.
#![no_main]

use ferrowg_core::config::WgQuickConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(cfg) = WgQuickConfig::parse(text) else {
        return;
    };
    if let Ok(written) = cfg.to_wg_quick() {
        let again = WgQuickConfig::parse(&written).expect("written config re-parses");
        assert_eq!(again, cfg, "write/parse round trip changed the config");
    }
});
