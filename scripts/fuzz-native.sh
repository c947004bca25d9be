#!/usr/bin/env bash
# Builds the addon with AddressSanitizer and UndefinedBehaviorSanitizer into a
# directory of its own (the real build is untouched) and runs
# scripts/fuzz-native.mjs against it for FUZZ_SECONDS (default 30).
#   npm run fuzz:native            FUZZ_SECONDS=300 npm run fuzz:native
set -euo pipefail
cd "$(dirname "$0")/.."
out=${FUZZ_BUILD_DIR:-/tmp/cloudbridge-fuzz}
rm -rf "$out" && mkdir -p "$out"
cp -r native/binding.gyp native/src "$out/"
prefix=$(dirname "$(dirname "$(node -p process.execPath)")")
args=(rebuild --directory="$out")
[ -f "$prefix/include/node/node_api.h" ] && args+=("--nodedir=$prefix")
gyp=$(command -v node-gyp || echo "$(dirname "$(command -v npm)")/../lib/node_modules/npm/bin/node-gyp-bin/node-gyp")
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
CFLAGS="$san" LDFLAGS="-fsanitize=address,undefined" "$gyp" "${args[@]}" >"$out/build.log" 2>&1 || { cat "$out/build.log" >&2; exit 1; }
asan=$(gcc -print-file-name=libasan.so)
ubsan=$(gcc -print-file-name=libubsan.so)
# Node itself is not instrumented: its allocations are not ours to report (leaks), the addon's are
LD_PRELOAD="$asan $ubsan" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  node --expose-gc scripts/fuzz-native.mjs "$out/build/Release/cloudbridge_tun.node"
