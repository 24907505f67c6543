#!/usr/bin/env bash
# Serves a private registry with basic authentication on 127.0.0.1:5000 and
# pushes the test image into it as 127.0.0.1:5000/iam/busybox:1, so that
# tests can pull with registry credentials. The engine trusts 127.0.0.0/8
# over plain HTTP, so the registry needs no TLS.
#
# Safe to run again: it reuses a registry that already responds on the port,
# pushes again (a no-op for unchanged layers) and leaves the engine logged
# out, with no local copy of the pushed tag, so that every pull
# authenticates. Needs root for apt-get when a package is missing.
set -euo pipefail

address=127.0.0.1:5000
# Fixed test credentials, which tests/security/security_support.ts repeats.
user=iam-registry-user
password=marker-registry-5b8e2d
source_image=iam-orchestrator-test/busybox:latest
target_image=$address/iam/busybox:1
work_dir=${TMPDIR:-/tmp}/iam-orchestrator-registry

missing=()
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v htpasswd >/dev/null 2>&1 || missing+=(apache2-utils)
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" \
    >/dev/null
fi

# Prints the HTTP status of the registry's version check, or 000 when
# nothing responds. An authenticating registry returns 401.
registry_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
    "http://$address/v2/" || true
}

if [ "$(registry_status)" = 000 ]; then
  mkdir -p "$work_dir/storage"
  # The registry only accepts bcrypt entries.
  htpasswd -Bbn "$user" "$password" >"$work_dir/htpasswd"
  cat >"$work_dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work_dir/storage
auth:
  htpasswd:
    realm: iam-orchestrator-test
    path: $work_dir/htpasswd
http:
  addr: $address
EOF
  setsid docker-registry serve "$work_dir/config.yml" \
    >"$work_dir/registry.log" 2>&1 </dev/null &
  echo $! >"$work_dir/registry.pid"
  for _ in $(seq 1 100); do
    [ "$(registry_status)" != 000 ] && break
    sleep 0.1
  done
  if [ "$(registry_status)" = 000 ]; then
    echo "The registry did not answer on $address within 10 s;" \
      "see $work_dir/registry.log" >&2
    exit 1
  fi
fi

# docker login warns on standard error that it stores the credentials
# unencrypted, so its output is shown only when the login fails.
if ! output=$(echo "$password" | docker login "$address" --username "$user" \
  --password-stdin 2>&1); then
  echo "$output" >&2
  exit 1
fi
trap 'docker logout "$address" >/dev/null 2>&1 || true' EXIT
docker tag "$source_image" "$target_image"
docker push --quiet "$target_image" >/dev/null
docker logout "$address" >/dev/null
docker image rm "$target_image" >/dev/null
