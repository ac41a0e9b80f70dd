#!/usr/bin/env bash
# `ferrowg up CONFIG.conf` in namespace a with a full tunnel (AllowedIPs 0.0.0.0/0,
# ::/0: policy routing like wg-quick), peer wireguard-go in namespace b: pings
# both ways, `ferrowg show` reports the handshake and transfer, and SIGTERM
# removes the interface, the socket and the routing rules (the underlay still
# works). The peer's Endpoint is a hostname (in the namespace's own
# /etc/netns/NS/hosts, no DNS traffic): the CLI resolves it before the config
# reaches the engine. Also: a broken file is refused with its line and key,
# creating nothing.
#
#   sudo FERROWG=target/release/ferrowg tests/netns/ferrowg_up.sh

set -u
# shellcheck source=tests/netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TAG=u
ping_ok() { ip netns exec "$1" timeout 15 ping -n -q -c 3 -i 0.2 -W 2 "$2" >/dev/null 2>&1; }
rules_a() { ip -n "$nsa" -4 rule show; ip -n "$nsa" -6 rule show; }

fwg_init
ferrowg=$(fwg_impl_bin ferrowg) || fwg_die "ferrowg not found"
fwg_impl_available wireguard-go || fwg_die "wireguard-go not found"
nsa=$(fwg_ns_a $TAG)
nsb=$(fwg_ns_b $TAG)
ifa=$(fwg_if_a $TAG)
ifb=$(fwg_if_b $TAG)
d=$FWG_WORKDIR
fwg_log "=== ferrowg up ($ifa, full tunnel) <-> wireguard-go ($ifb) ==="
fwg_netns_pair $TAG || fwg_die "netns setup failed"
{ fwg_keys "$ifa" && fwg_keys "$ifb"; } || fwg_die "keys"
fwg_start_impl "$nsb" "$ifb" wireguard-go || fwg_die "wireguard-go did not start"
fwg_wg "$nsb" set "$ifb" private-key "$d/$ifb.key" listen-port "$FWG_PORT_B" \
	peer "$(cat "$d/$ifa.pub")" allowed-ips "$FWG_TUN4_A/32,$FWG_TUN6_A/128" || fwg_die "wg set b"
fwg_tunnel_addrs "$nsb" "$ifb" "$FWG_TUN4_B" "$FWG_TUN6_B" || fwg_die "addresses b"

printf '[Interface]\nPrivateKey = %s\nListenPort = 99999\n' "$(cat "$d/$ifa.key")" >"$d/$ifa.conf"
err=$(ip netns exec "$nsa" "$ferrowg" up "$d/$ifa.conf" 2>&1)
names_line_and_key() { [[ $1 == *"line 3: ListenPort:"* ]]; }
fwg_check "broken file refused naming line and key: $err" names_line_and_key "$err"
fwg_check "broken file created no interface" fwg_not ip -n "$nsa" link show "$ifa"

rules_before=$(rules_a)
FWG_IFACES+=("$ifa")
# `ip netns exec` bind-mounts /etc/netns/NS/hosts over /etc/hosts (fwg_cleanup removes it).
mkdir -p "/etc/netns/$nsa"
printf '%s peer-b.fwg.test\n' "$FWG_UNDER4_B" >"/etc/netns/$nsa/hosts"
cat >"$d/$ifa.conf" <<EOF
[Interface]
PrivateKey = $(cat "$d/$ifa.key")
Address = $FWG_TUN4_A/24, $FWG_TUN6_A/64
MTU = 1400

[Peer]
PublicKey = $(cat "$d/$ifb.pub")
Endpoint = peer-b.fwg.test:$FWG_PORT_B
AllowedIPs = 0.0.0.0/0, ::/0
EOF
ip netns exec "$nsa" "$ferrowg" up "$d/$ifa.conf" >"$d/up.log" 2>&1 </dev/null &
up_pid=$!
FWG_PIDS+=("$up_pid")
for _ in $(seq 1 100); do
	[ -S "$FWG_UAPI_DIR/$ifa.sock" ] && ip -n "$nsa" rule show | fwg_grep_q 51820 && break
	sleep 0.1
done
fwg_check "ferrowg up serves the UAPI socket" [ -S "$FWG_UAPI_DIR/$ifa.sock" ]
fwg_check "policy rule for the default route installed" bash -c "ip -n $nsa rule show | grep -q 'not from all fwmark 0xca6c lookup 51820'"
fwg_check "ping a->b IPv4 through the full tunnel" ping_ok "$nsa" "$FWG_TUN4_B"
fwg_check "ping a->b IPv6 through the full tunnel" ping_ok "$nsa" "$FWG_TUN6_B"
fwg_check "ping b->a IPv4" ping_ok "$nsb" "$FWG_TUN4_A"
fwg_check "underlay still reachable from a while up" ping_ok "$nsa" "$FWG_UNDER4_B"
show=$(ip netns exec "$nsa" "$ferrowg" show "$ifa" 2>&1)
fwg_check "ferrowg show: latest handshake" grep -q "latest handshake: .* ago" <<<"$show"
fwg_check "ferrowg show: transfer" grep -q "transfer: .* received, .* sent" <<<"$show"
fwg_check "ferrowg show: allowed ips" grep -q "allowed ips: 0.0.0.0/0, ::/0" <<<"$show"
fwg_check "ferrowg show: the hostname endpoint resolved" grep -q "endpoint: $FWG_UNDER4_B:$FWG_PORT_B" <<<"$show"
mtu=$(ip -n "$nsa" -o link show "$ifa" | sed -n 's/.* mtu \([0-9]*\).*/\1/p')
fwg_check "MTU from the file (got $mtu)" [ "$mtu" = 1400 ]
kill -TERM "$up_pid"
for _ in $(seq 1 50); do
	kill -0 "$up_pid" 2>/dev/null || break
	sleep 0.1
done
fwg_check "SIGTERM ends ferrowg up" fwg_not kill -0 "$up_pid"
fwg_check "interface removed" fwg_not ip -n "$nsa" link show "$ifa"
fwg_check "socket removed" [ ! -e "$FWG_UAPI_DIR/$ifa.sock" ]
fwg_check "routing rules restored" [ "$(rules_a)" = "$rules_before" ]
fwg_check "underlay reachable after down" ping_ok "$nsa" "$FWG_UNDER4_B"
[ "$FWG_FAILED" -gt 0 ] && sed 's/^/    up.log: /' "$d/up.log" >&2
fwg_summary up
