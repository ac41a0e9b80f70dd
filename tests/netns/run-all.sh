#!/usr/bin/env bash
# Every netns suite for the pairs that matter, one closing line for CI.
#
#   sudo tests/netns/run-all.sh                    # interop wireguard-go <-> wireguard-go
#   sudo FERROWG=target/release/ferrowg tests/netns/run-all.sh
#       # interop ferrowg <-> ferrowg and with wireguard-go both ways; roaming
#       # and uapi-errors with ferrowg as side a (vs ferrowg and wireguard-go)
#   sudo RUNS="interop:gotatun:wireguard-go roaming:gotatun:gotatun" tests/netns/run-all.sh
#
# Runs each SUITE.sh A B of RUNS, adds up their "N passed, N failed" lines and
# ends with "netns: N passed, N failed".
# Exit 1 if any check failed or a suite broke.

set -u
here=$(dirname "${BASH_SOURCE[0]}")

# RUNS: "suite:a:b" triples. roaming.sh and uapi-errors.sh test side a only,
# so with ferrowg they run with ferrowg as a.
if [ -z "${RUNS:-}" ]; then
	if [ -n "${FERROWG:-}" ]; then
		RUNS="interop:ferrowg:ferrowg interop:ferrowg:wireguard-go interop:wireguard-go:ferrowg"
		RUNS+=" roaming:ferrowg:ferrowg roaming:ferrowg:wireguard-go"
		RUNS+=" uapi-errors:ferrowg:ferrowg uapi-errors:ferrowg:wireguard-go"
		RUNS+=" offload:ferrowg:ferrowg offload:ferrowg:wireguard-go"
	else
		# wireguard-go 0.0.20220316 fails parts of roaming.sh (IPv4 address
		# move) and uapi-errors.sh (partial application), so without ferrowg
		# only the interop suite runs unless RUNS says more.
		RUNS="interop:wireguard-go:wireguard-go"
	fi
fi

passed=0
failed=0
broken=0
for run in $RUNS; do
	IFS=: read -r suite a b <<<"$run"
	printf '### %s %s <-> %s\n' "$suite" "$a" "$b"
	log=$(mktemp "/tmp/fwg-runall-$$-XXXXXX")
	FWG_MAX_SECONDS=${FWG_MAX_SECONDS:-300} "$here/$suite.sh" "$a" "$b" 2>&1 | tee "$log"
	line=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
	rm -f "$log"
	if [ -z "$line" ]; then
		printf 'FAIL: %s %s <-> %s ended without a summary\n' "$suite" "$a" "$b"
		broken=$((broken + 1))
		continue
	fi
	read -r p f < <(sed -E 's/^[a-z-]+: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/' <<<"$line")
	passed=$((passed + p))
	failed=$((failed + f))
done
failed=$((failed + broken))
printf 'netns: %d passed, %d failed\n' "$passed" "$failed"
[ "$failed" -eq 0 ]
