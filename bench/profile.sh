#!/usr/bin/env bash
# perf profile of one implementation at saturation: one X <-> X namespace pair (as in
# bench/e2e.sh), one TCP stream a -> b for DURATION s while `perf record -g` samples both
# daemons (a: sender side, TUN read + segment + seal; b: receiver side, open + coalesce +
# TUN write). Prints the top symbols of each (self time, children excluded).
#
#   sudo FERROWG=target/release/ferrowg bench/profile.sh [IMPL]
#
# Env: DURATION (8) TOP (25) OUTDIR (keep perf.data files there; default: removed)
#      PACED (unset: saturating; e.g. 1000M: iperf3 -b, the rate bench/e2e.sh's CPU-s/GB
#      uses) — also prints each daemon's CPU seconds, context switches and wakeups.
set -u
# shellcheck source=tests/netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/netns/lib.sh"

DURATION=${DURATION:-8}
TOP=${TOP:-25}
IMPL=${1:-ferrowg}

main() {
	fwg_init
	fwg_require_cmds iperf3 perf
	fwg_pair_up 0 "$IMPL" "$IMPL" 4 1 || fwg_die "set up $IMPL pair failed"
	fwg_iperf_server "$(fwg_ns_b 0)" "$FWG_TUN4_B" || fwg_die "iperf3 server did not start"
	local pa pb dir=${OUTDIR:-$FWG_WORKDIR} rpid ppid
	pa=$(fwg_impl_pid "$(fwg_if_a 0)")
	pb=$(fwg_impl_pid "$(fwg_if_b 0)")
	mkdir -p "$dir"
	ip netns exec "$(fwg_ns_a 0)" timeout $((DURATION + 20)) \
		iperf3 -c "$FWG_TUN4_B" -p 5201 -t $((DURATION + 2)) ${PACED:+-b "$PACED"} >"$FWG_WORKDIR/iperf.txt" 2>&1 &
	rpid=$!
	sleep 1
	timeout $((DURATION + 10)) perf stat -e task-clock,context-switches,sched:sched_wakeup -p "$pa,$pb" --per-thread \
		-o "$dir/stat.txt" -- sleep "$DURATION" 2>/dev/null &
	timeout $((DURATION + 10)) perf record -q -g -o "$dir/a.data" -p "$pa" -- sleep "$DURATION" 2>/dev/null &
	ppid=$!
	timeout $((DURATION + 10)) perf record -q -g -o "$dir/b.data" -p "$pb" -- sleep "$DURATION" 2>/dev/null
	wait "$ppid" "$rpid" 2>/dev/null
	grep -E 'receiver' "$FWG_WORKDIR/iperf.txt" | tail -1
	printf '\n== per thread (a pid %s, b pid %s): task-clock ms, context switches, wakeups ==\n' "$pa" "$pb"
	grep -E 'task-clock|context-switches|sched_wakeup' "$dir/stat.txt" 2>/dev/null | awk '{print $1, $2, $3}' | sort | head -60
	local side
	for side in a b; do
		printf '\n== %s side (%s), top %s symbols by self time ==\n' "$side" "$IMPL" "$TOP"
		perf report -i "$dir/$side.data" --no-children --sort symbol --stdio 2>/dev/null |
			grep -E '^ +[0-9.]+%' | head -"$TOP"
	done
}

main "$@"
