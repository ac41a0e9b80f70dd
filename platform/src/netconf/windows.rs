//! The Windows applier: the operations of [`super::win_plan::operations`] through IP
//! Helper (the `windows` crate's bindings) on the tunnel interface — MTU and interface
//! metric (`SetIpInterfaceEntry`), addresses (`CreateUnicastIpAddressEntry`), DNS
//! (`SetInterfaceDnsSettings`, Windows 10 2004 or later) and routes
//! (`CreateIpForwardEntry2`) — recording each for an undo newest first.
//!
//! Every call is checked to exist in `iphlpapi.dll` before it is made, so a system
//! without one (an older Windows for `SetInterfaceDnsSettings`; wine, which implements
//! none of these) gets a clean error and an undo, never a missing-import crash. There is
//! no registry fallback for DNS on older releases: the error says what is missing.

use std::net::IpAddr;

use ferrowg_core::netplan::{Family, NetworkPlan};
use windows::core::{s, w, GUID, PCSTR, PCWSTR, PWSTR};
use windows::Win32::Foundation::{
    ERROR_FILE_NOT_FOUND, ERROR_NOT_FOUND, ERROR_OBJECT_ALREADY_EXISTS, NO_ERROR, WIN32_ERROR,
};
use windows::Win32::NetworkManagement::IpHelper::{
    ConvertInterfaceAliasToLuid, ConvertInterfaceIndexToLuid, ConvertInterfaceLuidToGuid,
    ConvertInterfaceLuidToIndex, CreateIpForwardEntry2, CreateUnicastIpAddressEntry,
    DeleteIpForwardEntry2, DeleteUnicastIpAddressEntry, GetIpInterfaceEntry,
    InitializeIpForwardEntry, InitializeIpInterfaceEntry, InitializeUnicastIpAddressEntry,
    SetInterfaceDnsSettings, SetIpInterfaceEntry, DNS_INTERFACE_SETTINGS,
    DNS_INTERFACE_SETTINGS_VERSION1, DNS_SETTING_IPV6, DNS_SETTING_NAMESERVER,
    DNS_SETTING_SEARCHLIST, IP_ADDRESS_PREFIX, MIB_IPFORWARD_ROW2, MIB_IPINTERFACE_ROW,
    MIB_UNICASTIPADDRESS_ROW,
};
use windows::Win32::NetworkManagement::Ndis::NET_LUID_LH;
use windows::Win32::Networking::WinSock::{
    IpDadStatePreferred, ADDRESS_FAMILY, AF_INET, AF_INET6, IN6_ADDR, IN6_ADDR_0, IN_ADDR,
    IN_ADDR_0, NL_ROUTE_PROTOCOL, SOCKADDR_IN, SOCKADDR_IN6, SOCKADDR_IN6_0, SOCKADDR_INET,
};
use windows::Win32::System::LibraryLoader::{GetProcAddress, LoadLibraryW};

use super::win_marker::{self, Entry, MarkerFile, Owner};
use super::win_owner;
use super::win_plan::{apply_ops, operations, Applied, WinExecutor, WinOp};

/// Applies `plan` to the interface with index `interface_index` (e.g.
/// `WintunTun::interface_index`); `log` gets one line per step. On an error everything
/// done so far is undone and the error returned. Undo with [`Applied::undo`] or drop.
/// Each change is first listed in the crash marker `%ProgramData%\ferrowg\NAME.state`
/// (`name`: the interface as the caller names it, the same each time); a complete undo
/// removes it, and [`cleanup_stale`] undoes what a dead process left. Call
/// [`cleanup_stale`] for `name` before applying.
pub fn apply(
    interface_index: u32,
    name: &str,
    plan: &NetworkPlan,
    log: Box<dyn Fn(&str) + Send>,
) -> Result<Applied<IpHelper>, String> {
    let mut luid = NET_LUID_LH::default();
    need(s!("ConvertInterfaceIndexToLuid"), "ConvertInterfaceIndexToLuid")?;
    // SAFETY: `luid` is a live, writable NET_LUID_LH.
    let rc = unsafe { ConvertInterfaceIndexToLuid(interface_index, &mut luid) };
    check(rc, &format!("interface index {interface_index}"))?;
    let mut guid = GUID::zeroed();
    need(s!("ConvertInterfaceLuidToGuid"), "ConvertInterfaceLuidToGuid")?;
    // SAFETY: both pointers refer to live values of the right types.
    let rc = unsafe { ConvertInterfaceLuidToGuid(&luid, &mut guid) };
    check(rc, "interface GUID")?;
    let owner = Owner {
        pid: std::process::id(),
        created: win_owner::own_creation_time(),
        // SAFETY: every bit pattern of the union is a valid u64.
        luid: unsafe { luid.Value },
        guid: guid.to_u128(),
    };
    let path = win_marker::marker_path(&win_owner::marker_dir(), name);
    let marker = Some(MarkerFile::new(path, &owner));
    apply_ops(IpHelper { luid, guid, log, marker, pending: None }, &operations(plan))
}

/// The interface index of the adapter whose alias (the name shown in the network
/// connections list, e.g. the wintun adapter's name) is `alias`.
pub fn interface_index(alias: &str) -> Result<u32, String> {
    need(s!("ConvertInterfaceAliasToLuid"), "ConvertInterfaceAliasToLuid")?;
    need(s!("ConvertInterfaceLuidToIndex"), "ConvertInterfaceLuidToIndex")?;
    let wide: Vec<u16> = alias.encode_utf16().chain(std::iter::once(0)).collect();
    let mut luid = NET_LUID_LH::default();
    // SAFETY: `wide` is a NUL-terminated UTF-16 string that outlives the call; `luid` is
    // a live, writable NET_LUID_LH.
    let rc = unsafe { ConvertInterfaceAliasToLuid(PCWSTR(wide.as_ptr()), &mut luid) };
    check(rc, &format!("interface `{alias}`"))?;
    let mut index = 0u32;
    // SAFETY: both pointers refer to live values of the right types.
    let rc = unsafe { ConvertInterfaceLuidToIndex(&luid, &mut index) };
    check(rc, &format!("interface `{alias}` index"))?;
    Ok(index)
}

/// The executor: IP Helper on one interface.
pub struct IpHelper {
    luid: NET_LUID_LH,
    guid: GUID,
    log: Box<dyn Fn(&str) + Send>,
    /// The crash marker (`None` in a cleanup, which works from one).
    marker: Option<MarkerFile>,
    /// The marker entry of the operation under way.
    pending: Option<Entry>,
}

impl std::fmt::Debug for IpHelper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // SAFETY: every bit pattern of the union is a valid u64.
        let luid = unsafe { self.luid.Value };
        f.debug_struct("IpHelper").field("luid", &luid).field("guid", &self.guid).finish()
    }
}

/// Fails cleanly if `iphlpapi.dll` lacks `func`.
fn need(func: PCSTR, name: &str) -> Result<(), String> {
    // SAFETY: loads (or references) a system DLL the process already imports from.
    let module = unsafe { LoadLibraryW(w!("iphlpapi.dll")) }.map_err(|e| format!("{e}"))?;
    // SAFETY: `func` is a NUL-terminated literal; the module handle is valid.
    match unsafe { GetProcAddress(module, func) } {
        Some(_) => Ok(()),
        None => Err(format!("{name} is not provided by this system's iphlpapi.dll")),
    }
}

fn check(rc: WIN32_ERROR, what: &str) -> Result<(), String> {
    if rc == NO_ERROR {
        return Ok(());
    }
    Err(format!("{what}: {}", std::io::Error::from_raw_os_error(rc.0 as i32)))
}

fn af(family: Family) -> ADDRESS_FAMILY {
    match family {
        Family::V4 => AF_INET,
        Family::V6 => AF_INET6,
    }
}

fn sockaddr(ip: IpAddr) -> SOCKADDR_INET {
    match ip {
        IpAddr::V4(v4) => SOCKADDR_INET {
            Ipv4: SOCKADDR_IN {
                sin_family: AF_INET,
                sin_port: 0,
                sin_addr: IN_ADDR { S_un: IN_ADDR_0 { S_addr: u32::from_ne_bytes(v4.octets()) } },
                sin_zero: [0; 8],
            },
        },
        IpAddr::V6(v6) => SOCKADDR_INET {
            Ipv6: SOCKADDR_IN6 {
                sin6_family: AF_INET6,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: IN6_ADDR { u: IN6_ADDR_0 { Byte: v6.octets() } },
                Anonymous: SOCKADDR_IN6_0 { sin6_scope_id: 0 },
            },
        },
    }
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

impl IpHelper {
    fn set_dns(&self, family: Family, servers: &str, search: &str) -> Result<(), String> {
        need(s!("SetInterfaceDnsSettings"), "SetInterfaceDnsSettings (Windows 10 2004+)")?;
        let (mut servers, mut search) = (wide(servers), wide(search));
        let mut flags = u64::from(DNS_SETTING_NAMESERVER);
        if family == Family::V6 {
            flags |= u64::from(DNS_SETTING_IPV6);
        } else {
            flags |= u64::from(DNS_SETTING_SEARCHLIST);
        }
        let settings = DNS_INTERFACE_SETTINGS {
            Version: DNS_INTERFACE_SETTINGS_VERSION1,
            Flags: flags,
            NameServer: PWSTR(servers.as_mut_ptr()),
            SearchList: PWSTR(search.as_mut_ptr()),
            ..Default::default()
        };
        // SAFETY: the settings point at live NUL-terminated UTF-16 strings for the call.
        let rc = unsafe { SetInterfaceDnsSettings(self.guid, &settings) };
        check(rc, "SetInterfaceDnsSettings")
    }
}

impl IpHelper {
    /// Lists `entry` in the crash marker before its change is made.
    fn note(&mut self, entry: Entry) {
        self.pending = Some(entry.clone());
        if let Some(m) = &mut self.marker {
            if let Err(e) = m.push(entry) {
                (self.log)(&format!("ferrowg: crash marker: {e}"));
            }
        }
    }

    /// Drops `entry` from the crash marker (undone, or it changed nothing).
    fn unnote(&mut self, entry: &Entry) {
        if let Some(m) = &mut self.marker {
            if let Err(e) = m.remove(entry) {
                (self.log)(&format!("ferrowg: crash marker: {e}"));
            }
        }
    }

    fn interface_row(&self, family: Family) -> Result<MIB_IPINTERFACE_ROW, String> {
        need(s!("GetIpInterfaceEntry"), "GetIpInterfaceEntry")?;
        need(s!("SetIpInterfaceEntry"), "SetIpInterfaceEntry")?;
        let mut row = MIB_IPINTERFACE_ROW::default();
        // SAFETY: `row` is a live, writable MIB_IPINTERFACE_ROW.
        unsafe { InitializeIpInterfaceEntry(&mut row) };
        row.Family = af(family);
        row.InterfaceLuid = self.luid;
        // SAFETY: as above; the call fills the row for this LUID and family.
        check(unsafe { GetIpInterfaceEntry(&mut row) }, "GetIpInterfaceEntry")?;
        Ok(row)
    }

    fn address_row(&self, addr: IpAddr, prefix_len: u8) -> MIB_UNICASTIPADDRESS_ROW {
        let mut row = MIB_UNICASTIPADDRESS_ROW::default();
        // SAFETY: `row` is a live, writable row.
        unsafe { InitializeUnicastIpAddressEntry(&mut row) };
        row.InterfaceLuid = self.luid;
        row.Address = sockaddr(addr);
        row.OnLinkPrefixLength = prefix_len;
        row
    }

    fn route_row(&self, prefix: IpAddr, prefix_len: u8) -> MIB_IPFORWARD_ROW2 {
        let mut row = MIB_IPFORWARD_ROW2::default();
        // SAFETY: `row` is a live, writable row.
        unsafe { InitializeIpForwardEntry(&mut row) };
        row.InterfaceLuid = self.luid;
        row.DestinationPrefix =
            IP_ADDRESS_PREFIX { Prefix: sockaddr(prefix), PrefixLength: prefix_len };
        row.NextHop = sockaddr(match Family::of(prefix) {
            Family::V4 => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            Family::V6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        });
        row
    }

    fn execute_op(&mut self, op: &WinOp) -> Result<Option<Entry>, String> {
        match op {
            WinOp::Interface { family, mtu, metric } => {
                (self.log)(&format!("[#] interface {family:?} mtu {mtu} metric {metric:?}"));
                let mut row = self.interface_row(*family)?;
                let entry = Entry::Interface {
                    family: *family,
                    mtu: row.NlMtu,
                    metric: row.Metric,
                    automatic_metric: row.UseAutomaticMetric,
                };
                self.note(entry.clone());
                row.NlMtu = *mtu;
                if let Some(metric) = metric {
                    row.UseAutomaticMetric = false;
                    row.Metric = *metric;
                }
                // SetIpInterfaceEntry refuses an IPv4 row with a site prefix length.
                row.SitePrefixLength = 0;
                // SAFETY: a fully initialized row read back from the system.
                check(unsafe { SetIpInterfaceEntry(&mut row) }, "SetIpInterfaceEntry")?;
                Ok(Some(entry))
            }
            WinOp::Address { addr, prefix_len } => {
                (self.log)(&format!("[#] address add {addr}/{prefix_len}"));
                need(s!("CreateUnicastIpAddressEntry"), "CreateUnicastIpAddressEntry")?;
                let entry = Entry::Address { addr: *addr, prefix_len: *prefix_len };
                self.note(entry.clone());
                let mut row = self.address_row(*addr, *prefix_len);
                row.DadState = IpDadStatePreferred;
                // SAFETY: `row` is initialized and live for the call.
                let rc = unsafe { CreateUnicastIpAddressEntry(&row) };
                if rc == ERROR_OBJECT_ALREADY_EXISTS {
                    return Ok(None); // not ours to remove
                }
                check(rc, &format!("address {addr}/{prefix_len}"))?;
                Ok(Some(entry))
            }
            WinOp::Dns { family, servers, search } => {
                (self.log)(&format!("[#] DNS {family:?} servers {servers} search {search}"));
                self.note(Entry::Dns(*family));
                self.set_dns(*family, servers, search)?;
                Ok(Some(Entry::Dns(*family)))
            }
            WinOp::Route(r) => {
                (self.log)(&format!("[#] route add {}/{}", r.prefix, r.prefix_len));
                need(s!("CreateIpForwardEntry2"), "CreateIpForwardEntry2")?;
                let entry = Entry::Route { prefix: r.prefix, prefix_len: r.prefix_len };
                self.note(entry.clone());
                let mut row = self.route_row(r.prefix, r.prefix_len);
                row.NextHop = sockaddr(r.next_hop);
                row.Metric = r.metric;
                row.Protocol = NL_ROUTE_PROTOCOL(r.protocol);
                // SAFETY: `row` is initialized and live for the call.
                let rc = unsafe { CreateIpForwardEntry2(&row) };
                if rc == ERROR_OBJECT_ALREADY_EXISTS {
                    return Ok(None);
                }
                check(rc, &format!("route {}/{}", r.prefix, r.prefix_len))?;
                Ok(Some(entry))
            }
        }
    }

    /// Reverts one recorded change (also one read from a dead process's marker).
    fn revert_entry(&mut self, entry: &Entry) -> Result<(), String> {
        (self.log)(&format!("[#] undo {}", entry.line()));
        // An interface that is already gone took its addresses and routes with it.
        let gone_ok = |rc: WIN32_ERROR, what: &str| {
            if rc == ERROR_NOT_FOUND || rc == ERROR_FILE_NOT_FOUND {
                return Ok(());
            }
            check(rc, what)
        };
        match entry {
            Entry::Interface { family, mtu, metric, automatic_metric } => {
                let mut row = match self.interface_row(*family) {
                    Ok(row) => row,
                    Err(_) if !self.interface_exists() => return Ok(()),
                    Err(e) => return Err(e),
                };
                row.NlMtu = *mtu;
                row.Metric = *metric;
                row.UseAutomaticMetric = *automatic_metric;
                row.SitePrefixLength = 0;
                // SAFETY: a row read from the system, live for the call.
                gone_ok(unsafe { SetIpInterfaceEntry(&mut row) }, "restore interface")
            }
            Entry::Address { addr, prefix_len } => {
                let row = self.address_row(*addr, *prefix_len);
                // SAFETY: an initialized row, live for the call.
                let rc = unsafe { DeleteUnicastIpAddressEntry(&row) };
                gone_ok(rc, "DeleteUnicastIpAddressEntry")
            }
            Entry::Dns(family) => match self.set_dns(*family, "", "") {
                Err(_) if !self.interface_exists() => Ok(()),
                other => other,
            },
            Entry::Route { prefix, prefix_len } => {
                let row = self.route_row(*prefix, *prefix_len);
                // SAFETY: an initialized row, live for the call.
                let rc = unsafe { DeleteIpForwardEntry2(&row) };
                gone_ok(rc, "DeleteIpForwardEntry2")
            }
        }
    }

    /// Whether the interface still exists (its LUID maps to an index).
    fn interface_exists(&self) -> bool {
        let mut index = 0u32;
        // SAFETY: both pointers refer to live values of the right types.
        let rc = unsafe { ConvertInterfaceLuidToIndex(&self.luid, &mut index) };
        rc == NO_ERROR
    }
}

impl WinExecutor for IpHelper {
    type Undo = Entry;

    fn execute(&mut self, op: &WinOp) -> Result<Option<Entry>, String> {
        self.pending = None;
        let result = self.execute_op(op);
        if let Some(entry) = self.pending.take() {
            if !matches!(result, Ok(Some(_))) {
                self.unnote(&entry);
            }
        }
        result
    }

    fn revert(&mut self, entry: &Entry) -> Result<(), String> {
        self.revert_entry(entry)?;
        self.unnote(entry);
        Ok(())
    }
}

/// Undoes what a stale marker for the interface `name` lists (newest first) and removes
/// it: what a process that died with the plan applied left. `Ok` with the lines undone
/// (empty: there was no marker); `Err` if the process that wrote it still runs, a line
/// is of an unknown kind, or something could not be undone (the marker then stays).
pub fn cleanup_stale(name: &str, log: Box<dyn Fn(&str) + Send>) -> Result<Vec<String>, String> {
    let path = win_marker::marker_path(&win_owner::marker_dir(), name);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let (owner, entries) = win_marker::stale(&text, win_owner::alive)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    log(&format!("[#] stale {} from a dead process: undoing it", path.display()));
    let luid = NET_LUID_LH { Value: owner.luid };
    let guid = GUID::from_u128(owner.guid);
    let mut helper = IpHelper { luid, guid, log, marker: None, pending: None };
    let mut undone = Vec::new();
    let mut errors = Vec::new();
    for entry in &entries {
        match helper.revert_entry(entry) {
            Ok(()) => undone.push(entry.line()),
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(format!("cleanup of {name}: {}", errors.join("; ")));
    }
    std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(undone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrowg_core::config::WgQuickConfig;

    fn plan() -> NetworkPlan {
        let text = "[Interface]\nPrivateKey = AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A=\n\
                    Address = 198.19.0.2/24\nDNS = 198.19.0.1\n[Peer]\n\
                    PublicKey = ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=\n\
                    AllowedIPs = 0.0.0.0/0\n";
        NetworkPlan::from_config(&WgQuickConfig::parse(text).unwrap())
    }

    /// An interface index nobody has: a clean error before anything is done.
    #[test]
    fn unknown_interface_fails_cleanly() {
        let e = apply(0x7fff_fff0, "none", &plan(), Box::new(|_: &str| {})).unwrap_err();
        assert!(e.contains("interface index"), "{e}");
    }

    /// The loopback interface (index 1 on Windows and wine): whatever the system lacks
    /// or refuses (wine implements none of the calls; a non-administrator gets access
    /// denied), the error comes back cleanly and the record is empty afterwards.
    #[test]
    fn a_failing_step_comes_back_as_an_error_with_everything_undone() {
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let l = log.clone();
        let result = apply(
            1,
            "ferrowg-test-lo",
            &plan(),
            Box::new(move |m: &str| l.lock().unwrap().push(m.into())),
        );
        let lines = log.lock().unwrap().clone();
        eprintln!("windows applier on loopback: {:?}\n{}", result.as_ref().err(), lines.join("\n"));
        match result {
            Err(e) => {
                assert!(!e.is_empty());
                // Every recorded step was undone, newest first: as many undo lines as
                // steps before the failing one.
                let done = lines.iter().filter(|l| !l.starts_with("[#] undo")).count();
                let undone = lines.iter().filter(|l| l.starts_with("[#] undo")).count();
                assert!(undone < done.max(1), "{lines:?}");
            }
            Ok(mut applied) => assert!(applied.undo().is_empty()),
        }
    }
}
