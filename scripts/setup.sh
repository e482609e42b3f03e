#!/usr/bin/env bash
# Sets up isola on a fresh Debian 12 machine (as root) and runs the main job:
# installs dependencies, builds the release binaries into /usr/local/bin,
# creates the built-in busybox image, then runs the seed demonstration in
# every isolation mode this host offers.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "setup: run as root" >&2; exit 1; }
scripts/deps.sh
cargo build --release -p isola-cli -p isola-oci-runtime
install -m 0755 target/release/isola /usr/local/bin/isola
# The OCI runtime for containerd, Kubernetes, dockerd and podman (README:
# "Kubernetes and containerd"); its VM mode is the same binary by name.
install -m 0755 target/release/isola-runtime /usr/local/bin/isola-runtime
ln -sf isola-runtime /usr/local/bin/isola-runtime-vm
# VM isolation: the guest kernel (cached by its config) and the agent's initramfs.
guest/build-kernel.sh >/dev/null
guest/build-initrd.sh >/dev/null
export ISOLA_ROOT=${ISOLA_ROOT:-/var/lib/isola}

if ! isola image inspect busybox >/dev/null 2>&1; then
  rootfs=$(mktemp -d)
  scripts/busybox-rootfs.sh "$rootfs"
  isola import -c 'CMD ["sh"]' "$rootfs" busybox
  rm -rf "$rootfs"
fi
isola images
echo
isola info
demo() {
  local mode=$1 name=demo-$1
  echo
  echo "== isolation=$mode: isola run -d --name $name --isolation=$mode busybox ping localhost"
  isola rm -f "$name" >/dev/null 2>&1 || true
  if ! isola run -d --name "$name" --isolation="$mode" busybox ping localhost >/dev/null; then
    echo "(isolation=$mode is not available on this host; see isola info)"
    return 0
  fi
  sleep 1
  echo "-- isola top $name"
  isola top "$name"
  local pid
  pid=$(isola inspect -f '{{.State.Pid}}' "$name")
  echo "-- isola inspect: .State.Pid=$pid .HostConfig.Isolation=$(isola inspect -f '{{.HostConfig.Isolation}}' "$name")"
  echo "-- host ps -p $pid"
  ps -p "$pid" -o pid,comm,args
  echo "-- isola exec $name ps (the container's own view)"
  isola exec "$name" ps
  echo "-- isola logs --tail 2 $name"
  isola logs --tail 2 "$name"
  isola rm -f "$name" >/dev/null
}
demo process
demo vm
