#!/usr/bin/env bash
# Added RTT, cloudbridge against `ssh -w`, paired: both tunnels up at once on
# the bench lab (cloudbridge at MTU auto, `ssh -w` at 16000, aes128-gcm
# both), and batches of pings taking turns between them, so that whatever
# the machine's neighbours do hits both alike. Two spacings: 5 ms (the
# processes stay busy) and 50 ms (they sleep between packets, as with
# interactive traffic, and their caches go cold).
#   sudo npm run bench:rtt        (BENCH_ROUNDS=10 pairs per spacing)
# Prints each pair's medians, then the median of each side and the share of
# pairs cloudbridge was faster in.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench-rtt: needs root" >&2; exit 1; }
rounds=${BENCH_ROUNDS:-10}
source scripts/bench-lib.sh

cleanup() {
  cb disconnect $lab >/dev/null 2>&1 || true
  sshw_down
  bash scripts/lab.sh down $lab >/dev/null 2>&1 || true
}
trap cleanup EXIT
bash scripts/lab.sh up $lab $octet >/dev/null
sed "s/, mtu: 1500//" "$dir/config.yaml" >"$dir/bench-auto.yaml"
cb connect $lab --config "$dir/bench-auto.yaml" >/dev/null 2>&1
sshw_up 16000

echo "cloudbridge bench-rtt, $(date -u +%F), $(nproc) cores, $(uname -r), $(ssh -V 2>&1 | cut -d, -f1)"
for spacing in 0.005:300 0.05:60; do
  every=${spacing%:*} count=${spacing#*:}
  pairs=()
  for round in $(seq "$rounds"); do
    a=$(rtt $net.1.2 "$count" "$every" | cut -d' ' -f1)
    b=$(rtt $net.2.2 "$count" "$every" | cut -d' ' -f1)
    echo "  every ${every}s, pair $round: cloudbridge $a ms, ssh -w $b ms"
    pairs+=("$a $b")
  done
  printf '%s\n' "${pairs[@]}" | node -e '
    const pairs = require("fs").readFileSync(0, "utf8").trim().split("\n").map((l) => l.split(" ").map(Number));
    const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor((xs.length - 1) / 2)];
    const cb = median(pairs.map((p) => p[0])), sw = median(pairs.map((p) => p[1]));
    const ahead = pairs.filter((p) => p[0] < p[1]).length;
    console.log(`every ${process.argv[1]}s: median of the pairs cloudbridge ${cb} ms, ssh -w ${sw} ms (${(cb / sw).toFixed(2)}x); cloudbridge faster in ${ahead} of ${pairs.length} pairs`);
  ' "$every"
done
