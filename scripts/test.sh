#!/usr/bin/env bash
# The project's test command (README command two). Installs what the tests need when run
# as root on a fresh Debian machine, then runs every test layer. Each step's output stays
# visible; the first failure stops the run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=()
  for p in wireguard-go:wireguard-go wg:wireguard-tools iperf3:iperf3 ip:iproute2; do
    command -v "${p%%:*}" >/dev/null || need+=("${p#*:}")
  done
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  fi
fi

echo "== cargo test (workspace) =="
cargo test --workspace
