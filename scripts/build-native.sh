#!/usr/bin/env bash
# Builds native/ (the tun addon) against the headers of the Node that runs it.
# Uses the headers installed beside node when there are any, so the build
# needs no download (CI and the lab have no route to nodejs.org).
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=$(dirname "$(dirname "$(node -p process.execPath)")")
args=(rebuild --directory=native)
if [ -f "$prefix/include/node/node_api.h" ]; then
  args+=("--nodedir=$prefix")
fi
gyp=$(command -v node-gyp || true)
if [ -z "$gyp" ]; then
  gyp="$(dirname "$(command -v npm)")/../lib/node_modules/npm/bin/node-gyp-bin/node-gyp"
fi
"$gyp" "${args[@]}" >native/build.log 2>&1 || { cat native/build.log >&2; exit 1; }
test -f native/build/Release/cloudbridge_tun.node
echo "native: built native/build/Release/cloudbridge_tun.node"
