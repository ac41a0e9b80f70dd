#!/usr/bin/env bash
# Builds libferrowg and runs the binding tests: C (gcc; g++ for a callback that
# throws), Python (pytest via uniffi),
# C# (mcs + mono), Swift (swift test in a cached Debian root with swiftlang), Kotlin
# (kotlinc + JVM with JNA). Each uses two tunnels in host packet I/O mode over 127.0.0.1.
# Usage: bindings/run-tests.sh [c] [python] [csharp] [swift] [kotlin]   (default: all)
# Needs: gcc, g++, python3 with pytest, mono-mcs + mono-runtime, a JDK + libjna-java; root
# and the network for the first Swift run (debootstrap, ~3 GB cached, see
# bindings/README.md); the Kotlin compiler installs itself from npm.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(c python csharp swift kotlin)

cargo build --quiet -p ferrowg-ffi --lib
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
lib_dir=$target_dir/debug
# docs/embedding.md's Swift and Kotlin samples must be the tested code.
python3 bindings/check-samples.py
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for suite in "${suites[@]}"; do
    echo "== bindings: $suite"
    case $suite in
        c)
            gcc -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -O1 -Iffi/include \
                bindings/c/test_tunnels.c -L"$lib_dir" -lferrowg -lpthread -o "$work/test_tunnels"
            LD_LIBRARY_PATH=$lib_dir timeout 300 "$work/test_tunnels"
            # A C++ exception escaping a C callback: the process must either abort from
            # Rust ("cannot catch foreign exceptions") or go on with the failure counted;
            # never std::terminate from an unwind through a non-unwinding frame.
            g++ -std=c++17 -Wall -Wextra -Werror -O1 -Iffi/include \
                bindings/c/test_foreign_exception.cpp -L"$lib_dir" -lferrowg -lpthread \
                -o "$work/test_foreign_exception"
            rc=0
            (ulimit -c 0; LD_LIBRARY_PATH=$lib_dir exec timeout 60 "$work/test_foreign_exception") \
                >"$work/fe.out" 2>"$work/fe.err" || rc=$?
            if [ "$rc" = 0 ] && grep -q '^CONTAINED' "$work/fe.out"; then
                echo "ok: a C++ exception from a callback was contained"
            elif [ "$rc" = 134 ] && grep -q 'Rust cannot catch foreign exceptions' "$work/fe.err"; then
                echo "ok: a C++ exception from a callback aborted the process (Rust cannot catch it)"
            else
                echo "FAIL: C++ exception from a callback ended with status $rc" >&2
                cat "$work/fe.out" "$work/fe.err" >&2
                exit 1
            fi
            ;;
        python)
            if ! python3 -c 'import pytest' 2>/dev/null; then
                python3 -m pip install --quiet pytest
            fi
            # The generated module loads libferrowg.so from its own directory.
            mkdir -p "$work/py"
            cp bindings/python/ferrowg.py "$lib_dir/libferrowg.so" "$work/py/"
            # As root, the OS-NIC tests (tun create / fd adopt) run in a throwaway netns.
            netns=()
            if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null && unshare -n true 2>/dev/null; then
                netns=(unshare -n sh -c 'ip link set lo up && exec env FERROWG_NETNS=1 "$@"' sh)
            else
                echo "not root or no unshare: test_os_nic.py will skip"
            fi
            (cd "$work/py" && PYTHONPATH="$work/py:$root/bindings/python/tests" timeout 300 "${netns[@]}" \
                python3 -m pytest -q -p no:cacheprovider --rootdir "$work/py" "$root/bindings/python/tests")
            ;;
        csharp)
            if ! command -v mcs >/dev/null || ! command -v mono >/dev/null; then
                echo "mcs/mono missing: apt-get install -y mono-mcs mono-runtime" >&2
                exit 1
            fi
            mkdir -p "$work/cs"
            mcs -nologo -warnaserror -out:"$work/cs/FerrowgTests.exe" \
                bindings/csharp/Ferrowg.cs bindings/csharp/tests/FerrowgTests.cs \
                bindings/csharp/tests/EmbeddingSample.cs
            LD_LIBRARY_PATH=$lib_dir timeout 300 mono "$work/cs/FerrowgTests.exe"
            ;;
        swift)
            # The Debian root with swiftlang needs root to make and to chroot into.
            if [ "$(id -u)" != 0 ] && [ "${CI:-}" != true ]; then
                echo "swift: SKIPPED: not root (the swiftlang root needs debootstrap + chroot)"
                continue
            fi
            timeout 1800 bindings/swift/run-linux-tests.sh "$lib_dir"
            ;;
        kotlin)
            timeout 900 bindings/kotlin/run-tests.sh "$lib_dir"
            ;;
        *)
            echo "unknown suite $suite" >&2
            exit 2
            ;;
    esac
done
