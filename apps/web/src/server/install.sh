#!/bin/sh
# Berth agent installer. Joins this server to a Berth control plane:
#   curl -fsSL URL/install.sh | sudo sh -s -- --token TOKEN [--url URL] [--name NAME] [--no-systemd] [--prefix DIR]
# Behind a self-signed certificate the dashboard adds --pinnedpubkey sha256//…, which curl checks.
# --no-systemd runs the agent in the foreground instead of installing a unit.
# --prefix DIR installs under DIR instead of / (the unit is written but not enabled).
set -eu

URL="__BERTH_DEFAULT_URL__"
TOKEN=""
NAME=""
PREFIX=""
SYSTEMD=1
PIN=""

die() { echo "berth install: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --url) [ $# -ge 2 ] || die "--url needs a value"; URL="$2"; shift 2 ;;
    --token) [ $# -ge 2 ] || die "--token needs a value"; TOKEN="$2"; shift 2 ;;
    --name) [ $# -ge 2 ] || die "--name needs a value"; NAME="$2"; shift 2 ;;
    --prefix) [ $# -ge 2 ] || die "--prefix needs a value"; PREFIX="$2"; shift 2 ;;
    --pinnedpubkey) [ $# -ge 2 ] || die "--pinnedpubkey needs a value"; PIN="$2"; shift 2 ;;
    --no-systemd) SYSTEMD=0; shift ;;
    -h|--help) sed -n '2,6p' "$0" 2>/dev/null; exit 0 ;;
    *) die "unknown option: $1" ;;
  esac
done

[ -n "$TOKEN" ] || die "--token is required (create one in the dashboard: Hosts > Add host)"
case "$TOKEN" in BERTH-1-*) ;; *) die "that is not a Berth join token" ;; esac
[ "$(id -u)" = "0" ] || die "run as root (the agent manages containers, networks and mounts)"
case "$PREFIX" in ""|/*) ;; *) die "--prefix must be an absolute path" ;; esac

# Debian packages the agent runs on; only the missing ones are installed.
PKGS="nodejs runc conmon tini python3 nftables iproute2 curl attr wireguard-go wireguard-tools"
MISSING=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || MISSING="$MISSING $p"
done
# A node from elsewhere (nodesource, nvm) is fine too.
if command -v node >/dev/null 2>&1; then MISSING=$(echo "$MISSING" | sed 's/\bnodejs\b//'); fi
if [ -n "$(echo "$MISSING" | tr -d ' ')" ]; then
  command -v apt-get >/dev/null 2>&1 || die "missing packages:$MISSING (and no apt-get to install them)"
  echo "berth install: installing$MISSING"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  apt-get install -y --no-install-recommends $MISSING || { apt-get update && apt-get install -y --no-install-recommends $MISSING; } || die "apt-get failed"
fi
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 18 ] || die "Node.js 18 or newer is required (found $(node --version))"

BIN_DIR="$PREFIX/opt/berth"
STATE_DIR="$PREFIX/var/lib/berth"
UNIT_DIR="$PREFIX/etc/systemd/system"
# The Docker Engine API socket (DOCKER_HOST=unix://$DOCKER_SOCKET); under the prefix with --prefix.
DOCKER_SOCKET="$PREFIX/run/berth/docker.sock"
mkdir -p "$BIN_DIR"
mkdir -p "$STATE_DIR"
chmod 700 "$STATE_DIR"

echo "berth install: fetching the agent from $URL"
# With a pin, trust exactly that public key instead of the CA chain (the agent then pins the certificate).
if [ -n "$PIN" ]; then
  curl -fsSLk --pinnedpubkey "$PIN" "$URL/agent/berth-agent.js" -o "$BIN_DIR/berth-agent.js.tmp" || die "could not download the agent from $URL (pinned key)"
else
  curl -fsSL "$URL/agent/berth-agent.js" -o "$BIN_DIR/berth-agent.js.tmp" || die "could not download the agent from $URL"
fi
mv "$BIN_DIR/berth-agent.js.tmp" "$BIN_DIR/berth-agent.js"
NODE=$(command -v node)

set -- join --url "$URL" --token "$TOKEN" --state-dir "$STATE_DIR" --no-run
[ -n "$NAME" ] && set -- "$@" --name "$NAME"
"$NODE" "$BIN_DIR/berth-agent.js" "$@" || die "join failed"

if [ "$SYSTEMD" = "0" ]; then
  echo "berth install: joined; running the agent in the foreground"
  exec "$NODE" "$BIN_DIR/berth-agent.js" run --state-dir "$STATE_DIR" --docker-socket "$DOCKER_SOCKET"
fi

mkdir -p "$UNIT_DIR"
cat > "$UNIT_DIR/berth-agent.service" <<UNIT
[Unit]
Description=Berth agent
After=network-online.target
Wants=network-online.target

[Service]
ExecStart=$NODE $BIN_DIR/berth-agent.js run --state-dir $STATE_DIR --docker-socket $DOCKER_SOCKET
Restart=always
RestartSec=2
# 78 (EX_CONFIG): the control plane refused this host's credential; restarting will not help.
RestartPreventExitStatus=78
KillMode=process
Delegate=yes

[Install]
WantedBy=multi-user.target
UNIT

if [ -z "$PREFIX" ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable --now berth-agent.service
  echo "berth install: berth-agent is running (journalctl -u berth-agent)"
else
  echo "berth install: unit written to $UNIT_DIR/berth-agent.service (not started: no systemd here, or --prefix was given)"
fi
