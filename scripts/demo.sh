#!/usr/bin/env bash
# The quick start: build the local lab (a "remote host" with sshd and dockerd
# in a network namespace), connect to it, and show docker answering through
# the tunnel.   sudo npm run demo        sudo npm run demo:down
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "demo: needs root: sudo npm run demo" >&2; exit 1; }
[ -x dist/src/cli/main.js ] || { echo "demo: not built yet: npm ci (or npm run build)" >&2; exit 1; }
# The lab, its key and its config are root's: cloudbridge acts for root here, not for the user
# who ran sudo (whose files it would read with their rights, and the lab's are not theirs).
cb() { env -u SUDO_USER -u SUDO_UID -u SUDO_GID node dist/src/cli/main.js "$@"; }
config=$(bash scripts/lab.sh config lab)

if [ "${1:-}" = down ]; then
  cb disconnect lab 2>/dev/null || true
  bash scripts/lab.sh down lab
  exit 0
fi

echo "== building the lab"
cb disconnect lab >/dev/null 2>&1 || true
bash scripts/lab.sh up lab
echo
# the lab's environment plus a SOCKS proxy (names resolved on the remote side)
demo_config=$(dirname "$config")/demo.yaml
sed '/^  lab-tcp:/,$d' "$config" >"$demo_config"
echo '    socks: { listen: [127.0.0.1:11080] }' >>"$demo_config"
config=$demo_config
# a web server in the "VPC", known by name only to the remote host's resolver
mkdir -p /run/cloudbridge-lab/lab/www && echo 'hello from the VPC' >/run/cloudbridge-lab/lab/www/index.html
command -v busybox >/dev/null && ip netns exec cb-lab-b busybox httpd -p 10.213.9.2:8080 -h /run/cloudbridge-lab/lab/www
echo "== sudo cloudbridge connect lab"
cb connect lab --config "$config" --verbose
echo
echo "== cloudbridge status"
cb status
echo
echo '== eval "$(cloudbridge env lab)"; docker ps; docker version'
eval "$(cb env lab --config "$config")"
echo "DOCKER_HOST=$DOCKER_HOST"
docker ps
docker version --format 'client {{.Client.Version}}, server {{.Server.Version}} (the lab dockerd, reached over SSH)'
echo
echo "== a host behind the remote one (10.213.9.2, no route back: remote NAT)"
ping -c 2 -i 0.2 10.213.9.2 | tail -2
if command -v busybox >/dev/null && command -v curl >/dev/null; then
  echo
  echo "== the same host by a name only the remote side knows, through SOCKS (socks5h)"
  echo '$ curl --proxy socks5h://127.0.0.1:11080 http://api.vpc.internal:8080/'
  curl -s -m 5 --proxy socks5h://127.0.0.1:11080 http://api.vpc.internal:8080/
fi
echo
echo "The tunnel stays up. Try:  sudo CLOUDBRIDGE_CONFIG=$config node dist/src/cli/main.js status"
echo "Take it all down:          sudo npm run demo:down"
