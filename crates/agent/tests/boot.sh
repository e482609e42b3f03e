#!/usr/bin/env bash
# Builds the agent's base initramfs (guest/build-initrd.sh) and runs the
# QEMU boot tests in crates/agent/tests/boot.rs, one VM at a time (root,
# qemu-system-x86, the guest kernel from guest/build-kernel.sh,
# busybox-static, cpio, e2fsprogs, erofs-utils).
#
#   crates/agent/tests/boot.sh [extra test args, e.g. a test name]
#
# ISOLA_AGENT_TARGET picks the agent's libc (see guest/build-initrd.sh). The
# initramfs goes to a scratch cache unless ISOLA_CACHE is set, so a test run
# does not replace the one the engine uses.
set -euo pipefail
cd "$(dirname "$0")/../../.."
if [[ -z ${ISOLA_CACHE:-} ]]; then
  ISOLA_CACHE=$PWD/target/boot-test-cache
fi
initrd=$(ISOLA_CACHE=$ISOLA_CACHE guest/build-initrd.sh)
ISOLA_INITRD=$initrd exec cargo test -p isola-agent --test boot -- \
  --ignored --test-threads=1 --nocapture "$@"
