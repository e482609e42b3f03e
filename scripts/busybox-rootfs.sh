#!/usr/bin/env bash
# Builds the root filesystem of the built-in `busybox` image from Debian's
# busybox-static: one static binary, a symlink per applet, minimal /etc.
# Usage: scripts/busybox-rootfs.sh OUTDIR
set -euo pipefail
out=${1:?usage: $0 OUTDIR}
bb=/bin/busybox
if ! "$bb" --list >/dev/null 2>&1; then
  echo "busybox-rootfs: $bb is missing or not busybox: apt-get install busybox-static" >&2
  exit 1
fi
rm -rf "$out"
mkdir -p "$out"/{bin,etc,tmp,root,proc,sys,dev,home,var/tmp}
chmod 1777 "$out/tmp" "$out/var/tmp"
chmod 700 "$out/root"
cp "$bb" "$out/bin/busybox"
for applet in $("$bb" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$out/bin/$applet"
done
cat > "$out/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat > "$out/etc/group" <<'G'
root:x:0:
daemon:x:1:
tty:x:5:
nogroup:x:65534:
G
