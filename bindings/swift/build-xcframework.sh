#!/usr/bin/env bash
# Builds ferrowgFFI.xcframework for Package.swift. Needs a Mac with Xcode; not run in CI
# (CI only checks that the aarch64-apple-darwin staticlib builds).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
targets=(aarch64-apple-darwin x86_64-apple-darwin aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
for t in "${targets[@]}"; do
    rustup target add "$t"
    cargo build -p ferrowg-ffi --lib --release --target "$t"
done
out=$(mktemp -d)
mkdir -p "$out/headers" "$out/macos" "$out/ios-sim"
cp "$here/Sources/Ferrowg/ferrowgFFI.h" "$out/headers/"
cp "$here/Sources/Ferrowg/ferrowgFFI.modulemap" "$out/headers/module.modulemap"
lipo -create target/aarch64-apple-darwin/release/libferrowg.a target/x86_64-apple-darwin/release/libferrowg.a \
    -output "$out/macos/libferrowg.a"
lipo -create target/aarch64-apple-ios-sim/release/libferrowg.a target/x86_64-apple-ios/release/libferrowg.a \
    -output "$out/ios-sim/libferrowg.a"
rm -rf "$here/ferrowgFFI.xcframework"
xcodebuild -create-xcframework \
    -library "$out/macos/libferrowg.a" -headers "$out/headers" \
    -library target/aarch64-apple-ios/release/libferrowg.a -headers "$out/headers" \
    -library "$out/ios-sim/libferrowg.a" -headers "$out/headers" \
    -output "$here/ferrowgFFI.xcframework"
