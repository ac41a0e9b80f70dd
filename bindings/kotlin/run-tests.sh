#!/usr/bin/env bash
# Compiles the uniffi-generated Kotlin and the test runner (src/test/kotlin) with kotlinc
# against JNA, and runs it on the JVM against libferrowg.so.
# Usage: bindings/kotlin/run-tests.sh LIB_DIR   (the directory with libferrowg.so)
# Needs a JDK (java) and JNA (Debian: libjna-java); kotlinc installs itself (toolchain.sh).
# The compiled jar is cached by the hash of the sources and the compiler version.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
lib_dir=$(cd "$1" && pwd)

jna=${FERROWG_JNA_JAR:-/usr/share/java/jna.jar}
if [ ! -f "$jna" ]; then
    apt-get install -y libjna-java >&2
fi
if ! command -v java >/dev/null; then
    apt-get install -y default-jdk-headless >&2
fi
kotlinc=$("$here/toolchain.sh")
klib=$(cd "$(dirname "$kotlinc")/../lib" && pwd)
cp="$jna:$klib/kotlin-stdlib.jar:$klib/kotlin-test.jar"

sources=("$here/src/main/kotlin/uniffi/ferrowg/ferrowg.kt" "$here"/src/test/kotlin/*.kt)
key=$(cat "${sources[@]}" "$klib/../build.txt" "$jna" | sha256sum | cut -c1-16)
cache=${FERROWG_TOOLS:-$HOME/.cache/ferrowg-tools}/kotlin-build
jar=$cache/ferrowg-tests-$key.jar
if [ ! -f "$jar" ]; then
    mkdir -p "$cache"
    rm -f "$cache"/ferrowg-tests-*.jar
    "$kotlinc" -Werror -cp "$cp" "${sources[@]}" -d "$jar.tmp.jar"
    mv "$jar.tmp.jar" "$jar"
fi
# The throwing-callback test makes the library print a contained panic: keep it short.
RUST_BACKTRACE=0 java -Djna.library.path="$lib_dir" -cp "$jar:$cp" FerrowgTestsKt
