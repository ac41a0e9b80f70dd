#!/usr/bin/env bash
# `WG_QUICK_USERSPACE_IMPLEMENTATION=ferrowg wg-quick up` in namespace a (ferrowg
# daemonizes: wg-quick returns, the device keeps running), peer wireguard-go in
# namespace b; ping both ways; `wg-quick down` stops the daemon and removes
# the socket and the interface. Then `ferrowg -f`: `wg set fwmark` changes the
# mark on its UDP sockets live (read back with ss -e); SIGTERM removes its socket
# and interface.
#
#   sudo FERROWG=target/release/ferrowg tests/netns/ferrowg_wgquick.sh

set -u
# shellcheck source=tests/netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TAG=q
ping_ok() { ip netns exec "$1" timeout 15 ping -n -q -c 3 -i 0.2 -W 2 "$2" >/dev/null 2>&1; }

# gone NS IFNAME: within 5 s, no process in NS serves IFNAME's socket and the
# interface and socket are gone.
gone() {
	local i
	for i in $(seq 1 50); do
		if ! ip -n "$1" link show "$2" >/dev/null 2>&1 && [ ! -e "$FWG_UAPI_DIR/$2.sock" ] &&
			[ -z "$(ip netns pids "$1")" ]; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

fwg_init
fwg_require_cmds wg-quick
ferrowg=$(fwg_impl_bin ferrowg) || fwg_die "ferrowg not found"
ferrowg=$(readlink -f "$ferrowg")
fwg_impl_available wireguard-go || fwg_die "wireguard-go not found"
nsa=$(fwg_ns_a $TAG)
nsb=$(fwg_ns_b $TAG)
ifa=$(fwg_if_a $TAG)
ifb=$(fwg_if_b $TAG)
d=$FWG_WORKDIR
fwg_log "=== wg-quick with ferrowg ($ifa) <-> wireguard-go ($ifb) ==="
fwg_netns_pair $TAG || fwg_die "netns setup failed"
{ fwg_keys "$ifa" && fwg_keys "$ifb"; } || fwg_die "keys"
fwg_start_impl "$nsb" "$ifb" wireguard-go || fwg_die "wireguard-go did not start"
fwg_wg "$nsb" set "$ifb" private-key "$d/$ifb.key" listen-port "$FWG_PORT_B" \
	peer "$(cat "$d/$ifa.pub")" allowed-ips "$FWG_TUN4_A/32,$FWG_TUN6_A/128" || fwg_die "wg set b"
fwg_tunnel_addrs "$nsb" "$ifb" "$FWG_TUN4_B" "$FWG_TUN6_B" || fwg_die "addresses b"

conf="$d/$ifa.conf"
FWG_IFACES+=("$ifa")
(
	umask 077
	cat >"$conf" <<EOF
[Interface]
PrivateKey = $(cat "$d/$ifa.key")
ListenPort = $FWG_PORT_A
Address = $FWG_TUN4_A/24, $FWG_TUN6_A/64
MTU = $FWG_TUN_MTU

[Peer]
PublicKey = $(cat "$d/$ifb.pub")
Endpoint = $FWG_UNDER4_B:$FWG_PORT_B
AllowedIPs = $FWG_TUN4_B/32, $FWG_TUN6_B/128
PersistentKeepalive = 25
EOF
)
fwg_check "wg-quick up with WG_QUICK_USERSPACE_IMPLEMENTATION=ferrowg returns" \
	ip netns exec "$nsa" env WG_QUICK_USERSPACE_IMPLEMENTATION="$ferrowg" timeout 30 wg-quick up "$conf"
fwg_check "ferrowg daemon serves the UAPI socket" [ -S "$FWG_UAPI_DIR/$ifa.sock" ]
fwg_check "ping a->b through the wg-quick tunnel" ping_ok "$nsa" "$FWG_TUN4_B"
fwg_check "ping b->a IPv6 through the wg-quick tunnel" ping_ok "$nsb" "$FWG_TUN6_A"
fwg_check "wg show on a reports a handshake" fwg_wait_handshake "$nsa" "$ifa" 5
mtu=$(ip -n "$nsa" -o link show "$ifa" | sed -n 's/.* mtu \([0-9]*\).*/\1/p')
fwg_check "MTU $FWG_TUN_MTU set by wg-quick (got $mtu)" [ "$mtu" = "$FWG_TUN_MTU" ]
fwg_check "wg-quick down returns" ip netns exec "$nsa" timeout 30 wg-quick down "$conf"
fwg_check "after wg-quick down: daemon exited, socket and interface removed" gone "$nsa" "$ifa"

# sock_marks NS PID: the fwmark of each UDP socket of PID in NS, as the kernel reports
# it (ss -e: the socket's SO_MARK), one per line; "none" for an unmarked socket.
sock_marks() {
	ip netns exec "$1" ss -uanpe 2>/dev/null | grep "pid=$2," |
		sed -n 's/.*fwmark:\(0x[0-9a-f]*\).*/\1/p;t;s/.*/none/p'
}
# marks_are NS PID WANT: PID has two UDP sockets (IPv4, IPv6), both with mark WANT.
# The sockets a port change replaced close once the engine's threads let go of them, so
# this waits up to 3 s for exactly the two current sockets.
marks_are() {
	local got i
	for i in $(seq 1 30); do
		got=$(sock_marks "$1" "$2" | sort | uniq -c | tr -s ' ')
		[ "$got" = " 2 $3" ] && return 0
		sleep 0.1
	done
	fwg_log "socket marks: $got (want 2 x $3)"
	return 1
}

# The foreground mode: `wg set fwmark` marks the sockets live (0 clears the mark, and
# back); SIGTERM removes the socket and the interface.
iff="fwf${TAG}_$FWG_RUN_ID"
if fwg_start_impl "$nsa" "$iff" ferrowg; then
	fpid=$(fwg_impl_pid "$iff")
	fwg_check "no fwmark on the sockets at start" marks_are "$nsa" "$fpid" none
	fwg_wg "$nsa" set "$iff" fwmark 51820
	fwg_check "wg set fwmark 51820 marks both UDP sockets" marks_are "$nsa" "$fpid" 0xca6c
	fwg_wg "$nsa" set "$iff" fwmark 0
	fwg_check "wg set fwmark 0 clears the mark" marks_are "$nsa" "$fpid" none
	fwg_wg "$nsa" set "$iff" fwmark 51820 listen-port 51877
	fwg_check "fwmark back, on the sockets of a new listen port" marks_are "$nsa" "$fpid" 0xca6c
	fwg_check "the sockets moved to port 51877" bash -c "ip netns exec $nsa ss -uanp | grep pid=$fpid, | grep -c :51877 | grep -qx 2"
	fwg_check "wg show reports the fwmark" bash -c "ip netns exec $nsa wg show $iff fwmark | grep -qx 0xca6c"
	kill -TERM "$fpid"
	for _ in $(seq 1 50); do
		kill -0 "$fpid" 2>/dev/null || break
		sleep 0.1
	done
	fwg_check "ferrowg -f exits on SIGTERM" fwg_not kill -0 "$fpid"
	fwg_check "SIGTERM removed the socket" [ ! -e "$FWG_UAPI_DIR/$iff.sock" ]
	fwg_check "SIGTERM removed the interface" fwg_not ip -n "$nsa" link show "$iff"
else
	fwg_fail "ferrowg -f $iff did not start"
fi
fwg_summary wgquick
