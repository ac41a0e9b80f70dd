#!/usr/bin/env bash
# Runs ferrowg-platform's tests as a Windows program under wine (Debian wine64 +
# mingw-w64), so the Windows UDP path (WSAPoll, SIO_UDP_CONNRESET) and the live
# GetLogicalProcessorInformationEx / SetThreadGroupAffinity calls execute for real.
# Not part of CI (wine is a large install); run by hand as root on the dev machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v x86_64-w64-mingw32-gcc >/dev/null || [ ! -x /usr/lib/wine/wine64 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wine64 gcc-mingw-w64-x86-64-win32
fi
rustup target add x86_64-pc-windows-gnu >/dev/null
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export WINEPREFIX="${WINEPREFIX:-/tmp/ferrowg-wine}" WINEDEBUG=-all
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Rust's std needs ProcessPrng from bcryptprimitives.dll, which wine 8 lacks: a stub
# over RtlGenRandom (SystemFunction036).
cat > "$work/bcp.c" <<'C'
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
/usr/lib/wine/wine64 cmd /c exit >/dev/null 2>&1 || true
x86_64-w64-mingw32-gcc -shared -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" "$work/bcp.c" -ladvapi32
cargo test -p ferrowg-platform --target x86_64-pc-windows-gnu --no-run --message-format=json 2>/dev/null \
  | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' > "$work/exes"
status=0
while read -r exe; do
  echo "== $(basename "$exe")"
  /usr/lib/wine/wine64 "$exe" || status=1
done < "$work/exes"
exit $status
