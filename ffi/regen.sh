#!/usr/bin/env bash
# Regenerates the C header and the uniffi bindings. CI runs it and then
# `git diff --exit-code -- ffi/include bindings/swift bindings/kotlin bindings/python`.
# cbindgen is pinned and installed once into a cache dir ($FERROWG_TOOLS).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

CBINDGEN_VERSION=0.29.4
tools=${FERROWG_TOOLS:-$HOME/.cache/ferrowg-tools}
cbindgen=$tools/cbindgen-$CBINDGEN_VERSION/bin/cbindgen
if [ ! -x "$cbindgen" ]; then
    cargo install cbindgen --version "$CBINDGEN_VERSION" --locked --root "$tools/cbindgen-$CBINDGEN_VERSION"
fi
"$cbindgen" --quiet --config ffi/cbindgen.toml --output ffi/include/ferrowg.h ffi

# uniffi: the binding generator is built from the same uniffi version as the library.
cargo build --quiet -p ferrowg-ffi --lib
cargo build --quiet -p ferrowg-ffi --features bindgen --bin uniffi-bindgen
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
lib=$target_dir/debug/libferrowg.so
bindgen=$target_dir/debug/uniffi-bindgen
for lang in swift kotlin python; do
    case $lang in
        swift) out=bindings/swift/Sources/Ferrowg ;;
        kotlin) out=bindings/kotlin/src/main/kotlin ;;
        python) out=bindings/python ;;
    esac
    mkdir -p "$out"
    "$bindgen" generate --no-format --library "$lib" --language "$lang" --out-dir "$out" >/dev/null
done
