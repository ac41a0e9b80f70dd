#!/usr/bin/env bash
# `ferrowg up` fails closed, as wg-quick does: a failing PreUp creates nothing, a
# failing PostUp removes the interface, routes, rules and firewall it had set and
# exits non-zero; a file with DNS on a system with neither resolvconf nor
# systemd-resolved is refused with a clear error (and nothing is left). Also
# Table = N (routes there, no policy rules) and Table = off (no routes).
#
#   sudo FERROWG=target/debug/ferrowg tests/netns/ferrowg_up_failclosed.sh

set -u
# shellcheck source=tests/netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TAG=x
fwg_init
fwg_require_cmds nft
ferrowg=$(fwg_impl_bin ferrowg) || fwg_die "ferrowg not found"
ferrowg=$(readlink -f "$ferrowg")
nsa=$(fwg_ns_a $TAG)
ifa=$(fwg_if_a $TAG)
ifb=$(fwg_if_b $TAG)
d=$FWG_WORKDIR
fwg_netns_pair $TAG || fwg_die "netns setup failed"
{ fwg_keys "$ifa" && fwg_keys "$ifb"; } || fwg_die "keys"
FWG_IFACES+=("$ifa")

state() {
	ip -n "$nsa" -4 rule show
	ip -n "$nsa" -6 rule show
	ip -n "$nsa" -4 route show table all
	ip -n "$nsa" -6 route show table all | grep -v 'fe80\|^multicast'
	ip netns exec "$nsa" nft list ruleset
	ip -n "$nsa" link show "$ifa" 2>&1
}
before=$(state)

# conf EXTRA_INTERFACE_LINES ALLOWED: write the client file.
conf() {
	(
		umask 077
		printf '[Interface]\nPrivateKey = %s\nAddress = %s/32, %s/128\n%b\n[Peer]\nPublicKey = %s\nEndpoint = %s:%s\nAllowedIPs = %s\n' \
			"$(cat "$d/$ifa.key")" "$FWG_TUN4_A" "$FWG_TUN6_A" "$1" "$(cat "$d/$ifb.pub")" \
			"$FWG_UNDER4_B" "$FWG_PORT_B" "$2" >"$d/$ifa.conf"
	)
}
# up_once: run `ferrowg up` expecting it to exit by itself within 30 s.
up_once() {
	ip netns exec "$nsa" timeout 30 "$@" "$ferrowg" up "$d/$ifa.conf" >"$d/out.log" 2>&1 </dev/null
}

conf 'PreUp = false' '0.0.0.0/0, ::/0'
up_once env
rc=$?
fwg_check "failing PreUp: non-zero exit (rc=$rc)" [ "$rc" != 0 ] && [ "$rc" != 124 ]
fwg_check "failing PreUp: error says so" grep -q "PreUp failed" "$d/out.log"
fwg_check "failing PreUp: nothing created" [ "$(state)" = "$before" ]

conf "PostUp = ip link show %i >$d/postup-saw-link && false" '0.0.0.0/0, ::/0'
up_once env
rc=$?
fwg_check "failing PostUp: non-zero exit (rc=$rc)" [ "$rc" != 0 ] && [ "$rc" != 124 ]
fwg_check "failing PostUp: it ran with the interface up" [ -s "$d/postup-saw-link" ]
fwg_check "failing PostUp: error says so" grep -q "PostUp failed" "$d/out.log"
fwg_check "failing PostUp: interface, rules, routes, firewall all gone" [ "$(state)" = "$before" ]
[ "$(state)" = "$before" ] && [ ! -e "$FWG_UAPI_DIR/$ifa.sock" ] ||
	diff <(echo "$before") <(state) >&2

# DNS with neither resolvconf nor systemd-resolved: a PATH with only what is needed.
mkdir -p "$d/bin"
for c in nft bash sh; do ln -sf "$(command -v $c)" "$d/bin/$c"; done
conf 'DNS = 198.19.0.53' '0.0.0.0/0, ::/0'
up_once env PATH="$d/bin"
rc=$?
fwg_check "DNS without resolvconf/resolved: non-zero exit (rc=$rc)" [ "$rc" != 0 ] && [ "$rc" != 124 ]
fwg_check "DNS without resolvconf/resolved: clear error" \
	grep -q "neither resolvconf nor systemd-resolved" "$d/out.log"
fwg_check "DNS without resolvconf/resolved: nothing left" [ "$(state)" = "$before" ]

# bg_check NAME CHECK...: start ferrowg up in the background, wait until it says it
# is up, run CHECK, stop it with SIGTERM, check that everything is undone.
bg_check() {
	local name=$1 pid ok=1
	shift
	ip netns exec "$nsa" "$ferrowg" up "$d/$ifa.conf" >"$d/bg.log" 2>&1 </dev/null &
	pid=$!
	fwg_track "$pid"
	for _ in $(seq 1 100); do
		grep -q " up: [0-9]* address" "$d/bg.log" && break
		sleep 0.1
	done
	"$@" && ok=0
	kill -TERM "$pid"
	wait "$pid"
	fwg_check "$name" [ "$ok" = 0 ]
	fwg_check "$name: all undone" [ "$(state)" = "$before" ]
	[ "$(state)" = "$before" ] || diff <(echo "$before") <(state) >&2
}
conf 'Table = 1234' '0.0.0.0/0, 10.99.0.0/16'
table_n() {
	ip -n "$nsa" -4 route show table 1234 | fwg_grep_q "^default dev $ifa" &&
		ip -n "$nsa" -4 route show table 1234 | fwg_grep_q "^10.99.0.0/16 dev $ifa" &&
		! ip -n "$nsa" -4 rule show | fwg_grep_q fwmark
}
bg_check "Table = 1234: routes there, no policy rules" table_n
conf 'Table = off' '0.0.0.0/0, 10.99.0.0/16'
table_off() {
	! ip -n "$nsa" -4 route show table all | fwg_grep_q "dev $ifa.*10.99\|10.99.*dev $ifa" &&
		! ip -n "$nsa" -4 route show table all | fwg_grep_q "^default dev $ifa"
}
bg_check "Table = off: no routes" table_off
conf '' '10.99.0.0/16, fd19:99::/64'
split() {
	ip -n "$nsa" -4 route show | fwg_grep_q "^10.99.0.0/16 dev $ifa" &&
		ip -n "$nsa" -6 route show | fwg_grep_q "^fd19:99::/64 dev $ifa" &&
		! ip -n "$nsa" -4 rule show | fwg_grep_q fwmark
}
bg_check "split tunnel: main-table routes, no rules" split
fwg_summary up-failclosed
