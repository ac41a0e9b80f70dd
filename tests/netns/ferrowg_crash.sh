#!/usr/bin/env bash
# The crash marker: `ferrowg up` (full tunnel: policy rules and the firewall table, which
# do not go with the TUN device) is killed with `kill -9`; its rules and table stay, and
# /run/ferrowg/IFNAME.state lists them. Starting it again undoes them first: the same
# rules and the same ruleset as the first time, nothing duplicated, traffic flows; a
# clean down (SIGTERM) then leaves nothing, marker included. A second `kill -9` is
# cleaned up by `ferrowg cleanup IFNAME` instead.
#
#   sudo FERROWG=target/debug/ferrowg tests/netns/ferrowg_crash.sh

set -u
# shellcheck source=tests/netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

fwg_init
fwg_require_cmds nft python3
ferrowg=$(fwg_impl_bin ferrowg) || fwg_die "ferrowg not found"
fwg_impl_available wireguard-go || fwg_die "wireguard-go not found"

R=$FWG_RUN_ID
nsc="fwg-crc-$R"
nss="fwg-crs-$R"
ifc="fwc_$R"
ifs="fwcs_$R"
vc="fcc_$R"
vs="fcs_$R"
C4=198.18.0.1
S4=198.18.0.2
PORT=51834
d=$FWG_WORKDIR
marker=/run/ferrowg/$ifc.state

for ns in "$nsc" "$nss"; do
	ip netns add "$ns" || fwg_die "netns $ns"
	FWG_NAMESPACES+=("$ns")
	ip -n "$ns" link set lo up
done
ip link add "$vc" netns "$nsc" type veth peer name "$vs" netns "$nss" || fwg_die "veth"
ip -n "$nsc" addr add "$C4/24" dev "$vc" && ip -n "$nsc" link set "$vc" up
ip -n "$nss" addr add "$S4/24" dev "$vs" && ip -n "$nss" link set "$vs" up

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

[Peer]
PublicKey = $(cat "$d/$ifs.pub")
Endpoint = $S4:$PORT
AllowedIPs = 0.0.0.0/0
EOC

rules() { ip -n "$nsc" rule show; }
ruleset() { ip netns exec "$nsc" nft list ruleset; }
# up: start `ferrowg up` in c; sets up_pid; waits until it logs that it is up (a killed
# one leaves its socket file and rules behind, so those prove nothing).
ups() { grep -c " up: [0-9]* address" "$d/up.log" 2>/dev/null; }
up() {
	local before
	before=$(ups)
	ip netns exec "$nsc" "$ferrowg" up "$d/$ifc.conf" >>"$d/up.log" 2>&1 </dev/null &
	up_pid=$!
	fwg_track "$up_pid"
	for _ in $(seq 1 100); do
		[ "$(ups)" -gt "${before:-0}" ] && return 0
		sleep 0.1
	done
	return 1
}
kill9() {
	kill -9 "$up_pid"
	for _ in $(seq 1 50); do kill -0 "$up_pid" 2>/dev/null || break; sleep 0.1; done
	wait "$up_pid" 2>/dev/null
}
rm -f "$marker"
rules_before=$(rules)

up || fwg_die "ferrowg up did not start"
fwg_check "traffic flows" fwg_ping "$nsc" "$FWG_TUN4_B" 5
rules_up=$(rules)
ruleset_up=$(ruleset)
fwg_check "the marker exists while up" [ -f "$marker" ]
fwg_check "it names this process" grep -qx "pid $up_pid .*" "$marker"
fwg_check "it lists the policy rules" grep -q "^rule v4 notfwmark 51820 51820$" "$marker"
fwg_check "it lists the firewall table" grep -qx "nft v4" "$marker"

kill9
fwg_check "ferrowg is gone after kill -9" fwg_not kill -0 "$up_pid"
fwg_check "after kill -9 its rules stay" bash -c "ip -n $nsc rule show | grep -q 51820"
fwg_check "after kill -9 its firewall table stays" bash -c "ip netns exec $nsc nft list ruleset | grep -q ferrowg-$ifc"
fwg_check "after kill -9 the marker stays" [ -f "$marker" ]

up || fwg_die "ferrowg up did not start again"
fwg_check "the restart undid the stale state" grep -q "stale $marker from a dead process" "$d/up.log"
fwg_check "traffic flows after the restart" fwg_ping "$nsc" "$FWG_TUN4_B" 5
rules_restart=$(rules)
ruleset_restart=$(ruleset)
fwg_check "restart: the same rules, none duplicated" [ "$rules_restart" = "$rules_up" ]
fwg_check "restart: the same ruleset, nothing duplicated" [ "$ruleset_restart" = "$ruleset_up" ]
fwg_check "restart: the marker names the new process" grep -qx "pid $up_pid .*" "$marker"

kill -TERM "$up_pid"
for _ in $(seq 1 50); do kill -0 "$up_pid" 2>/dev/null || break; sleep 0.1; done
fwg_check "SIGTERM ends ferrowg up" fwg_not kill -0 "$up_pid"
fwg_check "down: the rules are as before" [ "$(rules)" = "$rules_before" ]
fwg_check "down: the ruleset is empty" [ -z "$(ruleset)" ]
fwg_check "down: the marker is gone" [ ! -e "$marker" ]

up || fwg_die "ferrowg up did not start a third time"
kill9
fwg_check "second kill -9 leaves the rules" bash -c "ip -n $nsc rule show | grep -q 51820"
ip netns exec "$nsc" "$ferrowg" cleanup "$ifc" >>"$d/cleanup.log" 2>&1
fwg_check "ferrowg cleanup succeeds" [ $? -eq 0 ]
fwg_check "cleanup: the rules are as before" [ "$(rules)" = "$rules_before" ]
fwg_check "cleanup: the ruleset is empty" [ -z "$(ruleset)" ]
fwg_check "cleanup: the marker is gone" [ ! -e "$marker" ]
ip netns exec "$nsc" "$ferrowg" cleanup "$ifc" >>"$d/cleanup.log" 2>&1
fwg_check "a second cleanup finds nothing and succeeds" [ $? -eq 0 ]
if [ "$FWG_FAILED" -gt 0 ]; then
	printf '%s\n' "$rules_up" "$ruleset_up" | sed 's/^/    first up: /' >&2
	printf '%s\n' "${rules_restart:-}" "${ruleset_restart:-}" | sed 's/^/    restart: /' >&2
	sed 's/^/    up.log: /' "$d/up.log" >&2
	sed 's/^/    cleanup.log: /' "$d/cleanup.log" >&2 2>/dev/null
	sed 's/^/    marker: /' "$marker" >&2 2>/dev/null
fi
rm -f "$marker"
fwg_summary crash
