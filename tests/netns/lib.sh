# shellcheck shell=bash
# Network-namespace harness for userspace WireGuard implementations.
#
# Source this file from bash (tests/netns/interop.sh, bench/e2e.sh). It sets up
# pairs of namespaces joined by a veth, starts one userspace implementation in
# each namespace, configures them with `wg`, and tears everything down on exit.
#
# Traffic rule: every address used here lives inside namespaces this file
# creates (underlay 198.18.0.0/24 + fd18::/64, tunnel 198.19.0.0/24 + fd19::/64).
# Nothing is ever configured in the root namespace except the UAPI socket files
# in /var/run/wireguard/, which are removed on exit.
#
# Implementations (IMPL_A / IMPL_B, or arguments to fwg_pair_up):
#   wireguard-go   WIREGUARD_GO=path  (default: wireguard-go in PATH)
#   wireguard-go-current  WIREGUARD_GO_CURRENT=path (a current build, e.g. 0.0.20250522
#                  with TUN offloads; never a default: only when the variable is set)
#   boringtun-cli  BORINGTUN=path     (default: boringtun-cli in PATH or /work/.cache-tools/bin)
#   gotatun        GOTATUN=path       (default: gotatun in PATH or /work/.cache-tools/bin)
#   ferrowg        FERROWG=path       (default: ferrowg in PATH or target/release/ferrowg)
#   ferrowg-nooffload  the same binary with FERROWG_TUN_OFFLOAD=0 (no TUN offload)
#   ferrowg-base   FERROWG_BASE=path  (another ferrowg build, e.g. before a change, to
#                  compare in the same run; never a default)
#   ferrowg:VAR=VAL[,VAR=VAL...] (also ferrowg-base:...): that binary with those
#                  environment variables (variants of run-time options side by side)
#   ferrowg-direct, ferrowg-queued, ferrowg-codel  the same binary with that TX path
#                  (--tx-queue=...; `ferrowg` itself runs the default, or FERROWG_TX_QUEUE)

set -o pipefail

FWG_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FWG_REPO_DIR=$(cd "$FWG_LIB_DIR/../.." && pwd)
FWG_TOOLS_DIR=${FWG_TOOLS_DIR:-/work/.cache-tools/bin}
FWG_RUN_ID=${FWG_RUN_ID:-$$}
FWG_UAPI_DIR=/var/run/wireguard
# Upper bound for the whole script; a watchdog sends SIGTERM after it.
FWG_MAX_SECONDS=${FWG_MAX_SECONDS:-600}
FWG_START_TIMEOUT=${FWG_START_TIMEOUT:-10}
FWG_VERBOSE=${FWG_VERBOSE:-0}

# Underlay (veth) and tunnel addresses, side a = .1, side b = .2.
FWG_UNDER4_A=198.18.0.1
FWG_UNDER4_B=198.18.0.2
FWG_UNDER6_A=fd18::1
FWG_UNDER6_B=fd18::2
FWG_TUN4_A=198.19.0.1
FWG_TUN4_B=198.19.0.2
FWG_TUN6_A=fd19::1
FWG_TUN6_B=fd19::2
FWG_PORT_A=${FWG_PORT_A:-51820}
FWG_PORT_B=${FWG_PORT_B:-51821}
FWG_UNDER_MTU=${FWG_UNDER_MTU:-1500}
FWG_TUN_MTU=${FWG_TUN_MTU:-1420}

# What this run created; the cleanup walks these lists.
FWG_PIDS=()
FWG_NAMESPACES=()
FWG_IFACES=()
FWG_WORKDIR=""
FWG_WATCHDOG_PID=""
FWG_CLEANED=0

fwg_log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
fwg_debug() { if [ "$FWG_VERBOSE" = 1 ]; then fwg_log "$@"; fi; }
fwg_die() {
	fwg_log "ERROR: $*"
	exit 2
}

# fwg_require_root: exit unless running as root.
fwg_require_root() {
	[ "$(id -u)" = 0 ] || fwg_die "must run as root (network namespaces, TUN devices)"
}

# fwg_require_cmds CMD...: exit naming every missing command.
fwg_require_cmds() {
	local missing=() c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || missing+=("$c")
	done
	[ ${#missing[@]} -eq 0 ] || fwg_die "missing commands: ${missing[*]} (see tests/netns/README.md)"
}

# fwg_impl_bin IMPL: print the binary for an implementation, or fail.
fwg_impl_bin() {
	local impl=$1 cand=()
	case $impl in
	wireguard-go) cand=("${WIREGUARD_GO:-}" wireguard-go) ;;
	wireguard-go-current) cand=("${WIREGUARD_GO_CURRENT:-}") ;;
	boringtun-cli | boringtun) cand=("${BORINGTUN:-}" boringtun-cli "$FWG_TOOLS_DIR/boringtun-cli") ;;
	gotatun) cand=("${GOTATUN:-}" gotatun "$FWG_TOOLS_DIR/gotatun") ;;
	ferrowg | ferrowg-nooffload | ferrowg-direct | ferrowg-queued | ferrowg-codel | ferrowg:*) cand=("${FERROWG:-}" ferrowg "$FWG_REPO_DIR/target/release/ferrowg") ;;
	ferrowg-base | ferrowg-base:*) cand=("${FERROWG_BASE:-}") ;;
	*)
		fwg_log "unknown implementation '$impl' (wireguard-go, wireguard-go-current, boringtun-cli, gotatun, ferrowg, ferrowg-nooffload, ferrowg-direct, ferrowg-queued, ferrowg-codel, ferrowg-base, ferrowg[-base]:VAR=VAL,...)"
		return 1
		;;
	esac
	local c p
	for c in "${cand[@]}"; do
		[ -n "$c" ] || continue
		if p=$(command -v "$c" 2>/dev/null) && [ -x "$p" ]; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	return 1
}

# fwg_impl_available IMPL: true if the implementation's binary can be found.
fwg_impl_available() { fwg_impl_bin "$1" >/dev/null 2>&1; }

# fwg_impl_argv IMPL IFNAME: fill the global array FWG_ARGV with the command
# line that runs IMPL in the foreground on IFNAME.
fwg_impl_argv() {
	local impl=$1 ifname=$2 bin
	bin=$(fwg_impl_bin "$impl") || {
		fwg_log "no binary for $impl"
		return 1
	}
	case $impl in
	wireguard-go | wireguard-go-current) FWG_ARGV=(env WG_PROCESS_FOREGROUND=1 LOG_LEVEL=error "$bin" -f "$ifname") ;;
	boringtun-cli | boringtun | gotatun)
		FWG_ARGV=(env WG_SUDO=1 WG_LOG_LEVEL=error "$bin" --foreground --disable-drop-privileges "$ifname")
		;;
	ferrowg | ferrowg-base) FWG_ARGV=("$bin" -f "$ifname") ;;
	ferrowg-nooffload) FWG_ARGV=(env FERROWG_TUN_OFFLOAD=0 "$bin" -f "$ifname") ;;
	ferrowg-direct | ferrowg-queued | ferrowg-codel) FWG_ARGV=("$bin" -f "$ifname" "--tx-queue=${impl#ferrowg-}") ;;
	ferrowg:* | ferrowg-base:*)
		local vars
		IFS=, read -r -a vars <<<"${impl#*:}"
		FWG_ARGV=(env "${vars[@]}" "$bin" -f "$ifname")
		;;
	esac
}

# fwg_workdir: print (creating once) a private temp dir for keys and logs.
# Call it once in the main shell before any $(...) use, so the path sticks.
fwg_workdir() {
	if [ -z "$FWG_WORKDIR" ]; then
		FWG_WORKDIR=$(mktemp -d "/tmp/fwg-$FWG_RUN_ID-XXXXXX") || fwg_die "mktemp failed"
		chmod 700 "$FWG_WORKDIR"
	fi
	printf '%s\n' "$FWG_WORKDIR"
}

# fwg_pid_alive PID: the process exists and is not a zombie.
fwg_pid_alive() {
	local st
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ]
}

# fwg_pid_start PID: the process's start time (field 22 of /proc/PID/stat).
fwg_pid_start() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }

# fwg_track PID: remember a process we started (with its start time, so a
# reused PID is never signalled) for the cleanup.
fwg_track() { FWG_PIDS+=("$1:$(fwg_pid_start "$1")"); }

# fwg_kill_pid PID[:START]: SIGTERM, wait up to 3 s, then SIGKILL; nothing if
# the process is gone or START no longer matches. Only processes we started.
fwg_kill_pid() {
	local pid=${1%%:*} start=${1#*:} i
	[ "$start" != "$1" ] && [ "$(fwg_pid_start "$pid")" != "$start" ] && return 0
	fwg_pid_alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 1 30); do
		fwg_pid_alive "$pid" || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	return 0
}

# fwg_cleanup: kill what we started, delete our namespaces (which deletes the
# veth and TUN devices inside them), remove our UAPI sockets and temp files.
# Installed as the EXIT trap by fwg_init; safe to call more than once.
fwg_cleanup() {
	[ "$FWG_CLEANED" = 1 ] && return 0
	FWG_CLEANED=1
	local pid ns ifname
	for pid in "${FWG_PIDS[@]}"; do fwg_kill_pid "$pid"; done
	for ns in "${FWG_NAMESPACES[@]}"; do
		# Anything still inside a namespace we created was started by us.
		for pid in $(ip netns pids "$ns" 2>/dev/null); do fwg_kill_pid "$pid"; done
		ip netns del "$ns" 2>/dev/null
		# Per-namespace /etc files (hosts, resolv.conf) a test wrote for its namespace.
		[ -n "$ns" ] && rm -rf "/etc/netns/$ns"
	done
	for ifname in "${FWG_IFACES[@]}"; do
		rm -f "$FWG_UAPI_DIR/$ifname.sock" "$FWG_UAPI_DIR/$ifname.name"
	done
	if [ -n "$FWG_WATCHDOG_PID" ]; then
		kill -TERM "$FWG_WATCHDOG_PID" 2>/dev/null
	fi
	if [ -n "$FWG_WORKDIR" ] && [ -d "$FWG_WORKDIR" ]; then
		if [ -n "${FWG_KEEP_LOGS:-}" ]; then
			fwg_log "logs kept in $FWG_WORKDIR"
		else
			rm -rf "$FWG_WORKDIR"
		fi
	fi
}

# fwg_init: install traps and the watchdog. Call once at the top of a script.
fwg_init() {
	fwg_require_root
	fwg_require_cmds ip wg timeout ping
	fwg_workdir >/dev/null
	trap fwg_cleanup EXIT
	trap 'fwg_log "interrupted"; exit 130' INT
	trap 'fwg_log "terminated (watchdog after ${FWG_MAX_SECONDS}s or signal)"; exit 143' TERM
	# The watchdog polls once a second and gives up as soon as the script is
	# gone, so it never signals a reused PID.
	(
		for _ in $(seq 1 "$FWG_MAX_SECONDS"); do
			sleep 1
			fwg_pid_alive $$ || exit 0
		done
		kill -TERM $$ 2>/dev/null
	) &
	FWG_WATCHDOG_PID=$!
	mkdir -p "$FWG_UAPI_DIR"
}

# Names for pair TAG (a short word/number, unique within the run).
fwg_ns_a() { printf 'fwg-a-%s-%s' "$FWG_RUN_ID" "$1"; }
fwg_ns_b() { printf 'fwg-b-%s-%s' "$FWG_RUN_ID" "$1"; }
# Interface names must stay within 15 bytes and be unique on the machine
# because the UAPI socket path is shared between namespaces.
fwg_if_a() { printf 'fwa%s_%s' "$1" "$FWG_RUN_ID"; }
fwg_if_b() { printf 'fwb%s_%s' "$1" "$FWG_RUN_ID"; }

# fwg_netns_pair TAG: two namespaces joined by a veth with the underlay
# addresses, lo up, MTU FWG_UNDER_MTU.
fwg_netns_pair() {
	local tag=$1 nsa nsb va vb
	nsa=$(fwg_ns_a "$tag")
	nsb=$(fwg_ns_b "$tag")
	va="fva${tag}_$FWG_RUN_ID"
	vb="fvb${tag}_$FWG_RUN_ID"
	[ ${#va} -le 15 ] || fwg_die "interface name $va too long; use a shorter tag"
	ip netns add "$nsa" || return 1
	FWG_NAMESPACES+=("$nsa")
	ip netns add "$nsb" || return 1
	FWG_NAMESPACES+=("$nsb")
	ip link add "$va" netns "$nsa" mtu "$FWG_UNDER_MTU" type veth peer name "$vb" netns "$nsb" mtu "$FWG_UNDER_MTU" || return 1
	ip -n "$nsa" link set lo up
	ip -n "$nsb" link set lo up
	ip -n "$nsa" addr add "$FWG_UNDER4_A/24" dev "$va"
	ip -n "$nsb" addr add "$FWG_UNDER4_B/24" dev "$vb"
	ip -n "$nsa" addr add "$FWG_UNDER6_A/64" dev "$va" nodad
	ip -n "$nsb" addr add "$FWG_UNDER6_B/64" dev "$vb" nodad
	ip -n "$nsa" link set "$va" up || return 1
	ip -n "$nsb" link set "$vb" up || return 1
	fwg_debug "netns pair $nsa <-> $nsb over $va/$vb"
}

# fwg_start_impl NS IFNAME IMPL: start IMPL in the foreground (in the
# background of this shell) inside NS, wait up to FWG_START_TIMEOUT seconds for
# its UAPI socket and its TUN device. Logs go to WORKDIR/IFNAME.log.
fwg_start_impl() {
	local ns=$1 ifname=$2 impl=$3 log pid i sock
	local -a FWG_ARGV
	fwg_impl_argv "$impl" "$ifname" || return 1
	log="$FWG_WORKDIR/$ifname.log"
	sock="$FWG_UAPI_DIR/$ifname.sock"
	FWG_IFACES+=("$ifname")
	ip netns exec "$ns" "${FWG_ARGV[@]}" >"$log" 2>&1 </dev/null &
	pid=$!
	fwg_track "$pid"
	printf '%s\n' "$pid" >"$FWG_WORKDIR/$ifname.pid"
	for i in $(seq 1 $((FWG_START_TIMEOUT * 10))); do
		if ! kill -0 "$pid" 2>/dev/null; then
			fwg_log "$impl on $ifname exited during start; log:"
			sed 's/^/    /' "$log" >&2
			return 1
		fi
		if [ -S "$sock" ] && ip -n "$ns" link show "$ifname" >/dev/null 2>&1; then
			fwg_debug "$impl up on $ifname in $ns (pid $pid) after $i polls"
			return 0
		fi
		sleep 0.1
	done
	fwg_log "$impl on $ifname: no UAPI socket $sock after ${FWG_START_TIMEOUT}s; log:"
	sed 's/^/    /' "$log" >&2
	return 1
}

# fwg_impl_pid IFNAME: the PID of the implementation serving IFNAME.
fwg_impl_pid() { cat "$FWG_WORKDIR/$1.pid"; }

# fwg_wg NS ARGS...: run `wg` inside NS, bounded to 20 s.
fwg_wg() {
	local ns=$1
	shift
	ip netns exec "$ns" timeout 20 wg "$@"
}

# fwg_ping NS DEST [COUNT]: COUNT (3) pings 0.2 s apart, each waiting at most
# 2 s; true if all are answered. Quiet.
fwg_ping() {
	ip netns exec "$1" timeout 15 ping -n -q -c "${3:-3}" -i 0.2 -W 2 "$2" >/dev/null 2>&1
}

# fwg_keys NAME: create NAME.key / NAME.pub in the workdir (wg genkey).
fwg_keys() {
	local d=$FWG_WORKDIR
	(umask 077 && wg genkey >"$d/$1.key") || return 1
	wg pubkey <"$d/$1.key" >"$d/$1.pub"
}

# fwg_psk NAME: create NAME.psk in the workdir (wg genpsk).
fwg_psk() { (umask 077 && wg genpsk >"$FWG_WORKDIR/$1.psk"); }

# fwg_tunnel_addrs NS IFNAME ADDR4 ADDR6: tunnel addresses, MTU, up, routes.
# The /24 and /64 prefixes give the connected routes for the tunnel subnets.
fwg_tunnel_addrs() {
	local ns=$1 ifname=$2 a4=$3 a6=$4
	ip -n "$ns" addr add "$a4/24" dev "$ifname" || return 1
	ip -n "$ns" addr add "$a6/64" dev "$ifname" nodad || return 1
	ip -n "$ns" link set "$ifname" mtu "$FWG_TUN_MTU" up || return 1
	ip -n "$ns" route replace 198.19.0.0/24 dev "$ifname" || return 1
	ip -n "$ns" -6 route replace fd19::/64 dev "$ifname" || return 1
}

# fwg_pair_up TAG IMPL_A IMPL_B [OUTER [PSK]]
#   Full tunnel: namespaces + veth, IMPL_A in ns a, IMPL_B in ns b, keys, PSK
#   (PSK=1, default) and endpoints over OUTER (4 or 6, default 4), addresses.
#   Sets no globals beyond the cleanup lists; use fwg_ns_a/fwg_if_a etc.
fwg_pair_up() {
	local tag=$1 impl_a=$2 impl_b=$3 outer=${4:-4} psk=${5:-1}
	local nsa nsb ifa ifb
	nsa=$(fwg_ns_a "$tag")
	nsb=$(fwg_ns_b "$tag")
	ifa=$(fwg_if_a "$tag")
	ifb=$(fwg_if_b "$tag")
	fwg_netns_pair "$tag" || return 1
	fwg_start_impl "$nsa" "$ifa" "$impl_a" || return 1
	fwg_start_impl "$nsb" "$ifb" "$impl_b" || return 1
	fwg_keys "$ifa" && fwg_keys "$ifb" || return 1
	fwg_psk "$tag" || return 1
	fwg_configure "$tag" "$outer" "$psk" || return 1
	fwg_tunnel_addrs "$nsa" "$ifa" "$FWG_TUN4_A" "$FWG_TUN6_A" || return 1
	fwg_tunnel_addrs "$nsb" "$ifb" "$FWG_TUN4_B" "$FWG_TUN6_B" || return 1
	fwg_debug "pair $tag up: $impl_a ($ifa) <-> $impl_b ($ifb), outer IPv$outer"
}

# fwg_endpoint SIDE OUTER: the underlay endpoint of side a|b over IPv4|IPv6.
fwg_endpoint() {
	case "$1$2" in
	a4) printf '%s:%s' "$FWG_UNDER4_A" "$FWG_PORT_A" ;;
	b4) printf '%s:%s' "$FWG_UNDER4_B" "$FWG_PORT_B" ;;
	a6) printf '[%s]:%s' "$FWG_UNDER6_A" "$FWG_PORT_A" ;;
	b6) printf '[%s]:%s' "$FWG_UNDER6_B" "$FWG_PORT_B" ;;
	*) return 1 ;;
	esac
}

# fwg_configure TAG OUTER PSK: (re)configure both sides with `wg set`.
fwg_configure() {
	local tag=$1 outer=$2 psk=$3 d=$FWG_WORKDIR
	local nsa nsb ifa ifb
	nsa=$(fwg_ns_a "$tag")
	nsb=$(fwg_ns_b "$tag")
	ifa=$(fwg_if_a "$tag")
	ifb=$(fwg_if_b "$tag")
	local -a psk_arg=()
	[ "$psk" = 1 ] && psk_arg=(preshared-key "$d/$tag.psk")
	fwg_wg "$nsa" set "$ifa" private-key "$d/$ifa.key" listen-port "$FWG_PORT_A" \
		peer "$(cat "$d/$ifb.pub")" "${psk_arg[@]}" endpoint "$(fwg_endpoint b "$outer")" \
		allowed-ips "$FWG_TUN4_B/32,$FWG_TUN6_B/128" || return 1
	fwg_wg "$nsb" set "$ifb" private-key "$d/$ifb.key" listen-port "$FWG_PORT_B" \
		peer "$(cat "$d/$ifa.pub")" "${psk_arg[@]}" endpoint "$(fwg_endpoint a "$outer")" \
		allowed-ips "$FWG_TUN4_A/32,$FWG_TUN6_A/128" || return 1
}

# fwg_wait_handshake NS IFNAME [SECONDS]: poll `wg show latest-handshakes`
# until it is nonzero (bounded).
fwg_wait_handshake() {
	local ns=$1 ifname=$2 secs=${3:-10} i t
	for i in $(seq 1 $((secs * 10))); do
		t=$(fwg_wg "$ns" show "$ifname" latest-handshakes 2>/dev/null | awk '{print $2; exit}')
		if [ -n "$t" ] && [ "$t" != 0 ]; then return 0; fi
		sleep 0.1
	done
	return 1
}

# fwg_wait_tcp_listen NS PORT [SECONDS]: wait until something listens on PORT.
fwg_wait_tcp_listen() {
	local ns=$1 port=$2 secs=${3:-5} i
	for i in $(seq 1 $((secs * 10))); do
		if ip netns exec "$ns" ss -Hltn "sport = :$port" 2>/dev/null | fwg_grep_q .; then return 0; fi
		sleep 0.1
	done
	return 1
}

# fwg_iperf_server NS ADDR: start an iperf3 server bound to ADDR in NS
# (tracked for cleanup); waits until it listens.
fwg_iperf_server() {
	local ns=$1 addr=$2
	ip netns exec "$ns" iperf3 -s -B "$addr" -p 5201 >"$FWG_WORKDIR/iperf3-server-$ns.log" 2>&1 </dev/null &
	fwg_track "$!"
	fwg_wait_tcp_listen "$ns" 5201 5
}

# Check reporting: one "PASS: ..." / "FAIL: ..." line per check, then
# fwg_summary prints "WORD: N passed, N failed" and returns 1 on any failure.
FWG_PASSED=0
FWG_FAILED=0
fwg_pass() {
	FWG_PASSED=$((FWG_PASSED + 1))
	printf 'PASS: %s\n' "$*"
}
fwg_fail() {
	FWG_FAILED=$((FWG_FAILED + 1))
	printf 'FAIL: %s\n' "$*"
}
# fwg_check NAME CMD...: run CMD, PASS/FAIL by its exit status.
fwg_check() {
	local name=$1
	shift
	if "$@"; then fwg_pass "$name"; else fwg_fail "$name"; fi
}
# fwg_not CMD...: succeed iff CMD fails (output dropped).
fwg_not() { ! "$@" >/dev/null 2>&1; }

# fwg_grep_q ARGS...: `grep -q ARGS` that reads all its input. With pipefail, a
# `grep -q` that exits at the first match can kill the writer (`ip`, `nft`, `ss` flush
# line by line) with SIGPIPE, and the whole pipe then fails although it matched.
fwg_grep_q() { grep "$@" >/dev/null; }
fwg_summary() {
	printf '%s: %d passed, %d failed\n' "$1" "$FWG_PASSED" "$FWG_FAILED"
	[ "$FWG_FAILED" -eq 0 ]
}

# fwg_median: median of the numbers on stdin (one per line); empty -> "nan".
fwg_median() {
	sort -g | awk '{v[NR]=$1} END { if (NR==0) {print "nan"; exit}
		if (NR%2) print v[(NR+1)/2]; else printf "%.6g\n", (v[NR/2]+v[NR/2+1])/2 }'
}

# fwg_cleanup_stale: remove namespaces and UAPI sockets left by an earlier run
# of this harness that was killed with SIGKILL (so its trap never ran). Only
# names this file makes (fwg-a-PID-TAG / fwg-b-PID-TAG namespaces, fwa*_PID /
# fwb*_PID sockets, /tmp/fwg-PID-XXXXXX) and only when PID is no longer alive.
fwg_cleanup_stale() {
	local ns pid p sock d
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
		[[ $ns =~ ^fwg-[ab]-([0-9]+)-[A-Za-z0-9]+$ ]] || continue
		pid=${BASH_REMATCH[1]}
		fwg_pid_alive "$pid" && continue
		fwg_log "removing stale namespace $ns (run $pid is gone)"
		for p in $(ip netns pids "$ns" 2>/dev/null); do fwg_kill_pid "$p"; done
		ip netns del "$ns" 2>/dev/null
		# Per-namespace /etc files (hosts, resolv.conf) a test wrote for its namespace.
		[ -n "$ns" ] && rm -rf "/etc/netns/$ns"
	done
	for sock in "$FWG_UAPI_DIR"/fw[ab]*_*.sock; do
		[ -e "$sock" ] || continue
		[[ $sock =~ _([0-9]+)\.sock$ ]] || continue
		fwg_pid_alive "${BASH_REMATCH[1]}" && continue
		fwg_log "removing stale socket $sock"
		rm -f "$sock"
	done
	for d in /tmp/fwg-*-??????; do
		[ -d "$d" ] || continue
		[[ $d =~ ^/tmp/fwg-([0-9]+)-[A-Za-z0-9]{6}$ ]] || continue
		fwg_pid_alive "${BASH_REMATCH[1]}" && continue
		fwg_log "removing stale work dir $d"
		rm -rf "$d"
	done
}
