#!/usr/bin/env bash
# Roaming: side a (IMPL_A, the one that moves) changes its underlay address and
# then its listen port (`wg set listen-port`) while an iperf3 TCP stream a -> b
# runs; traffic must continue after each change, the stream must complete, and
# b (IMPL_B) must end up with a's new endpoint. Namespaces are created and
# removed by this script.
#
#   sudo tests/netns/roaming.sh [IMPL_A [IMPL_B]]     (default wireguard-go both)
#
# One PASS/FAIL line per check, then "roaming: N passed, N failed"; exit 1 on failure.

set -u
# shellcheck source=tests/netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IMPL_A=${1:-${IMPL_A:-wireguard-go}}
IMPL_B=${2:-${IMPL_B:-$IMPL_A}}
OUTERS=${OUTERS:-"4 6"}
# Each phase lasts this long; the stream covers three phases plus slack.
PHASE_SECONDS=${PHASE_SECONDS:-2}
SETTLE_SECONDS=${SETTLE_SECONDS:-1}
# Bytes b must receive during a phase for "traffic continues" (forgiving:
# a stalled tunnel moves nothing, a working one moves tens of MB).
MIN_PHASE_BYTES=${MIN_PHASE_BYTES:-1000000}
NEW_PORT=51830
NEW4=198.18.0.11
NEW6=fd18::11

b_rx() { fwg_wg "$1" show "$2" transfer | awk '{print $2; exit}'; }

# grew_by FROM TO MIN: TO - FROM >= MIN.
grew_by() { [ $(($2 - $1)) -ge "$3" ]; }

# endpoint_is NS IF EXPECTED: the one peer's endpoint equals EXPECTED.
endpoint_is() {
	local ep
	ep=$(fwg_wg "$1" show "$2" endpoints | awk '{print $2; exit}')
	[ "$ep" = "$3" ] || {
		fwg_log "endpoint on $2 is '$ep', expected $3"
		return 1
	}
}

run_outer() {
	local outer=$1 tag="r$1" nsa nsb ifa ifb va old new newep json ipid r0 r1 r2 r3
	nsa=$(fwg_ns_a "$tag")
	nsb=$(fwg_ns_b "$tag")
	ifa=$(fwg_if_a "$tag")
	ifb=$(fwg_if_b "$tag")
	va="fva${tag}_$FWG_RUN_ID"
	fwg_log "=== roaming $IMPL_A (a, moves) <-> $IMPL_B (b), outer IPv$outer ==="
	if ! fwg_pair_up "$tag" "$IMPL_A" "$IMPL_B" "$outer" 1; then
		fwg_fail "[$tag] set up pair $IMPL_A <-> $IMPL_B"
		return
	fi
	# Keep the moved-to address when the old primary IPv4 address is deleted.
	ip netns exec "$nsa" sysctl -qw net.ipv4.conf.all.promote_secondaries=1 \
		net.ipv4.conf."$va".promote_secondaries=1 >/dev/null
	if [ "$outer" = 6 ]; then
		old=$FWG_UNDER6_A/64 new=$NEW6/64 newep="[$NEW6]:$NEW_PORT"
	else
		old=$FWG_UNDER4_A/24 new=$NEW4/24 newep="$NEW4:$NEW_PORT"
	fi
	fwg_check "[$tag] ping a->b before roaming" \
		fwg_ping "$nsa" "$FWG_TUN4_B"
	fwg_check "[$tag] b sees a at $(fwg_endpoint a "$outer") before roaming" \
		endpoint_is "$nsb" "$ifb" "$(fwg_endpoint a "$outer")"
	fwg_iperf_server "$nsb" "$FWG_TUN4_B" || {
		fwg_fail "[$tag] iperf3 server did not start"
		return
	}
	json="$FWG_WORKDIR/roam-$tag.json"
	ip netns exec "$nsa" timeout $((PHASE_SECONDS * 3 + SETTLE_SECONDS * 2 + 25)) \
		iperf3 -c "$FWG_TUN4_B" -p 5201 -t $((PHASE_SECONDS * 3 + SETTLE_SECONDS * 2 + 1)) -J >"$json" 2>&1 &
	ipid=$!
	fwg_track "$ipid"

	sleep "$PHASE_SECONDS"
	if [ "$outer" = 6 ]; then
		ip -n "$nsa" addr add "$new" dev "$va" nodad
	else
		ip -n "$nsa" addr add "$new" dev "$va"
	fi
	ip -n "$nsa" addr del "$old" dev "$va"
	# Give each change SETTLE_SECONDS, then count what b receives in the
	# next PHASE_SECONDS: a stalled tunnel moves at most a few TCP
	# retransmissions there, a working one tens of MB.
	sleep "$SETTLE_SECONDS"
	r0=$(b_rx "$nsb" "$ifb")
	sleep "$PHASE_SECONDS"
	r1=$(b_rx "$nsb" "$ifb")
	fwg_check "[$tag] traffic continues after a's address moved ${old%/*} -> ${new%/*} ($((r1 - r0)) B in ${PHASE_SECONDS}s)" \
		grew_by "$r0" "$r1" "$MIN_PHASE_BYTES"
	fwg_check "[$tag] wg set listen-port $NEW_PORT on a during the transfer" \
		fwg_wg "$nsa" set "$ifa" listen-port "$NEW_PORT"
	sleep "$SETTLE_SECONDS"
	r2=$(b_rx "$nsb" "$ifb")
	sleep "$PHASE_SECONDS"
	r3=$(b_rx "$nsb" "$ifb")
	fwg_check "[$tag] traffic continues after a's listen port changed ($((r3 - r2)) B in ${PHASE_SECONDS}s)" \
		grew_by "$r2" "$r3" "$MIN_PHASE_BYTES"
	if wait "$ipid" && jq -e '.end.sum_received.bytes > 0' "$json" >/dev/null 2>&1; then
		fwg_pass "[$tag] iperf3 stream across both changes completed ($(jq -r '.end.sum_received.bytes' "$json") B)"
	else
		fwg_fail "[$tag] iperf3 stream across both changes did not complete: $(jq -r '.error // empty' "$json" 2>/dev/null | head -c 200)"
	fi
	fwg_check "[$tag] b learned a's new endpoint $newep" endpoint_is "$nsb" "$ifb" "$newep"
	fwg_check "[$tag] wg show listen-port on a is $NEW_PORT" \
		[ "$(fwg_wg "$nsa" show "$ifa" listen-port)" = "$NEW_PORT" ]
	fwg_check "[$tag] ping b->a IPv4 inner after roaming" \
		fwg_ping "$nsb" "$FWG_TUN4_A"
	fwg_check "[$tag] ping b->a IPv6 inner after roaming" \
		fwg_ping "$nsb" "$FWG_TUN6_A"
}

main() {
	fwg_init
	fwg_require_cmds iperf3 jq ss awk sysctl
	local impl o
	for impl in "$IMPL_A" "$IMPL_B"; do
		fwg_impl_available "$impl" || fwg_die "implementation $impl not found"
	done
	for o in $OUTERS; do run_outer "$o"; done
	printf 'roaming %s (moves) <-> %s:\n' "$IMPL_A" "$IMPL_B"
	fwg_summary roaming
}

main "$@"
