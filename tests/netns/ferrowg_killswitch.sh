#!/usr/bin/env bash
# `ferrowg up --kill-switch` with a full tunnel whose endpoint is behind a default route:
#
#   client ns c (ferrowg up)  --veth--  router ns r  --veth--  server ns s (wireguard-go)
#   198.18.0.1/25                       .126/25 | .129/25        198.18.0.130/25 (+ .131 probe target)
#
# With the tunnel up, traffic flows. After `kill -9` of ferrowg, a probe from c to an
# underlay address other than the endpoint (198.18.0.131), and DNS (udp 53) to it, get no
# packet out: tcpdump in r on the client-facing veth sees none, and the nft drop counter
# counts them. `ferrowg kill-switch off` removes everything (empty ruleset) and the same
# probes then do leave (so the capture is shown to see them). A second run is stopped and
# continued (SIGSTOP/SIGCONT: it resumes and carries traffic), suspended with SIGTSTP
# (socket closed, process stopped) and continued again, then ends with SIGTERM:
# the kill switch goes with the tunnel. A host c forwards for (namespace l) is blocked
# the same way after the crash (the kill switch's forward chain).
#
#   sudo FERROWG=target/debug/ferrowg tests/netns/ferrowg_killswitch.sh

set -u
# shellcheck source=tests/netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

fwg_init
fwg_require_cmds nft tcpdump python3
ferrowg=$(fwg_impl_bin ferrowg) || fwg_die "ferrowg not found"
fwg_impl_available wireguard-go || fwg_die "wireguard-go not found"

R=$FWG_RUN_ID
nsc="fwg-ksc-$R"
nsr="fwg-ksr-$R"
nss="fwg-kss-$R"
nsl="fwg-ksl-$R"
ifc="fwk_$R"
ifs="fwks_$R"
vc="fkc_$R"
vrc="fkrc_$R"
vrs="fkrs_$R"
vs="fks_$R"
vl="fkl_$R"
vcl="fkcl_$R"
C4=198.18.0.1
RC4=198.18.0.126
RS4=198.18.0.129
S4=198.18.0.130
PROBE4=198.18.0.131
# l: a host c routes for (a container, a VM, a shared connection), on its own /30.
CL4=198.18.0.97
L4=198.18.0.98
PORT=51833
d=$FWG_WORKDIR

for ns in "$nsc" "$nsr" "$nss" "$nsl"; do
	ip netns add "$ns" || fwg_die "netns $ns"
	FWG_NAMESPACES+=("$ns")
	ip -n "$ns" link set lo up
done
ip link add "$vc" netns "$nsc" type veth peer name "$vrc" netns "$nsr" || fwg_die "veth c-r"
ip link add "$vs" netns "$nss" type veth peer name "$vrs" netns "$nsr" || fwg_die "veth s-r"
ip -n "$nsc" addr add "$C4/25" dev "$vc"
ip -n "$nsr" addr add "$RC4/25" dev "$vrc"
ip -n "$nsr" addr add "$RS4/25" dev "$vrs"
ip -n "$nss" addr add "$S4/25" dev "$vs"
ip -n "$nss" addr add "$PROBE4/25" dev "$vs"
for x in "$nsc:$vc" "$nsr:$vrc" "$nsr:$vrs" "$nss:$vs"; do ip -n "${x%%:*}" link set "${x#*:}" up; done
ip netns exec "$nsr" sysctl -qw net.ipv4.ip_forward=1
ip -n "$nsc" route add default via "$RC4" || fwg_die "default route c"
ip -n "$nss" route add default via "$RS4" || fwg_die "default route s"
fwg_check "underlay: c reaches the probe address through the router" fwg_ping "$nsc" "$PROBE4"
ip link add "$vcl" netns "$nsc" type veth peer name "$vl" netns "$nsl" || fwg_die "veth c-l"
ip -n "$nsc" addr add "$CL4/30" dev "$vcl" && ip -n "$nsc" link set "$vcl" up
ip -n "$nsl" addr add "$L4/30" dev "$vl" && ip -n "$nsl" link set "$vl" up
ip -n "$nsl" route add default via "$CL4" || fwg_die "default route l"
ip netns exec "$nsc" sysctl -qw net.ipv4.ip_forward=1

fwg_keys "$ifc" && fwg_keys "$ifs" || fwg_die "keys"
fwg_start_impl "$nss" "$ifs" wireguard-go || fwg_die "wireguard-go did not start"
fwg_wg "$nss" set "$ifs" private-key "$d/$ifs.key" listen-port "$PORT" \
	peer "$(cat "$d/$ifc.pub")" allowed-ips "$FWG_TUN4_A/32" || fwg_die "wg set s"
ip -n "$nss" addr add "$FWG_TUN4_B/24" dev "$ifs" && ip -n "$nss" link set "$ifs" up || fwg_die "addr s"

FWG_IFACES+=("$ifc")
cat >"$d/$ifc.conf" <<EOC
[Interface]
PrivateKey = $(cat "$d/$ifc.key")
Address = $FWG_TUN4_A/24
DNS = $FWG_TUN4_B

[Peer]
PublicKey = $(cat "$d/$ifs.pub")
Endpoint = $S4:$PORT
AllowedIPs = 0.0.0.0/0
EOC

# up_ks: start `ferrowg up --kill-switch` in c; sets up_pid; waits for the UAPI socket.
up_ks() {
	ip netns exec "$nsc" "$ferrowg" up --kill-switch "$d/$ifc.conf" >>"$d/up.log" 2>&1 </dev/null &
	up_pid=$!
	fwg_track "$up_pid"
	for _ in $(seq 1 100); do
		[ -S "$FWG_UAPI_DIR/$ifc.sock" ] && ip -n "$nsc" rule show | fwg_grep_q 51820 && return 0
		sleep 0.1
	done
	return 1
}
ruleset() { ip netns exec "$nsc" nft list ruleset; }
# leak_probe: a ping and a DNS query (udp 53) from c to the probe address, and a ping
# from l that c forwards.
leak_probe() {
	ip netns exec "$nsl" timeout 5 ping -n -q -c 2 -i 0.2 -W 1 "$PROBE4" >/dev/null 2>&1
	ip netns exec "$nsc" timeout 5 ping -n -q -c 2 -i 0.2 -W 1 "$PROBE4" >/dev/null 2>&1
	ip netns exec "$nsc" timeout 5 python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01", (sys.argv[1], 53))
except OSError as e:
    print("send refused:", e)
' "$PROBE4"
	sleep 0.5
}
# captured FILE: packets in FILE to or from the probe address.
captured() { tcpdump -n -r "$1" "host $PROBE4" 2>/dev/null | wc -l; }
capture_start() {
	ip netns exec "$nsr" tcpdump -i "$vrc" -n -U -w "$1" "not arp" >/dev/null 2>"$1.err" &
	cap_pid=$!
	fwg_track "$cap_pid"
	for _ in $(seq 1 50); do grep -q listening "$1.err" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}
capture_stop() {
	sleep 0.3
	kill -INT "$cap_pid" 2>/dev/null
	wait "$cap_pid" 2>/dev/null
}

fwg_log "=== ferrowg up --kill-switch ($ifc) <-> wireguard-go ($ifs), endpoint behind the default route ==="
up_ks || fwg_die "ferrowg up --kill-switch did not start; log: $(cat "$d/up.log")"
fwg_check "kill switch table installed" bash -c "ip netns exec $nsc nft list tables | grep -q 'ferrowg_ks_$ifc'"
fwg_check "status says on" [ "$(ip netns exec "$nsc" "$ferrowg" kill-switch status "$ifc")" = on ]
fwg_check "traffic flows through the tunnel with the kill switch on" fwg_ping "$nsc" "$FWG_TUN4_B" 5
fwg_check "the tunnel carries traffic to underlay addresses too (full tunnel)" fwg_ping "$nsc" "$PROBE4"

kill -KILL "$up_pid"
wait "$up_pid" 2>/dev/null
fwg_check "ferrowg is gone after kill -9" fwg_not kill -0 "$up_pid"
for _ in $(seq 1 30); do ip -n "$nsc" link show "$ifc" >/dev/null 2>&1 || break; sleep 0.1; done
fwg_check "the tunnel interface is gone with the process" fwg_not ip -n "$nsc" link show "$ifc"
fwg_check "the kill switch stays after kill -9" bash -c "ip netns exec $nsc nft list tables | grep -q 'ferrowg_ks_$ifc'"
drops_before=$(ruleset | sed -n 's/.*counter packets \([0-9]*\) .*drop comment "BlockAll".*/\1/p' | head -1)
capture_start "$d/dead.pcap" || fwg_die "tcpdump did not start"
leak_probe
capture_stop
n=$(captured "$d/dead.pcap")
fwg_check "after kill -9: no packet to or from $PROBE4 on the underlay veth (saw $n)" [ "$n" -eq 0 ]
dns=$(tcpdump -n -r "$d/dead.pcap" "udp port 53" 2>/dev/null | wc -l)
fwg_check "after kill -9: no DNS on the underlay (saw $dns)" [ "$dns" -eq 0 ]
drops_after=$(ruleset | sed -n 's/.*counter packets \([0-9]*\) .*drop comment "BlockAll".*/\1/p' | head -1)
dns_drops=$(ruleset | sed -n 's/.*udp dport 53 counter packets \([0-9]*\) .*drop comment "DnsOutsideTunnel".*/\1/p' | head -1)
fwg_check "the probes hit the kill switch's drop rules ($drops_before -> $drops_after, dns $dns_drops)" \
	test "${drops_after:-0}" -gt "${drops_before:-0}" -a "${dns_drops:-0}" -gt 0
fwd_drops=$(ruleset | sed -n '/chain forward/,/}/s/.*counter packets \([0-9]*\) .*drop comment "BlockAll".*/\1/p' | head -1)
fwg_check "after kill -9: l's forwarded ping hits the forward chain's drop ($fwd_drops)" \
	test "${fwd_drops:-0}" -gt 0

ip netns exec "$nsc" "$ferrowg" kill-switch off "$ifc" >>"$d/up.log" 2>&1
fwg_check "kill-switch off: no kill-switch table left" \
	fwg_not bash -c "ip netns exec $nsc nft list tables | grep -q ferrowg_ks_"
fwg_check "status says off" [ "$(ip netns exec "$nsc" "$ferrowg" kill-switch status "$ifc")" = off ]
# The crashed process left wg-quick's policy rules; drop them so the control probe takes
# the main table, as after a reboot.
while ip -n "$nsc" rule del not fwmark 51820 table 51820 2>/dev/null; do :; done
while ip -n "$nsc" rule del table main suppress_prefixlength 0 2>/dev/null; do :; done
# ... and its full-tunnel firewall table (CVE-2019-14899 rule, CONNMARK), as wg-quick's
# rules also stay after a crash; a clean down removes it (checked below).
for fam in ip ip6; do ip netns exec "$nsc" nft delete table "$fam" "ferrowg-$ifc" 2>/dev/null || true; done
fwg_check "nothing but the crashed tunnel's own tables was left" [ -z "$(ruleset)" ]
capture_start "$d/off.pcap" || fwg_die "tcpdump did not start"
leak_probe
capture_stop
n=$(captured "$d/off.pcap")
fwg_check "control: without the kill switch the same probes do leave ($n packets)" [ "$n" -gt 0 ]
n=$(tcpdump -n -r "$d/off.pcap" "src host $L4" 2>/dev/null | wc -l)
fwg_check "control: without the kill switch l's forwarded ping leaves ($n packets)" [ "$n" -gt 0 ]

fwg_log "=== clean down: SIGTERM removes the kill switch with the tunnel ==="
up_ks || fwg_die "second ferrowg up --kill-switch did not start"
fwg_check "traffic flows again" fwg_ping "$nsc" "$FWG_TUN4_B" 5
# SIGSTOP/SIGCONT: the tunnel resumes (rebinds, re-checks sessions) instead of exiting.
kill -STOP "$up_pid"
sleep 1
kill -CONT "$up_pid"
for _ in $(seq 1 30); do grep -q "resuming" "$d/up.log" && break; sleep 0.1; done
fwg_check "SIGCONT resumes the tunnel" grep -q "continued (SIGCONT): resuming" "$d/up.log"
fwg_check "traffic flows after SIGSTOP/SIGCONT" fwg_ping "$nsc" "$FWG_TUN4_B" 3
# SIGTSTP (Ctrl-Z): ferrowg suspends the device (UDP socket closed, timers stopped), then
# stops itself; SIGCONT resumes it (socket reopened) and traffic flows again.
proc_state() { awk '{print $3}' "/proc/$up_pid/stat" 2>/dev/null; }
has_udp() { ip netns exec "$nsc" ss -Huanp | fwg_grep_q "pid=$up_pid,"; }
fwg_check "ferrowg holds a UDP socket before SIGTSTP" has_udp
kill -TSTP "$up_pid"
for _ in $(seq 1 50); do [ "$(proc_state)" = T ] && break; sleep 0.1; done
fwg_check "SIGTSTP stops ferrowg up" [ "$(proc_state)" = T ]
fwg_check "SIGTSTP suspends before stopping" grep -q "stopped (SIGTSTP): suspending" "$d/up.log"
fwg_check "suspended: its UDP socket is closed" fwg_not has_udp
kill -CONT "$up_pid"
for _ in $(seq 1 30); do [ "$(grep -c "continued (SIGCONT): resuming" "$d/up.log")" -ge 2 ] && break; sleep 0.1; done
fwg_check "SIGCONT after SIGTSTP resumes" [ "$(grep -c "continued (SIGCONT): resuming" "$d/up.log")" -ge 2 ]
fwg_check "UDP socket reopened" has_udp
fwg_check "traffic flows after SIGTSTP/SIGCONT" fwg_ping "$nsc" "$FWG_TUN4_B" 3
kill -TERM "$up_pid"
for _ in $(seq 1 50); do kill -0 "$up_pid" 2>/dev/null || break; sleep 0.1; done
fwg_check "SIGTERM ends ferrowg up" fwg_not kill -0 "$up_pid"
fwg_check "after a clean down the ruleset is empty" [ -z "$(ruleset)" ]
fwg_check "no policy rule left" fwg_not bash -c "ip -n $nsc rule show | grep -q 51820"
fwg_check "underlay reachable after down" fwg_ping "$nsc" "$PROBE4"
[ "$FWG_FAILED" -gt 0 ] && sed 's/^/    up.log: /' "$d/up.log" >&2
fwg_summary killswitch
