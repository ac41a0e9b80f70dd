#!/usr/bin/env bash
# Where does a ping wait while one TCP stream saturates the tunnel? Splits each ping's
# round trip at two capture points (tcpdump kernel timestamps, one clock): the TUN
# of side a and the TUN of side b.
#
#   sudo FERROWG=target/release/ferrowg bench/latency-trace.sh [IMPL] [IMPL...]
#
# Per implementation (IMPL <-> IMPL, as bench/e2e.sh, default ferrowg): an iperf3
# stream a -> b for PINGS/10 + 3 s, PINGS pings of 500 bytes a -> b 0.1 s apart after
# 1 s; then per ping (mean, median, p90, max over the answered ones, in ms):
#   a->b   TUN a -> TUN b: a reads the request, seals it, the underlay, b opens it
#          and writes it to its TUN (the direction of the stream's data)
#   b.os   b's kernel answers the ping
#   b->a   TUN b -> TUN a: the reply, the direction of the stream's ACKs
# (The underlay veth cannot split these further: with UDP GSO the sealed ping rides
# inside a super-packet of the stream's segments.)
# Env: PINGS (50) TXQ (unset: kernel default) CC (unset: the kernel's default TCP
#      congestion control; e.g. cubic: the inner stream's, iperf3 -C) and
#      those of tests/netns/lib.sh. Also prints the stream's rate (iperf3 receiver).

set -u
# shellcheck source=tests/netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../tests/netns/lib.sh"

PINGS=${PINGS:-50}
fwg_init
fwg_require_cmds iperf3 tcpdump awk

impls=("$@")
[ ${#impls[@]} -gt 0 ] || impls=(ferrowg)

# cap NS DEV FILTER OUT: start tcpdump with nanosecond kernel timestamps.
cap() {
	ip netns exec "$1" timeout $((PINGS / 10 + 30)) tcpdump -i "$2" -nn -tt --time-stamp-precision=nano \
		-s 96 -l "$3" >"$4" 2>/dev/null &
	fwg_track $!
	CAPS+=($!)
}

i=0
for impl in "${impls[@]}"; do
	i=$((i + 1))
	fwg_pair_up "$i" "$impl" "$impl" 4 1 || fwg_die "$impl: pair setup failed"
	nsa=$(fwg_ns_a "$i")
	nsb=$(fwg_ns_b "$i")
	ifa=$(fwg_if_a "$i")
	ifb=$(fwg_if_b "$i")
	if [ -n "${TXQ:-}" ]; then
		ip -n "$nsa" link set "$ifa" txqueuelen "$TXQ"
		ip -n "$nsb" link set "$ifb" txqueuelen "$TXQ"
	fi
	fwg_ping "$nsa" "$FWG_TUN4_B" 2 || fwg_die "$impl: no ping through the tunnel"
	fwg_iperf_server "$nsb" "$FWG_TUN4_B" || fwg_die "$impl: iperf3 server"
	CAPS=()
	d=$FWG_WORKDIR/trace-$i
	mkdir -p "$d"
	cap "$nsa" "$ifa" "icmp" "$d/tuna"
	cap "$nsb" "$ifb" "icmp" "$d/tunb"
	sleep 1
	ip netns exec "$nsa" timeout $((PINGS / 10 + 20)) iperf3 -c "$FWG_TUN4_B" -p 5201 \
		-t $((PINGS / 10 + 3)) ${CC:+-C "$CC"} -J >"$d/iperf.json" 2>&1 &
	lp=$!
	sleep 1
	# Receive queues of both sides' UDP sockets, sampled every 0.2 s during the pings.
	(
		for _ in $(seq 1 $((PINGS / 2))); do
			for ns in "$nsa" "$nsb"; do
				printf '%s ' "$ns"
				ip netns exec "$ns" ss -uanH | awk '{q += $2} END {print q + 0}'
			done
			sleep 0.2
		done
	) >"$d/rxq" &
	sp=$!
	ip netns exec "$nsa" timeout $((PINGS / 10 + 10)) ping -n -c "$PINGS" -i 0.1 -s 500 -W 2 \
		"$FWG_TUN4_B" >"$d/ping" 2>&1
	wait "$lp"
	wait "$sp"
	sleep 1
	kill "${CAPS[@]}" 2>/dev/null
	wait "${CAPS[@]}" 2>/dev/null
	awk -v impl="$impl" '
		function seq(line) { match(line, /seq [0-9]+/); return substr(line, RSTART + 4, RLENGTH - 4) }
		function ts(line) { split(line, f, " "); return f[1] + 0 }
		FILENAME ~ /tuna$/ && /echo request/ { s = seq($0); qa[s] = ts($0); order[++n] = s }
		FILENAME ~ /tuna$/ && /echo reply/ { ra[seq($0)] = ts($0) }
		FILENAME ~ /tunb$/ && /echo request/ { qb[seq($0)] = ts($0) }
		FILENAME ~ /tunb$/ && /echo reply/ { rb[seq($0)] = ts($0) }
		END {
			m = 0
			for (k = 1; k <= n; k++) {
				s = order[k]
				if (!(s in ra) || !(s in qb) || !(s in rb)) continue
				m++
				h[1, m] = qb[s] - qa[s]; h[2, m] = rb[s] - qb[s]; h[3, m] = ra[s] - rb[s]; h[4, m] = ra[s] - qa[s]
			}
			split("a->b b.os b->a total", name, " ")
			printf "%s: %d pings traced\n", impl, m
			printf "%-8s %10s %10s %10s %10s\n", "hop", "mean ms", "median ms", "p90 ms", "max ms"
			for (j = 1; j <= 4; j++) {
				for (k = 1; k <= m; k++) v[k] = h[j, k] * 1000
				for (x = 2; x <= m; x++) { t = v[x]; y = x - 1; while (y >= 1 && v[y] > t) { v[y + 1] = v[y]; y-- } v[y + 1] = t }
				sum = 0; for (k = 1; k <= m; k++) sum += v[k]
				if (m) printf "%-8s %10.3f %10.3f %10.3f %10.3f\n", name[j], sum / m, v[int((m + 1) / 2)], v[int(m * 0.9 + 0.5)], v[m]
			}
		}' "$d/tuna" "$d/tunb"
	awk -v a="$nsa" '$1 == a {qa[++na] = $2} $1 != a {qb[++nb] = $2}
		function med(v, n,  x, y, t) { for (x = 2; x <= n; x++) { t = v[x]; y = x - 1; while (y >= 1 && v[y] > t) { v[y + 1] = v[y]; y-- } v[y + 1] = t } return v[int((n + 1) / 2)] }
		END { printf "UDP receive queue bytes, median of %d samples: a %d, b %d\n", na, med(qa, na), med(qb, nb) }' "$d/rxq"
	jq -r '"stream: \(.end.sum_received.bits_per_second / 1e9 * 1000 | floor / 1000) Gbit/s, \(.end.sum_sent.retransmits) retransmits"' "$d/iperf.json" 2>/dev/null
	tail -1 "$d/ping"
done
