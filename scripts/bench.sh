#!/usr/bin/env bash
# cloudbridge against its competitors, side by side in one run, on a lab of
# its own (namespaces cb-bench-*):
#   - throughput, one TCP stream and four (iperf3 -P 4), both directions, to
#     the remote end: cloudbridge and `ssh -w` at each MTU asked for, `ssh -w`
#     at 1500 (what the seed recipe gets), an `ssh -L` stream, sshuttle when
#     installed. MTU "auto" is cloudbridge's default (one size each way,
#     probed); `ssh -w` is compared at 16000 there, the most its client
#     carries (it reads the tun 16 KiB at a time);
#   - RTT through each tunnel, median and p99 of 200 pings;
#   - connect time: command start to the first packet through;
#   - the controller's CPU seconds per GB moved, peak RSS, idle CPU (the 30 s
#     after connect, which include V8 shrinking its heap once activity stops);
#   - `docker ps` wall time through the tunnel, against the remote daemon's
#     own socket, and with DOCKER_HOST=ssh://.
#   - throughput through a jump host (ProxyJump, and a ProxyCommand) against
#     `ssh -J -w` and `ssh -w` through the same hop (scripts/bench-jump.sh);
#   - throughput over IPv6 through the tunnel against `ssh -w` with IPv6
#     addresses set by hand (scripts/bench-ipv6.sh);
#   - `docker ps` through the tunnel (with and without docker.warm) and with
#     DOCKER_HOST=ssh:// over long links, emulated by scripts/delay-relay.mjs
#     in front of the remote sshd (BENCH_LINK_RTTS).
#   sudo npm run bench [-- MTU...]      (default MTUs: 1500 auto; BENCH_SECONDS=5,
#                                        BENCH_ROUNDS=3, BENCH_LINK_RTTS="20 100" ms, "" for none)
# The competitors take turns within each round, so that a noisy neighbour on
# a shared machine hits all of them alike; the table is the median of the
# rounds. Prints a table and ratios; writes bench-results/bench-DATE.json
# with every round.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 1; }
command -v iperf3 >/dev/null || { echo "bench: needs iperf3 (apt-get install iperf3)" >&2; exit 1; }
mtus=("$@"); [ ${#mtus[@]} -gt 0 ] || mtus=(1500 auto)
secs=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-3}
link_rtts=${BENCH_LINK_RTTS-20 100}
source scripts/bench-lib.sh
source scripts/bench-jump.sh
source scripts/bench-ipv6.sh
source scripts/bench-privsep.sh
# cb, quiet unless it fails
cb_quiet() { local out; out=$(cb "$@" 2>&1) || { echo "bench: cloudbridge $*: $out" >&2; return 1; }; }
rows=()
extra=()

# what `cloudbridge init` writes for the lab's host (its own free /30, `routes: []`, mtu
# auto), with the lab's key and known_hosts (a user's come from ~/.ssh) and docker off
default_config() {
  rm -f "$1"
  local out
  out=$(cb init $lab --host $net.0.2 --config "$1" 2>&1) || { echo "bench: cloudbridge init: $out" >&2; return 1; }
  sed -i -e "s|^    host: .*|&\n    user: root\n    identityFile: $dir/id_ed25519\n    knownHostsFile: $dir/known_hosts|" \
    -e "s|docker: { mode: socket }|docker: { mode: 'off' }|" "$1"
}

cleanup() {
  cb disconnect $lab >/dev/null 2>&1 || true
  pkill -f "cloudbridge-bench-ssh" 2>/dev/null || true
  pkill -f "sshuttle.*$net" 2>/dev/null || true
  pkill -f "delay-relay.mjs 127.0.0.1:22" 2>/dev/null || true
  bash scripts/lab.sh down $lab >/dev/null 2>&1 || true
  jump_down
  privsep_down
}
trap cleanup EXIT
bash scripts/lab.sh up $lab $octet >/dev/null
jump_up

# iperf3, one direction: MB/s as the receiver counted it. $1 server address in
# the remote namespace, $2 address:port to dial, $3 extra flags (-R, -P 4)
iperf() {
  local bind=$1 dial=$2 flags=$3 out
  ip netns exec $rns iperf3 -s -1 -B "$bind" >/dev/null 2>&1 &
  for _ in $(seq 50); do ip netns exec $rns ss -ltn | grep -q ":5201" && break; sleep 0.1; done
  # the port after the last colon: an IPv6 address has colons of its own
  out=$(iperf3 -J -c "${dial%:*}" -p "${dial##*:}" -t "$secs" $flags 2>/dev/null || true)
  wait || true
  node -e 'const j=JSON.parse(require("fs").readFileSync(0,"utf8")); const b=j.end&&j.end.sum_received?j.end.sum_received.bits_per_second:0; console.log((b/8/1e6).toFixed(1))' <<<"$out" 2>/dev/null || echo 0
}


# one row: name, iperf bind address, dial address:port, ping target (or -), connect ms
measure() {
  local name=$1 bind=$2 dial=$3 target=$4 connect=$5 up down up4 down4 r med p99
  up=$(iperf "$bind" "$dial" "")
  down=$(iperf "$bind" "$dial" "-R")
  up4=$(iperf "$bind" "$dial" "-P 4")
  down4=$(iperf "$bind" "$dial" "-P 4 -R")
  if [ "$target" != - ]; then r=$(rtt "$target"); else r="null null"; fi
  med=${r% *}; p99=${r#* }
  printf '%-24s %8s %8s %8s %8s %8s %8s %9s\n' "$name" "$up" "$down" "$up4" "$down4" "$med" "$p99" "$connect"
  rows+=("{\"round\":$round,\"name\":\"$name\",\"upMBps\":$up,\"downMBps\":$down,\"up4MBps\":$up4,\"down4MBps\":$down4,\"rttMedianMs\":$med,\"rttP99Ms\":$p99,\"connectMs\":$connect}")
}

cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

# median ms of 10 runs of a command (`docker ps`); a failed run stops the bench,
# as a fast failure would pass for a fast answer
dps() {
  local t err
  for _ in $(seq 10); do
    t=$(ms_now)
    err=$("$@" 2>&1 >/dev/null) || { echo "bench: \`$*\` failed: $err" >&2; return 1; }
    echo $(( $(ms_now) - t ))
  done | sort -n | sed -n 5p
}

echo "cloudbridge bench, $(date -u +%F), $(nproc) cores, $(uname -r), $(ssh -V 2>&1 | cut -d, -f1), ${secs}s per measurement"
printf '%-24s %8s %8s %8s %8s %8s %8s %9s\n' "tunnel" "up" "down" "up x4" "down x4" "rtt med" "rtt p99" "connect"
printf '%-24s %8s %8s %8s %8s %8s %8s %9s\n' "" "MB/s" "MB/s" "MB/s" "MB/s" "ms" "ms" "ms"
for round in $(seq "$rounds"); do
echo "round $round of $rounds"
for mtu in "${mtus[@]}"; do
  # cloudbridge at this MTU (connect returns once an ICMP echo has crossed the channel)
  cfg=$dir/bench-$mtu.yaml
  if [ "$mtu" = auto ]; then sed "s/, mtu: 1500//" "$dir/config.yaml" >"$cfg"; else sed "s/mtu: 1500/mtu: $mtu/" "$dir/config.yaml" >"$cfg"; fi
  t0=$(ms_now)
  cb connect $lab --config "$cfg" >/dev/null 2>&1
  connect=$(( $(ms_now) - t0 ))
  read -r pid MTUS < <(cb status $lab --json | node -e 'const s=JSON.parse(require("fs").readFileSync(0,"utf8"))[0]; console.log(s.pid, s.mtu + "/" + s.remoteMtu)')
  export MTUS
  tick=$(getconf CLK_TCK)
  idle0=$(cpu_ticks "$pid"); sleep 30; idle1=$(cpu_ticks "$pid")
  bytes0=$(cb status $lab --json | node -e 'const s=JSON.parse(require("fs").readFileSync(0,"utf8"))[0].stats; console.log(s.txBytes+s.rxBytes)')
  cpu0=$(cpu_ticks "$pid")
  measure "cloudbridge mtu $mtu" $net.1.2 $net.1.2:5201 $net.1.2 "$connect"
  cpu1=$(cpu_ticks "$pid")
  bytes1=$(cb status $lab --json | node -e 'const s=JSON.parse(require("fs").readFileSync(0,"utf8"))[0].stats; console.log(s.txBytes+s.rxBytes)')
  rss=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
  ctl=$(node -e "const [i0,i1,c0,c1,b0,b1,rss,tick]=process.argv.slice(1).map(Number); console.log(JSON.stringify({round:$round, mtu:'$mtu', mtus:process.env.MTUS, idleCpuPercent:+((i1-i0)/tick/30*100).toFixed(2), cpuSecondsPerGB:+(((c1-c0)/tick)/((b1-b0)/1e9)).toFixed(2), peakRssMB:Math.round(rss/1024)}))" \
    "$idle0" "$idle1" "$cpu0" "$cpu1" "$bytes0" "$bytes1" "$rss" "$tick")
  extra+=("$ctl")
  echo "  controller: $ctl"
  if [ "$mtu" = "${mtus[-1]}" ]; then
    # docker ps: through the tunnel, against the daemon's own socket (a unix
    # socket: reachable from here without entering its namespace), over
    # ssh:// (a fresh SSH connection each time)
    if [ ! -e "$dir/id_docker" ]; then
      ssh-keygen -q -t ed25519 -N '' -f "$dir/id_docker"
      echo "command=\"DOCKER_HOST=unix://$dir/docker.sock exec docker system dial-stdio\" $(cat "$dir/id_docker.pub")" >>"$dir/authorized_keys"
      printf 'Host cbbench\n  HostName %s\n  User root\n  IdentityFile %s\n  UserKnownHostsFile %s\n  BatchMode yes\n' "$net.0.2" "$dir/id_docker" "$dir/known_hosts" >"$dir/ssh_config_docker"
      # docker runs `ssh` from PATH, and ssh reads the config of the user's
      # passwd entry, not of $HOME: this one reads the bench's
      mkdir -p "$dir/bin"
      printf '#!/bin/sh\nexec %s -F %s "$@"\n' "$(command -v ssh)" "$dir/ssh_config_docker" >"$dir/bin/ssh"
      chmod +x "$dir/bin/ssh"
    fi
    via_tunnel=$(dps docker -H "unix://$CLOUDBRIDGE_RUN_DIR/$lab/docker.sock" ps)
    via_own=$(dps docker -H "unix://$dir/docker.sock" ps)
    via_ssh=$(dps env PATH="$dir/bin:$PATH" docker -H ssh://cbbench ps)
    echo "  docker ps (median of 10): through the tunnel ${via_tunnel} ms, the daemon's own socket ${via_own} ms, DOCKER_HOST=ssh:// ${via_ssh} ms"
    extra+=("{\"round\":$round,\"dockerPsMs\":{\"tunnel\":$via_tunnel,\"ownSocket\":$via_own,\"sshUrl\":$via_ssh}}")
  fi
  cb disconnect $lab >/dev/null 2>&1
  if [ "$mtu" = "${mtus[-1]}" ]; then
    # the same tunnel under an allow-list of 10,000 rules (the one iperf needs last, so a
    # new flow walks them all): one stream each way, against the row without one above
    node -e 'const [cfg, out, net] = process.argv.slice(1); const fs = require("fs");
      const rules = Array.from({ length: 10000 }, (_, i) => `      - 10.${30 + (i >> 16)}.${(i >> 8) & 255}.${i & 255} tcp 80`);
      fs.writeFileSync(out, fs.readFileSync(cfg, "utf8").replace(/(\n    nat: true\n)/, `$1    allow:\n${rules.join("\n")}\n      - ${net}.1.2 tcp 5201\n`));' \
      "$cfg" "$dir/bench-allow.yaml" "$net"
    cb_quiet connect $lab --config "$dir/bench-allow.yaml"
    aup=$(iperf $net.1.2 $net.1.2:5201 "")
    adown=$(iperf $net.1.2 $net.1.2:5201 "-R")
    cb_quiet disconnect $lab
    printf '%-24s %8s %8s\n' "cloudbridge allow 10k" "$aup" "$adown"
    rows+=("{\"round\":$round,\"name\":\"cloudbridge allow 10k\",\"upMBps\":$aup,\"downMBps\":$adown}")
    # connect as a user gets it: the config `cloudbridge init` writes (mtu auto, no routes),
    # docker off, and the lab's key; five times, each beside an `ssh -w` set up by hand
    # (command start to the first ping answered through it, both), with connect's phases
    default_config "$dir/bench-default.yaml"
    for _ in 1 2 3 4 5; do
      t0=$(ms_now)
      out=$(cb connect $lab --config "$dir/bench-default.yaml" --json 2>&1) || { echo "bench: cloudbridge connect: $out" >&2; exit 1; }
      c=$(( $(ms_now) - t0 ))
      cb_quiet disconnect $lab
      sleep 0.2
      t0=$(ms_now)
      sshw_up 1500
      s=$(( $(ms_now) - t0 ))
      sshw_down
      sleep 0.2
      echo "  connect, init's config, docker off: $c ms; ssh -w: $s ms"
      phases=$(node -e 'console.log(JSON.stringify(JSON.parse(process.argv[1]).phases))' "$out")
      extra+=("{\"round\":$round,\"connectDefaultMs\":$c,\"sshwMs\":$s,\"phases\":$phases}")
    done
    privsep_rows
  fi

  # ssh -w at the same MTU, same cipher, addresses set by hand as the seed recipe does
  t0=$(ms_now)
  sshmtu=$mtu; [ "$mtu" = auto ] && sshmtu=16000
  sshw_up "$sshmtu"
  connect=$(( $(ms_now) - t0 ))
  measure "ssh -w mtu $sshmtu" $net.2.2 $net.2.2:5201 $net.2.2 "$connect"
  sshw_down
  sleep 0.3
done

jump_rows
ipv6_rows

# docker ps over a long link: the SSH connection through a relay that holds
# every byte rtt/2 each way (no sch_netem on every kernel). Round trips are
# what a docker command costs there: ssh:// makes a connection, key exchange,
# login and session each time; the tunnel's socket has one SSH session open.
for link in $link_rtts; do
  port=$((22000 + link))
  node scripts/delay-relay.mjs 127.0.0.1:$port $net.0.2:22 $((link / 2)) >/dev/null &
  relay=$!
  for _ in $(seq 50); do ss -ltn | grep -q "127.0.0.1:$port " && break; sleep 0.1; done
  grep -q "^\[127.0.0.1\]:$port " "$dir/known_hosts" || echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/ssh_host_ed25519_key.pub")" >>"$dir/known_hosts"
  sed "s/^    host: $net.0.2$/    host: 127.0.0.1\n    port: $port/" "$dir/config.yaml" >"$dir/bench-link.yaml"
  grep -q "^Host cbbench-link$link\$" "$dir/ssh_config_docker" ||
    printf 'Host cbbench-link%s\n  HostName 127.0.0.1\n  Port %s\n  User root\n  IdentityFile %s\n  UserKnownHostsFile %s\n  BatchMode yes\n' "$link" "$port" "$dir/id_docker" "$dir/known_hosts" >>"$dir/ssh_config_docker"
  sed "s/docker: { mode: socket,/docker: { mode: socket, warm: false,/" "$dir/bench-link.yaml" >"$dir/bench-link-cold.yaml"
  cb_quiet connect $lab --config "$dir/bench-link.yaml"
  via_tunnel=$(dps docker -H "unix://$CLOUDBRIDGE_RUN_DIR/$lab/docker.sock" ps)
  cb_quiet disconnect $lab
  cb_quiet connect $lab --config "$dir/bench-link-cold.yaml"
  via_cold=$(dps docker -H "unix://$CLOUDBRIDGE_RUN_DIR/$lab/docker.sock" ps)
  cb_quiet disconnect $lab
  via_ssh=$(dps env PATH="$dir/bin:$PATH" docker -H ssh://cbbench-link$link ps)
  kill $relay; wait $relay 2>/dev/null || true
  echo "  docker ps over a ${link} ms link (median of 10): through the tunnel ${via_tunnel} ms (docker.warm: false ${via_cold} ms), DOCKER_HOST=ssh:// ${via_ssh} ms"
  extra+=("{\"round\":$round,\"linkRttMs\":$link,\"dockerPsMs\":{\"tunnel\":$via_tunnel,\"tunnelCold\":$via_cold,\"sshUrl\":$via_ssh}}")
done

# ssh -L: a plain forwarded stream, the ceiling for anything over one SSH connection
t0=$(ms_now)
ssh -f -N -L 127.0.0.1:15201:127.0.0.1:5201 -o ExitOnForwardFailure=yes "${ssh_opts[@]}" root@$net.0.2
connect=$(( $(ms_now) - t0 ))
measure "ssh -L stream" 127.0.0.1 127.0.0.1:15201 - "$connect"
pkill -f "ssh -f -N -L 127.0.0.1:15201" || true

if command -v sshuttle >/dev/null; then
  t0=$(ms_now)
  sshuttle -D -r root@$net.0.2 $net.1.0/24 -e "ssh ${ssh_opts[*]}" --pidfile "$dir/sshuttle.pid" >/dev/null 2>&1
  connect=$(( $(ms_now) - t0 ))
  measure "sshuttle" $net.0.2 $net.0.2:5201 - "$connect"
  kill "$(cat "$dir/sshuttle.pid")" 2>/dev/null || true
elif [ "$round" = 1 ]; then
  echo "(sshuttle not installed: not measured)"
fi
done

node - "${rows[@]}" -- "${extra[@]}" <<'JS'
const args = process.argv.slice(2);
const sep = args.indexOf('--');
const all = args.slice(0, sep).map((s) => JSON.parse(s));
const extra = args.slice(sep + 1).map((s) => JSON.parse(s));
const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number').sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)] : null;
};
// one row per tunnel: the median of its rounds, field by field
const names = [...new Set(all.map((r) => r.name))];
const fields = ['upMBps', 'downMBps', 'up4MBps', 'down4MBps', 'rttMedianMs', 'rttP99Ms', 'connectMs'];
const rows = names.map((name) => {
  const mine = all.filter((r) => r.name === name);
  return Object.fromEntries([['name', name], ['rounds', mine.length], ...fields.map((f) => [f, median(mine.map((r) => r[f]))])]);
});
const controller = [...new Set(extra.filter((e) => e.mtu).map((e) => e.mtu))].map((mtu) => {
  const mine = extra.filter((e) => e.mtu === mtu);
  return { mtu, mtus: mine[0].mtus, idleCpuPercent: median(mine.map((e) => e.idleCpuPercent)), cpuSecondsPerGB: median(mine.map((e) => e.cpuSecondsPerGB)), peakRssMB: Math.max(...mine.map((e) => e.peakRssMB)) };
});
const pad = (x, n) => String(x ?? '').padStart(n);
console.log(`\nmedian of ${Math.max(...rows.map((r) => r.rounds))} rounds:`);
for (const r of rows) console.log(r.name.padEnd(24) + fields.map((f) => pad(r[f], f === 'connectMs' ? 10 : 9)).join(''));
for (const c of controller) console.log(`  controller at mtu ${c.mtu} (${c.mtus} here/there): idle CPU ${c.idleCpuPercent}%, ${c.cpuSecondsPerGB} CPU s/GB, peak RSS ${c.peakRssMB} MB (highest of the rounds)`);
const by = (n) => rows.find((r) => r.name === n);
const base = by('ssh -w mtu 1500');
const f = (a, b) => (a && b ? (a / b).toFixed(2) : '?');
console.log('\nratios, cloudbridge / competitor (throughput: higher is better; rtt and connect: lower is better):');
for (const r of rows.filter((x) => x.name.startsWith('cloudbridge mtu'))) {
  const mtu = r.name.split(' ').pop();
  const same = mtu === 'auto' ? '16000' : mtu; // the most ssh -w carries
  for (const other of new Set([by(`ssh -w mtu ${same}`), base, by('ssh -L stream'), by('sshuttle')])) {
    if (!other) continue;
    console.log(`  mtu ${mtu} vs ${other.name}: up ${f(r.upMBps, other.upMBps)}x down ${f(r.downMBps, other.downMBps)}x` +
      ` up x4 ${f(r.up4MBps, other.up4MBps)}x down x4 ${f(r.down4MBps, other.down4MBps)}x` +
      (other.rttMedianMs ? ` rtt med ${f(r.rttMedianMs, other.rttMedianMs)}x p99 ${f(r.rttP99Ms, other.rttP99Ms)}x` : '') +
      ` connect ${f(r.connectMs, other.connectMs)}x`);
  }
}
for (const [ours, theirs] of [['cloudbridge via jump', 'ssh -J -w mtu 16000'], ['cloudbridge via ProxyCmd', 'ssh -w ProxyCmd 16000'], ['cloudbridge IPv6 auto', 'ssh -w IPv6 16000'], ['cloudbridge as user', 'cloudbridge mtu auto']]) {
  const [r, o] = [by(ours), by(theirs)];
  if (r && o) console.log(`  ${ours} vs ${theirs}: up ${f(r.upMBps, o.upMBps)}x down ${f(r.downMBps, o.downMBps)}x` + (r.connectMs ? ` connect ${f(r.connectMs, o.connectMs)}x` : ''));
}
const allow = by('cloudbridge allow 10k');
const plain = rows.find((r) => r.name === `cloudbridge mtu ${allow ? [...new Set(all.filter((x) => x.name.startsWith('cloudbridge mtu')).map((x) => x.name))].pop().split(' ').pop() : ''}`);
if (allow && plain) console.log(`  allow-list of 10,000 rules / none (${plain.name}), one stream: up ${f(allow.upMBps, plain.upMBps)}x down ${f(allow.downMBps, plain.downMBps)}x`);
const pairs = extra.filter((e) => e.connectDefaultMs);
const noDocker = median(pairs.map((e) => e.connectDefaultMs));
const sshwMs = median(pairs.map((e) => e.sshwMs));
const sshw = { name: 'ssh -w', connectMs: sshwMs };
if (noDocker && sshwMs) console.log(`  connect, init's config, docker off (median of ${pairs.length}): ${noDocker} ms, ssh -w beside it ${sshwMs} ms: ${f(noDocker, sshwMs)}x`);
// where connect's time goes: each phase's end, ms since the command started, median of the connects above
const phaseNames = pairs.length ? pairs[0].phases.map((p) => p.phase) : [];
const phases = phaseNames.map((phase) => ({ phase, ms: median(pairs.map((e) => e.phases.find((p) => p.phase === phase)?.ms)) }));
if (phases.length) console.log(`  connect's phases (median ms since the command started): ${phases.map((p) => `${p.phase} ${p.ms}`).join(', ')}`);
const asUser = {};
for (const [key, what] of [['connectSudoMs', 'through sudo (the helper, the controller as the user)'], ['connectInstalledMs', 'installed helper (no sudo)']]) {
  const m = (asUser[key] = median(extra.filter((e) => e[key]).map((e) => e[key])));
  if (m && sshw) console.log(`  connect, docker off, ${what} (median of ${extra.filter((e) => e[key]).length}): ${m} ms: ${f(m, sshw.connectMs)}x ${sshw.name}`);
}
const dps = extra.filter((e) => e.dockerPsMs && e.linkRttMs === undefined).map((e) => e.dockerPsMs);
const d = dps.length ? Object.fromEntries(['tunnel', 'ownSocket', 'sshUrl'].map((k) => [k, median(dps.map((x) => x[k]))])) : undefined;
if (d) console.log(`  docker ps, median of the rounds' medians: through the tunnel ${d.tunnel} ms, own socket ${d.ownSocket} ms, DOCKER_HOST=ssh:// ${d.sshUrl} ms`);
if (d) console.log(`  docker ps: tunnel / own socket ${f(d.tunnel, d.ownSocket)}x; ssh:// / tunnel ${f(d.sshUrl, d.tunnel)}x`);
const links = [...new Set(extra.filter((e) => e.linkRttMs !== undefined).map((e) => e.linkRttMs))].map((rtt) => {
  const mine = extra.filter((e) => e.linkRttMs === rtt).map((e) => e.dockerPsMs);
  return { rttMs: rtt, ...Object.fromEntries(['tunnel', 'tunnelCold', 'sshUrl'].map((k) => [k, median(mine.map((x) => x[k]))])) };
});
for (const l of links) {
  console.log(`  docker ps over a ${l.rttMs} ms link: through the tunnel ${l.tunnel} ms (docker.warm: false ${l.tunnelCold} ms), DOCKER_HOST=ssh:// ${l.sshUrl} ms:` +
    ` ssh:// / tunnel ${f(l.sshUrl, l.tunnel)}x (warm: false ${f(l.sshUrl, l.tunnelCold)}x)`);
}
const fs = require('fs');
fs.mkdirSync('bench-results', { recursive: true });
const file = `bench-results/bench-${new Date().toISOString().slice(0, 19).replace(/:/g, '')}.json`;
fs.writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), medians: rows, connectDefaultMs: noDocker, sshwConnectMs: sshwMs, connectPhases: phases, ...asUser, controller, dockerPsMs: d ?? null, dockerPsRounds: dps, dockerPsOverLink: links, rounds: all, controllerRounds: extra.filter((e) => e.mtu) }, null, 2));
console.log(`\nwrote ${file}`);
JS
