#!/usr/bin/env bash
# Install the peer implementations the netns tests and bench/e2e.sh compare
# against: Debian packages (root) and the Rust CLIs from crates.io into a cache
# dir (FWG_TOOLS_ROOT, default /work/.cache-tools; binaries in its bin/).
# Idempotent: a CLI already at the pinned version is not rebuilt.
#
#   sudo bench/install-peers.sh            # everything
#   NO_APT=1 bench/install-peers.sh        # only the cargo installs
#
# Building boringtun-cli and gotatun-cli from source takes a few minutes
# each on 2 cores.

set -eu
ROOT=${FWG_TOOLS_ROOT:-/work/.cache-tools}
BORINGTUN_VERSION=0.7.1
GOTATUN_VERSION=0.10.2

if [ -z "${NO_APT:-}" ]; then
	missing=()
	for c in wireguard-go wg iperf3 ip ping jq python3; do
		command -v "$c" >/dev/null 2>&1 || missing+=("$c")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "installing Debian packages (missing: ${missing[*]})"
		apt-get update -qq
		apt-get install -y -qq wireguard-go wireguard-tools iperf3 iproute2 iputils-ping jq python3
	fi
fi

# install_crate CRATE VERSION BINARY
install_crate() {
	local crate=$1 version=$2 bin=$3
	if [ -x "$ROOT/bin/$bin" ] && "$ROOT/bin/$bin" --version 2>/dev/null | grep -qF "$version"; then
		echo "$bin $version already in $ROOT/bin"
		return 0
	fi
	echo "building $crate $version into $ROOT (takes minutes)"
	cargo install "$crate" --version "=$version" --locked --root "$ROOT"
}

install_crate boringtun-cli "$BORINGTUN_VERSION" boringtun-cli
install_crate gotatun-cli "$GOTATUN_VERSION" gotatun
echo "peers ready: $ROOT/bin/boringtun-cli, $ROOT/bin/gotatun (the scripts look there)"
