# Sourced by scripts/bench.sh: the same tunnel through a jump host, against
# `ssh -w` through the same hop, on a lab of its own whose target is
# reachable only through the jump host (scripts/lab.sh ... jump):
#   - "cloudbridge via jump": ProxyJump in ssh_config, MTU auto; against
#     `ssh -J -w` at MTU 16000 (the most its client carries);
#   - "cloudbridge via ProxyCommand": ProxyCommand `ssh -W %h:%p JUMP`; against
#     `ssh -w` with the same ProxyCommand.
# Every SSH layer, ours and OpenSSH's, uses aes128-gcm@openssh.com.
jlab=benchj; joctet=212; jnet=10.$joctet
jdir=/run/cloudbridge-lab/$jlab
jrns=cb-$jlab-r

jump_up() {
  bash scripts/lab.sh up $jlab $joctet jump >/dev/null
  # OpenSSH's side: AES-GCM on the jump hop too (its default is ChaCha20), as cloudbridge's is here
  { cat "$jdir/ssh_config"; printf 'Host *\n  Ciphers aes128-gcm@openssh.com\n'; } >"$jdir/ssh_config_gcm"
  sed "s|^  ProxyJump $jlab-jump|  ProxyCommand ssh -F $jdir/ssh_config_gcm -W %h:%p $jlab-jump|" "$jdir/ssh_config_gcm" >"$jdir/ssh_config_pc"
  sed "s|sshConfig: .*|sshConfig: $jdir/ssh_config_pc|" "$jdir/config.yaml" >"$jdir/config-pc.yaml"
}
jump_down() {
  cb disconnect $jlab >/dev/null 2>&1 || true
  pkill -f "ssh -F $jdir/ssh_config_" 2>/dev/null || true
  bash scripts/lab.sh down $jlab >/dev/null 2>&1 || true
}

# one row, up and down only: name, iperf bind address in the target's namespace, connect ms
jump_measure() {
  local name=$1 bind=$2 connect=$3 up down
  up=$(rns=$jrns iperf "$bind" "$bind:5201" "")
  down=$(rns=$jrns iperf "$bind" "$bind:5201" "-R")
  printf '%-24s %8s %8s %8s %8s %8s %8s %9s\n' "$name" "$up" "$down" "" "" "" "" "$connect"
  rows+=("{\"round\":$round,\"name\":\"$name\",\"upMBps\":$up,\"downMBps\":$down,\"connectMs\":$connect}")
}

# `ssh -w` through the hop ssh_config $1 names, tun78 at both ends, MTU 16000
jump_sshw() {
  local t0=$(ms_now) connect
  ssh -F "$1" -f -N -w 78:78 -o Tunnel=point-to-point -o ExitOnForwardFailure=yes -o BatchMode=yes -c aes128-gcm@openssh.com $jlab-target
  for _ in $(seq 100); do [ -e /sys/class/net/tun78 ] && ip -n $jrns link show tun78 >/dev/null 2>&1 && break; sleep 0.05; done
  ip addr add $jnet.2.1 peer $jnet.2.2 dev tun78 && ip link set tun78 mtu 16000 up
  ip -n $jrns addr add $jnet.2.2 peer $jnet.2.1 dev tun78 && ip -n $jrns link set tun78 mtu 16000 up
  until ping -c 1 -W 1 $jnet.2.2 >/dev/null 2>&1; do :; done
  connect=$(( $(ms_now) - t0 ))
  jump_measure "$2" $jnet.2.2 "$connect"
  pkill -f "ssh -F $1 -f -N -w 78:78" || true
  sleep 0.3
}

jump_rows() {
  local cfg t0 connect
  for cfg in config.yaml config-pc.yaml; do
    t0=$(ms_now)
    cb_quiet connect $jlab --config "$jdir/$cfg"
    connect=$(( $(ms_now) - t0 ))
    if [ $cfg = config.yaml ]; then jump_measure "cloudbridge via jump" $jnet.1.2 "$connect"; else jump_measure "cloudbridge via ProxyCmd" $jnet.1.2 "$connect"; fi
    cb_quiet disconnect $jlab
  done
  jump_sshw "$jdir/ssh_config_gcm" "ssh -J -w mtu 16000"
  jump_sshw "$jdir/ssh_config_pc" "ssh -w ProxyCmd 16000"
}
