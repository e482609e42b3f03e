#!/usr/bin/env bash
# Push and pull of a 100 MB, 4-layer image (bench/gen_image.py) against a local
# registry (Debian's docker-registry on 127.0.0.1, plain HTTP, fresh storage
# for each push): isola vs podman, docker (a private dockerd, no bridge, no
# iptables) and skopeo (push: docker-archive -> registry; pull: registry ->
# an oci: layout directory, skopeo has no image store), interleaved rounds,
# medians. Prints a Markdown table.
#   bench/registry.sh [ROUNDS]       (as root; ISOLA=path/to/isola)
set -euo pipefail
rounds=${1:-5}
isola=${ISOLA:-target/release/isola}
scripts/deps.sh docker-registry skopeo docker.io >/dev/null
work=$(mktemp -d /var/tmp/isola-regbench.XXXX)
registry_pid= dockerd_pid=
cleanup() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null || true
  if [ -n "$dockerd_pid" ]; then
    kill "$dockerd_pid" 2>/dev/null || true
    wait "$dockerd_pid" 2>/dev/null || true
    pkill -f "containerd.*$work" 2>/dev/null || true
  fi
  podman --root "$work/podman" --runroot "$work/podman-run" rmi -af >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
host=127.0.0.1:$port
ref=$host/bench/big:v1
start_registry() {
  [ -n "$registry_pid" ] && { kill "$registry_pid"; wait "$registry_pid" 2>/dev/null || true; }
  rm -rf "$work/data"
  printf 'version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' \
    "$work/data" "$host" > "$work/registry.yml"
  /usr/bin/docker-registry serve "$work/registry.yml" 2>/dev/null &
  registry_pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && return; sleep 0.05; done
  echo "registry did not start" >&2; exit 1
}
python3 bench/gen_image.py "$work/image.tar" --size-mb 100 --layers 4 --tag "$ref" >/dev/null
"$isola" --root "$work/isola-src" load -i "$work/image.tar" >/dev/null
pod() { podman --root "$work/podman" --runroot "$work/podman-run" --storage-driver overlay "$@"; }
pod load -q -i "$work/image.tar" >/dev/null
# A private dockerd (its own roots and socket; no bridge, no iptables rules).
mkdir -p "$work/docker"
dockerd --data-root "$work/docker/data" --exec-root "$work/docker/exec" --pidfile "$work/docker/pid" \
  -H "unix://$work/docker/sock" --bridge=none --iptables=false --ip-masq=false --userland-proxy=false \
  --containerd-namespace "regbench$$" >"$work/docker/log" 2>&1 &
dockerd_pid=$!
dk() { DOCKER_CONFIG=$work/docker docker -H "unix://$work/docker/sock" "$@"; }
for _ in $(seq 200); do dk info >/dev/null 2>&1 && break; sleep 0.1; done
dk load -q -i "$work/image.tar" >/dev/null
now() { date +%s%N; }
declare -A times
run() { # name command...
  local t0 t1; t0=$(now); "${@:2}" >/dev/null 2>&1 || { echo "$1 failed" >&2; exit 1; }; t1=$(now)
  times[$1]+="$(( (t1 - t0) / 1000000 )) "
}
for r in $(seq "$rounds"); do
  order=(isola podman docker skopeo)
  order=("${order[@]:$((r % 4))}" "${order[@]:0:$((r % 4))}")
  for e in "${order[@]}"; do
    start_registry
    case $e in
      isola) run isola-push "$isola" --root "$work/isola-src" push -q "$ref"
             rm -rf "$work/isola-dst"; run isola-pull "$isola" --root "$work/isola-dst" pull -q "$ref" ;;
      podman) run podman-push pod push -q --tls-verify=false "$ref"
              pod rmi -f "$ref" >/dev/null; run podman-pull pod pull -q --tls-verify=false "$ref" ;;
      docker) run docker-push dk push -q "$ref"
              dk rmi -f "$ref" >/dev/null; run docker-pull dk pull -q "$ref" ;;
      skopeo) run skopeo-push skopeo copy -q --dest-tls-verify=false "docker-archive:$work/image.tar" "docker://$ref"
              rm -rf "$work/skopeo-dst"; run skopeo-pull skopeo copy -q --src-tls-verify=false "docker://$ref" "oci:$work/skopeo-dst:x" ;;
    esac
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "| engine | push median (ms) | pull median (ms) | push runs | pull runs |"
echo "|---|---|---|---|---|"
for e in isola podman docker skopeo; do
  echo "| $e | $(median <<<"${times[$e-push]}") | $(median <<<"${times[$e-pull]}") | ${times[$e-push]}| ${times[$e-pull]}|"
done
