#!/usr/bin/env bash
# Bad configuration against a running ferrowg tunnel (side a, peer wireguard-go on
# side b). Each broken UAPI request is sent raw to ferrowg's socket and to a
# reference wireguard-go holding the same configuration (in namespace b, no
# addresses, so it carries no traffic); ferrowg must answer with the same errno
# (or, for an unknown operation, close the connection without an answer like
# wireguard-go), and its configuration (`wg showconf`) must be unchanged after
# each one -- even where wireguard-go applies part of the request before the bad
# line. Broken `wg set` and `wg setconf` input is refused and changes nothing. The
# tunnel must still carry traffic at the end.
#
#   sudo FERROWG=target/release/ferrowg tests/netns/ferrowg_badconfig.sh

set -u
# shellcheck source=tests/netns/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TAG="bc"

ping_ok() { ip netns exec "$1" timeout 15 ping -n -q -c 3 -i 0.2 -W 2 "$2" >/dev/null 2>&1; }

# uapi_raw SOCKET: send stdin as one request, print the reply's status line
# ("errno=N") or "closed" when the server closes without answering.
uapi_raw() {
	timeout 10 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(8)
s.connect(sys.argv[1])
s.sendall(sys.stdin.buffer.read())
buf = b""
while not buf.endswith(b"\n\n"):
    try:
        chunk = s.recv(65536)
    except ConnectionResetError:
        chunk = b""
    if not chunk:
        break
    buf += chunk
lines = [l for l in buf.decode(errors="replace").split("\n") if l.startswith("errno=")]
print(lines[-1] if lines else "closed")
' "$1"
}

fwg_init
fwg_require_cmds python3
for impl in ferrowg wireguard-go; do
	fwg_impl_available "$impl" || fwg_die "implementation $impl not found"
done
nsa=$(fwg_ns_a $TAG)
nsb=$(fwg_ns_b $TAG)
ifa=$(fwg_if_a $TAG)
ifr="fwr${TAG}_$FWG_RUN_ID"
d=$FWG_WORKDIR
fwg_log "=== bad configuration: ferrowg (a) <-> wireguard-go (b), reference wireguard-go ($ifr) ==="
fwg_pair_up $TAG ferrowg wireguard-go 4 1 || fwg_die "pair setup failed"
fwg_start_impl "$nsb" "$ifr" wireguard-go || fwg_die "reference wireguard-go did not start"
fwg_check "tunnel up before the bad requests" ping_ok "$nsa" "$FWG_TUN4_B"

fwg_wg "$nsa" showconf "$ifa" >"$d/good.conf" || fwg_die "showconf failed"
sock_a="$FWG_UAPI_DIR/$ifa.sock"
sock_r="$FWG_UAPI_DIR/$ifr.sock"
peer_hex=$(base64 -d <"$d/$(fwg_if_b $TAG).pub" | od -An -tx1 | tr -d ' \n')
other_hex=$(printf '%064x' 7)

# Each request: a name and the exact text sent (printf format, \n = newline).
requests=(
	"listen_port out of range|set=1\nlisten_port=70000\n\n"
	"listen_port not a number|set=1\nlisten_port=12ab\n\n"
	"private_key not hex|set=1\nprivate_key=zz\n\n"
	"private_key too short|set=1\nprivate_key=0102\n\n"
	"fwmark not a number|set=1\nfwmark=abc\n\n"
	"unknown device key|set=1\nbogus_key=1\n\n"
	"line without =|set=1\nlisten_port\n\n"
	"replace_peers=false|set=1\nreplace_peers=false\n\n"
	"peer key before public_key|set=1\nallowed_ip=198.19.0.9/32\n\n"
	"public_key not hex|set=1\npublic_key=xyz\n\n"
	"allowed_ip prefix too long|set=1\npublic_key=$peer_hex\nallowed_ip=198.19.0.0/33\n\n"
	"allowed_ip not an address|set=1\npublic_key=$peer_hex\nallowed_ip=banana/32\n\n"
	"endpoint without port|set=1\npublic_key=$peer_hex\nendpoint=198.18.0.2\n\n"
	"endpoint hostname|set=1\npublic_key=$peer_hex\nendpoint=example.invalid:51820\n\n"
	"keepalive negative|set=1\npublic_key=$peer_hex\npersistent_keepalive_interval=-1\n\n"
	"keepalive too large|set=1\npublic_key=$peer_hex\npersistent_keepalive_interval=65536\n\n"
	"protocol_version 2|set=1\npublic_key=$peer_hex\nprotocol_version=2\n\n"
	"unknown peer key|set=1\npublic_key=$peer_hex\nbogus=1\n\n"
	"remove=maybe|set=1\npublic_key=$peer_hex\nremove=maybe\n\n"
	"preshared_key not hex|set=1\npublic_key=$peer_hex\npreshared_key=nothex\n\n"
	"valid lines then a bad one|set=1\nlisten_port=51899\npublic_key=$other_hex\nallowed_ip=198.19.0.77/32\npublic_key=$peer_hex\nallowed_ip=198.19.0.78/32\nendpoint=bad\n\n"
	"unknown operation|delete=1\n\n"
	"get with trailing line|get=1\nlisten_port=1\n\n"
)

for entry in "${requests[@]}"; do
	name=${entry%%|*}
	body=${entry#*|}
	# The reference starts each request from ferrowg's configuration, since
	# wireguard-go applies lines up to the bad one.
	fwg_wg "$nsb" setconf "$ifr" "$d/good.conf" || fwg_log "reference setconf failed"
	# shellcheck disable=SC2059 # the body is a printf format on purpose
	got=$(printf "$body" | uapi_raw "$sock_a")
	# shellcheck disable=SC2059
	want=$(printf "$body" | uapi_raw "$sock_r")
	fwg_check "UAPI $name: ferrowg '$got' == wireguard-go '$want'" [ "$got" = "$want" ]
	fwg_wg "$nsa" showconf "$ifa" >"$d/after.conf"
	fwg_check "UAPI $name: ferrowg config unchanged" cmp -s "$d/good.conf" "$d/after.conf"
	[ "$got" = "errno=0" ] && fwg_log "note: $name was accepted"
done

# `wg` validates command lines and files itself; nothing may reach the device.
fwg_check "wg set listen-port notaport refused" fwg_not fwg_wg "$nsa" set "$ifa" listen-port notaport
fwg_check "wg set bad allowed-ips refused" fwg_not fwg_wg "$nsa" set "$ifa" peer "$(cat "$d/$(fwg_if_b $TAG).pub")" allowed-ips 300.1.1.1/32
printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\n[Peer]\nPublicKey = notakey\n' "$(cat "$d/$ifa.key")" >"$d/broken.conf"
fwg_check "wg setconf with a broken peer key refused" fwg_not fwg_wg "$nsa" setconf "$ifa" "$d/broken.conf"
fwg_wg "$nsa" showconf "$ifa" >"$d/after.conf"
fwg_check "config unchanged after the refused wg commands" cmp -s "$d/good.conf" "$d/after.conf"

fwg_check "ping a->b after every bad request" ping_ok "$nsa" "$FWG_TUN4_B"
fwg_check "ping b->a after every bad request" ping_ok "$nsb" "$FWG_TUN4_A"
fwg_summary badconfig
