#!/usr/bin/env bash
# Installs what isola needs on Debian 12, idempotently: a fresh machine has
# nothing of this. Kept in one place so set-up, tests and CI agree.
set -euo pipefail
# busybox-static: the built-in image; procps: top; qemu/erofs/e2fs/cpio/file:
# VM isolation (guest disks, the agent's initramfs).
pkgs=(busybox-static procps iproute2 qemu-system-x86 erofs-utils e2fsprogs cpio file)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "deps: cargo is missing: install Rust with rustup" >&2; exit 1; }
