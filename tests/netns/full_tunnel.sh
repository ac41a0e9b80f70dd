#!/usr/bin/env bash
# Full tunnel (AllowedIPs = 0.0.0.0/0, ::/0) with the endpoint reachable ONLY through
# the default route, the way a real client sits on a network (issue 11, must-show 1):
#
#   client ns --veth-- router ns --veth-- server ns (wireguard-go) + "behind" addresses
#   198.18.0.1/26      .2/26 | .65/26     198.18.0.66/26            198.19.0.130/32 (lo)
#   fd18::1:1/112   ::1:2 | ::2:1         fd18::2:2/112             fd19::8:1/128
#
# The client has a default route via the router and no connected route to the server,
# so wg-quick's `suppress_prefixlength 0` rule cannot hide a missing fwmark. Traffic
# goes to an address behind the server (not its tunnel address), which is also the DNS
# server of the file; DNS lands in the namespace's resolv.conf through openresolv
# (/etc/netns/NS/resolv.conf, with a per-namespace resolvconf.conf whose state_dir is
# this run's temp dir: nothing of the host's is touched).
#
#   sudo FERROWG=target/debug/ferrowg tests/netns/full_tunnel.sh MODE UNDERLAY
#   MODE: wgquick-ferrowg  wg-quick up with WG_QUICK_USERSPACE_IMPLEMENTATION=ferrowg
#         up-ferrowg       ferrowg up FILE (foreground, stopped with SIGTERM)
#         wgquick-wggo     wg-quick up with wireguard-go as the client (proves the test)
#   UNDERLAY: 4 or 6 (the endpoint's address family)

set -u
# shellcheck source=tests/netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MODE=${1:-wgquick-ferrowg}
UNDER=${2:-4}
case $MODE in
wgquick-ferrowg) TAG=q$UNDER ;;
up-ferrowg) TAG=u$UNDER ;;
wgquick-wggo) TAG=g$UNDER ;;
*) fwg_die "unknown mode $MODE" ;;
esac
[ "$UNDER" = 4 ] || [ "$UNDER" = 6 ] || fwg_die "underlay must be 4 or 6"

BEHIND4=198.19.0.130
BEHIND6=fd19::8:1
PORT=${FWG_PORT_B}

fwg_init
fwg_require_cmds wg-quick resolvconf nft python3 wireguard-go
ferrowg=$(fwg_impl_bin ferrowg) || fwg_die "ferrowg not found"
ferrowg=$(readlink -f "$ferrowg")
d=$FWG_WORKDIR
nsc=$(fwg_ns_a "$TAG")
nss=$(fwg_ns_b "$TAG")
nsr="fwg-r-$FWG_RUN_ID-$TAG"
ifc=$(fwg_if_a "$TAG")
ifs=$(fwg_if_b "$TAG")
vc="fvc${TAG}_$FWG_RUN_ID"
vrc="fvr${TAG}_$FWG_RUN_ID"
vrs="fvs${TAG}_$FWG_RUN_ID"
vs="fvt${TAG}_$FWG_RUN_ID"
fwg_log "=== full tunnel, endpoint via the default route: $MODE, IPv$UNDER underlay ==="

# Per-namespace DNS files, removed on exit (before the namespaces go).
netns_etc=()
cleanup_etc() {
	local n
	for n in "${netns_etc[@]}"; do rm -rf "/etc/netns/$n"; done
	fwg_cleanup
}
trap cleanup_etc EXIT

setup() {
	local ns
	for ns in "$nsc" "$nsr" "$nss"; do
		ip netns add "$ns" || return 1
		FWG_NAMESPACES+=("$ns")
		ip -n "$ns" link set lo up
	done
	ip link add "$vc" netns "$nsc" type veth peer name "$vrc" netns "$nsr" || return 1
	ip link add "$vrs" netns "$nsr" type veth peer name "$vs" netns "$nss" || return 1
	ip -n "$nsc" addr add 198.18.0.1/26 dev "$vc"
	ip -n "$nsc" addr add fd18::1:1/112 dev "$vc" nodad
	ip -n "$nsr" addr add 198.18.0.2/26 dev "$vrc"
	ip -n "$nsr" addr add fd18::1:2/112 dev "$vrc" nodad
	ip -n "$nsr" addr add 198.18.0.65/26 dev "$vrs"
	ip -n "$nsr" addr add fd18::2:1/112 dev "$vrs" nodad
	ip -n "$nss" addr add 198.18.0.66/26 dev "$vs"
	ip -n "$nss" addr add fd18::2:2/112 dev "$vs" nodad
	ip -n "$nsc" link set "$vc" up && ip -n "$nsr" link set "$vrc" up &&
		ip -n "$nsr" link set "$vrs" up && ip -n "$nss" link set "$vs" up || return 1
	ip netns exec "$nsr" sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 || return 1
	ip -n "$nsc" route add default via 198.18.0.2 || return 1
	ip -n "$nsc" -6 route add default via fd18::1:2 || return 1
	ip -n "$nss" route add default via 198.18.0.65 || return 1
	ip -n "$nss" -6 route add default via fd18::2:1 || return 1
	# The network behind the server: addresses on the server namespace's loopback
	# (this kernel has no dummy links), outside both tunnel addresses; the client only
	# has /32 and /128 tunnel addresses, so it reaches them through its default route.
	ip -n "$nss" addr add "$BEHIND4/32" dev lo || return 1
	ip -n "$nss" addr add "$BEHIND6/128" dev lo nodad || return 1
	# DNS files for the client namespace (bind-mounted by `ip netns exec`).
	[ -e /etc/resolvconf.conf ] || fwg_die "/etc/resolvconf.conf missing (install openresolv)"
	mkdir -p "/etc/netns/$nsc" || return 1
	netns_etc+=("$nsc")
	printf 'nameserver 198.18.0.2\n' >"/etc/netns/$nsc/resolv.conf"
	mkdir -p "$d/resolvconf-state"
	printf 'resolv_conf=/etc/resolv.conf\nstate_dir=%s\n' "$d/resolvconf-state" \
		>"/etc/netns/$nsc/resolvconf.conf"
}

setup || fwg_die "namespace setup failed"
fwg_check "client has no connected route to the server (only the default route)" \
	bash -c "ip -n $nsc route get 198.18.0.66 | grep -q 'via 198.18.0.2'"
fwg_check "underlay works before the tunnel (ping the server via the router)" \
	fwg_ping "$nsc" "$([ "$UNDER" = 4 ] && echo 198.18.0.66 || echo fd18::2:2)"

# Server: wireguard-go, the client as its only peer.
{ fwg_keys "$ifc" && fwg_keys "$ifs"; } || fwg_die "keys"
fwg_start_impl "$nss" "$ifs" wireguard-go || fwg_die "wireguard-go did not start"
fwg_wg "$nss" set "$ifs" private-key "$d/$ifs.key" listen-port "$PORT" \
	peer "$(cat "$d/$ifc.pub")" allowed-ips 198.19.0.1/32,fd19::1/128 || fwg_die "wg set server"
fwg_tunnel_addrs "$nss" "$ifs" "$FWG_TUN4_B" "$FWG_TUN6_B" || fwg_die "server addresses"

# Echo servers (TCP + UDP) on the addresses behind the server, bounded in time.
cat >"$d/echo.py" <<'EOF'
import socket, sys, threading
fam = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
addr, port = sys.argv[1], int(sys.argv[2])
def tcp():
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(4)
    while True:
        c, _ = s.accept()
        c.settimeout(10)
        try:
            c.sendall(c.recv(4096).upper())
        except OSError:
            pass
        c.close()
def udp():
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind((addr, port))
    while True:
        data, peer = s.recvfrom(4096)
        s.sendto(data.upper(), peer)
threading.Thread(target=tcp, daemon=True).start()
threading.Thread(target=udp, daemon=True).start()
threading.Event().wait(float(sys.argv[3]))
EOF
cat >"$d/client.py" <<'EOF'
import socket, sys
proto, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
msg = b"ferrowg full tunnel " + proto.encode()
if proto == "tcp":
    s = socket.create_connection((addr, port), timeout=5)
    s.sendall(msg)
    got = s.recv(4096)
else:
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(2)
    got = b""
    for _ in range(3):
        s.sendto(msg, (addr, port))
        try:
            got = s.recvfrom(4096)[0]
            break
        except socket.timeout:
            pass
sys.exit(0 if got == msg.upper() else 1)
EOF
for a in "$BEHIND4" "$BEHIND6"; do
	ip netns exec "$nss" python3 "$d/echo.py" "$a" 7007 "$FWG_MAX_SECONDS" >/dev/null 2>&1 </dev/null &
	fwg_track "$!"
done
fwg_wait_tcp_listen "$nss" 7007 5 || fwg_die "echo server did not start"

# The client's file.
if [ "$UNDER" = 4 ]; then endpoint="198.18.0.66:$PORT"; else endpoint="[fd18::2:2]:$PORT"; fi
conf="$d/$ifc.conf"
FWG_IFACES+=("$ifc")
(
	umask 077
	cat >"$conf" <<EOF
[Interface]
PrivateKey = $(cat "$d/$ifc.key")
Address = 198.19.0.1/32, fd19::1/128
DNS = $BEHIND4, $BEHIND6, fwg.test

[Peer]
PublicKey = $(cat "$d/$ifs.pub")
Endpoint = $endpoint
AllowedIPs = 0.0.0.0/0, ::/0
EOF
)

snapshot() {
	ip -n "$nsc" -4 rule show
	ip -n "$nsc" -6 rule show
	ip -n "$nsc" -4 route show table all
	ip -n "$nsc" -6 route show table all | grep -v '^multicast\|^local fe80\|fe80::/64'
	ip netns exec "$nsc" nft list ruleset
	ip netns exec "$nsc" iptables-save 2>/dev/null | grep -v '^#'
	ip netns exec "$nsc" ip6tables-save 2>/dev/null | grep -v '^#'
}
before=$(snapshot)
svm_before=$(ip netns exec "$nsc" sysctl -n net.ipv4.conf.all.src_valid_mark)

up_pid=""
case $MODE in
wgquick-ferrowg | wgquick-wggo)
	impl=$ferrowg
	[ "$MODE" = wgquick-wggo ] && impl=$(fwg_impl_bin wireguard-go)
	fwg_check "wg-quick up ($MODE) returns 0" \
		ip netns exec "$nsc" env WG_QUICK_USERSPACE_IMPLEMENTATION="$impl" timeout 30 \
		wg-quick up "$conf"
	;;
up-ferrowg)
	ip netns exec "$nsc" "$ferrowg" up "$conf" >"$d/up.log" 2>&1 </dev/null &
	up_pid=$!
	fwg_track "$up_pid"
	for _ in $(seq 1 100); do
		[ -S "$FWG_UAPI_DIR/$ifc.sock" ] && ip -n "$nsc" rule show | fwg_grep_q 'suppress_prefixlength' && break
		sleep 0.1
	done
	fwg_check "ferrowg up is running" kill -0 "$up_pid"
	;;
esac

# Traffic first (it starts the handshake), then the handshake itself.
fwg_check "ping $BEHIND4 behind the server through the full tunnel" fwg_ping "$nsc" "$BEHIND4" 3
fwg_check "handshake with the server (endpoint via the default route)" fwg_wait_handshake "$nsc" "$ifc" 10
fwg_check "ping $BEHIND6 behind the server through the full tunnel" fwg_ping "$nsc" "$BEHIND6" 3
for a in "$BEHIND4" "$BEHIND6"; do
	fwg_check "TCP exchange with $a" ip netns exec "$nsc" timeout 20 python3 "$d/client.py" tcp "$a" 7007
	fwg_check "UDP exchange with $a" ip netns exec "$nsc" timeout 20 python3 "$d/client.py" udp "$a" 7007
done
resolv=$(ip netns exec "$nsc" cat /etc/resolv.conf)
fwg_check "resolv.conf has the tunnel's DNS server ($BEHIND4)" grep -q "^nameserver $BEHIND4\$" <<<"$resolv"
fwg_check "resolv.conf has the tunnel's IPv6 DNS server" grep -q "^nameserver $BEHIND6\$" <<<"$resolv"
fwg_check "resolv.conf has the search domain" grep -q "^search.*fwg.test" <<<"$resolv"
fwg_check "the file in /etc/netns is what changed" grep -q "$BEHIND4" "/etc/netns/$nsc/resolv.conf"
if [ "$UNDER" = 4 ]; then
	fwg_check "fwmark rule installed" bash -c "ip -n $nsc -4 rule show | grep -q 'not from all fwmark 0xca6c lookup 51820'"
else
	fwg_check "fwmark rule installed" bash -c "ip -n $nsc -6 rule show | grep -q 'not from all fwmark 0xca6c lookup 51820'"
fi
fwg_check "CVE-2019-14899 drop rule for the tunnel address" \
	bash -c "ip netns exec $nsc nft list ruleset | grep -q 'daddr 198.19.0.1 fib saddr type != local drop'"
fwg_check "CONNMARK save rule (marked UDP)" bash -c "ip netns exec $nsc nft list ruleset | grep -q 'meta mark 0x0000ca6c ct mark set meta mark'"
fwg_check "CONNMARK restore rule" bash -c "ip netns exec $nsc nft list ruleset | grep -q 'meta mark set ct mark'"
fwg_check "src_valid_mark=1 while up" [ "$(ip netns exec "$nsc" sysctl -n net.ipv4.conf.all.src_valid_mark)" = 1 ]
mtu=$(ip -n "$nsc" -o link show "$ifc" | sed -n 's/.* mtu \([0-9]*\).*/\1/p')
fwg_check "MTU 1420 (wg-quick's rule for a 1500 underlay; got $mtu)" [ "$mtu" = 1420 ]

# Down.
case $MODE in
wgquick-*)
	fwg_check "wg-quick down returns 0" ip netns exec "$nsc" timeout 30 wg-quick down "$conf"
	;;
up-ferrowg)
	kill -TERM "$up_pid"
	for _ in $(seq 1 50); do
		kill -0 "$up_pid" 2>/dev/null || break
		sleep 0.1
	done
	fwg_check "SIGTERM ends ferrowg up" fwg_not kill -0 "$up_pid"
	wait "$up_pid"
	fwg_check "ferrowg up exits 0 after SIGTERM" [ $? = 0 ]
	;;
esac
no_process() {
	local i
	for i in $(seq 1 50); do
		[ -z "$(ip netns pids "$nsc")" ] && return 0
		sleep 0.1
	done
	ip netns pids "$nsc" | xargs -r ps -o pid,args -p >&2
	return 1
}
fwg_check "no process left in the client namespace" no_process
fwg_check "interface removed" fwg_not ip -n "$nsc" link show "$ifc"
fwg_check "UAPI socket removed" [ ! -e "$FWG_UAPI_DIR/$ifc.sock" ]
after=$(snapshot)
fwg_check "rules, routes and firewall as before up" [ "$after" = "$before" ]
[ "$after" = "$before" ] || diff <(echo "$before") <(echo "$after") >&2
fwg_check "DNS server gone from resolv.conf" fwg_not grep -q "$BEHIND4" "/etc/netns/$nsc/resolv.conf"
# wg-quick leaves src_valid_mark on (it cannot know who else needs it); ferrowg matches.
fwg_check "src_valid_mark as wg-quick leaves it (was $svm_before, now 1)" \
	[ "$(ip netns exec "$nsc" sysctl -n net.ipv4.conf.all.src_valid_mark)" = 1 ]
fwg_check "underlay still works after down" \
	fwg_ping "$nsc" "$([ "$UNDER" = 4 ] && echo 198.18.0.66 || echo fd18::2:2)"
if [ "$FWG_FAILED" -gt 0 ] && [ -e "$d/up.log" ]; then sed 's/^/    up.log: /' "$d/up.log" >&2; fi
fwg_summary "full-tunnel $MODE IPv$UNDER"
