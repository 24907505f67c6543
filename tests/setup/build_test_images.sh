#!/usr/bin/env bash
# Builds the local image that tests, benchmarks and `deno task dev` run:
# iam-orchestrator-test/busybox:latest. No public registry is needed: the
# root file system is a static busybox plus the scripts in
# tests/images/busybox. Rebuilds only when those inputs change.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
source_dir="$here/../images/busybox"
image=iam-orchestrator-test/busybox:latest

busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || ! file_is_static=$(ldd "$busybox" 2>&1) ||
  [[ "$file_is_static" != *"not a dynamic executable"* ]]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static \
      >/dev/null
    busybox=/bin/busybox
  else
    echo "A static busybox is needed to build $image;" \
      "install busybox-static" >&2
    exit 1
  fi
fi

fingerprint=$(cat "$busybox" "$source_dir"/entrypoint.sh \
  "$source_dir"/scripts/* | sha256sum | cut -c1-16)
current=$(docker image inspect "$image" \
  --format '{{index .Config.Labels "fingerprint"}}' 2>/dev/null || true)
if [ "$current" = "$fingerprint" ]; then
  exit 0
fi

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs/bin" "$rootfs/scripts" "$rootfs/tmp"
chmod 1777 "$rootfs/tmp"
cp "$busybox" "$rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
done
cp "$source_dir/entrypoint.sh" "$rootfs/entrypoint.sh"
cp "$source_dir"/scripts/* "$rootfs/scripts/"
chmod 0755 "$rootfs/entrypoint.sh" "$rootfs"/scripts/*

tar -C "$rootfs" -c . | docker import \
  --change 'ENTRYPOINT ["/bin/sh", "/entrypoint.sh"]' \
  --change 'ENV PATH=/bin' \
  --change "LABEL fingerprint=$fingerprint" \
  - "$image" >/dev/null
echo "Built $image"
