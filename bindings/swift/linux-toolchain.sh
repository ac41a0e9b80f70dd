#!/usr/bin/env bash
# Makes (once) and checks a Debian trixie root with Debian's swiftlang, for building and
# testing the Swift package on Linux. Prints the root's path on stdout.
# The root is about 3 GB and is cached between runs: $FERROWG_SWIFT_ROOT, default
# /var/cache/ferrowg-swift-root. Needs root (debootstrap, chroot, mounts) and the network
# (deb.debian.org) the first time.
set -euo pipefail

root=${FERROWG_SWIFT_ROOT:-/var/cache/ferrowg-swift-root}
mirror=${FERROWG_DEBIAN_MIRROR:-http://deb.debian.org/debian}
ready=$root/.ferrowg-swift-ready

if [ "$(id -u)" != 0 ]; then
    echo "the Swift toolchain root needs root (debootstrap, chroot)" >&2
    exit 1
fi
if ! command -v debootstrap >/dev/null; then
    apt-get install -y debootstrap >&2
fi

mkdir -p "$(dirname "$root")"
exec 9>"$root.lock"
flock 9

if [ ! -e "$ready" ]; then
    start=$(date +%s)
    rm -rf "$root.partial"
    debootstrap --variant=minbase trixie "$root.partial" "$mirror" >&2
    # apt inside the root needs /proc, /dev and /sys: mount them in a private mount
    # namespace, which takes them away again when the command ends.
    unshare -m sh -c '
        set -e
        r=$1
        mount -t proc proc "$r/proc"
        mount --rbind /dev "$r/dev"
        mount --rbind /sys "$r/sys"
        cp /etc/resolv.conf "$r/etc/resolv.conf"
        chroot "$r" env DEBIAN_FRONTEND=noninteractive apt-get update -q
        chroot "$r" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            swiftlang libc6-dev libstdc++-14-dev pkg-config
        chroot "$r" apt-get clean
    ' sh "$root.partial" >&2
    rm -rf "$root"
    mv "$root.partial" "$root"
    touch "$ready"
    echo "swift root made in $(( $(date +%s) - start )) s: $root" >&2
fi
echo "$root"
