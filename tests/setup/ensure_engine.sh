#!/usr/bin/env bash
# Makes a Docker engine respond on the local socket: reuses one that already
# responds, otherwise installs docker.io (Debian) when dockerd is missing and
# starts it in the background. Safe to run any number of times.
set -euo pipefail

socket=/var/run/docker.sock

engine_answers() {
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

if engine_answers; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "No Docker engine answers and dockerd is not installed;" \
      "install Docker or run this script as root" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

log=${DOCKERD_LOG:-/tmp/dockerd.log}
nohup dockerd --host "unix://$socket" >"$log" 2>&1 &

for _ in $(seq 1 60); do
  if engine_answers; then
    exit 0
  fi
  sleep 1
done
echo "dockerd did not answer on $socket within 60 s; see $log" >&2
tail -n 20 "$log" >&2 || true
exit 1
