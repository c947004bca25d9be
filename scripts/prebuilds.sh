#!/usr/bin/env bash
# The prebuilt addons the package ships (npm pack runs this as prepack):
# native/prebuilds/{linux-x64,linux-arm64,darwin-x64,darwin-arm64}, cross-
# compiled with Zig (scripts/cross-build.sh), so that installing needs no
# compiler. Cached by the hash of everything that goes into them: a second
# pack of the same sources costs a copy.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=(linux-x64 linux-arm64 darwin-x64 darwin-arm64)
key=$( (cat native/src/* native/compat/darwin/*/* scripts/cross-build.sh; node -p process.version) | sha256sum | cut -c1-16)
cache=${CLOUDBRIDGE_ZIG_CACHE:-/var/cache/cloudbridge-zig}/prebuilds/$key
if [ ! -d "$cache" ]; then
  rm -rf "$cache.tmp"
  bash scripts/cross-build.sh "$cache.tmp" "${targets[@]}" >&2
  mv "$cache.tmp" "$cache"
fi
rm -rf native/prebuilds
cp -r "$cache" native/prebuilds
echo "prebuilds: ${targets[*]} in native/prebuilds" >&2
