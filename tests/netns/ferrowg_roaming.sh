#!/usr/bin/env bash
# Roaming: ferrowg (side a) changes its underlay address, then its listen port
# (`wg set ... listen-port`), in the middle of an iperf3 TCP transfer to the peer
# (side b: wireguard-go by default, or the implementation given). The transfer
# must complete, the peer must follow to the new address and port, and pings
# must work both ways afterwards. Outer IPv4 and IPv6 (a fresh pair each).
#
#   sudo FERROWG=target/release/ferrowg tests/netns/ferrowg_roaming.sh [PEER_IMPL]

set -u
# shellcheck source=tests/netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PEER=${1:-${PEER:-wireguard-go}}
OUTERS=${OUTERS:-"4 6"}
NEW_PORT=51830
SECONDS_IPERF=8

ping_ok() { ip netns exec "$1" timeout 15 ping -n -q -c 3 -i 0.2 -W 2 "$2" >/dev/null 2>&1; }

# roam TAG OUTER
roam() {
	local tag=$1 outer=$2 nsa nsb ifa ifb va old new new_ep json pid ep port
	nsa=$(fwg_ns_a "$tag")
	nsb=$(fwg_ns_b "$tag")
	ifa=$(fwg_if_a "$tag")
	ifb=$(fwg_if_b "$tag")
	va="fva${tag}_$FWG_RUN_ID"
	local -a nodad=()
	if [ "$outer" = 4 ]; then
		old="$FWG_UNDER4_A/24" new="198.18.0.3/24" new_ep="198.18.0.3:$NEW_PORT"
	else
		old="$FWG_UNDER6_A/64" new="fd18::3/64" new_ep="[fd18::3]:$NEW_PORT" nodad=(nodad)
	fi
	if ! fwg_pair_up "$tag" ferrowg "$PEER" "$outer" 1; then
		fwg_fail "[$tag] set up ferrowg <-> $PEER (outer IPv$outer)"
		return
	fi
	fwg_pass "[$tag] set up ferrowg <-> $PEER (outer IPv$outer)"
	fwg_check "[$tag] ping a->b before roaming" ping_ok "$nsa" "$FWG_TUN4_B"
	if ! fwg_iperf_server "$nsb" "$FWG_TUN4_B"; then
		fwg_fail "[$tag] iperf3 server did not start"
		return
	fi
	json="$FWG_WORKDIR/roam-$tag.json"
	ip netns exec "$nsa" timeout $((SECONDS_IPERF + 20)) \
		iperf3 -c "$FWG_TUN4_B" -p 5201 -t "$SECONDS_IPERF" -J >"$json" 2>&1 &
	pid=$!
	FWG_PIDS+=("$pid")
	sleep 2
	# New underlay address: the old one goes away, so the kernel picks the new
	# source for every datagram ferrowg sends from now on.
	# Without promote_secondaries, deleting an IPv4 primary address deletes the
	# secondaries of its subnet too.
	ip netns exec "$nsa" sysctl -qw "net.ipv4.conf.$va.promote_secondaries=1"
	ip -n "$nsa" addr add "$new" dev "$va" "${nodad[@]}"
	ip -n "$nsa" addr del "$old" dev "$va"
	sleep 2
	fwg_check "[$tag] wg set listen-port $NEW_PORT on ferrowg mid-transfer" \
		fwg_wg "$nsa" set "$ifa" listen-port "$NEW_PORT"
	if wait "$pid" && [ "$(jq -r '.end.sum_received.bytes' "$json" 2>/dev/null | cut -d. -f1)" -gt 0 ] 2>/dev/null; then
		fwg_pass "[$tag] iperf3 a->b completed across both moves: $(jq -r '.end.sum_received.bits_per_second/1e9*1000|floor/1000' "$json") Gbit/s"
	else
		fwg_fail "[$tag] iperf3 a->b did not complete: $(jq -r '.error // empty' "$json" 2>/dev/null | head -c 200)"
	fi
	port=$(fwg_wg "$nsa" show "$ifa" listen-port)
	fwg_check "[$tag] ferrowg reports listen-port $NEW_PORT (got $port)" [ "$port" = "$NEW_PORT" ]
	ep=$(fwg_wg "$nsb" show "$ifb" endpoints | awk '{print $2; exit}')
	fwg_check "[$tag] $PEER follows ferrowg to $new_ep (got $ep)" [ "$ep" = "$new_ep" ]
	fwg_check "[$tag] ping a->b after roaming" ping_ok "$nsa" "$FWG_TUN4_B"
	fwg_check "[$tag] ping b->a after roaming" ping_ok "$nsb" "$FWG_TUN4_A"
	fwg_check "[$tag] ping b->a IPv6 inner after roaming" ping_ok "$nsb" "$FWG_TUN6_A"
}

fwg_init
fwg_require_cmds iperf3 jq
for impl in ferrowg "$PEER"; do
	fwg_impl_available "$impl" || fwg_die "implementation $impl not found (see tests/netns/lib.sh header)"
done
fwg_log "=== roaming: ferrowg (a, moving) <-> $PEER (b) ==="
for outer in $OUTERS; do
	roam "r$outer" "$outer"
done
fwg_summary roaming
