# Sourced by scripts/bench.sh: the same throughput over IPv6 through the
# tunnel, on the bench lab: cloudbridge with tunnel.local6/remote6 (MTU
# auto) to the remote end's IPv6 tunnel address, against `ssh -w` at MTU
# 16000 with IPv6 addresses set by hand on both tun devices. Same cipher.

ipv6_rows() {
  local t0 connect cfg=$dir/bench-ipv6.yaml
  sed "s/, mtu: 1500 }/, local6: \"fd00:$octet:1::1\", remote6: \"fd00:$octet:1::2\" }/" "$dir/config.yaml" >"$cfg"
  t0=$(ms_now)
  cb_quiet connect $lab --config "$cfg"
  connect=$(( $(ms_now) - t0 ))
  ipv6_measure "cloudbridge IPv6 auto" "fd00:$octet:1::2" "$connect"
  cb_quiet disconnect $lab
  t0=$(ms_now)
  sshw_up 16000
  ip -6 addr add "fd00:$octet:2::1" peer "fd00:$octet:2::2" dev tun77 nodad
  ip -n $rns -6 addr add "fd00:$octet:2::2" peer "fd00:$octet:2::1" dev tun77 nodad
  until ping -6 -c 1 -W 1 "fd00:$octet:2::2" >/dev/null 2>&1; do :; done
  connect=$(( $(ms_now) - t0 ))
  ipv6_measure "ssh -w IPv6 16000" "fd00:$octet:2::2" "$connect"
  sshw_down
  sleep 0.3
}

# one row, up and down: name, the remote end's IPv6 address (iperf3 binds there), connect ms
ipv6_measure() {
  local name=$1 addr=$2 connect=$3 up down
  up=$(iperf "$addr" "$addr:5201" "")
  down=$(iperf "$addr" "$addr:5201" "-R")
  printf '%-24s %8s %8s %8s %8s %8s %8s %9s\n' "$name" "$up" "$down" "" "" "" "" "$connect"
  rows+=("{\"round\":$round,\"name\":\"$name\",\"upMBps\":$up,\"downMBps\":$down,\"connectMs\":$connect}")
}
