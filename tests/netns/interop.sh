#!/usr/bin/env bash
# Interop check between two userspace WireGuard implementations in network
# namespaces this script creates and removes.
#
#   sudo tests/netns/interop.sh [IMPL_A [IMPL_B]]
#   IMPL_A=ferrowg IMPL_B=wireguard-go FERROWG=target/release/ferrowg sudo -E tests/netns/interop.sh
#
# For outer IPv4 and outer IPv6 (a fresh pair each): handshake with PSK, ping
# both ways over inner IPv4 and IPv6, exact `wg show transfer` deltas for 15
# pings, iperf3 TCP (-t 3) with counters at least its payload, `wg setconf` ->
# `wg showconf` read-back with a 10,000-allowed-IP peer (then traffic still
# flows), and a negative control (peer removed -> ping fails). One PASS/FAIL
# line per check, a summary line, exit 1 if anything failed (2 if the harness
# broke).

set -u
# shellcheck source=tests/netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IMPL_A=${1:-${IMPL_A:-wireguard-go}}
IMPL_B=${2:-${IMPL_B:-$IMPL_A}}
OUTERS=${OUTERS:-"4 6"}
IPERF_SECONDS=${IPERF_SECONDS:-3}
BIG_PEER_IPS=${BIG_PEER_IPS:-10000}

ping_ok() { fwg_ping "$@"; }

# handshake_ok NS IF: a handshake happened in the last 5 minutes.
handshake_ok() {
	local t now
	t=$(fwg_wg "$1" show "$2" latest-handshakes | awk '{print $2; exit}')
	now=$(date +%s)
	[ -n "$t" ] && [ "$t" -gt 0 ] && [ $((now - t)) -lt 300 ] && [ $((t - now)) -lt 5 ]
}

# endpoint_is NS IF PATTERN: the one peer's endpoint as `wg show` reports it matches.
endpoint_is() {
	local ep
	ep=$(fwg_wg "$1" show "$2" endpoints | awk '{print $2; exit}')
	# shellcheck disable=SC2053 # $3 is a glob pattern on purpose
	[[ $ep == $3 ]] || {
		fwg_log "endpoint on $2 is '$ep', expected $3"
		return 1
	}
}

# both_positive X Y: both are integers > 0.
both_positive() { [ "${1:-0}" -gt 0 ] 2>/dev/null && [ "${2:-0}" -gt 0 ] 2>/dev/null; }

# transfer NS IF: print "rx tx" bytes of the one peer.
transfer() { fwg_wg "$1" show "$2" transfer | awk '{print $2, $3; exit}'; }

# wg_msg_bytes INNER_LEN: bytes of the WireGuard data message carrying an
# inner packet of INNER_LEN bytes (16 header + padded to 16 + 16 tag), the
# unit `wg show transfer` counts in the kernel and in wireguard-go.
wg_msg_bytes() { echo $((32 + ($1 + 15) / 16 * 16)); }

# counters_exact TAG: on the quiet tunnel, 10 IPv4 pings of 100 bytes and 5
# IPv6 pings of 1000 bytes a->b must move the counters by exactly the
# WireGuard message sizes (tx on a = rx on b = requests, tx on b = rx on a =
# replies). Polls up to 3 s for the counters to settle.
counters_exact() {
	local tag=$1 nsa nsb ifa ifb want a_rx0 a_tx0 b_rx0 b_tx0 a_rx a_tx b_rx b_tx i
	nsa=$(fwg_ns_a "$tag")
	nsb=$(fwg_ns_b "$tag")
	ifa=$(fwg_if_a "$tag")
	ifb=$(fwg_if_b "$tag")
	want=$((10 * $(wg_msg_bytes $((20 + 8 + 100))) + 5 * $(wg_msg_bytes $((40 + 8 + 1000)))))
	read -r a_rx0 a_tx0 < <(transfer "$nsa" "$ifa")
	read -r b_rx0 b_tx0 < <(transfer "$nsb" "$ifb")
	if ! ip netns exec "$nsa" timeout 10 ping -n -q -c 10 -i 0.05 -W 2 -s 100 "$FWG_TUN4_B" >/dev/null ||
		! ip netns exec "$nsa" timeout 10 ping -n -q -c 5 -i 0.05 -W 2 -s 1000 "$FWG_TUN6_B" >/dev/null; then
		fwg_fail "[$tag] exact counters: pings were lost"
		return
	fi
	for i in $(seq 1 30); do
		read -r a_rx a_tx < <(transfer "$nsa" "$ifa")
		read -r b_rx b_tx < <(transfer "$nsb" "$ifb")
		a_rx=$((a_rx - a_rx0)) a_tx=$((a_tx - a_tx0)) b_rx=$((b_rx - b_rx0)) b_tx=$((b_tx - b_tx0))
		[ "$a_rx $a_tx $b_rx $b_tx" = "$want $want $want $want" ] && break
		sleep 0.1
	done
	fwg_check "[$tag] exact counters after 15 pings: tx on a = $a_tx, want $want" [ "$a_tx" = "$want" ]
	fwg_check "[$tag] exact counters after 15 pings: rx on b = $b_rx, want $want" [ "$b_rx" = "$want" ]
	fwg_check "[$tag] exact counters after 15 pings: tx on b = $b_tx, want $want" [ "$b_tx" = "$want" ]
	fwg_check "[$tag] exact counters after 15 pings: rx on a = $a_rx, want $want" [ "$a_rx" = "$want" ]
}

# iperf_check TAG: 3 s TCP a -> b; checks completion and that the tunnel
# counters carried at least the payload iperf3 reports.
iperf_check() {
	local tag=$1 nsa nsb ifa ifb json sent recvd a_tx0 b_rx0 a_tx b_rx bps label
	nsa=$(fwg_ns_a "$tag")
	nsb=$(fwg_ns_b "$tag")
	ifa=$(fwg_if_a "$tag")
	ifb=$(fwg_if_b "$tag")
	label="[$tag] iperf3 TCP a->b -t $IPERF_SECONDS"
	if ! fwg_iperf_server "$nsb" "$FWG_TUN4_B"; then
		fwg_fail "$label (server did not start)"
		return
	fi
	read -r _ a_tx0 < <(transfer "$nsa" "$ifa")
	read -r b_rx0 _ < <(transfer "$nsb" "$ifb")
	json="$FWG_WORKDIR/iperf-$tag.json"
	if ! ip netns exec "$nsa" timeout $((IPERF_SECONDS + 20)) \
		iperf3 -c "$FWG_TUN4_B" -p 5201 -t "$IPERF_SECONDS" -J >"$json" 2>&1; then
		fwg_fail "$label (iperf3 failed: $(jq -r '.error // empty' "$json" 2>/dev/null | head -c 200))"
		return
	fi
	sent=$(jq -r '.end.sum_sent.bytes' "$json")
	recvd=$(jq -r '.end.sum_received.bytes' "$json")
	bps=$(jq -r '.end.sum_received.bits_per_second' "$json")
	if [ "${recvd%.*}" -gt 0 ] 2>/dev/null; then
		fwg_pass "$label completed: $(awk -v b="$bps" 'BEGIN{printf "%.3f Gbit/s", b/1e9}'), $recvd bytes received"
	else
		fwg_fail "$label received nothing"
		return
	fi
	read -r _ a_tx < <(transfer "$nsa" "$ifa")
	read -r b_rx _ < <(transfer "$nsb" "$ifb")
	# WireGuard counters include IP/TCP headers and WG framing, so they must
	# be at least the TCP payload iperf3 moved in the same interval.
	fwg_check "[$tag] wg show tx on a ($((a_tx - a_tx0)) B) >= iperf3 sent payload ($sent B)" \
		[ $((a_tx - a_tx0)) -ge "${sent%.*}" ]
	fwg_check "[$tag] wg show rx on b ($((b_rx - b_rx0)) B) >= iperf3 received payload ($recvd B)" \
		[ $((b_rx - b_rx0)) -ge "${recvd%.*}" ]
	# b cannot have received more than a sent (4 KiB slack for a keepalive
	# or handshake landing between the two reads).
	fwg_check "[$tag] wg show rx on b <= tx on a + 4 KiB" [ $((b_rx - b_rx0)) -le $((a_tx - a_tx0 + 4096)) ]
}

# normalize_conf FILE: canonical form of a wg config for comparison: no
# comments/blank lines, keys lower-case, AllowedIPs split one per line, each
# line prefixed with its section ("[interface]" or "[peer] PUBKEY"), sorted.
normalize_conf() {
	awk '
		function flush(  i) { for (i = 1; i <= n; i++) print id "\t" buf[i]; n = 0 }
		{ sub(/#.*/, ""); gsub(/^[ \t]+|[ \t]+$/, "") }
		$0 == "" { next }
		/^\[/ { flush(); id = tolower($0); next }
		{
			k = $0; sub(/[ \t]*=.*/, "", k); k = tolower(k)
			v = $0; sub(/^[^=]*=[ \t]*/, "", v)
			if (k == "allowedips") {
				m = split(v, a, /[ \t]*,[ \t]*/)
				for (j = 1; j <= m; j++) if (a[j] != "") buf[++n] = k " = " a[j]
			} else {
				buf[++n] = k " = " v
				if (k == "publickey") id = id " " v
			}
		}
		END { flush() }
	' "$1" | LC_ALL=C sort
}

# write_conf TAG FILE: a config for side a with the real peer (b) plus a
# second peer carrying BIG_PEER_IPS allowed IPs (198.19.{1..}.x/32 and fd19::/128,
# never routed anywhere: allowed IPs only select the peer).
write_conf() {
	local tag=$1 f=$2 d=$FWG_WORKDIR ifa ifb
	ifa=$(fwg_if_a "$tag")
	ifb=$(fwg_if_b "$tag")
	fwg_keys "big-$tag" || return 1
	{
		printf '[Interface]\nPrivateKey = %s\nListenPort = %s\n\n' "$(cat "$d/$ifa.key")" "$FWG_PORT_A"
		printf '[Peer]\nPublicKey = %s\nPresharedKey = %s\n' "$(cat "$d/$ifb.pub")" "$(cat "$d/$tag.psk")"
		printf 'AllowedIPs = %s/32, %s/128\nEndpoint = %s\nPersistentKeepalive = 25\n\n' \
			"$FWG_TUN4_B" "$FWG_TUN6_B" "$(fwg_endpoint b "${OUTER}")"
		printf '[Peer]\nPublicKey = %s\n' "$(cat "$d/big-$tag.pub")"
		awk -v n="$BIG_PEER_IPS" 'BEGIN {
			half = int(n / 2)
			for (i = 0; i < half; i++) printf "AllowedIPs = 198.19.%d.%d/32\n", 1 + int(i / 250), 1 + i % 250
			for (i = 0; i < n - half; i++) printf "AllowedIPs = fd19::1:%x/128\n", i
		}'
	} >"$f"
}

# showconf_check TAG: wg setconf, wg showconf, compare normalized; traffic after.
showconf_check() {
	local tag=$1 nsa ifa conf got
	nsa=$(fwg_ns_a "$tag")
	ifa=$(fwg_if_a "$tag")
	conf="$FWG_WORKDIR/setconf-$tag.conf"
	got="$FWG_WORKDIR/showconf-$tag.conf"
	write_conf "$tag" "$conf" || {
		fwg_fail "[$tag] write config"
		return
	}
	if ! fwg_wg "$nsa" setconf "$ifa" "$conf"; then
		fwg_fail "[$tag] wg setconf ($BIG_PEER_IPS allowed IPs on a second peer)"
		return
	fi
	fwg_pass "[$tag] wg setconf ($BIG_PEER_IPS allowed IPs on a second peer)"
	if ! fwg_wg "$nsa" showconf "$ifa" >"$got"; then
		fwg_fail "[$tag] wg showconf"
		return
	fi
	if diff <(normalize_conf "$conf") <(normalize_conf "$got") >"$FWG_WORKDIR/showconf-$tag.diff"; then
		fwg_pass "[$tag] wg showconf equals the setconf input (normalized, $(grep -c . "$got") lines)"
	else
		fwg_fail "[$tag] wg showconf differs from the setconf input:"
		head -20 "$FWG_WORKDIR/showconf-$tag.diff"
	fi
	fwg_check "[$tag] ping a->b IPv4 inner after setconf" ping_ok "$nsa" "$FWG_TUN4_B"
}

# run_outer OUTER: one fresh pair, every check over that outer family.
run_outer() {
	OUTER=$1
	local tag="$OUTER" nsa nsb ifa ifb ep
	nsa=$(fwg_ns_a "$tag")
	nsb=$(fwg_ns_b "$tag")
	ifa=$(fwg_if_a "$tag")
	ifb=$(fwg_if_b "$tag")
	fwg_log "=== $IMPL_A (a) <-> $IMPL_B (b), outer IPv$OUTER, PSK ==="
	if ! fwg_pair_up "$tag" "$IMPL_A" "$IMPL_B" "$OUTER" 1; then
		fwg_fail "[$tag] set up pair $IMPL_A <-> $IMPL_B"
		return
	fi
	fwg_pass "[$tag] set up pair, $IMPL_A and $IMPL_B serve UAPI, configured with wg set (PSK)"
	fwg_check "[$tag] ping a->b IPv4 inner (first packet triggers handshake)" ping_ok "$nsa" "$FWG_TUN4_B"
	fwg_check "[$tag] handshake: wg show latest-handshakes on a is recent" handshake_ok "$nsa" "$ifa"
	fwg_check "[$tag] handshake: wg show latest-handshakes on b is recent" handshake_ok "$nsb" "$ifb"
	fwg_check "[$tag] ping b->a IPv4 inner" ping_ok "$nsb" "$FWG_TUN4_A"
	fwg_check "[$tag] ping a->b IPv6 inner" ping_ok "$nsa" "$FWG_TUN6_B"
	fwg_check "[$tag] ping b->a IPv6 inner" ping_ok "$nsb" "$FWG_TUN6_A"
	if [ "$OUTER" = 6 ]; then ep='\[fd18::?]:*'; else ep='198.18.0.?:*'; fi
	fwg_check "[$tag] a's endpoint for b is on outer IPv$OUTER" endpoint_is "$nsa" "$ifa" "$ep"
	fwg_check "[$tag] b's endpoint for a is on outer IPv$OUTER" endpoint_is "$nsb" "$ifb" "$ep"
	counters_exact "$tag"
	iperf_check "$tag"
	local rx tx
	read -r rx tx < <(transfer "$nsa" "$ifa")
	fwg_check "[$tag] wg show transfer on a nonzero (rx=$rx tx=$tx)" both_positive "$rx" "$tx"
	read -r rx tx < <(transfer "$nsb" "$ifb")
	fwg_check "[$tag] wg show transfer on b nonzero (rx=$rx tx=$tx)" both_positive "$rx" "$tx"
	showconf_check "$tag"
	# Negative control: the pings above must have gone through WireGuard, so
	# once b forgets a's key they stop.
	fwg_wg "$nsb" set "$ifb" peer "$(cat "$FWG_WORKDIR/$ifa.pub")" remove
	fwg_check "[$tag] negative control: after b removes a's peer, ping a->b fails" \
		fwg_not ip netns exec "$nsa" timeout 10 ping -n -q -c 2 -i 0.2 -W 1 "$FWG_TUN4_B"
}



main() {
	fwg_init
	fwg_require_cmds iperf3 jq ss awk
	local impl
	for impl in "$IMPL_A" "$IMPL_B"; do
		fwg_impl_available "$impl" || fwg_die "implementation $impl not found (see tests/netns/lib.sh header)"
	done
	local o
	for o in $OUTERS; do run_outer "$o"; done
	printf 'interop %s <-> %s, outer IPv%s:\n' "$IMPL_A" "$IMPL_B" "${OUTERS// /+IPv}"
	fwg_summary interop
}

main "$@"
