//! `apply_network_plan` / `ferrowg_network_apply` for real on Linux: inside network
//! namespaces this test creates (and deletes, also on failure), on a persistent TUN interface,
//! with tunnel addresses 198.19.0.0/24 and fd19::/64 and an endpoint in 198.18.0.0/24
//! only. Checks addresses, routes, rules and the nft table with `ip -n`/`nft`, then that
//! the undo leaves nothing. Needs root, as CI runs.
#![cfg(target_os = "linux")]

#[path = "../../platform/tests/common/netns.rs"]
mod netns;

use std::ffi::CString;

use ferrowg::capi::{
    ferrowg_last_error_message, ferrowg_network_apply, ferrowg_network_free,
    ferrowg_network_fwmark, ferrowg_network_undo,
};
use ferrowg::{apply_network_plan, TunnelError, FERROWG_ERR_NETWORK, FERROWG_OK};
use netns::{run, Netns};

const KEY: &str = "YAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
const PEER: &str = "ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=";

fn config(allowed: &str) -> String {
    format!(
        "[Interface]\nPrivateKey = {KEY}\nAddress = 198.19.0.1/24, fd19::1/64\nMTU = 1380\n\
         [Peer]\nPublicKey = {PEER}\nEndpoint = 198.18.0.2:51820\nAllowedIPs = {allowed}\n"
    )
}

/// A namespace with the persistent TUN interface `fn{letter}{pid}` in it (one letter per
/// test: the crash marker `/run/ferrowg/IFNAME.state` is not per namespace).
fn namespace(tag: &str, letter: char) -> (Netns, String) {
    let ns = Netns::new(tag);
    let ifname = format!("fn{letter}{}", std::process::id());
    ns.ip(&["tuntap", "add", "mode", "tun", "name", &ifname]);
    (ns, ifname)
}

fn nft_tables(ns: &Netns) -> String {
    run("ip", &["netns", "exec", &ns.name, "nft", "list", "tables"])
}

fn marker(ifname: &str) -> std::path::PathBuf {
    std::path::Path::new("/run/ferrowg").join(format!("{ifname}.state"))
}

/// Asserts the interface and the namespace carry nothing of the plan any more.
fn assert_clean(ns: &Netns, ifname: &str) {
    let addrs = ns.ip(&["addr", "show", "dev", ifname]);
    assert!(!addrs.contains("198.19.0.1") && !addrs.contains("fd19::1"), "{addrs}");
    for family in ["-4", "-6"] {
        let routes = ns.ip(&[family, "route", "show", "table", "all", "dev", ifname]);
        assert!(!routes.contains("198.19.") && !routes.contains("default"), "{routes}");
        let rules = ns.ip(&[family, "rule"]);
        assert!(!rules.contains("51820") && !rules.contains("suppress_prefixlength"), "{rules}");
    }
    assert!(!nft_tables(ns).contains(&format!("ferrowg-{ifname}")));
    assert!(!marker(ifname).exists());
}

/// Frees a C handle when dropped: on a failed assertion, inside the namespace's thread,
/// so the undo never runs in the test's own namespace.
struct FreeOnDrop(u64);

impl Drop for FreeOnDrop {
    fn drop(&mut self) {
        let _ = ferrowg_network_free(self.0);
    }
}

// Each body runs on the thread that entered the namespace: the setup (or handle) is
// dropped there too if an assertion fails, so the undo never reaches another namespace.

#[test]
fn full_tunnel_is_applied_and_undone() {
    let (ns, ifname) = namespace("napply-full", 'a');
    let text = config("0.0.0.0/0, ::/0");
    ns.enter(|| {
        let setup = apply_network_plan(ifname.clone(), text).unwrap();
        assert!(setup.is_applied());
        assert_eq!(setup.fwmark(), Some(51820));

        let link = ns.ip(&["link", "show", "dev", &ifname]);
        assert!(link.contains("mtu 1380") && link.contains(",UP"), "{link}");
        let addrs = ns.ip(&["addr", "show", "dev", &ifname]);
        assert!(addrs.contains("198.19.0.1/24") && addrs.contains("fd19::1/64"), "{addrs}");
        for family in ["-4", "-6"] {
            let routes = ns.ip(&[family, "route", "show", "table", "51820"]);
            assert!(routes.contains(&format!("default dev {ifname}")), "{family} {routes}");
            let rules = ns.ip(&[family, "rule"]);
            assert!(rules.contains("not from all fwmark 0xca6c lookup 51820"), "{rules}");
            assert!(rules.contains("lookup main suppress_prefixlength 0"), "{rules}");
        }
        assert!(nft_tables(&ns).contains(&format!("ferrowg-{ifname}")));
        let mark = run(
            "ip",
            &["netns", "exec", &ns.name, "sysctl", "-n", "net.ipv4.conf.all.src_valid_mark"],
        );
        assert_eq!(mark.trim(), "1");
        assert!(marker(&ifname).exists());

        setup.undo().unwrap();
        assert!(!setup.is_applied());
        setup.undo().unwrap();
    });
    assert_clean(&ns, &ifname);
    // The interface itself is the caller's: still there.
    ns.ip(&["link", "show", "dev", &ifname]);
}

#[test]
#[allow(unsafe_code)] // the C API is the thing under test
fn c_abi_split_tunnel_is_undone_by_free() {
    let (ns, ifname) = namespace("napply-capi", 'b');
    let iface = CString::new(ifname.clone()).unwrap();
    let text = CString::new(config("198.19.0.0/24, fd19::/64, 198.19.1.0/24")).unwrap();
    let handle = ns.enter(|| {
        let mut handle = 0;
        // SAFETY: NUL-terminated strings and a writable handle.
        let rc = unsafe { ferrowg_network_apply(iface.as_ptr(), text.as_ptr(), &mut handle) };
        assert_eq!(rc, FERROWG_OK);
        let guard = FreeOnDrop(handle);
        assert_ne!(handle, 0);
        let mut mark = 7;
        // SAFETY: `mark` is writable.
        assert_eq!(unsafe { ferrowg_network_fwmark(handle, &mut mark) }, FERROWG_OK);
        assert_eq!(mark, 0, "a split tunnel needs no mark");
        let routes = ns.ip(&["-4", "route", "show", "dev", &ifname]);
        assert!(routes.contains("198.19.1.0/24"), "{routes}");
        assert!(!ns.ip(&["-4", "rule"]).contains("51820"));
        assert!(!nft_tables(&ns).contains(&format!("ferrowg-{ifname}")));
        assert_eq!(ferrowg_network_free(handle), FERROWG_OK);
        drop(guard);
        handle
    });
    assert_clean(&ns, &ifname);
    assert_ne!(ferrowg_network_undo(handle), FERROWG_OK, "freed handle");
}

#[test]
#[allow(unsafe_code)] // the C API is the thing under test
fn missing_interface_fails_and_leaves_nothing() {
    let (ns, ifname) = namespace("napply-missing", 'c');
    let missing = format!("fnx{}", std::process::id());
    let err = ns.enter(|| apply_network_plan(missing.clone(), config("0.0.0.0/0"))).unwrap_err();
    assert!(matches!(err, TunnelError::Network { .. }), "{err:?}");
    assert!(err.to_string().contains(&missing), "{err}");
    assert!(!marker(&missing).exists());

    let iface = CString::new(missing).unwrap();
    let text = CString::new(config("0.0.0.0/0")).unwrap();
    let mut handle = 0;
    // SAFETY: NUL-terminated strings and a writable handle; the message is read before
    // the next ferrowg call on this thread.
    let message = ns.enter(|| unsafe {
        let rc = ferrowg_network_apply(iface.as_ptr(), text.as_ptr(), &mut handle);
        assert_eq!(rc, FERROWG_ERR_NETWORK);
        std::ffi::CStr::from_ptr(ferrowg_last_error_message()).to_string_lossy().into_owned()
    });
    assert!(message.starts_with("network setup: "), "{message}");
    assert_eq!(handle, 0);
    assert_clean(&ns, &ifname);
}
