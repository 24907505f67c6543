#!/usr/bin/env bash
# Stops or starts the local Docker engine for the engine restart tests.
#   stop   sends SIGTERM to the dockerd named in its pid file and waits for
#          it to exit. With live-restore off, it stops its containers first.
#   kill   sends SIGKILL instead, as in a crash of the engine. Its containers
#          go on until the next start of dockerd stops them.
#   start  starts dockerd on the local socket unless one responds, and waits
#          until it responds.
# Each wait is bounded: 60 s to stop, 60 s to respond.
set -euo pipefail

socket=/var/run/docker.sock
pid_file=/var/run/docker.pid
containerd_pid_file=/var/run/docker/containerd/containerd.pid
log=${DOCKERD_LOG:-/tmp/dockerd.log}

engine_responds() {
  docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

# Removes a pid file whose process is gone or a zombie.
remove_stale_pid_file() {
  local file=$1
  if [ -s "$file" ]; then
    local state
    state=$(ps -o stat= -p "$(cat "$file")" 2>/dev/null || true)
    if [ -z "$state" ] || [[ "$state" == Z* ]]; then
      rm -f "$file"
    fi
  fi
}

# Sends a signal to the dockerd of the pid file and waits until it is gone.
# A dockerd whose parent does not reap it stays a zombie, which counts as
# gone.
signal_engine() {
  local signal=$1
  if [ ! -s "$pid_file" ]; then
    echo "No dockerd pid in $pid_file; is the engine running?" >&2
    exit 1
  fi
  local pid
  pid=$(cat "$pid_file")
  kill "-$signal" "$pid"
  for _ in $(seq 1 600); do
    local state
    state=$(ps -o stat= -p "$pid" 2>/dev/null || true)
    if [ -z "$state" ] || [[ "$state" == Z* ]]; then
      return 0
    fi
    sleep 0.1
  done
  echo "dockerd $pid did not exit within 60 s of SIG$signal; see $log" >&2
  exit 1
}

case "${1:-}" in
stop)
  signal_engine TERM
  ;;
kill)
  signal_engine KILL
  ;;
start)
  if engine_responds; then
    exit 0
  fi
  # After a kill, dockerd and its containerd can stay zombies for a while
  # when their new parent is slow to reap them. dockerd refuses to start
  # while its pid file names a process that exists, and waits in vain for
  # a containerd whose pid file names one: both pid files are stale then.
  remove_stale_pid_file "$pid_file"
  remove_stale_pid_file "$containerd_pid_file"
  # A new session, so that signals to the test's process group spare it.
  setsid nohup dockerd --host "unix://$socket" >>"$log" 2>&1 </dev/null &
  for _ in $(seq 1 120); do
    if engine_responds; then
      exit 0
    fi
    sleep 0.5
  done
  echo "dockerd did not answer on $socket within 60 s; see $log" >&2
  tail -n 20 "$log" >&2 || true
  exit 1
  ;;
*)
  echo "Usage: engine_control.sh stop|kill|start" >&2
  exit 2
  ;;
esac
