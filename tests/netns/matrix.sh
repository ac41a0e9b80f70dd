#!/usr/bin/env bash
# Run interop.sh for every ordered pair of the implementations found
# (IMPLS="ferrowg wireguard-go ..." to choose; ferrowg is included when
# FERROWG is set). Prints one result line per pair, then
# "matrix: N passed, N failed" counting pairs; exit 1 if any pair failed.

set -u
here=$(dirname "${BASH_SOURCE[0]}")
# shellcheck source=tests/netns/lib.sh
. "$here/lib.sh"

fwg_require_root
if [ -n "${IMPLS:-}" ]; then
	read -r -a cand <<<"$IMPLS"
else
	cand=(wireguard-go boringtun-cli gotatun)
	[ -n "${FERROWG:-}" ] && cand=(ferrowg "${cand[@]}")
fi
impls=()
for i in "${cand[@]}"; do
	if fwg_impl_available "$i"; then impls+=("$i"); else fwg_log "skipping $i: binary not found"; fi
done
[ ${#impls[@]} -gt 0 ] || fwg_die "no implementation found"

passed=0
failed=0
results=()
for a in "${impls[@]}"; do
	for b in "${impls[@]}"; do
		log=$(mktemp "/tmp/fwg-matrix-$$-XXXXXX")
		if FWG_MAX_SECONDS=${FWG_MAX_SECONDS:-300} "$here/interop.sh" "$a" "$b" >"$log" 2>&1; then
			passed=$((passed + 1))
			results+=("PASS: $a <-> $b ($(tail -1 "$log"))")
		else
			failed=$((failed + 1))
			results+=("FAIL: $a <-> $b ($(tail -1 "$log"); failing checks: $(grep -c '^FAIL' "$log"))")
			grep '^FAIL' "$log" | sed "s/^/    $a<->$b /"
		fi
		rm -f "$log"
	done
done
printf '%s\n' "${results[@]}"
printf 'matrix: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
