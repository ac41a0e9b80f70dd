//! The full-tunnel firewall rules as nftables or iptables-restore text (wg-quick's
//! `add_default`), and running them.

use std::io::Write;
use std::process::{Command, Stdio};

use ferrowg_core::netplan::{Family, FirewallRule};

/// The nft family keyword.
pub(crate) fn nft_family(f: Family) -> &'static str {
    match f {
        Family::V4 => "ip",
        Family::V6 => "ip6",
    }
}

/// The nft table that holds one family's rules for `ifname`.
pub(crate) fn nft_table(ifname: &str) -> String {
    format!("ferrowg-{ifname}")
}

/// `nft -f` input creating the table of `family` with its rules (wg-quick's text, with
/// the table named `ferrowg-IFNAME`).
pub(crate) fn nft_script(ifname: &str, family: Family, rules: &[FirewallRule]) -> String {
    let pf = nft_family(family);
    let t = nft_table(ifname);
    let mut s = format!("add table {pf} {t}\n");
    s += &format!("add chain {pf} {t} preraw {{ type filter hook prerouting priority -300; }}\n");
    s +=
        &format!("add chain {pf} {t} premangle {{ type filter hook prerouting priority -150; }}\n");
    s += &format!(
        "add chain {pf} {t} postmangle {{ type filter hook postrouting priority -150; }}\n"
    );
    for r in rules.iter().filter(|r| r.family() == family) {
        match r {
            FirewallRule::DropForeignToTunnelAddress { addr } => {
                s += &format!(
                    "add rule {pf} {t} preraw iifname != \"{ifname}\" {pf} daddr {addr} fib saddr type != local drop\n"
                );
            }
            FirewallRule::SaveMark { mark, .. } => {
                s += &format!(
                    "add rule {pf} {t} postmangle meta l4proto udp mark {mark} ct mark set mark\n"
                );
            }
            FirewallRule::RestoreMark { .. } => {
                s += &format!(
                    "add rule {pf} {t} premangle meta l4proto udp meta mark set ct mark\n"
                );
            }
            _ => {}
        }
    }
    s
}

/// `nft -f` input deleting the table of `family`.
pub(crate) fn nft_delete(ifname: &str, family: Family) -> String {
    format!("delete table {} {}\n", nft_family(family), nft_table(ifname))
}

/// The comment that marks the iptables rules of `ifname`.
fn marker(ifname: &str) -> String {
    format!("-m comment --comment \"ferrowg rule for {ifname}\"")
}

/// `iptables-restore -n` input for the rules (wg-quick's fallback without nft);
/// `delete` turns every `-I` into `-D`.
pub(crate) fn iptables_script(
    ifname: &str,
    family: Family,
    rules: &[FirewallRule],
    delete: bool,
) -> String {
    let op = if delete { "-D" } else { "-I" };
    let m = marker(ifname);
    let mut raw = String::from("*raw\n");
    let mut mangle = String::from("*mangle\n");
    for r in rules.iter().filter(|r| r.family() == family) {
        match r {
            FirewallRule::DropForeignToTunnelAddress { addr } => {
                raw += &format!(
                    "{op} PREROUTING ! -i {ifname} -d {addr} -m addrtype ! --src-type LOCAL -j DROP {m}\n"
                );
            }
            FirewallRule::SaveMark { mark, .. } => {
                mangle += &format!(
                    "{op} POSTROUTING -m mark --mark {mark} -p udp -j CONNMARK --save-mark {m}\n"
                );
            }
            FirewallRule::RestoreMark { .. } => {
                mangle += &format!("{op} PREROUTING -p udp -j CONNMARK --restore-mark {m}\n");
            }
            _ => {}
        }
    }
    format!("{raw}COMMIT\n{mangle}COMMIT\n")
}

/// True when `cmd` is found in `PATH` (as wg-quick's `type -p`).
pub(crate) fn have(cmd: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            let f = d.join(cmd);
            f.is_file()
        })
    })
}

/// Runs `program args` with `input` on stdin; an error names the command and its stderr.
pub(crate) fn run_with_input(program: &str, args: &[&str], input: &str) -> Result<(), String> {
    let what = format!("{program} {}", args.join(" "));
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).map_err(|e| format!("{what}: {e}"))?;
    }
    let out = child.wait_with_output().map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{what}: {}", String::from_utf8_lossy(&out.stderr).trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<FirewallRule> {
        let plan = ferrowg_core::netplan::NetworkPlan::from_config(
            &ferrowg_core::config::WgQuickConfig::parse(
                "[Interface]\nAddress = 10.0.0.2/32, fd00::2/128\n[Peer]\n\
                 PublicKey = ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1+f4CBgoM=\n\
                 AllowedIPs = 0.0.0.0/0, ::/0\n",
            )
            .unwrap(),
        );
        plan.firewall
    }

    /// The same rules wg-quick writes (checked against `/usr/bin/wg-quick`).
    #[test]
    fn nft_text_matches_wg_quick() {
        let s = nft_script("wg0", Family::V4, &rules());
        assert!(s.starts_with("add table ip ferrowg-wg0\n"), "{s}");
        assert!(s.contains("add rule ip ferrowg-wg0 preraw iifname != \"wg0\" ip daddr 10.0.0.2 fib saddr type != local drop\n"), "{s}");
        assert!(
            s.contains(
                "add rule ip ferrowg-wg0 postmangle meta l4proto udp mark 51820 ct mark set mark\n"
            ),
            "{s}"
        );
        assert!(
            s.contains(
                "add rule ip ferrowg-wg0 premangle meta l4proto udp meta mark set ct mark\n"
            ),
            "{s}"
        );
        assert!(!s.contains("fd00::2"), "only its own family: {s}");
        let s6 = nft_script("wg0", Family::V6, &rules());
        assert!(s6.contains("ip6 daddr fd00::2 fib saddr type != local drop"), "{s6}");
        assert_eq!(nft_delete("wg0", Family::V6), "delete table ip6 ferrowg-wg0\n");
    }

    #[test]
    fn iptables_text_matches_wg_quick_and_deletes_the_same() {
        let add = iptables_script("wg0", Family::V4, &rules(), false);
        assert!(add.contains("-I PREROUTING ! -i wg0 -d 10.0.0.2 -m addrtype ! --src-type LOCAL -j DROP -m comment --comment \"ferrowg rule for wg0\"\n"), "{add}");
        assert!(
            add.contains("-I POSTROUTING -m mark --mark 51820 -p udp -j CONNMARK --save-mark"),
            "{add}"
        );
        let del = iptables_script("wg0", Family::V4, &rules(), true);
        assert_eq!(del, add.replace("-I ", "-D "));
    }
}
