#!/usr/bin/env bash
# Data integrity through TUN segmentation offload (TSO/USO in, GRO out): bulk TCP over
# inner IPv4 and IPv6, both directions, checked byte for byte (sha256 of a random file
# sent over one TCP connection); UDP sent with UDP_SEGMENT (the kernel hands the TUN a USO
# super-frame) arrives as intact datagrams. For ferrowg with the default --rt-priority
# (saturated:1): with one thread per direction its packet threads run SCHED_FIFO from the
# start; with the shared I/O thread they are normal again when idle; the control thread
# never runs SCHED_FIFO.
#
#   sudo FERROWG=target/release/ferrowg tests/netns/offload.sh [IMPL_A [IMPL_B]]
set -u
# shellcheck source=tests/netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

IMPL_A=${1:-${IMPL_A:-ferrowg}}
IMPL_B=${2:-${IMPL_B:-$IMPL_A}}
SIZE_MB=${SIZE_MB:-24}

# tcp_copy FROM_NS TO_NS TO_ADDR LABEL: file from FROM_NS to TO_NS over one TCP
# connection (read to EOF on the far side); same sha256?
tcp_copy() {
	local from=$1 to=$2 addr=$3 label=$4 src="$FWG_WORKDIR/src.bin" dst="$FWG_WORKDIR/dst-$4.bin" fam=AF_INET rpid
	case $addr in *:*) fam=AF_INET6 ;; esac
	ip netns exec "$to" timeout 60 python3 -c "
import socket
s = socket.socket(socket.$fam, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('$addr', 5202)); s.listen(1); s.settimeout(30)
c, _ = s.accept(); c.settimeout(30)
with open('$dst', 'wb') as f:
    while True:
        d = c.recv(1 << 20)
        if not d:
            break
        f.write(d)
" &
	rpid=$!
	fwg_wait_tcp_listen "$to" 5202 5 || return 1
	ip netns exec "$from" timeout 60 python3 -c "
import socket
s = socket.create_connection(('$addr', 5202), timeout=30)
with open('$src', 'rb') as f:
    s.sendfile(f)
s.shutdown(socket.SHUT_WR)
s.recv(1)
" || return 1
	wait "$rpid" || return 1
	[ "$(sha256sum <"$src")" = "$(sha256sum <"$dst")" ]
}

# udp_gso FROM_NS TO_NS TO_ADDR: 40 sends of 8 x 1000-byte segments (UDP_SEGMENT);
# every one of the 320 datagrams arrives intact.
udp_gso() {
	local from=$1 to=$2 addr=$3 fam=AF_INET rpid
	case $addr in *:*) fam=AF_INET6 ;; esac
	ip netns exec "$to" timeout 20 python3 -c "
import socket, sys
s = socket.socket(socket.$fam, socket.SOCK_DGRAM)
s.bind(('$addr', 5203)); s.settimeout(5)
open('$FWG_WORKDIR/udp-ready', 'w').close()
seen = set()
try:
    while len(seen) < 320:
        d = s.recv(2000)
        i = int.from_bytes(d[:4], 'big')
        assert len(d) == 1000 and d == i.to_bytes(4, 'big') + bytes([i % 251]) * 996, 'bad datagram'
        seen.add(i)
except socket.timeout:
    pass
sys.exit(0 if len(seen) >= 300 else 1)
" &
	rpid=$!
	for _ in $(seq 1 50); do [ -e "$FWG_WORKDIR/udp-ready" ] && break; sleep 0.1; done
	rm -f "$FWG_WORKDIR/udp-ready"
	ip netns exec "$from" timeout 20 python3 -c "
import socket, time
s = socket.socket(socket.$fam, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_UDP, 103, 1000)  # UDP_SEGMENT
for k in range(40):
    buf = b''.join(i.to_bytes(4, 'big') + bytes([i % 251]) * 996 for i in range(8 * k, 8 * k + 8))
    s.sendto(buf, ('$addr', 5203))
    time.sleep(0.01)
" || return 1
	wait "$rpid"
}

# rt_threads PID: "IO CRYPTO CONTROL": how many of the daemon's I/O threads (ferrowg-io*,
# -tx, -rx) and crypto workers run SCHED_FIFO, and the control thread's policy (0:
# SCHED_OTHER).
rt_threads() {
	local t comm pol io=0 crypto=0 ctl=none
	for t in /proc/"$1"/task/*; do
		comm=$(cat "$t/comm" 2>/dev/null) || continue
		# Field 41 of stat is the policy; after "comm) " field 3 comes first.
		pol=$(sed 's/^.*) //' "$t/stat" 2>/dev/null | cut -d' ' -f39) || continue
		case $comm in
		ferrowg-control) ctl=$pol ;;
		ferrowg-io* | ferrowg-tx | ferrowg-rx) [ "$pol" = 1 ] && io=$((io + 1)) ;;
		ferrowg-crypto*) [ "$pol" = 1 ] && crypto=$((crypto + 1)) ;;
		esac
	done
	printf '%s %s %s\n' "$io" "$crypto" "$ctl"
}

# default_priority IFNAME: the daemon on IFNAME never raised its control thread, and its
# packet threads are normal again once the load is over (the default raises them only
# while saturated, until 200 ms after; checked after a second's idle).
default_priority() {
	local got
	sleep 1
	got=$(rt_threads "$(fwg_impl_pid "$1")")
	fwg_debug "rt threads on $1: $got"
	case $got in
	0\ *\ 0) ;;
	*) fwg_log "FIFO I/O threads, crypto workers, control policy: $got"; return 1 ;;
	esac
}

# per_direction_priority IFNAME: one thread per direction has no saturation signal, so
# the default raises its packet threads from their start; never the control thread.
per_direction_priority() {
	local got
	got=$(rt_threads "$(fwg_impl_pid "$1")")
	fwg_debug "rt threads on $1: $got"
	case $got in
	2\ *\ 0) ;;
	*) fwg_log "FIFO I/O threads, crypto workers, control policy: $got"; return 1 ;;
	esac
}

main() {
	fwg_init
	fwg_require_cmds python3 sha256sum ss
	fwg_pair_up 0 "$IMPL_A" "$IMPL_B" 4 1 || fwg_die "set up $IMPL_A <-> $IMPL_B failed"
	local nsa nsb
	nsa=$(fwg_ns_a 0)
	nsb=$(fwg_ns_b 0)
	head -c "$((SIZE_MB << 20))" /dev/urandom >"$FWG_WORKDIR/src.bin"
	fwg_check "TCP inner IPv4 a->b, ${SIZE_MB} MB intact" tcp_copy "$nsa" "$nsb" "$FWG_TUN4_B" v4ab
	fwg_check "TCP inner IPv4 b->a, ${SIZE_MB} MB intact" tcp_copy "$nsb" "$nsa" "$FWG_TUN4_A" v4ba
	fwg_check "TCP inner IPv6 a->b, ${SIZE_MB} MB intact" tcp_copy "$nsa" "$nsb" "$FWG_TUN6_B" v6ab
	fwg_check "TCP inner IPv6 b->a, ${SIZE_MB} MB intact" tcp_copy "$nsb" "$nsa" "$FWG_TUN6_A" v6ba
	fwg_check "UDP_SEGMENT inner IPv4 a->b, datagrams intact" udp_gso "$nsa" "$nsb" "$FWG_TUN4_B"
	fwg_check "UDP_SEGMENT inner IPv6 b->a, datagrams intact" udp_gso "$nsb" "$nsa" "$FWG_TUN6_A"
	case $IMPL_A in
	*RT_PRIORITY*) ;;
	ferrowg:*per-direction*)
		fwg_check "per-direction packet threads at real-time priority from the start, control not" \
			per_direction_priority "$(fwg_if_a 0)"
		;;
	ferrowg | ferrowg:*)
		fwg_check "shared I/O: control never raised, packet threads normal again when idle" \
			default_priority "$(fwg_if_a 0)"
		;;
	esac
	fwg_summary offload
}

main "$@"
