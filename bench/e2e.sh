#!/usr/bin/env bash
# End-to-end throughput and latency-under-load of userspace WireGuard
# implementations, side by side in the same run, in network namespaces this
# script creates and removes (see tests/netns/README.md).
#
#   sudo bench/e2e.sh                         # every implementation found
#   sudo FERROWG=target/release/ferrowg bench/e2e.sh
#   sudo bench/e2e.sh wireguard-go boringtun-cli
#
# Per implementation X: one namespace pair, X <-> X, veth underlay (MTU 1500,
# outer IPv4 or OUTER=6), tunnel MTU 1420, PSK. Then REPS rounds; every round visits every
# implementation (start rotated each round) and measures
#   - one TCP stream, iperf3 -t DURATION, a -> b (receiver's rate),
#   - TCP retransmits iperf3 reports (drops inside the tunnel path),
#   - CPU time both daemons used during that stream (in cores),
#   - ping RTT idle (PING_COUNT pings, 0.1 s apart),
#   - ping RTT while an iperf3 stream saturates the tunnel.
# Prints the raw values and a table of medians (Markdown).
#
# Env: REPS (5) DURATION (5) PING_COUNT (20) OUTER (4 or 6, underlay family)
#      OUT=file (also write the table)
#      FERROWG / WIREGUARD_GO / BORINGTUN / GOTATUN = binary paths.

set -u
# shellcheck source=tests/netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/netns/lib.sh"

REPS=${REPS:-5}
DURATION=${DURATION:-5}
PING_COUNT=${PING_COUNT:-20}
OUT=${OUT:-}
OUTER=${OUTER:-4}
CLK_TCK=$(getconf CLK_TCK)

# impl_version IMPL: one-line version string.
impl_version() {
	local bin v
	bin=$(fwg_impl_bin "$1") || return 0
	v=$(timeout 5 "$bin" --version 2>&1 | head -1)
	printf '%s' "${v:-unknown}"
}

# cpu_ticks PID...: utime+stime of the PIDs, in clock ticks.
cpu_ticks() {
	local p t=0 s
	for p in "$@"; do
		# Fields 14 and 15 of /proc/PID/stat, counted after the ")" of comm.
		s=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}')
		t=$((t + ${s:-0}))
	done
	printf '%s' "$t"
}

# ping_times NS DEST COUNT: print one RTT (ms) per answered ping.
ping_times() {
	ip netns exec "$1" timeout $((PING_COUNT / 5 + 10)) ping -n -c "$3" -i 0.1 -W 2 "$2" 2>/dev/null |
		sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p'
}

# measure IDX IMPL ROUND: one round for pair IDX; appends to result files.
measure() {
	local idx=$1 impl=$2 round=$3 nsa nsb ifa ifb pa pb json bps gbps t0 t1 cpu rtt_idle rtt_load lpid retr
	nsa=$(fwg_ns_a "$idx")
	nsb=$(fwg_ns_b "$idx")
	ifa=$(fwg_if_a "$idx")
	ifb=$(fwg_if_b "$idx")
	pa=$(fwg_impl_pid "$ifa")
	pb=$(fwg_impl_pid "$ifb")
	json="$FWG_WORKDIR/iperf-$idx-$round.json"

	t0=$(cpu_ticks "$pa" "$pb")
	if ip netns exec "$nsa" timeout $((DURATION + 20)) \
		iperf3 -c "$FWG_TUN4_B" -p 5201 -t "$DURATION" -J >"$json" 2>&1; then
		bps=$(jq -r '.end.sum_received.bits_per_second' "$json")
		retr=$(jq -r '.end.sum_sent.retransmits // "nan"' "$json")
	else
		fwg_log "$impl round $round: iperf3 failed: $(jq -r '.error // empty' "$json" 2>/dev/null | head -c 200)"
		bps=nan
		retr=nan
	fi
	t1=$(cpu_ticks "$pa" "$pb")
	cpu=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v s="$DURATION" 'BEGIN{printf "%.2f", d / hz / s}')
	gbps=$(awk -v b="$bps" 'BEGIN{ if (b == "nan") print "nan"; else printf "%.3f", b / 1e9 }')

	rtt_idle=$(ping_times "$nsa" "$FWG_TUN4_B" "$PING_COUNT" | fwg_median)

	# Saturating stream long enough to cover the pings, started 1 s ahead.
	ip netns exec "$nsa" timeout $((PING_COUNT / 10 + 20)) \
		iperf3 -c "$FWG_TUN4_B" -p 5201 -t $((PING_COUNT / 10 + 2)) -J >"$json.load" 2>&1 &
	lpid=$!
	sleep 1
	rtt_load=$(ping_times "$nsa" "$FWG_TUN4_B" "$PING_COUNT" | fwg_median)
	# An RTT "under load" only counts if the load stream really ran.
	if ! wait "$lpid" || ! jq -e '.end.sum_received.bytes > 0' "$json.load" >/dev/null 2>&1; then
		fwg_log "$impl round $round: load stream failed, loaded RTT discarded"
		rtt_load=nan
	fi

	printf '%s\n' "$gbps" >>"$FWG_WORKDIR/$idx.gbps"
	printf '%s\n' "$cpu" >>"$FWG_WORKDIR/$idx.cpu"
	printf '%s\n' "$retr" >>"$FWG_WORKDIR/$idx.retr"
	printf '%s\n' "$rtt_idle" >>"$FWG_WORKDIR/$idx.rtt_idle"
	printf '%s\n' "$rtt_load" >>"$FWG_WORKDIR/$idx.rtt_load"
	printf '%-14s round %d: %6s Gbit/s  retr %-5s cpu %5s cores  rtt idle %6s ms  loaded %7s ms\n' \
		"$impl" "$round" "$gbps" "$retr" "$cpu" "$rtt_idle" "$rtt_load"
}

# med FILE [PRINTF-FORMAT]: median of the numeric lines of FILE (nan lines
# dropped), formatted (default %.3f).
med() {
	local m
	m=$(grep -v nan "$1" 2>/dev/null | fwg_median)
	awk -v m="$m" -v f="${2:-%.3f}" 'BEGIN{ if (m == "nan") print m; else printf f "\n", m }'
}

main() {
	fwg_init
	fwg_require_cmds iperf3 jq ss awk getconf
	local -a impls=() cand
	if [ $# -gt 0 ]; then
		cand=("$@")
	else
		cand=(wireguard-go boringtun-cli gotatun)
		[ -n "${FERROWG:-}" ] && cand=(ferrowg "${cand[@]}")
	fi
	local impl
	for impl in "${cand[@]}"; do
		if fwg_impl_available "$impl"; then
			impls+=("$impl")
		else
			fwg_log "skipping $impl: binary not found"
		fi
	done
	[ ${#impls[@]} -gt 0 ] || fwg_die "no implementation found"

	local n=${#impls[@]} i
	fwg_log "setting up ${impls[*]} (one namespace pair each)"
	for i in $(seq 0 $((n - 1))); do
		fwg_pair_up "$i" "${impls[$i]}" "${impls[$i]}" "$OUTER" 1 || fwg_die "set up ${impls[$i]} pair failed"
		ip netns exec "$(fwg_ns_a "$i")" timeout 10 ping -n -q -c 2 -W 2 "$FWG_TUN4_B" >/dev/null ||
			fwg_die "${impls[$i]}: no ping through the tunnel"
		fwg_iperf_server "$(fwg_ns_b "$i")" "$FWG_TUN4_B" || fwg_die "${impls[$i]}: iperf3 server did not start"
	done

	local r k
	for r in $(seq 1 "$REPS"); do
		for k in $(seq 0 $((n - 1))); do
			i=$(((k + r - 1) % n))
			measure "$i" "${impls[$i]}" "$r"
		done
	done

	# The issue's baseline: the best of wireguard-go and boringtun-cli.
	local best=0 m
	for i in $(seq 0 $((n - 1))); do
		case ${impls[$i]} in wireguard-go | boringtun-cli) ;; *) continue ;; esac
		m=$(med "$FWG_WORKDIR/$i.gbps")
		best=$(awk -v a="$best" -v b="$m" 'BEGIN{ print (b != "nan" && b + 0 > a + 0) ? b : a }')
	done

	local table="$FWG_WORKDIR/table.md"
	{
		printf '| implementation (X <-> X) | TCP Gbit/s median | min-max | TCP retransmits | daemons CPU (cores) | RTT idle ms | RTT saturated ms | vs best of wireguard-go, boringtun-cli |\n'
		printf '|---|---|---|---|---|---|---|---|\n'
		for i in $(seq 0 $((n - 1))); do
			local f="$FWG_WORKDIR/$i.gbps"
			m=$(med "$f")
			printf '| %s (%s) | %s | %s-%s | %s | %s | %s | %s | %s |\n' "${impls[$i]}" "$(impl_version "${impls[$i]}")" \
				"$m" "$(grep -v nan "$f" | sort -g | head -1)" "$(grep -v nan "$f" | sort -g | tail -1)" \
				"$(med "$FWG_WORKDIR/$i.retr" %.0f)" "$(med "$FWG_WORKDIR/$i.cpu" %.2f)" \
				"$(med "$FWG_WORKDIR/$i.rtt_idle" %.2f)" "$(med "$FWG_WORKDIR/$i.rtt_load" %.2f)" \
				"$(awk -v a="$m" -v b="$best" 'BEGIN{ if (b + 0 > 0 && a != "nan") printf "%.2fx", a / b; else print "-" }')"
		done
	} >"$table"
	printf '\n%s rounds x %s s, one TCP stream, tunnel MTU %s, outer IPv%s, PSK; %s CPUs, load average before: %s\n\n' \
		"$REPS" "$DURATION" "$FWG_TUN_MTU" "$OUTER" "$(nproc)" "$LOAD_BEFORE"
	cat "$table"
	[ -z "$OUT" ] || cp "$table" "$OUT"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
main "$@"
