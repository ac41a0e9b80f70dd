#!/usr/bin/env bash
# End-to-end throughput and latency-under-load of userspace WireGuard
# implementations, side by side in the same run, in network namespaces this
# script creates and removes (see tests/netns/README.md).
#
#   sudo bench/e2e.sh                         # every implementation found
#   sudo FERROWG=target/release/ferrowg WIREGUARD_GO_CURRENT=/path/to/wireguard-go bench/e2e.sh
#   sudo bench/e2e.sh ferrowg wireguard-go-current
#
# Per implementation X: one namespace pair, X <-> X, veth underlay (MTU 1500,
# outer IPv4 or OUTER=6), tunnel MTU 1420, PSK. Then REPS rounds; every round visits every
# implementation (start rotated each round) and measures
#   - one TCP stream, iperf3 -t DURATION, a -> b and b -> a (-R) (receiver's rate),
#   - TCP retransmits iperf3 reports (a -> b; drops inside the tunnel path),
#   - CPU time both daemons used during the a -> b stream (in cores),
#   - ping RTT idle (median of PING_COUNT pings, 0.1 s apart),
#   - ping RTT while an iperf3 stream a -> b saturates the tunnel (average and max),
#   - CPU seconds of both daemons per GB carried at a paced iperf3 -b PACED (1000M),
#   - peak RSS (VmHWM) of the larger of the two daemons, read at the end.
# The same TCP streams over a bare veth pair with MTU = tunnel MTU are the ceiling
# (VETH=0 skips it). The baseline column is wireguard-go-current when
# WIREGUARD_GO_CURRENT is set, else the best of wireguard-go and boringtun-cli.
# Prints the raw values and a table of medians (Markdown).
#
# Env: REPS (5) DURATION (5) PING_COUNT (20) OUTER (4 or 6, underlay family)
#      PACED (1000M) VETH (1) OUT=file (also write the table)
#      TUN_TXQLEN (unset: the kernel's 500; else set on every tunnel interface)
#      FERROWG / WIREGUARD_GO / WIREGUARD_GO_CURRENT / BORINGTUN / GOTATUN = binary paths.
#      FERROWG_BASE = another ferrowg build (implementation ferrowg-base).
#      Implementations: ferrowg, ferrowg-nooffload (FERROWG_TUN_OFFLOAD=0), ferrowg-base,
#      ferrowg-direct / ferrowg-queued / ferrowg-codel (that TX path, --tx-queue=...;
#      plain `ferrowg` honours FERROWG_TX_QUEUE and FERROWG_RING from the environment),
#      ferrowg:VAR=VAL,... / ferrowg-base:VAR=VAL,... (with those environment variables),
#      wireguard-go-current, wireguard-go, boringtun-cli, gotatun.

set -u
# shellcheck source=tests/netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/netns/lib.sh"

REPS=${REPS:-5}
DURATION=${DURATION:-5}
PING_COUNT=${PING_COUNT:-20}
OUT=${OUT:-}
OUTER=${OUTER:-4}
PACED=${PACED:-1000M}
VETH=${VETH:-1}
TUN_TXQLEN=${TUN_TXQLEN:-}
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

# iperf_gbps NS DEST JSON [IPERF-ARGS...]: one TCP stream for DURATION s; prints the
# receiver's Gbit/s (nan on failure). The JSON stays for retransmits and bytes.
iperf_gbps() {
	local ns=$1 dest=$2 json=$3 bps
	shift 3
	if ip netns exec "$ns" timeout $((DURATION + 20)) \
		iperf3 -c "$dest" -p 5201 -t "$DURATION" -J "$@" >"$json" 2>&1; then
		bps=$(jq -r '.end.sum_received.bits_per_second' "$json")
		awk -v b="$bps" 'BEGIN{ printf "%.3f", b / 1e9 }'
	else
		fwg_log "iperf3 $* to $dest failed: $(jq -r '.error // empty' "$json" 2>/dev/null | head -c 200)"
		printf nan
	fi
}

# peak_rss_mb PID...: the largest VmHWM of the PIDs, in MB.
peak_rss_mb() {
	local p m=0 k
	for p in "$@"; do
		k=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null)
		[ "${k:-0}" -gt "$m" ] && m=$k
	done
	awk -v k="$m" 'BEGIN{ printf "%.1f", k / 1024 }'
}

# measure_veth IDX ROUND: the ceiling, bare veth at the tunnel MTU.
measure_veth() {
	local idx=$1 round=$2 nsa json fwd rev
	nsa=$(fwg_ns_a "$idx")
	json="$FWG_WORKDIR/iperf-$idx-$round.json"
	fwd=$(iperf_gbps "$nsa" "$FWG_UNDER4_B" "$json")
	rev=$(iperf_gbps "$nsa" "$FWG_UNDER4_B" "$json.rev" -R)
	printf '%s\n' "$fwd" >>"$FWG_WORKDIR/$idx.gbps"
	printf '%s\n' "$rev" >>"$FWG_WORKDIR/$idx.gbps_rev"
	printf '%-20s round %d: %6s Gbit/s  rev %6s\n' "veth (MTU $FWG_TUN_MTU)" "$round" "$fwd" "$rev"
}

# measure IDX IMPL ROUND: one round for pair IDX; appends to result files.
measure() {
	local idx=$1 impl=$2 round=$3 nsa pa pb json gbps rev t0 t1 cpu rtt_idle lpid retr pings avg max bytes cpugb
	nsa=$(fwg_ns_a "$idx")
	pa=$(fwg_impl_pid "$(fwg_if_a "$idx")")
	pb=$(fwg_impl_pid "$(fwg_if_b "$idx")")
	json="$FWG_WORKDIR/iperf-$idx-$round.json"

	t0=$(cpu_ticks "$pa" "$pb")
	gbps=$(iperf_gbps "$nsa" "$FWG_TUN4_B" "$json")
	t1=$(cpu_ticks "$pa" "$pb")
	retr=$(jq -r '.end.sum_sent.retransmits // "nan"' "$json" 2>/dev/null || echo nan)
	cpu=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v s="$DURATION" 'BEGIN{printf "%.2f", d / hz / s}')
	rev=$(iperf_gbps "$nsa" "$FWG_TUN4_B" "$json.rev" -R)

	# CPU per GB at a paced rate: both daemons' CPU seconds over the GB received.
	t0=$(cpu_ticks "$pa" "$pb")
	iperf_gbps "$nsa" "$FWG_TUN4_B" "$json.paced" -b "$PACED" >/dev/null
	t1=$(cpu_ticks "$pa" "$pb")
	bytes=$(jq -r '.end.sum_received.bytes // 0' "$json.paced" 2>/dev/null || echo 0)
	cpugb=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v b="${bytes:-0}" 'BEGIN{ if (b > 0) printf "%.2f", d / hz / (b / 1e9); else print "nan" }')

	rtt_idle=$(ping_times "$nsa" "$FWG_TUN4_B" "$PING_COUNT" | fwg_median)

	# Saturating stream long enough to cover the pings, started 1 s ahead.
	ip netns exec "$nsa" timeout $((PING_COUNT / 10 + 20)) \
		iperf3 -c "$FWG_TUN4_B" -p 5201 -t $((PING_COUNT / 10 + 2)) -J >"$json.load" 2>&1 &
	lpid=$!
	sleep 1
	pings=$(ping_times "$nsa" "$FWG_TUN4_B" "$PING_COUNT")
	avg=$(printf '%s\n' "$pings" | awk 'NF {s += $1; n++} END { if (n) printf "%.2f", s / n; else print "nan" }')
	max=$(printf '%s\n' "$pings" | awk 'NF {if ($1 > m) m = $1; n++} END { if (n) printf "%.2f", m; else print "nan" }')
	# An RTT "under load" only counts if the load stream really ran.
	if ! wait "$lpid" || ! jq -e '.end.sum_received.bytes > 0' "$json.load" >/dev/null 2>&1; then
		fwg_log "$impl round $round: load stream failed, loaded RTT discarded"
		avg=nan
		max=nan
	fi

	printf '%s\n' "$gbps" >>"$FWG_WORKDIR/$idx.gbps"
	printf '%s\n' "$rev" >>"$FWG_WORKDIR/$idx.gbps_rev"
	printf '%s\n' "$cpu" >>"$FWG_WORKDIR/$idx.cpu"
	printf '%s\n' "$cpugb" >>"$FWG_WORKDIR/$idx.cpugb"
	printf '%s\n' "$retr" >>"$FWG_WORKDIR/$idx.retr"
	printf '%s\n' "$rtt_idle" >>"$FWG_WORKDIR/$idx.rtt_idle"
	printf '%s\n' "$avg" >>"$FWG_WORKDIR/$idx.rtt_load"
	printf '%s\n' "$max" >>"$FWG_WORKDIR/$idx.rtt_max"
	printf '%-20s round %d: %6s Gbit/s  rev %6s  retr %-5s cpu %5s cores  %5s CPU-s/GB@%s  rtt idle %6s ms  loaded avg %6s max %6s ms\n' \
		"$impl" "$round" "$gbps" "$rev" "$retr" "$cpu" "$cpugb" "$PACED" "$rtt_idle" "$avg" "$max"
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
		[ -n "${WIREGUARD_GO_CURRENT:-}" ] && cand=(wireguard-go-current "${cand[@]}")
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
		if [ -n "$TUN_TXQLEN" ]; then
			ip -n "$(fwg_ns_a "$i")" link set "$(fwg_if_a "$i")" txqueuelen "$TUN_TXQLEN"
			ip -n "$(fwg_ns_b "$i")" link set "$(fwg_if_b "$i")" txqueuelen "$TUN_TXQLEN"
		fi
		ip netns exec "$(fwg_ns_a "$i")" timeout 10 ping -n -q -c 2 -W 2 "$FWG_TUN4_B" >/dev/null ||
			fwg_die "${impls[$i]}: no ping through the tunnel"
		fwg_iperf_server "$(fwg_ns_b "$i")" "$FWG_TUN4_B" || fwg_die "${impls[$i]}: iperf3 server did not start"
	done
	local vi=v
	if [ "$VETH" = 1 ]; then
		fwg_netns_pair "$vi" || fwg_die "veth pair failed"
		ip -n "$(fwg_ns_a "$vi")" link set "fva${vi}_$FWG_RUN_ID" mtu "$FWG_TUN_MTU"
		ip -n "$(fwg_ns_b "$vi")" link set "fvb${vi}_$FWG_RUN_ID" mtu "$FWG_TUN_MTU"
		fwg_iperf_server "$(fwg_ns_b "$vi")" "$FWG_UNDER4_B" || fwg_die "veth: iperf3 server did not start"
	fi

	local r k
	for r in $(seq 1 "$REPS"); do
		for k in $(seq 0 $((n - 1))); do
			i=$(((k + r - 1) % n))
			measure "$i" "${impls[$i]}" "$r"
		done
		[ "$VETH" = 1 ] && measure_veth "$vi" "$r"
	done

	# Baseline: current wireguard-go if measured, else the best of wireguard-go and boringtun-cli.
	local best=0 best_rev=0 m base_name="best of wireguard-go, boringtun-cli"
	for i in $(seq 0 $((n - 1))); do
		case ${impls[$i]} in wireguard-go-current) ;; *) continue ;; esac
		best=$(med "$FWG_WORKDIR/$i.gbps")
		best_rev=$(med "$FWG_WORKDIR/$i.gbps_rev")
		base_name="wireguard-go-current"
	done
	if [ "$base_name" != wireguard-go-current ]; then
		for i in $(seq 0 $((n - 1))); do
			case ${impls[$i]} in wireguard-go | boringtun-cli) ;; *) continue ;; esac
			m=$(med "$FWG_WORKDIR/$i.gbps")
			best=$(awk -v a="$best" -v b="$m" 'BEGIN{ print (b != "nan" && b + 0 > a + 0) ? b : a }')
			m=$(med "$FWG_WORKDIR/$i.gbps_rev")
			best_rev=$(awk -v a="$best_rev" -v b="$m" 'BEGIN{ print (b != "nan" && b + 0 > a + 0) ? b : a }')
		done
	fi
	ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b + 0 > 0 && a != "nan") printf "%.2fx", a / b; else print "-" }'; }

	local table="$FWG_WORKDIR/table.md"
	{
		printf '| implementation (X <-> X) | TCP a->b Gbit/s median | min-max | TCP b->a Gbit/s | retransmits | daemons CPU (cores) | CPU-s/GB at %s | peak RSS MB | RTT idle ms | RTT saturated avg / max ms | a->b / b->a vs %s |\n' "$PACED" "$base_name"
		printf '|---|---|---|---|---|---|---|---|---|---|---|\n'
		for i in $(seq 0 $((n - 1))); do
			local f="$FWG_WORKDIR/$i.gbps" mr
			m=$(med "$f")
			mr=$(med "$FWG_WORKDIR/$i.gbps_rev")
			printf '| %s (%s) | %s | %s-%s | %s | %s | %s | %s | %s | %s | %s / %s | %s / %s |\n' "${impls[$i]}" "$(impl_version "${impls[$i]}")" \
				"$m" "$(grep -v nan "$f" | sort -g | head -1)" "$(grep -v nan "$f" | sort -g | tail -1)" "$mr" \
				"$(med "$FWG_WORKDIR/$i.retr" %.0f)" "$(med "$FWG_WORKDIR/$i.cpu" %.2f)" "$(med "$FWG_WORKDIR/$i.cpugb" %.2f)" \
				"$(peak_rss_mb "$(fwg_impl_pid "$(fwg_if_a "$i")")" "$(fwg_impl_pid "$(fwg_if_b "$i")")")" \
				"$(med "$FWG_WORKDIR/$i.rtt_idle" %.2f)" "$(med "$FWG_WORKDIR/$i.rtt_load" %.2f)" "$(med "$FWG_WORKDIR/$i.rtt_max" %.2f)" \
				"$(ratio "$m" "$best")" "$(ratio "$mr" "$best_rev")"
		done
		if [ "$VETH" = 1 ]; then
			local f="$FWG_WORKDIR/$vi.gbps"
			printf '| ceiling: bare veth, MTU %s | %s | %s-%s | %s | - | - | - | - | - | - | - |\n' "$FWG_TUN_MTU" \
				"$(med "$f")" "$(grep -v nan "$f" | sort -g | head -1)" "$(grep -v nan "$f" | sort -g | tail -1)" \
				"$(med "$FWG_WORKDIR/$vi.gbps_rev")"
		fi
	} >"$table"
	printf '\n%s rounds x %s s, one TCP stream, tunnel MTU %s, outer IPv%s, PSK; %s CPUs, load average before: %s\n\n' \
		"$REPS" "$DURATION" "$FWG_TUN_MTU" "$OUTER" "$(nproc)" "$LOAD_BEFORE"
	cat "$table"
	[ -z "$OUT" ] || cp "$table" "$OUT"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
main "$@"
