#!/usr/bin/env bash
# Installs Debian packages that are missing, idempotently: a fresh machine has
# nothing of this. Kept in one place so set-up, tests, CI and the guest build
# scripts agree.
#   scripts/deps.sh            what isola itself needs (and checks for cargo)
#   scripts/deps.sh PKG...     just these packages
set -euo pipefail
if [ $# -gt 0 ]; then
  pkgs=("$@")
else
  # busybox-static: the built-in image; procps: top; tini: --init; qemu/erofs/e2fs/cpio/file:
  # VM isolation (guest disks, the agent's initramfs); netavark/aardvark-dns/iptables: bridge
  # networks, published ports and DNS (iproute2 also gives tc for the VM NIC); bsdutils:
  # `script`, the pseudo-terminal of the attach tests.
  pkgs=(busybox-static procps iproute2 qemu-system-x86 erofs-utils e2fsprogs cpio file tini netavark aardvark-dns iptables bsdutils)
  command -v cargo >/dev/null || { echo "deps: cargo is missing: install Rust with rustup" >&2; exit 1; }
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
[ "$(id -u)" = 0 ] || { echo "deps: missing packages: ${missing[*]}; rerun as root or run: apt-get install ${missing[*]}" >&2; exit 1; }
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2 || { echo "deps: apt-get update failed; check the network and /etc/apt/sources.list" >&2; exit 1; }
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
  || { echo "deps: apt-get install ${missing[*]} failed" >&2; exit 1; }
