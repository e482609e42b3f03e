#!/usr/bin/env bash
# Builds the static guest agent and runs the QEMU boot tests in
# crates/agent/tests/boot.rs (root, qemu-system-x86, the guest kernel from
# guest/build-kernel.sh, busybox-static, cpio, e2fsprogs, erofs-utils).
#
#   crates/agent/tests/boot.sh [extra cargo test args, e.g. a test name]
#
# ISOLA_AGENT_TARGET picks the libc: x86_64-unknown-linux-gnu (default,
# glibc with crt-static) or x86_64-unknown-linux-musl.
set -euo pipefail
cd "$(dirname "$0")/../../.."
target=${ISOLA_AGENT_TARGET:-x86_64-unknown-linux-gnu}
case $target in
  *-linux-gnu) flags="-C target-feature=+crt-static" ;;
  *-linux-musl) flags=""; rustup target list --installed | grep -qx "$target" || rustup target add "$target" ;;
  *) echo "boot.sh: unsupported ISOLA_AGENT_TARGET $target" >&2; exit 2 ;;
esac
# RUSTFLAGS only for this build: with --target it applies to the agent and
# not to build scripts, and the host build below keeps its own flags.
RUSTFLAGS="${RUSTFLAGS:-} $flags" cargo build --release -p isola-agent --target "$target"
agent=$PWD/target/$target/release/isola-agent
file "$agent" | grep -Eq 'statically linked|static-pie linked' \
  || { echo "boot.sh: $agent is not static" >&2; exit 1; }
ISOLA_AGENT=$agent exec cargo test -p isola-agent --test boot -- --ignored --test-threads=1 --nocapture "$@"
