# Sourced by scripts/bench.sh: connect time as a user gets it (docs/privsep.md),
# docker off, beside the root-run rows: through sudo (root starts the helper and
# the controller drops to the user) and with the installed helper (a member of
# its group, no sudo at all, the helper started as install-helper's unit says);
# and one stream each way through the installed helper's tunnel, as the user.
puser=cbbench
pgroup=cbbenchgrp
phome=/home/$puser

privsep_up() {
  userdel -r $puser >/dev/null 2>&1 || true
  groupadd -f $pgroup
  useradd -m -d $phome -s /bin/sh -G $pgroup $puser
  mkdir -p $phome/lab
  cp $dir/id_ed25519 $dir/known_hosts $phome/lab/
  sed -e "s|$dir/id_ed25519|$phome/lab/id_ed25519|" -e "s|$dir/known_hosts|$phome/lab/known_hosts|" "$dir/bench-default.yaml" >$phome/lab/config.yaml
  chown -R $puser: $phome/lab
  chmod 600 $phome/lab/*
}

privsep_down() {
  pkill -f "helper.js --listen /run/cloudbridge/helper.sock" 2>/dev/null || true
  rm -f /run/cloudbridge/helper.sock
  userdel -r $puser >/dev/null 2>&1 || true
  groupdel $pgroup >/dev/null 2>&1 || true
}

# cloudbridge run by the bench's user, without sudo
as_user() { runuser -u $puser -- env HOME=$phome node dist/bundle/cloudbridge.js "$@"; }

# three connects each way, recorded as connectSudoMs and connectInstalledMs
privsep_rows() {
  local t0 c exec out
  privsep_up
  for _ in 1 2 3; do
    t0=$(ms_now)
    out=$(SUDO_USER=$puser SUDO_UID=$(id -u $puser) SUDO_GID=$(id -g $puser) node dist/bundle/cloudbridge.js connect $lab --config $phome/lab/config.yaml 2>&1) ||
      { echo "bench: connect through sudo: $out" >&2; exit 1; }
    c=$(( $(ms_now) - t0 ))
    cb_quiet disconnect $lab
    echo "  connect, docker off, through sudo (the helper; the controller as $puser): $c ms"
    extra+=("{\"round\":$round,\"connectSudoMs\":$c}")
  done
  exec=$(node dist/bundle/cloudbridge.js install-helper --print --group $pgroup | sed -n 's/^ExecStart=//p')
  $exec 2>"$dir/helper.log" &
  for _ in $(seq 100); do [ -S /run/cloudbridge/helper.sock ] && break; sleep 0.02; done
  for _ in 1 2 3; do
    t0=$(ms_now)
    out=$(as_user connect $lab --config $phome/lab/config.yaml 2>&1) || { echo "bench: connect with the installed helper: $out" >&2; exit 1; }
    c=$(( $(ms_now) - t0 ))
    as_user disconnect $lab >/dev/null 2>&1
    echo "  connect, docker off, installed helper (as $puser, no sudo): $c ms"
    extra+=("{\"round\":$round,\"connectInstalledMs\":$c}")
  done
  # the data path as the user: the same code on an fd the helper opened (against "cloudbridge mtu auto", root's)
  as_user connect $lab --config $phome/lab/config.yaml >/dev/null 2>&1
  remote=$(as_user status $lab --json | node -e 'console.log(JSON.parse(require("fs").readFileSync(0, "utf8"))[0].remote)')
  up=$(iperf "$remote" "$remote:5201" "")
  down=$(iperf "$remote" "$remote:5201" "-R")
  as_user disconnect $lab >/dev/null 2>&1
  printf '%-24s %8s %8s\n' "cloudbridge as user" "$up" "$down"
  rows+=("{\"round\":$round,\"name\":\"cloudbridge as user\",\"upMBps\":$up,\"downMBps\":$down}")
  privsep_down
}
