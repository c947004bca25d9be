# Shared by scripts/bench*.sh (sourced): the bench lab's names, cloudbridge
# from this checkout, and plain `ssh -w` set up by hand as the seed recipe does.
lab=bench; octet=216; net=10.$octet
dir=/run/cloudbridge-lab/$lab
rns=cb-$lab-r
# Node reads NODE_EXTRA_CA_CERTS at every start: ~60 ms per Node process on this
# machine, whose CI environment sets it. A user's `sudo cloudbridge` does not
# carry it (sudo's env_reset), and nothing here speaks TLS: measured without it.
unset NODE_EXTRA_CA_CERTS
# root takes no CLOUDBRIDGE_RUN_DIR (src/util/user.ts): the bench environment's files are in root's own tree
export CLOUDBRIDGE_RUN_DIR=/run/cloudbridge
# the lab is root's: cloudbridge acts for root, not for the user who ran sudo (see demo.sh)
cb() { env -u SUDO_USER -u SUDO_UID -u SUDO_GID node dist/bundle/cloudbridge.js "$@"; }
ms_now() { date +%s%3N; }
ssh_opts=(-o BatchMode=yes -c aes128-gcm@openssh.com -o UserKnownHostsFile=$dir/known_hosts -i $dir/id_ed25519 -o "SetEnv=X=cloudbridge-bench-ssh")

# `ssh -w` on tun77 at both ends, $net.2.1 here and $net.2.2 there, MTU $1;
# returns once a ping crosses it
sshw_up() {
  ssh -f -N -w 77:77 -o Tunnel=point-to-point -o ExitOnForwardFailure=yes "${ssh_opts[@]}" root@$net.0.2
  for _ in $(seq 100); do [ -e /sys/class/net/tun77 ] && ip -n $rns link show tun77 >/dev/null 2>&1 && break; sleep 0.05; done
  ip addr add $net.2.1 peer $net.2.2 dev tun77 && ip link set tun77 mtu "$1" up
  ip -n $rns addr add $net.2.2 peer $net.2.1 dev tun77 && ip -n $rns link set tun77 mtu "$1" up
  until ping -c 1 -W 1 $net.2.2 >/dev/null 2>&1; do :; done
}
sshw_down() { pkill -f "ssh -f -N -w 77:77" || true; }

# median and p99 RTT in ms of pings to $1, "MED P99": $2 of them (200), $3 s apart (0.005)
rtt() {
  ping -c "${2:-200}" -i "${3:-0.005}" "$1" 2>/dev/null | sed -n 's/.*time=\([0-9.]*\) ms/\1/p' | sort -n |
    awk '{v[NR]=$1} END {if (NR==0) {print "null null"; exit} m=v[int((NR+1)/2)]; p=v[int(NR*0.99)>0?int(NR*0.99):1]; printf "%.3f %.3f\n", m, p}'
}
