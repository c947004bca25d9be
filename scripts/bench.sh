#!/usr/bin/env bash
# Throughput and latency: cloudbridge vs `ssh -w`, side by side in one run, on
# a lab of its own (namespaces cb-bench-*). Single TCP stream (iperf3), both
# directions, to the remote end of the tunnel; ping RTT; controller RSS/CPU.
#   sudo npm run bench [-- MTU...]      (default MTUs: 1500 9000)
# Prints a table with ratios and writes bench-results/bench-DATE.json.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "bench: needs iperf3 (apt-get install iperf3)" >&2; exit 1; }
mtus=("$@"); [ ${#mtus[@]} -gt 0 ] || mtus=(1500 9000)
secs=${BENCH_SECONDS:-5}
lab=bench; octet=216; net=10.$octet
dir=/run/cloudbridge-lab/$lab
export CLOUDBRIDGE_RUN_DIR=/run/cloudbridge-bench
cb() { node dist/src/cli/main.js "$@"; }
results=()

cleanup() {
  cb disconnect $lab >/dev/null 2>&1 || true
  pkill -f "cloudbridge-bench-ssh" 2>/dev/null || true
  bash scripts/lab.sh down $lab >/dev/null 2>&1 || true
}
trap cleanup EXIT
bash scripts/lab.sh up $lab $octet >/dev/null

# iperf3 -J, one direction; prints MB/s as the receiver counted it
iperf() {
  local target=$1 reverse=$2 out
  ip netns exec cb-$lab-r iperf3 -s -1 -B "$target" >/dev/null 2>&1 &
  for _ in $(seq 50); do ip netns exec cb-$lab-r ss -ltn | grep -q ":5201" && break; sleep 0.1; done
  out=$(iperf3 -J -c "$target" -t "$secs" $reverse 2>/dev/null || true)
  wait || true
  node -e 'const j=JSON.parse(require("fs").readFileSync(0,"utf8")); const b=j.end&&j.end.sum_received?j.end.sum_received.bits_per_second:0; console.log((b/8/1e6).toFixed(1))' <<<"$out" 2>/dev/null || echo 0
}

rtt() {
  ping -c 40 -i 0.02 -q "$1" 2>/dev/null | sed -n 's#.*= [0-9.]*/\([0-9.]*\)/.*#\1#p'
}

measure() { # name target
  local name=$1 target=$2 up down r
  up=$(iperf "$target" "")
  down=$(iperf "$target" "-R")
  r=$(rtt "$target")
  printf '%-28s %10s %10s %9s\n' "$name" "$up" "$down" "${r:-?}"
  results+=("{\"name\":\"$name\",\"upMBps\":$up,\"downMBps\":$down,\"rttMs\":${r:-null}}")
}

echo "cloudbridge bench, $(date -u +%F), $(nproc) cores, $(uname -r), ${secs}s per direction, one TCP stream"
printf '%-28s %10s %10s %9s\n' "tunnel" "up MB/s" "down MB/s" "rtt ms"
for mtu in "${mtus[@]}"; do
  # cloudbridge at this MTU
  cfg=$dir/bench-$mtu.yaml
  sed "s/mtu: 1500/mtu: $mtu/" "$dir/config.yaml" >"$cfg"
  cb connect $lab --config "$cfg" >/dev/null 2>&1
  pid=$(cb status $lab --json | node -e 'console.log(JSON.parse(require("fs").readFileSync(0,"utf8"))[0].pid)')
  cpu0=$(awk '{print $14+$15}' /proc/$pid/stat)
  measure "cloudbridge mtu $mtu" $net.1.2
  cpu1=$(awk '{print $14+$15}' /proc/$pid/stat)
  rss=$(awk '/VmHWM/{print $2}' /proc/$pid/status)
  echo "  controller: peak RSS $((rss / 1024)) MB, CPU $(( (cpu1 - cpu0) / $(getconf CLK_TCK) )) s for the run"
  cb disconnect $lab >/dev/null 2>&1

  # ssh -w at the same MTU, same cipher, addresses set by hand as the seed recipe does
  ssh -f -N -w 77:77 -o Tunnel=point-to-point -o BatchMode=yes -c aes128-gcm@openssh.com \
    -o UserKnownHostsFile=$dir/known_hosts -i $dir/id_ed25519 -o "SetEnv=X=cloudbridge-bench-ssh" \
    -o ExitOnForwardFailure=yes root@$net.0.2
  for _ in $(seq 50); do [ -e /sys/class/net/tun77 ] && ip -n cb-$lab-r link show tun77 >/dev/null 2>&1 && break; sleep 0.1; done
  ip addr add $net.2.1 peer $net.2.2 dev tun77 && ip link set tun77 mtu "$mtu" up
  ip -n cb-$lab-r addr add $net.2.2 peer $net.2.1 dev tun77 && ip -n cb-$lab-r link set tun77 mtu "$mtu" up
  measure "ssh -w mtu $mtu" $net.2.2
  pkill -f "ssh -f -N -w 77:77" || true
  sleep 0.3
done

# ratios of cloudbridge to ssh -w at the same MTU, and to ssh -w at 1500
node - "${results[@]}" <<'JS'
const rows = process.argv.slice(2).map((s) => JSON.parse(s));
const by = (n) => rows.find((r) => r.name === n);
const base = by('ssh -w mtu 1500');
console.log('\nratios (cloudbridge / ssh -w):');
for (const r of rows.filter((r) => r.name.startsWith('cloudbridge'))) {
  const mtu = r.name.split(' ').pop();
  const same = by(`ssh -w mtu ${mtu}`);
  const f = (a, b) => (b ? (a / b).toFixed(2) : '?');
  console.log(`  mtu ${mtu}: vs ssh -w same MTU up ${f(r.upMBps, same?.upMBps)}x down ${f(r.downMBps, same?.downMBps)}x rtt ${f(r.rttMs, same?.rttMs)}x;` +
    ` vs ssh -w 1500 up ${f(r.upMBps, base?.upMBps)}x down ${f(r.downMBps, base?.downMBps)}x`);
}
const fs = require('fs');
fs.mkdirSync('bench-results', { recursive: true });
const file = `bench-results/bench-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.json`;
fs.writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), rows }, null, 2));
console.log(`\nwrote ${file}`);
JS
