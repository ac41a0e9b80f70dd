#!/usr/bin/env bash
# Builds the Swift package and runs its XCTest suite on Linux, inside the cached Debian
# root with swiftlang (linux-toolchain.sh makes it), against libferrowg.so from the host.
# Usage: bindings/swift/run-linux-tests.sh LIB_DIR   (the directory with libferrowg.so)
# The mounts (/proc, /dev, /sys, the package, the library) live in a private mount
# namespace: they go away with it, even if this script is killed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lib_dir=$(cd "$1" && pwd)

root=$("$here/linux-toolchain.sh")
# One build cache per checkout, kept in the root between runs.
scratch=/ferrowg-build/$(printf %s "$here" | md5sum | cut -c1-12)
mkdir -p "$root/ferrowg/swift" "$root/ferrowg/lib" "$root$scratch"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
unshare -m sh -c '
    set -e
    r=$1 pkg=$2 lib=$3 scratch=$4
    mount --make-rprivate /
    mount -t proc proc "$r/proc"
    mount --rbind /dev "$r/dev"
    mount --rbind /sys "$r/sys"
    mount --bind "$pkg" "$r/ferrowg/swift"
    mount --bind -o ro "$lib" "$r/ferrowg/lib"
    exec chroot "$r" env -i HOME=/root PATH=/usr/bin:/bin LANG=C.UTF-8 \
        LD_LIBRARY_PATH=/ferrowg/lib sh -c "
        set -e
        cd /ferrowg/swift
        swift build --scratch-path $scratch -Xlinker -L/ferrowg/lib
        exec swift test --disable-swift-testing --scratch-path $scratch -Xlinker -L/ferrowg/lib
    "
' sh "$root" "$here" "$lib_dir" "$scratch" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
# XCTest's summary as the other suites print it.
summary=$(grep -o 'Executed [0-9]* tests\?, with [0-9]* failures\?' "$log" | tail -n1 || true)
if [ -n "$summary" ]; then
    read -r total failures < <(sed 's/Executed \([0-9]*\) tests\?, with \([0-9]*\) failures\?/\1 \2/' <<<"$summary")
    echo "$((total - failures)) passed, $failures failed"
    [ "$total" -gt 0 ] || rc=1
else
    echo "no XCTest summary" >&2
    [ "$rc" != 0 ] || rc=1
fi
exit "$rc"
