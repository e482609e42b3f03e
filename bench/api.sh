#!/usr/bin/env bash
# The Docker Engine API, side by side: the same docker CLI against isola's
# API (`isola system service`) and against a private dockerd, in one run.
#   run: `docker run --rm --network none busybox true`, ROUNDS times each, interleaved
#   ps:  `docker ps -a` with 200 containers (created, not started) on each
# Prints a Markdown table (medians, ratios).
#   bench/api.sh [ROUNDS]        (as root; ISOLA=path/to/isola, default target/release/isola)
# dockerd runs with its own data/exec roots and socket, --bridge=none and
# --iptables=false (no host networking is touched); everything started and
# the scratch directory are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-20}
isola=${ISOLA:-target/release/isola}
[ -x "$isola" ] || { echo "api bench: $isola is missing: cargo build --release -p isola-cli, or set ISOLA" >&2; exit 1; }
isola=$(readlink -f "$isola")
scripts/deps.sh docker.io busybox-static >/dev/null
work=$(mktemp -d /var/tmp/isola-apibench.XXXX)
service_pid= dockerd_pid=
cleanup() {
  if [ -n "$service_pid" ]; then kill "$service_pid" 2>/dev/null || true; wait "$service_pid" 2>/dev/null || true; fi
  if [ -n "$dockerd_pid" ]; then
    DOCKER_CONFIG=$work/dcfg docker -H "unix://$work/docker/sock" rm -f $(DOCKER_CONFIG=$work/dcfg docker -H "unix://$work/docker/sock" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
    kill "$dockerd_pid" 2>/dev/null || true
    wait "$dockerd_pid" 2>/dev/null || true
  fi
  "$isola" --root "$work/isola" rm -f $("$isola" --root "$work/isola" ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/dcfg" "$work/docker"
scripts/busybox-rootfs.sh "$work/rootfs" >/dev/null
export ISOLA_DEFAULT_NETWORK=none
"$isola" --root "$work/isola" import -c 'CMD ["sh"]' "$work/rootfs" busybox >/dev/null
"$isola" --root "$work/isola" save -o "$work/busybox.tar" busybox
"$isola" --root "$work/isola" system service "unix://$work/isola.sock" 2>"$work/service.log" &
service_pid=$!
dockerd --data-root "$work/docker/data" --exec-root "$work/docker/exec" --pidfile "$work/docker/pid" \
  -H "unix://$work/docker/sock" --bridge=none --iptables=false --ip-masq=false --userland-proxy=false \
  --containerd-namespace "apibench$$" --log-level=warn >"$work/docker/log" 2>&1 &
dockerd_pid=$!
is() { DOCKER_CONFIG=$work/dcfg docker -H "unix://$work/isola.sock" "$@"; }
dk() { DOCKER_CONFIG=$work/dcfg docker -H "unix://$work/docker/sock" "$@"; }
for _ in $(seq 300); do dk info >/dev/null 2>&1 && is info >/dev/null 2>&1 && break; sleep 0.1; done
dk load -q -i "$work/busybox.tar" >/dev/null
now() { date +%s%N; }
declare -A times
run() { # name command...
  local t0 t1; t0=$(now); "${@:2}" >/dev/null 2>&1 || { echo "$1 failed" >&2; exit 1; }; t1=$(now)
  times[$1]+="$(( (t1 - t0) / 1000000 )) "
}
# Warm-up (first runs pay for page cache and lazy set-up on both sides).
is run --rm --network none busybox true >/dev/null; dk run --rm --network none busybox true >/dev/null
for r in $(seq "$rounds"); do
  if ((r % 2)); then order=(is dk); else order=(dk is); fi
  for e in "${order[@]}"; do run "$e-run" "$e" run --rm --network none busybox true; done
done
for e in is dk; do
  for n in $(seq 200); do "$e" create --network none --name "c$n" busybox true >/dev/null; done
done
for r in $(seq "$rounds"); do
  for e in is dk; do run "$e-ps" "$e" ps -a; done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }'; }
ir=$(median <<<"${times[is-run]}") dr=$(median <<<"${times[dk-run]}")
ip=$(median <<<"${times[is-ps]}") dp=$(median <<<"${times[dk-ps]}")
echo "| case | isola API median (ms) | dockerd median (ms) | dockerd / isola |"
echo "|---|---|---|---|"
echo "| \`docker run --rm busybox true\` | $ir | $dr | $(ratio "$dr" "$ir")x |"
echo "| \`docker ps -a\`, 200 containers | $ip | $dp | $(ratio "$dp" "$ip")x |"
echo
echo "rounds: $rounds; isola: $isola; docker CLI $(docker version --format '{{.Client.Version}}' 2>/dev/null); dockerd $(dockerd --version | awk '{print $3}' | tr -d ,)"
echo "isola runs: ${times[is-run]}"
echo "dockerd runs: ${times[dk-run]}"
