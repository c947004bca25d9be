#!/usr/bin/env bash
# The end-to-end suite (test/e2e; as root: it makes namespaces, users, tun
# devices), each file run with the CLI in the hands of one of three callers
# (test/e2e/actor.ts, $CLOUDBRIDGE_E2E_MODE):
#   root    root itself (a root shell, a service unit)
#   sudo    a user who types `cloudbridge …`; the CLI asks sudo, root starts
#           the helper and drops to them
#   helper  a member of the installed helper's group, no sudo at all
#
#   scripts/e2e.sh [matrix|all|root|sudo|helper] [FILE.test.js ...]
#
# matrix (npm test, CI): each file once, in the mode the table gives it, so
# that all three run in CI in the time of one pass (a pass takes ~6 min
# here, all three 17; CI must stay well under 15 minutes). all: every file in every
# mode, but for the files whose tests act for users of their own whatever
# the mode (ONLY_ROOT), which run once. Exits non-zero if any pass failed.
set -uo pipefail
cd "$(dirname "$0")/.."

declare -A MATRIX=(
  [tunnel]=root [errors]=root [week]=root [journald]=root
  [privsep]=root [security]=root [helper]=root
  [fullTunnel]=sudo [jump]=sudo [containers]=sudo [resolved]=sudo [install]=sudo
  [faults]=helper [ipv6]=helper [expose]=helper [certs]=helper [proxy]=helper
)
ONLY_ROOT=" privsep security helper "

how=${1:-matrix}
shift || true
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  for f in dist/test/e2e/*.test.js; do files+=("$f"); done
fi

failed=0
pass() { # MODE FILE...
  local mode=$1
  shift
  [ $# -gt 0 ] || return 0
  echo "e2e as $mode: $(for f in "$@"; do basename "$f" .test.js; done | tr '\n' ' ')"
  env -u SUDO_USER -u SUDO_UID -u SUDO_GID -u NODE_EXTRA_CA_CERTS CLOUDBRIDGE_E2E_MODE="$mode" npx ava "$@" || failed=1
}

case $how in
  root | sudo | helper) pass "$how" "${files[@]}" ;;
  matrix | all)
    declare -A by=([root]='' [sudo]='' [helper]='')
    for f in "${files[@]}"; do
      name=$(basename "$f" .test.js)
      mode=${MATRIX[$name]:-}
      [ -n "$mode" ] || { echo "scripts/e2e.sh: $name has no mode in MATRIX: give it one" >&2; exit 2; }
      if [ "$how" = matrix ]; then by[$mode]+="$f "
      elif [[ $ONLY_ROOT == *" $name "* ]]; then by[root]+="$f "
      else for m in root sudo helper; do by[$m]+="$f "; done
      fi
    done
    for m in root sudo helper; do
      # shellcheck disable=SC2086 # file names without spaces (dist/test/e2e/NAME.test.js)
      pass "$m" ${by[$m]}
    done
    ;;
  *) echo "usage: scripts/e2e.sh [matrix|all|root|sudo|helper] [FILE.test.js ...]" >&2; exit 2 ;;
esac
exit $failed
