#!/usr/bin/env bash
# Bad UAPI requests against a running tunnel: each must get its exact errno
# (the values wireguard-go answers, the reference for ferrowg) and must leave
# the running configuration exactly as it was (`wg showconf` unchanged, and
# traffic still flows at the end). Namespaces are created and removed here.
#
#   sudo tests/netns/uapi-errors.sh [IMPL_A [IMPL_B]]   (a gets the requests)
#   PROBE=1 ...   print each reply instead of checking (to record references)
#
# One PASS/FAIL line per check, then "uapi-errors: N passed, N failed".

set -u
here=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=tests/netns/lib.sh
. "$here/lib.sh"

IMPL_A=${1:-${IMPL_A:-wireguard-go}}
IMPL_B=${2:-${IMPL_B:-$IMPL_A}}
PROBE=${PROBE:-0}
PYTHON=${PYTHON:-python3}

# NAME | EXPECTED ERRNO | REQUEST LINES (";" separates lines, the final empty
# line is added). @B@ is b's public key in hex, @K@ a valid fresh key in hex.
# ERRNO "none": the daemon closes the connection without an errno line.
# Requests marked "partial" start with valid lines that a daemon applying
# line by line would apply before it meets the bad one.
CASES='
private key not hex|-22|set=1;private_key=zz
private key too short|-22|set=1;private_key=0123456789abcdef
listen port out of range|-22|set=1;listen_port=70000
listen port not a number|-22|set=1;listen_port=abc
fwmark not a number|-22|set=1;fwmark=abc
unknown interface key|-22|set=1;bogus_key=1
line without =|-71|set=1;listen_port
replace_peers not a bool|-22|set=1;replace_peers=maybe
peer key before public_key|-22|set=1;allowed_ip=198.19.0.9/32
public key not hex|-22|set=1;public_key=xyz
endpoint unparsable|-22|set=1;public_key=@B@;endpoint=not-an-endpoint
endpoint without port|-22|set=1;public_key=@B@;endpoint=198.18.0.2
allowed ip bad address|-22|set=1;public_key=@B@;allowed_ip=198.19.0.300/32
allowed ip prefix too long|-22|set=1;public_key=@B@;allowed_ip=198.19.0.2/33
keepalive out of range|-22|set=1;public_key=@B@;persistent_keepalive_interval=70000
protocol version 2|-22|set=1;public_key=@B@;protocol_version=2
preshared key not hex|-22|set=1;public_key=@B@;preshared_key=xyz
remove not a bool|-22|set=1;public_key=@B@;remove=maybe
unknown peer key|-22|set=1;public_key=@B@;bogus_peer_key=1
unknown operation|none|bogus=1
partial: listen port then bad fwmark|-22|set=1;listen_port=51899;fwmark=abc
partial: replace_peers then bad allowed ip|-22|set=1;replace_peers=true;public_key=@B@;allowed_ip=bad
partial: new peer then bad endpoint|-22|set=1;public_key=@K@;allowed_ip=198.19.0.77/32;endpoint=nope
'

b64hex() { base64 -d <<<"$1" | od -An -tx1 | tr -d ' \n'; }

# request LINES: expand placeholders and ";" into the request text.
request() {
	local r=${1//;/$'\n'}
	r=${r//@B@/$PEER_HEX}
	r=${r//@K@/$NEW_HEX}
	printf '%s\n\n' "$r"
}

main() {
	fwg_init
	fwg_require_cmds "$PYTHON" base64 od jq ss awk
	local tag=u nsa nsb ifa ifb sock snap now name want lines reply got
	nsa=$(fwg_ns_a "$tag")
	nsb=$(fwg_ns_b "$tag")
	ifa=$(fwg_if_a "$tag")
	ifb=$(fwg_if_b "$tag")
	sock="$FWG_UAPI_DIR/$ifa.sock"
	fwg_pair_up "$tag" "$IMPL_A" "$IMPL_B" 4 1 || fwg_die "set up pair failed"
	fwg_check "ping a->b before the bad requests" fwg_ping "$nsa" "$FWG_TUN4_B"
	PEER_HEX=$(b64hex "$(cat "$FWG_WORKDIR/$ifb.pub")")
	NEW_HEX=$(b64hex "$(wg genkey | wg pubkey)")
	snap="$FWG_WORKDIR/before.conf"
	fwg_wg "$nsa" showconf "$ifa" >"$snap" || fwg_die "wg showconf failed"

	while IFS='|' read -r name want lines; do
		[ -n "$name" ] || continue
		reply=$(request "$lines" | timeout 10 "$PYTHON" "$here/uapi.py" "$sock" 2>&1)
		got=$(sed -n 's/^errno=//p' <<<"$reply" | tail -1)
		[ -n "$got" ] || [ -n "$reply" ] || got=none
		if [ "$PROBE" = 1 ]; then
			printf '%s|%s|%s\n' "$name" "${got:-none}" "$lines"
			continue
		fi
		fwg_check "$name: errno=$want (got ${got:-no errno, reply: ${reply:0:80}})" [ "$got" = "$want" ]
		now="$FWG_WORKDIR/now.conf"
		if fwg_wg "$nsa" showconf "$ifa" >"$now" && cmp -s "$snap" "$now"; then
			fwg_pass "$name: configuration unchanged"
		else
			fwg_fail "$name: configuration changed: $(diff "$snap" "$now" | grep '^[<>]' | head -3 | tr '\n' ' ')"
			# Put the old configuration back so the next case starts clean.
			fwg_wg "$nsa" setconf "$ifa" "$snap" || fwg_die "restoring the configuration failed"
		fi
	done <<<"$CASES"

	fwg_check "ping a->b after the bad requests" fwg_ping "$nsa" "$FWG_TUN4_B"
	fwg_check "ping b->a after the bad requests" fwg_ping "$nsb" "$FWG_TUN4_A"
	printf 'uapi-errors against %s:\n' "$IMPL_A"
	fwg_summary uapi-errors
}

main "$@"
