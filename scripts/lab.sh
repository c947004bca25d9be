#!/usr/bin/env bash
# cloudbridge lab: a "remote host" on this machine, for the demo and the tests.
#
#   scripts/lab.sh up   [NAME [OCTET [jump|client|router]]]   build it (idempotent: an old one is removed first)
#   scripts/lab.sh down [NAME]           remove everything it made
#   scripts/lab.sh config [NAME]         print the path of its cloudbridge config
#   scripts/lab.sh dockerd-stop|dockerd-start NAME   stop or start the remote host's dockerd
#
# Topology (OCTET defaults to 213):
#   host  cbh-NAME 10.OCTET.0.1/24 ──veth── eth0 10.OCTET.0.2  netns cb-NAME-r  ("remote host")
#         sshd :22 (PermitTunnel yes) and :2200 (PermitTunnel no), dockerd
#   netns cb-NAME-r eth1 10.OCTET.9.1/24 ──veth── eth0 10.OCTET.9.2  netns cb-NAME-b  ("VPC", no route back)
#         (10.OCTET.9.3 too: a second VPC host); only the remote host's resolver
#         knows api.vpc.internal (10.OCTET.9.2) and v6.vpc.internal (its ::1), from /etc/netns/cb-NAME-r/hosts
# With "jump", a jump host stands between: host ── 10.OCTET.0.2 netns cb-NAME-j
# (sshd, no tunnel) ── 10.OCTET.5.2 netns cb-NAME-r; the remote host is not
# reachable from here directly, and the config reaches it through an
# ssh_config with ProxyJump only.
# With "client", this machine's side is a namespace too, cb-NAME-c (the veth's
# host end and the unreachable route live there), with its own dockerd
# (default bridge, iptables on: a developer's machine with Docker) on
# /run/cloudbridge-lab/NAME/local-docker.sock; run cloudbridge in it with
# `ip netns exec cb-NAME-c`.
# With "router", the client namespace sits on a LAN of its own, 10.OCTET.3.1/24,
# whose gateway 10.OCTET.3.254 is netns cb-NAME-w, a router to the remote host
# (10.OCTET.0.1 there) and "the internet": 10.OCTET.7.1 (a web host) and
# 10.OCTET.7.53 (the LAN's resolver) on its loopback. The client's default
# route goes there, and so does the remote host's: a full tunnel's traffic
# leaves the remote host (NAT) for the same internet, with another source.
# When dnsmasq is installed, the remote host's resolver (127.0.0.1 in its
# namespace) knows db.vpc.internal (10.OCTET.9.2) and nothing else.
# LAB_REKEY_LIMIT=16M makes the remote sshd renew its keys that often (its
# RekeyLimit), so that tests see key exchanges in the middle of a transfer;
# its sshd then logs at DEBUG1 to sshd_tun.log, where the rekeys show.
# IPv6 (ULA, fd00:OCTET::/32, the octet read as hex digits): the VPC host is
# dual-stack (fd00:OCTET:9::2 beside 10.OCTET.9.2), and netns cb-NAME-6 is an
# IPv6-only host, fd00:OCTET:6::2, behind the remote host (fd00:OCTET:6::1);
# the resolver knows v6only.vpc.internal (AAAA only) and db.vpc.internal's
# AAAA. The router lab carries IPv6 on every link too: the client
# fd00:OCTET:3::1, its gateway fd00:OCTET:3::fe, the remote host
# fd00:OCTET::2, the internet fd00:OCTET:7::1.
# Everything lives in namespaces it creates; files under /run/cloudbridge-lab/NAME.
set -euo pipefail

cmd=${1:-}
name=${2:-lab}
octet=${3:-213}
mode=${4:-direct}
[[ $name =~ ^[a-z0-9]{1,8}$ ]] || { echo "lab: name must be 1-8 of a-z0-9" >&2; exit 2; }
[[ $octet =~ ^[0-9]{1,3}$ ]] && (( octet <= 255 )) || { echo "lab: octet must be 0-255" >&2; exit 2; }
dir=/run/cloudbridge-lab/$name
ns_r=cb-$name-r
ns_b=cb-$name-b
ns_j=cb-$name-j
ns_c=cb-$name-c
ns_w=cb-$name-w
ns_6=cb-$name-6
veth_h=cbh-$name
net=10.$octet

need_root() { [ "$(id -u)" = 0 ] || { echo "lab: needs root (sudo $0 $cmd)" >&2; exit 1; }; }

# A daemon that has exited is a zombie until PID 1 reaps it, and a PID 1 that
# reaps late (this CI machine's, about every 2 s) made each daemon's stop take
# 2 s and a lab's `down` 8-11 s: a zombie counts as gone (as util/processAlive.ts).
running() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

kill_pidfile() {
  local f=$1 pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f" 2>/dev/null || true)
  if [ -n "$pid" ] && running "$pid"; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do running "$pid" || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
}

# dockerd inside the remote namespace: nsenter keeps our mount namespace and its cgroups
start_dockerd() {
  nsenter --net="/var/run/netns/$ns_r" dockerd \
    --bridge=none --iptables=false --ip-masq=false --ip-forward=false \
    --data-root "$dir/docker-data" --exec-root "$dir/docker-exec" --pidfile "$dir/dockerd.pid" \
    -H "unix://$dir/docker.sock" -H tcp://0.0.0.0:2375 --tls=false \
    >>"$dir/dockerd.log" 2>&1 </dev/null &
}

down() {
  kill_pidfile "$dir/dockerd.pid"
  kill_pidfile "$dir/sshd.pid"
  kill_pidfile "$dir/sshd-notun.pid"
  kill_pidfile "$dir/sshd-jump.pid"
  kill_pidfile "$dir/local-dockerd.pid"
  kill_pidfile "$dir/dnsmasq.pid"
  for ns in "$ns_r" "$ns_b" "$ns_j" "$ns_c" "$ns_w" "$ns_6"; do
    if ip netns list | grep -qw "$ns"; then
      # anything a test left running inside
      for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
      ip netns del "$ns"
    fi
  done
  ip link del "$veth_h" 2>/dev/null || true
  local made_net
  made_net=10.$(cat "$dir/octet" 2>/dev/null || echo "$octet")
  ip route del unreachable "$made_net.0.0/16" metric 4242 2>/dev/null || true
  rm -rf "/etc/netns/$ns_r" "/etc/netns/$ns_c"
  rmdir /etc/netns 2>/dev/null || true
  if [ -d "$dir" ]; then
    # dockerd may leave mounts below its roots
    { grep -o " $dir/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$dir"
  fi
  rmdir /run/cloudbridge-lab 2>/dev/null || true
}

wait_for() {
  local what=$1; shift
  for _ in $(seq 1 150); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "lab: $what did not come up" >&2
  return 1
}

up() {
  for bin in ip sshd ssh-keygen dockerd docker nsenter iptables; do
    command -v "$bin" >/dev/null || [ -x "/usr/sbin/$bin" ] || { echo "lab: $bin not found (run .ci/setup or install it)" >&2; exit 1; }
  done
  down
  mkdir -p "$dir"
  chmod 700 "$dir"
  echo "$octet" >"$dir/octet"

  ip netns add "$ns_r"
  ip netns add "$ns_b"
  ip -n "$ns_r" link set lo up
  ip -n "$ns_b" link set lo up
  if [ "$mode" = jump ]; then
    remote_ip=$net.5.2
    ip netns add "$ns_j"
    ip -n "$ns_j" link set lo up
    ip link add "$veth_h" type veth peer name eth0 netns "$ns_j"
    ip -n "$ns_j" addr add "$net.0.2/24" dev eth0
    ip -n "$ns_j" link set eth0 up
    ip -n "$ns_j" link add eth1 type veth peer name eth0 netns "$ns_r"
    ip -n "$ns_j" addr add "$net.5.1/24" dev eth1
    ip -n "$ns_j" link set eth1 up
    ip -n "$ns_r" addr add "$remote_ip/24" dev eth0
  elif [ "$mode" = router ]; then
    remote_ip=$net.0.2
    ip netns add "$ns_w"
    ip -n "$ns_w" link set lo up
    ip -n "$ns_w" addr add "$net.7.1/32" dev lo
    ip -n "$ns_w" addr add "$net.7.53/32" dev lo
    ip link add "$veth_h" type veth peer name eth0 netns "$ns_w"
    ip -n "$ns_w" addr add "$net.3.254/24" dev eth0
    ip -n "$ns_w" link set eth0 up
    ip -n "$ns_w" link add eth1 type veth peer name eth0 netns "$ns_r"
    ip -n "$ns_w" addr add "$net.0.1/24" dev eth1
    ip -n "$ns_w" link set eth1 up
    ip netns exec "$ns_w" sysctl -q -w net.ipv4.ip_forward=1
    ip -n "$ns_r" addr add "$remote_ip/24" dev eth0
  else
    remote_ip=$net.0.2
    ip link add "$veth_h" type veth peer name eth0 netns "$ns_r"
    ip -n "$ns_r" addr add "$remote_ip/24" dev eth0
  fi
  local here=()
  if [ "$mode" = client ] || [ "$mode" = router ]; then
    ip netns add "$ns_c"
    ip -n "$ns_c" link set lo up
    ip link set "$veth_h" netns "$ns_c"
    here=(-n "$ns_c")
    mkdir -p "/etc/netns/$ns_c"
    # an upstream resolver that is not there: the client knows no names of its own
    printf 'nameserver %s\n' "$([ "$mode" = router ] && echo "$net.7.53" || echo "$net.255.254")" >"/etc/netns/$ns_c/resolv.conf"
  fi
  if [ "$mode" = router ]; then
    ip "${here[@]}" addr add "$net.3.1/24" dev "$veth_h"
    ip "${here[@]}" link set "$veth_h" up
    # the client's whole world is the router's namespace: nothing leaves the lab
    ip "${here[@]}" route add default via "$net.3.254"
  else
    ip "${here[@]}" addr add "$net.0.1/24" dev "$veth_h"
    ip "${here[@]}" link set "$veth_h" up
    # Whatever in 10.OCTET/16 is not routed into the lab or a tunnel dies here
    # instead of following the default route off this machine.
    ip "${here[@]}" route add unreachable "$net.0.0/16" metric 4242
  fi
  ip -n "$ns_r" link set eth0 up
  if [ "$mode" = router ]; then ip -n "$ns_r" route add default via "$net.0.1"; fi
  ip -n "$ns_r" link add eth1 type veth peer name eth0 netns "$ns_b"
  ip -n "$ns_r" addr add "$net.9.1/24" dev eth1
  ip -n "$ns_r" link set eth1 up
  ip -n "$ns_b" addr add "$net.9.2/24" dev eth0
  ip -n "$ns_b" addr add "$net.9.3/24" dev eth0
  ip -n "$ns_b" link set eth0 up
  # IPv6: the VPC host dual-stack, and an IPv6-only host on a link of its own
  ip -n "$ns_r" addr add "fd00:$octet:9::1/64" dev eth1 nodad
  ip -n "$ns_b" addr add "fd00:$octet:9::2/64" dev eth0 nodad
  ip netns add "$ns_6"
  ip -n "$ns_6" link set lo up
  ip -n "$ns_r" link add eth2 type veth peer name eth0 netns "$ns_6"
  ip -n "$ns_r" addr add "fd00:$octet:6::1/64" dev eth2 nodad
  ip -n "$ns_r" link set eth2 up
  ip -n "$ns_6" addr add "fd00:$octet:6::2/64" dev eth0 nodad
  ip -n "$ns_6" link set eth0 up
  ip -n "$ns_6" -6 route add default via "fd00:$octet:6::1"
  if [ "$mode" = router ]; then
    ip -n "$ns_w" addr add "fd00:$octet:7::1/128" dev lo
    ip -n "$ns_w" addr add "fd00:$octet:3::fe/64" dev eth0 nodad
    ip -n "$ns_w" addr add "fd00:$octet::1/64" dev eth1 nodad
    ip netns exec "$ns_w" sysctl -q -w net.ipv6.conf.all.forwarding=1
    ip -n "$ns_r" addr add "fd00:$octet::2/64" dev eth0 nodad
    ip -n "$ns_r" -6 route add default via "fd00:$octet::1"
    ip -n "$ns_c" addr add "fd00:$octet:3::1/64" dev "$veth_h" nodad
    ip -n "$ns_c" -6 route add default via "fd00:$octet:3::fe"
  fi

  ssh-keygen -q -t ed25519 -N '' -C "cloudbridge-lab-$name" -f "$dir/id_ed25519"
  ssh-keygen -q -t ed25519 -N '' -f "$dir/ssh_host_ed25519_key"
  cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
  hostkey=$(cut -d' ' -f1,2 "$dir/ssh_host_ed25519_key.pub")
  printf '%s %s\n[%s]:2200 %s\n' "$remote_ip" "$hostkey" "$remote_ip" "$hostkey" >"$dir/known_hosts"
  # the router lab's remote host answers SSH over IPv6 too
  if [ "$mode" = router ]; then printf 'fd00:%s::2 %s\n' "$octet" "$hostkey" >>"$dir/known_hosts"; fi
  [ "$mode" = jump ] && printf '%s %s\n' "$net.0.2" "$hostkey" >>"$dir/known_hosts"
  mkdir -p /run/sshd
  # `ip netns exec` mounts these over /etc/hosts for sshd and everything it starts
  mkdir -p "/etc/netns/$ns_r"
  printf '127.0.0.1 localhost\n%s.9.2 api.vpc.internal\n::1 v6.vpc.internal\n' "$net" >"/etc/netns/$ns_r/hosts"
  printf 'nameserver 127.0.0.1\n' >"/etc/netns/$ns_r/resolv.conf"
  if command -v dnsmasq >/dev/null || [ -x /usr/sbin/dnsmasq ]; then
    ip netns exec "$ns_r" /usr/sbin/dnsmasq --no-resolv --no-hosts --listen-address=127.0.0.1 --bind-interfaces \
      --user=root --pid-file="$dir/dnsmasq.pid" --host-record="db.vpc.internal,$net.9.2,fd00:$octet:9::2" \
      --host-record="v6only.vpc.internal,fd00:$octet:6::2" --local=/vpc.internal/
  fi
  for variant in tun notun; do
    if [ $variant = tun ]; then port=22 permit=yes pid=sshd.pid; else port=2200 permit=no pid=sshd-notun.pid; fi
    cat >"$dir/sshd_config_$variant" <<CONF
Port $port
ListenAddress $remote_ip
HostKey $dir/ssh_host_ed25519_key
PidFile $dir/$pid
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitTunnel $permit
AllowStreamLocalForwarding yes
AllowTcpForwarding yes
ClientAliveInterval 10
# bash sources ~/.bashrc for sshd's children at shell level 1: a lab's remote
# host is a bare server, not this machine's login (whose rc may take 100 ms)
SetEnv SHLVL=1
CONF
    if [ "$mode" = router ]; then printf 'ListenAddress fd00:%s::2\n' "$octet" >>"$dir/sshd_config_$variant"; fi
    if [ -n "${LAB_REKEY_LIMIT:-}" ]; then
      printf 'RekeyLimit %s\nLogLevel DEBUG1\n' "$LAB_REKEY_LIMIT" >>"$dir/sshd_config_$variant"
    fi
    ip netns exec "$ns_r" /usr/sbin/sshd -f "$dir/sshd_config_$variant" -E "$dir/sshd_$variant.log"
  done
  if [ "$mode" = jump ]; then
    sed -e "s/^ListenAddress .*/ListenAddress $net.0.2/" -e "s/^PidFile .*/PidFile ${dir//\//\\/}\/sshd-jump.pid/" \
      -e "s/^PermitTunnel .*/PermitTunnel no/" -e "s/^Port .*/Port 22/" "$dir/sshd_config_tun" >"$dir/sshd_config_jump"
    ip netns exec "$ns_j" /usr/sbin/sshd -f "$dir/sshd_config_jump" -E "$dir/sshd_jump.log"
    wait_for "jump sshd" ip netns exec "$ns_j" bash -c "exec 3<>/dev/tcp/$net.0.2/22"
  fi

  start_dockerd
  wait_for "sshd" ip netns exec "$ns_r" bash -c "exec 3<>/dev/tcp/$remote_ip/22"
  wait_for "dockerd" docker -H "unix://$dir/docker.sock" version
  if [ "$mode" = client ]; then
    nsenter --net="/var/run/netns/$ns_c" dockerd \
      --data-root "$dir/local-docker-data" --exec-root "$dir/local-docker-exec" --pidfile "$dir/local-dockerd.pid" \
      -H "unix://$dir/local-docker.sock" >"$dir/local-dockerd.log" 2>&1 </dev/null &
    wait_for "local dockerd" docker -H "unix://$dir/local-docker.sock" version
  fi

  if [ "$mode" = jump ]; then
    cat >"$dir/ssh_config" <<CONF
# the target is reachable only through the jump host
Host $name-jump
  HostName $net.0.2
  User root
  IdentityFile $dir/id_ed25519
  UserKnownHostsFile $dir/known_hosts
Host $name-target
  HostName $remote_ip
  User root
  ProxyJump $name-jump
  IdentityFile $dir/id_ed25519
  UserKnownHostsFile $dir/known_hosts
CONF
    cat >"$dir/config.yaml" <<CONF
# cloudbridge lab "$name" behind a jump host, written by scripts/lab.sh; SSH settings come from ssh_config only
environments:
  $name:
    host: $name-target
    sshConfig: $dir/ssh_config
    tunnel: { local: $net.1.1, remote: $net.1.2 }
    routes: [$net.9.0/24]
    nat: true
    docker: { mode: socket, remoteSocket: $dir/docker.sock }
CONF
    echo "lab: $name up: jump host $net.0.2 (netns $ns_j), remote host $remote_ip (netns $ns_r) only through it"
    echo "lab: config $dir/config.yaml"
    return
  fi
  cat >"$dir/config.yaml" <<CONF
# cloudbridge lab "$name", written by scripts/lab.sh; removed by: sudo scripts/lab.sh down $name
environments:
  $name:
    host: $net.0.2
    user: root
    identityFile: $dir/id_ed25519
    knownHostsFile: $dir/known_hosts
    tunnel: { local: $net.1.1, remote: $net.1.2, mtu: 1500 }
    routes: [$net.9.0/24]
    nat: true
    docker: { mode: socket, remoteSocket: $dir/docker.sock }
  $name-tcp:
    host: $net.0.2
    user: root
    identityFile: $dir/id_ed25519
    knownHostsFile: $dir/known_hosts
    tunnel: { local: $net.1.5, remote: $net.1.6 }
    docker: { mode: tcp, host: "tcp://$net.1.6:2375" }
CONF
  echo "lab: $name up: remote host $net.0.2 (netns $ns_r), behind it $net.9.2 (netns $ns_b)"
  echo "lab: config $dir/config.yaml"
}

case "$cmd" in
  up) need_root; up ;;
  down) need_root; down; echo "lab: $name down" ;;
  config) echo "$dir/config.yaml" ;;
  dockerd-stop) need_root; kill_pidfile "$dir/dockerd.pid" ;;
  dockerd-start) need_root; start_dockerd; wait_for "dockerd" docker -H "unix://$dir/docker.sock" version ;;
  *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
