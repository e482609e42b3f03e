#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine (as root): installs
# what the tests need, checks formatting and lints, builds the binary and
# runs unit and end-to-end tests. `.ci/run` calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "test: run as root (containers need namespaces and cgroups)" >&2; exit 1; }
scripts/deps.sh
# isola-runtime's clients and peers (tests/oci_runtime.rs, tests/oci_conformance.rs).
scripts/deps.sh containerd runc crun podman conmon docker.io
# The Engine API's real clients besides the docker CLI (tests/api.rs).
scripts/deps.sh docker-compose python3-docker
# VM isolation's guest kernel (cached; ~7-13 min on a fresh 2-core machine)
# and the agent's initramfs.
guest/build-kernel.sh >/dev/null
guest/build-initrd.sh >/dev/null
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build -p isola-cli -p isola-oci-runtime
# Tests that make bridges, addresses or forwarding rules run in network
# namespaces of their own; nothing may touch the machine's firewall. The
# rule set is compared before and after, so a test that does fails here.
firewall() { { iptables-save; ip6tables-save; } 2>/dev/null | grep -v '^#' | sed 's/ \[[0-9]*:[0-9]*\]//' | sort; }
firewall_before=$(firewall)
cargo test --workspace -- --test-threads="${ISOLA_TEST_THREADS:-4}"
# The guest agent's boot tests: real VMs driven at the protocol level, one
# at a time (they are #[ignore]d in the parallel run above).
crates/agent/tests/boot.sh
# The benchmark harness still runs (tiny N, installed engines only).
bench/run.sh --smoke
firewall_after=$(firewall)
if [ "$firewall_before" != "$firewall_after" ]; then
  echo "test: the tests changed the machine's own firewall rules (they must use private network namespaces):" >&2
  diff <(echo "$firewall_before") <(echo "$firewall_after") >&2 || true
  exit 1
fi
