#!/usr/bin/env bash
# Runs the Windows build under wine (CI step; also by hand): cross-compiles for
# x86_64-pc-windows-gnu with mingw-w64 (default features: ring builds with mingw gcc)
# and runs, each under wine64 in a fresh WINEPREFIX:
#   - every test binary of ferrowg-core, ferrowg-platform and ferrowg-cli (the cli's
#     include the named-pipe UAPI suite: the errno cases of tests/netns/uapi-errors.sh
#     against a host-packet engine over \\.\pipe\ProtectedPrefix\Administrators\WireGuard\*);
#   - `ferrowg.exe demo` (two engines over Windows UDP sockets on 127.0.0.1);
#   - the C binding test (bindings/c) built with mingw against ferrowg.dll;
#   - the UDP transport round trip, printing the path it took (USO/URO or fallback);
#   - optionally (WG_EXE=/path/to/wg.exe, built from wireguard-tools outside the repo),
#     the real wg.exe show/set/showconf against a host-packet engine's named pipe.
# Prints each binary's pass counts; exits non-zero if anything fails. wintun (a kernel
# driver) cannot run under wine: the wintun code is only compiled (and clippy'd).
# Usage: scripts/wine-tests.sh   (as root on Debian it installs wine64 + mingw-w64)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
WINE=/usr/lib/wine/wine64
if ! command -v x86_64-w64-mingw32-gcc >/dev/null || [ ! -x "$WINE" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wine64 gcc-mingw-w64-x86-64-win32
  else
    echo "wine-tests: need wine64 and mingw-w64 (apt-get install -y wine64 mingw-w64)" >&2
    exit 1
  fi
fi
T=x86_64-pc-windows-gnu
rustup target add "$T" >/dev/null
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc WINEDEBUG=-all
work=$(mktemp -d)
export WINEPREFIX="$work/prefix"
trap 'wineserver_kill; rm -rf "$work"' EXIT
wineserver_kill() { WINEPREFIX="$WINEPREFIX" /usr/lib/wine/wineserver -k >/dev/null 2>&1 || true; }

echo "== wine-tests: build ($T)"
cargo test -p ferrowg-core -p ferrowg-platform -p ferrowg-cli --target "$T" --no-run \
  --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    # Test harnesses only (the ferrowg binary built for the cli integration tests is
    # an artifact with an executable too).
    if m.get("reason") == "compiler-artifact" and m["profile"]["test"] and m.get("executable"):
        print(m["executable"])' >"$work/exes"
cargo build -p ferrowg-cli -p ferrowg-ffi --target "$T"
out=target/$T/debug
[ -s "$work/exes" ] || { echo "wine-tests: no test binaries built" >&2; exit 1; }

echo "== wine-tests: fresh prefix $WINEPREFIX"
"$WINE" cmd /c exit >/dev/null 2>&1 || true
# Test setup only (not the product): Rust's std needs ProcessPrng from
# bcryptprimitives.dll, which wine 8 lacks; a stub over RtlGenRandom (SystemFunction036).
cat >"$work/bcp.c" <<'C'
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID, ULONG);
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG n = len > 0x10000 ? 0x10000 : (ULONG)len;
        if (!SystemFunction036(data, n)) return FALSE;
        data += n; len -= n;
    }
    return TRUE;
}
C
x86_64-w64-mingw32-gcc -shared -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" \
  "$work/bcp.c" -ladvapi32

failed=()
summary=()
run() { # NAME TIMEOUT CMD...: runs under wine, records the libtest summary line
  local name=$1 t=$2 s rc
  shift 2
  s=$(date +%s)
  set +e
  timeout "$t" "$WINE" "$@" </dev/null >"$work/log" 2>&1
  rc=$?
  # wine itself sometimes fails to start a process (rc 1, not one byte of output, no
  # test ran); that is retried once. A test that ran and failed always prints something.
  if [ "$rc" != 0 ] && [ ! -s "$work/log" ]; then
    echo "---- $name: wine started nothing (rc=$rc, no output); retrying once"
    timeout "$t" "$WINE" "$@" </dev/null >"$work/log" 2>&1
    rc=$?
  fi
  set -e
  local line
  line=$(grep -E '^test result:|passed, [0-9]+ failed|^ferrowg demo|Gbit/s|handshake' "$work/log" | tail -1 || true)
  summary+=("$(printf '%-34s rc=%-3s %4ss  %s' "$name" "$rc" "$(( $(date +%s) - s ))" "$line")")
  if [ "$rc" != 0 ]; then
    failed+=("$name")
    echo "---- $name failed (rc=$rc), last lines:"
    tail -30 "$work/log"
  fi
  echo "${summary[-1]}"
}

echo "== wine-tests: test binaries"
while read -r exe; do
  run "$(basename "$exe" .exe | sed 's/-[0-9a-f]*$//')" 600 "$exe"
done <"$work/exes"

echo "== wine-tests: UDP transport batch path (USO/URO or the per-datagram fallback)"
pexe=$(grep -E '/ferrowg_platform-[0-9a-f]+\.exe$' "$work/exes" | head -1)
run "udp transport batch path" 120 "$pexe" transport_batch_round_trip_over_loopback --nocapture
if path=$(grep -m1 'udp path taken' "$work/log"); then
  echo "$path"
else
  failed+=("udp path line")
fi

echo "== wine-tests: real wg.exe over the named pipe (optional: WG_EXE)"
if [ -n "${WG_EXE:-}" ]; then
  # A wg.exe built from wireguard-tools outside this repository (never committed).
  cexe=$(grep -E '/ferrowg-[0-9a-f]+\.exe$' "$work/exes" | head -1)
  WG_EXE=$("$WINE" winepath -w "$WG_EXE" 2>/dev/null | tr -d '\r')
  export WG_EXE
  run "wg.exe show/set/showconf (pipe)" 180 "$cexe" \
    wg_exe::wg_exe_shows_sets_and_showconfs_over_the_named_pipe --ignored --exact --nocapture
else
  echo "wg.exe over the named pipe: not run (set WG_EXE to a wg.exe built from wireguard-tools)"
fi

echo "== wine-tests: ferrowg.exe demo"
run "ferrowg.exe demo" 180 "$out/ferrowg.exe" demo
grep -E 'handshake|Gbit/s|Gb/s' "$work/log" | head -5 || true

echo "== wine-tests: ferrowg.exe NAME without a wintun driver fails cleanly"
set +e
timeout 60 "$WINE" "$out/ferrowg.exe" -f wgwine0 </dev/null >"$work/log" 2>&1
rc=$?
set -e
if [ "$rc" = 1 ] && grep -q "cannot create the wintun adapter wgwine0" "$work/log" && ! grep -q panicked "$work/log"; then
  summary+=("$(printf '%-34s rc=%-3s        %s' "ferrowg.exe -f wgwine0" "$rc" "$(tail -1 "$work/log")")")
else
  failed+=("ferrowg.exe -f wgwine0 (rc=$rc)")
  tail -10 "$work/log"
fi
echo "${summary[-1]}"

echo "== wine-tests: C binding test (mingw, ferrowg.dll)"
mkdir -p "$work/c"
x86_64-w64-mingw32-gcc -std=c11 -Wall -Wextra -Werror -O1 -Iffi/include \
  bindings/c/test_tunnels.c "$out/libferrowg.dll.a" -static-libgcc \
  -Wl,-Bstatic -lpthread -Wl,-Bdynamic -o "$work/c/test_tunnels.exe"
cp "$out/ferrowg.dll" "$work/c/"
run "test_tunnels.exe (C, ferrowg.dll)" 300 "$work/c/test_tunnels.exe"

echo
echo "== wine-tests summary ($(( $(date +%s) - start ))s)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "wine-tests: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "wine-tests: all passed"
