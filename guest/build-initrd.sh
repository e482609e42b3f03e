#!/usr/bin/env bash
# Build the base initramfs of isola's VMs: the statically linked guest
# agent (crates/agent) as /init, tini as /isola/tini (--init) and a
# /dev/console node, as a gzip'd newc
# cpio archive. The engine appends each container's /isola/config.json to
# it (isola_runtime_vm::write_initrd), so it is built once per agent build.
#
#   guest/build-initrd.sh        # build and print the path
#
# Environment:
#   ISOLA_CACHE         cache root (default /var/cache/isola); the result is
#                       $ISOLA_CACHE/agent/initrd.img, replaced atomically
#   ISOLA_AGENT_TARGET  the agent's target (default x86_64-unknown-linux-musl;
#                       x86_64-unknown-linux-gnu links glibc statically)
#
# The only line on stdout is the initramfs's path; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
cache=${ISOLA_CACHE:-/var/cache/isola}
out_dir=$cache/agent
out=$out_dir/initrd.img
target=${ISOLA_AGENT_TARGET:-x86_64-unknown-linux-musl}

die() { echo "build-initrd: error: $*" >&2; exit 1; }
log() { echo "build-initrd: $*" >&2; }

case ${1:-} in
  "") ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument '$1' (usage: $0)" ;;
esac

case $target in
  *-linux-gnu) flags="-C target-feature=+crt-static" ;;
  *-linux-musl)
    flags=""
    if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
      log "adding the Rust target $target"
      rustup target add "$target" >&2 || die "rustup target add $target failed"
    fi ;;
  *) die "unsupported ISOLA_AGENT_TARGET $target (use x86_64-unknown-linux-musl or -gnu)" ;;
esac
for tool in cpio gzip; do
  command -v "$tool" >/dev/null || die "$tool is missing; run: apt-get install $tool"
done

log "building isola-agent for $target"
# RUSTFLAGS only for this build: with --target it applies to the agent and
# not to build scripts.
(cd "$repo" && RUSTFLAGS="${RUSTFLAGS:-} $flags" \
  cargo build --release -p isola-agent --target "$target" >&2) \
  || die "cargo build of isola-agent failed (see above)"
agent=$repo/target/$target/release/isola-agent
if ! file -L "$agent" 2>/dev/null | grep -Eq 'statically linked|static-pie linked'; then
  die "$agent is not statically linked; it must run as /init with no libraries around"
fi

mkdir -p "$out_dir" || die "cannot create $out_dir (run as root or set ISOLA_CACHE)"
work=$(mktemp -d "$out_dir/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/dev"
if command -v strip >/dev/null; then
  strip -o "$root/init" "$agent"
else
  cp "$agent" "$root/init"
fi
chmod 0755 "$root/init"
# --init in VM mode: Debian's static tini at /isola/tini (isola_proto's
# GUEST_INIT), bound into the container like on the host.
tini=/usr/bin/tini-static
[[ -x $tini ]] || "$repo/scripts/deps.sh" tini || die "could not install tini"
mkdir -p "$root/isola"
cp "$tini" "$root/isola/tini"
chmod 0755 "$root/isola/tini"
# The kernel opens /dev/console for /init's stdio before devtmpfs exists;
# without the node (mknod needs root) the agent attaches the console itself.
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null \
  || log "not root: no /dev/console node (the agent copes)"
(cd "$root" && find . -print0 | LC_ALL=C sort -z \
  | cpio --null -o -H newc --owner 0:0 --reproducible --quiet) \
  | gzip -9n >"$work/initrd.img" || die "writing the cpio archive failed"
mv -f "$work/initrd.img" "$out"
log "$(stat -c %s "$out") bytes, agent $(stat -c %s "$root/init") bytes"
echo "$out"
