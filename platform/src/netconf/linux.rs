//! The Linux applier: netlink for addresses, MTU, link state, routes and rules;
//! nftables (or iptables-restore) for the full-tunnel firewall; a sysctl; resolvconf.

use std::io;
use std::net::IpAddr;

use ferrowg_core::netplan::{contains, Family, FirewallRule, NetworkPlan, PolicyRule, RouteTable};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::rule::RuleMessage;
use netlink_packet_route::RouteNetlinkMessage;

use super::dns::{self, DnsSetBy};
use super::firewall::{self, have, run_with_input};
use super::marker::{self, Marker};
use super::netlink::{family_of, rule, Netlink, CREATE};

/// One change the applier made, with what undoes it.
#[derive(Debug)]
enum Done {
    Address(AddressMessage),
    Route(RouteMessage),
    Rule(RuleMessage),
    Nft(Family),
    Iptables(Family, Vec<FirewallRule>),
    Dns(DnsSetBy),
}

/// The network plan applied to one interface; [`Applied::undo`] (or drop) reverts
/// exactly the changes it made, newest first.
pub struct Applied {
    ifname: String,
    done: Vec<Done>,
    /// The crash marker (see `marker`); `None` if it could not be written.
    marker: Option<Marker>,
    log: Box<dyn Fn(&str) + Send>,
}

impl std::fmt::Debug for Applied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applied").field("ifname", &self.ifname).field("done", &self.done).finish()
    }
}

fn nl_err(what: &str, e: io::Error) -> String {
    format!("{what}: {e}")
}

/// Applies `plan` to the existing interface `ifname` in wg-quick's order: addresses,
/// MTU and link up, DNS, routes (a default route with its rules, firewall and
/// `src_valid_mark`). `log` gets one `[#] ...` line per step. On an error everything
/// done so far is undone and the error returned. Each change is first listed in the
/// crash marker `/run/ferrowg/IFNAME.state` ([`super::cleanup_stale`] undoes what a dead
/// process left); a complete undo removes it.
pub fn apply(
    ifname: &str,
    plan: &NetworkPlan,
    log: Box<dyn Fn(&str) + Send>,
) -> Result<Applied, String> {
    let marker = match Marker::create(ifname) {
        Ok(m) => Some(m),
        Err(e) => {
            log(&format!(
                "ferrowg: no crash marker {}: {e}",
                marker::marker_path(ifname).display()
            ));
            None
        }
    };
    let mut applied = Applied { ifname: ifname.to_owned(), done: Vec::new(), marker, log };
    match applied.apply_all(plan) {
        Ok(()) => Ok(applied),
        Err(e) => {
            let undo_errors = applied.undo();
            if undo_errors.is_empty() {
                Err(e)
            } else {
                Err(format!("{e} (and while undoing: {})", undo_errors.join("; ")))
            }
        }
    }
}

impl Applied {
    /// Lists a change in the crash marker before it is made.
    fn note(&mut self, line: &str) {
        if let Some(m) = &mut self.marker {
            if let Err(e) = m.note(line) {
                (self.log)(&format!("ferrowg: crash marker: {e}"));
            }
        }
    }

    fn apply_all(&mut self, plan: &NetworkPlan) -> Result<(), String> {
        let mut nl = Netlink::open().map_err(|e| nl_err("netlink", e))?;
        let index = nl.ifindex(&self.ifname).map_err(|e| nl_err(&self.ifname, e))?;
        for a in &plan.addresses {
            (self.log)(&format!("[#] address add {a} dev {}", self.ifname));
            self.note(&format!("address {a}"));
            let mut msg = AddressMessage::default();
            msg.header.family = family_of(Family::of(a.addr()));
            msg.header.prefix_len = a.prefix();
            msg.header.index = index;
            msg.attributes.push(AddressAttribute::Local(a.addr()));
            msg.attributes.push(AddressAttribute::Address(a.addr()));
            nl.request(RouteNetlinkMessage::NewAddress(msg.clone()), CREATE)
                .map_err(|e| nl_err(&format!("address {a}"), e))?;
            self.done.push(Done::Address(msg));
        }
        (self.log)(&format!("[#] link set mtu {} up dev {}", plan.mtu, self.ifname));
        let mut link = LinkMessage::default();
        link.header.index = index;
        link.header.flags = LinkFlags::Up;
        link.header.change_mask = LinkFlags::Up;
        link.attributes.push(LinkAttribute::Mtu(u32::from(plan.mtu)));
        nl.request(RouteNetlinkMessage::SetLink(link), 0).map_err(|e| nl_err("link up", e))?;
        if let Some(by) = dns::set(&self.ifname, &plan.dns)? {
            (self.log)(&format!("[#] DNS {by:?}"));
            self.note(&marker::dns_line(&by));
            self.done.push(Done::Dns(by));
        }
        let mut policy_families = Vec::new();
        for r in &plan.routes {
            let table = table_id(&r.table)?;
            let family = Family::of(r.dest.addr());
            // wg-quick adds a main-table prefix only when no route through the
            // interface covers it yet (`ip route show dev IF match PREFIX`), such as
            // the prefix route of an Address.
            if r.table == RouteTable::Main {
                let existing =
                    nl.main_routes_via(index, family).map_err(|e| nl_err("routes", e))?;
                if existing
                    .iter()
                    .any(|net| net.cidr() <= r.dest.cidr() && contains(net, r.dest.addr()))
                {
                    (self.log)(&format!(
                        "[#] route {} dev {}: covered, not added",
                        r.dest, self.ifname
                    ));
                    continue;
                }
            }
            (self.log)(&format!("[#] route add {} dev {} table {table}", r.dest, self.ifname));
            self.note(&format!("route {} table {table}", r.dest));
            let msg = route(index, r.dest.addr(), r.dest.cidr(), table);
            match nl.request(RouteNetlinkMessage::NewRoute(msg.clone()), CREATE) {
                Ok(_) => self.done.push(Done::Route(msg)),
                // wg-quick skips a main-table route that is already there (for
                // example the prefix route of an Address): not ours to remove.
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) && r.table == RouteTable::Main => {
                }
                Err(e) => return Err(nl_err(&format!("route {}", r.dest), e)),
            }
            if r.dest.cidr() == 0 && !policy_families.contains(&family) {
                let rules: Vec<&PolicyRule> =
                    plan.rules.iter().filter(|p| p.family() == family).collect();
                if !rules.is_empty() {
                    policy_families.push(family);
                    self.policy(&mut nl, plan, family, &rules)?;
                }
            }
        }
        Ok(())
    }

    /// wg-quick's `add_default` after the route: rules, sysctl, firewall.
    fn policy(
        &mut self,
        nl: &mut Netlink,
        plan: &NetworkPlan,
        family: Family,
        rules: &[&PolicyRule],
    ) -> Result<(), String> {
        for r in rules {
            (self.log)(&format!("[#] rule add {r:?}"));
            self.note(&marker::rule_line(r));
            let msg = rule(r);
            nl.request(RouteNetlinkMessage::NewRule(msg.clone()), CREATE)
                .map_err(|e| nl_err(&format!("rule {r:?}"), e))?;
            self.done.push(Done::Rule(msg));
        }
        if family == Family::V4 && plan.src_valid_mark {
            // Left on at exit, as wg-quick does: another tunnel may rely on it.
            (self.log)("[#] sysctl -q net.ipv4.conf.all.src_valid_mark=1");
            std::fs::write("/proc/sys/net/ipv4/conf/all/src_valid_mark", "1")
                .map_err(|e| format!("sysctl net.ipv4.conf.all.src_valid_mark=1: {e}"))?;
        }
        let fw: Vec<_> = plan.firewall.iter().filter(|f| f.family() == family).cloned().collect();
        if fw.is_empty() {
            return Ok(());
        }
        if have("nft") {
            let script = firewall::nft_script(&self.ifname, family, &fw);
            (self.log)(&format!("[#] nft -f - <<< {}", script.trim_end().replace('\n', "; ")));
            self.note(&marker::firewall_line(true, family));
            run_with_input("nft", &["-f", "-"], &script)?;
            self.done.push(Done::Nft(family));
        } else {
            let prog = if family == Family::V4 { "iptables-restore" } else { "ip6tables-restore" };
            let script = firewall::iptables_script(&self.ifname, family, &fw, false);
            (self.log)(&format!("[#] {prog} -n"));
            self.note(&marker::firewall_line(false, family));
            run_with_input(prog, &["-n"], &script)
                .map_err(|e| format!("{e} (the full-tunnel firewall needs nft or {prog})"))?;
            self.done.push(Done::Iptables(family, fw));
        }
        Ok(())
    }
}

impl Applied {
    /// Reverts every change, newest first; returns the errors (an interface that is
    /// already gone took its addresses and routes with it: that is not an error).
    pub fn undo(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        let mut nl = match Netlink::open() {
            Ok(nl) => Some(nl),
            Err(e) => {
                errors.push(nl_err("netlink", e));
                None
            }
        };
        while let Some(done) = self.done.pop() {
            let result = match (&done, nl.as_mut()) {
                (Done::Address(m), Some(nl)) => {
                    (self.log)(&format!("[#] address del dev {}", self.ifname));
                    gone_ok(nl.request(RouteNetlinkMessage::DelAddress(m.clone()), 0))
                }
                (Done::Route(m), Some(nl)) => {
                    (self.log)(&format!("[#] route del dev {}", self.ifname));
                    gone_ok(nl.request(RouteNetlinkMessage::DelRoute(m.clone()), 0))
                }
                (Done::Rule(m), Some(nl)) => {
                    (self.log)("[#] rule del");
                    nl.request(RouteNetlinkMessage::DelRule(m.clone()), 0)
                        .map(|_| ())
                        .map_err(|e| nl_err("rule delete", e))
                }
                (Done::Nft(f), _) => {
                    (self.log)(&format!(
                        "[#] nft delete table {}",
                        firewall::nft_table(&self.ifname)
                    ));
                    run_with_input("nft", &["-f", "-"], &firewall::nft_delete(&self.ifname, *f))
                }
                (Done::Iptables(f, rules), _) => {
                    let prog =
                        if *f == Family::V4 { "iptables-restore" } else { "ip6tables-restore" };
                    let script = firewall::iptables_script(&self.ifname, *f, rules, true);
                    run_with_input(prog, &["-n"], &script)
                }
                (Done::Dns(by), _) => {
                    (self.log)(&format!("[#] DNS unset {by:?}"));
                    dns::unset(by)
                }
                (_, None) => Err("netlink unavailable".to_owned()),
            };
            if let Err(e) = result {
                errors.push(e);
            }
        }
        // Kept when something is left, so `ferrowg cleanup` can retry it.
        if errors.is_empty() {
            if let Some(m) = self.marker.take() {
                m.remove();
            }
        }
        errors
    }
}

impl Drop for Applied {
    fn drop(&mut self) {
        for e in self.undo() {
            (self.log)(&format!("ferrowg: undo: {e}"));
        }
    }
}

/// Deleting an address or route of an interface that no longer exists (or that the
/// kernel already removed) is success.
fn gone_ok(r: io::Result<Vec<RouteNetlinkMessage>>) -> Result<(), String> {
    match r {
        Ok(_) => Ok(()),
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENODEV | libc::ESRCH | libc::EADDRNOTAVAIL | libc::ENOENT)
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(nl_err("delete", e)),
    }
}

/// The numeric id of a table (names from the iproute2 `rt_tables` files).
fn table_id(t: &RouteTable) -> Result<u32, String> {
    match t {
        RouteTable::Main => Ok(u32::from(RouteHeader::RT_TABLE_MAIN)),
        RouteTable::Id(id) => Ok(*id),
        RouteTable::Name(name) => {
            for file in ["/etc/iproute2/rt_tables", "/usr/share/iproute2/rt_tables"] {
                let Ok(text) = std::fs::read_to_string(file) else { continue };
                for line in text.lines() {
                    let mut it = line.split_whitespace();
                    if let (Some(id), Some(n)) = (it.next(), it.next()) {
                        if n == name && !id.starts_with('#') {
                            if let Ok(id) = id.parse() {
                                return Ok(id);
                            }
                        }
                    }
                }
            }
            Err(format!("Table = {name}: no such table in /etc/iproute2/rt_tables"))
        }
        _ => Err(format!("unsupported table {t:?}")),
    }
}

/// `ip route add DEST/CIDR dev INDEX table TABLE` (scope link, protocol boot).
fn route(index: u32, dest: IpAddr, cidr: u8, table: u32) -> RouteMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = family_of(Family::of(dest));
    msg.header.destination_prefix_length = cidr;
    msg.header.table = u8::try_from(table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
    msg.header.protocol = RouteProtocol::Boot;
    msg.header.scope = RouteScope::Link;
    msg.header.kind = RouteType::Unicast;
    if cidr > 0 {
        msg.attributes.push(RouteAttribute::Destination(RouteAddress::from(dest)));
    }
    msg.attributes.push(RouteAttribute::Oif(index));
    msg.attributes.push(RouteAttribute::Table(table));
    msg
}
