#!/usr/bin/env bash
# Installs (once) the Kotlin compiler from the npm registry's `kotlin-compiler` package (the
# full JetBrains distribution) into a cache dir and prints the path of `kotlinc`.
# Cache: $FERROWG_TOOLS (default ~/.cache/ferrowg-tools)/kotlin-compiler-VERSION.
set -euo pipefail

KOTLIN_VERSION=2.4.20
tools=${FERROWG_TOOLS:-$HOME/.cache/ferrowg-tools}
dir=$tools/kotlin-compiler-$KOTLIN_VERSION
kotlinc=$dir/package/bin/kotlinc

if [ ! -x "$kotlinc" ]; then
    if ! command -v npm >/dev/null; then
        apt-get install -y npm >&2
    fi
    mkdir -p "$tools"
    tmp=$(mktemp -d "$tools/kotlin.XXXXXX")
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && npm pack --silent "kotlin-compiler@$KOTLIN_VERSION" >/dev/null)
    tar -xzf "$tmp"/kotlin-compiler-*.tgz -C "$tmp"
    chmod +x "$tmp"/package/bin/*
    rm -rf "$dir"
    mkdir -p "$dir"
    mv "$tmp/package" "$dir/package"
fi
echo "$kotlinc"
