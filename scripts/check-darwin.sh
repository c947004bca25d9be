#!/usr/bin/env bash
# Compiles the addon for macOS (x86_64 and arm64) on Linux with Zig's C
# compiler (scripts/cross-build.sh): the macOS code is compiled by CI even
# though no Mac runs here.   npm run check:darwin
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bash scripts/cross-build.sh "$out" darwin-x64 darwin-arm64
