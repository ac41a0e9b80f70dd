#!/usr/bin/env bash
# The project's test command (README command two). As root on Debian it first installs
# what the tests need, then runs every test layer: the Rust workspace (unit, model,
# simulator, in-process boringtun interop, engine, and — as root — the network-namespace
# interop against wireguard-go), then the C, Python, C#, Swift and Kotlin binding tests. Output stays
# visible; the first failure stops the run.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=()
  for p in wireguard-go:wireguard-go wg:wireguard-tools iperf3:iperf3 ip:iproute2 \
           ping:iputils-ping jq:jq gcc:gcc g++:g++ mcs:mono-mcs mono:mono-runtime \
           java:default-jdk-headless npm:npm debootstrap:debootstrap \
           resolvconf:openresolv nft:nftables tcpdump:tcpdump; do
    command -v "${p%%:*}" >/dev/null || need+=("${p#*:}")
  done
  [ -f /usr/share/java/jna.jar ] || need+=(libjna-java)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  fi
fi
python3 -m pytest --version >/dev/null 2>&1 || python3 -m pip install -q pytest

echo "== cargo test (workspace) =="
cargo test --workspace

echo "== binding tests (C, Python, C#, Swift, Kotlin) =="
bash bindings/run-tests.sh
