#!/usr/bin/env bash
# isola benchmark suite: start latency, memory per container, density, image
# load and stream throughput, against runc, crun, gVisor (runsc), podman,
# docker and a bare QEMU boot, on ONE shared busybox root filesystem.
#
#   bench/run.sh            full run (installs missing peers from Debian), writes bench/RESULTS.md
#   bench/run.sh --smoke    tiny N, only what is installed, never installs, < 2 min (for CI)
#
# Options:
#   --smoke            quick mode (see above); prints the tables, writes no file unless --out
#   --no-install       full mode without installing docker.io/podman/runsc (missing = n/a)
#   --cases LIST       comma list of start,memory,density,load,stream,storage,vmboot,network (default: all)
#   --engines LIST     comma list of isola,runc,crun,runsc,podman,docker,qemu (default: all)
#   --out FILE         markdown report (default: bench/RESULTS.md in full mode)
#   --strict           exit 1 when an isola case failed (default: reported, exit 0)
# Environment:
#   ISOLA_BIN          isola binary (default: target/release/isola of this repo)
#   ISOLA_KERNEL       guest kernel for the QEMU floor (default /var/cache/isola/kernel/vmlinux)
#   BENCH_TMP          parent of the scratch directory (default /var/tmp)
#
# Must run as root. Everything it starts (containers, dockerd/containerd, the
# crun mount namespace, QEMU) and the scratch directory are removed on exit,
# also on failure or Ctrl-C. dockerd runs only while the suite runs, with its
# own data/exec roots, --bridge=none and --iptables=false; docker0 and the
# iptables rules are restored to what they were if anything changed them.
# Exit: 0 when the harness worked (a missing or failing peer is n/a),
# 1 harness failure (or an isola failure with --strict), 2 misuse.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
cmdline="bench/run.sh${*:+ $*}"

usage_error() { echo "bench: error: $*; see bench/run.sh --help" >&2; exit 2; }
die() { echo "bench: error: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

mode=full install=auto cases=start,memory,density,load,stream,storage,vmboot,network engines=isola,runc,crun,runsc,podman,docker,qemu
out="" strict=0
while (($#)); do
  case $1 in
    --smoke) mode=smoke ;;
    --install) install=yes ;;
    --no-install) install=no ;;
    --cases) (($# >= 2)) || usage_error "--cases needs a value"; cases=$2; shift ;;
    --cases=*) cases=${1#*=} ;;
    --engines) (($# >= 2)) || usage_error "--engines needs a value"; engines=$2; shift ;;
    --engines=*) engines=${1#*=} ;;
    --out) (($# >= 2)) || usage_error "--out needs a value"; out=$2; shift ;;
    --out=*) out=${1#*=} ;;
    --strict) strict=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
  shift
done
for c in ${cases//,/ }; do
  [[ $c =~ ^(start|memory|density|load|stream|storage|vmboot|network)$ ]] || usage_error "unknown case '$c' in --cases (start,memory,density,load,stream,storage,vmboot,network)"
done
for e in ${engines//,/ }; do
  [[ $e =~ ^(isola|runc|crun|runsc|podman|docker|qemu)$ ]] || usage_error "unknown engine '$e' in --engines (isola,runc,crun,runsc,podman,docker,qemu)"
done
[[ $mode == smoke && $install == yes ]] && usage_error "--smoke never installs packages; drop --install"
[[ $mode == smoke ]] && install=no
[[ $mode == full && -z $out ]] && out=$here/RESULTS.md
[[ -n $out && $out != /* ]] && out=$PWD/$out
[[ $(id -u) -eq 0 ]] || die "must run as root (containers, cgroups, mounts); try: sudo bench/run.sh"
[[ $(uname -s) == Linux ]] || die "Linux only"
want_case() { [[ ,$cases, == *,$1,* ]]; }
want_engine() { [[ ,$engines, == *,$1,* ]]; }

t_start=$(date +%s.%N)
python=$(command -v /usr/bin/python3 || command -v python3) || die "python3 is missing: apt-get install python3"
na=()       # "engine=reason" lines handed to the Python driver
isola_failed=""
note() { na+=("$1=$2"); log "n/a: $1: $2"; }

# ---------------------------------------------------------------- packages ---
pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
apt_updated=0
created_policy=0
apt_install() { # apt_install PKG...: 0 when installed
  local missing=() p
  for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
  ((${#missing[@]})) || return 0
  command -v apt-get >/dev/null || return 1
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    # Keep package scripts from starting docker/containerd with their defaults
    # (docker0, iptables): the suite starts its own dockerd only for its cases.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d && created_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ((!apt_updated)); then
    log "apt-get update"
    apt-get update -qq >"$work/apt.log" 2>&1 || { log "apt-get update failed (see $work/apt.log)"; }
    apt_updated=1
  fi
  log "installing ${missing[*]} (apt)"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$work/apt.log" 2>&1
}

# ------------------------------------------------------------------ cleanup ---
work="" iroot="" dockerd_pid="" crun_holder="" docker0_before=0 ipt_before=""
docker_cli="" podman_flags=()

# Paths that engines create outside their private roots (cgroup parents,
# containerd's shim socket dir, podman's blob-info cache): those that do not
# exist now are removed again at the end.
new_paths=()
for p in /sys/fs/cgroup/*/; do
  for n in docker libpod_parent; do [[ -e $p$n ]] || new_paths+=("$p$n"); done
done
for p in /run/containerd /run/docker /run/libpod /run/containers /var/lib/containers /var/lib/docker \
  /var/lib/containerd /var/lib/cni /var/run/runsc; do
  [[ -e $p ]] || new_paths+=("$p")
done
remove_new_paths() {
  local p try
  for p in "${new_paths[@]}"; do
    [[ -e $p ]] || continue
    case $p in
      /sys/fs/cgroup/*)
        for try in $(seq 30); do # tasks that just exited may still hold a cgroup
          find "$p" -depth -type d -exec rmdir {} \; 2>/dev/null
          [[ -e $p ]] || break
          sleep 0.1
        done ;;
      *) rm -rf --one-file-system "$p" ;;
    esac
    [[ -e $p ]] && log "could not remove $p (left by an engine)"
  done
  return 0
}
isola=${ISOLA_BIN:-$repo/target/release/isola}

kill_wait() { # kill_wait PID...: TERM, then KILL after 15 s
  local p i
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for i in $(seq 150); do
    local alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || return 0
    sleep 0.1
  done
  for p in "$@"; do kill -KILL "$p" 2>/dev/null || true; done
}

# PIDs whose command line contains all the given words.
pids_with() {
  local d pid cmd w ok
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
    cmd=$(tr '\0' ' ' 2>/dev/null <"$d/cmdline") || continue
    ok=1
    for w in "$@"; do [[ $cmd == *"$w"* ]] || { ok=0; break; }; done
    ((ok)) && echo "$pid"
  done
  return 0
}

unmount_under() { # unmount everything mounted below $1, deepest first
  local m
  awk -v p="$1/" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
}

cleanup() {
  local rc=$? p ids id
  trap - EXIT INT TERM HUP
  set +e
  [[ -n $work && -d $work ]] || { ((created_policy)) && rm -f /usr/sbin/policy-rc.d; exit "$rc"; }
  log "cleaning up"
  # isola: containers of the private root, then any monitor left behind.
  if [[ -x $isola && -n $iroot && -d $iroot ]]; then
    ids=$(timeout 60 "$isola" --root "$iroot" ps -aq 2>/dev/null)
    [[ -n $ids ]] && timeout 120 "$isola" --root "$iroot" rm -f $ids >/dev/null 2>&1
  fi
  p=$(pids_with __monitor "$work/"); [[ -n $p ]] && kill_wait $p
  if [[ -n $iroot ]]; then
    p=$(pids_with __monitor "$iroot"); [[ -n $p ]] && kill_wait $p
    p=$(pids_with qemu-system "$iroot/"); [[ -n $p ]] && kill_wait $p
  fi
  # runc / crun / runsc: containers of their private state roots.
  if [[ -d $work/runc-state ]]; then
    for id in $(runc --root "$work/runc-state" list -q 2>/dev/null); do runc --root "$work/runc-state" delete -f "$id" >/dev/null 2>&1; done
  fi
  if [[ -d $work/crun-state && -n $crun_holder ]] && kill -0 "$crun_holder" 2>/dev/null; then
    for id in $(nsenter --mount=/proc/$crun_holder/ns/mnt crun --root "$work/crun-state" list -q 2>/dev/null); do
      nsenter --mount=/proc/$crun_holder/ns/mnt crun --root "$work/crun-state" delete -f "$id" >/dev/null 2>&1
    done
  fi
  if [[ -d $work/runsc-state ]]; then
    for id in $(runsc --root "$work/runsc-state" list -q 2>/dev/null); do runsc --root "$work/runsc-state" delete -force "$id" >/dev/null 2>&1; done
    p=$(pids_with runsc "--root=$work/runsc-state"); [[ -n $p ]] && kill_wait $p
  fi
  [[ -n $crun_holder ]] && kill_wait "$crun_holder"
  # podman: private storage and run roots.
  if ((${#podman_flags[@]})); then
    timeout 120 podman "${podman_flags[@]}" rm -af -t 0 >/dev/null 2>&1
    timeout 60 podman "${podman_flags[@]}" rmi -af >/dev/null 2>&1
    p=$(pids_with conmon "$work/podman"); [[ -n $p ]] && kill_wait $p
  fi
  # docker: our daemon, its containerd and shims, docker0, iptables.
  if [[ -n $dockerd_pid ]]; then
    if kill -0 "$dockerd_pid" 2>/dev/null; then
      ids=$(timeout 30 $docker_cli ps -aq 2>/dev/null)
      [[ -n $ids ]] && timeout 120 $docker_cli rm -f $ids >/dev/null 2>&1
      kill_wait "$dockerd_pid"
    fi
    p=$(pids_with containerd "$work/docker"); [[ -n $p ]] && kill_wait $p
    if ((!docker0_before)) && ip link show docker0 >/dev/null 2>&1; then
      ip link del docker0 && log "removed docker0"
    fi
  fi
  # Any engine may have changed the host's firewall (podman with netavark
  # adds its base chains even for `--network none`): restore it.
  if [[ -n $ipt_before ]] && command -v iptables-save >/dev/null; then
    if [[ $(iptables-save | grep -v '^[#:]') != "$(grep -v '^[#:]' "$ipt_before")" ]] \
      || [[ $(iptables-save | grep '^:' | cut -d' ' -f1-2) != "$(grep '^:' "$ipt_before" | cut -d' ' -f1-2)" ]]; then
      iptables-restore <"$ipt_before" && log "restored iptables rules and policies"
    fi
  fi
  # leftover cgroups of isola containers that were recorded by the driver
  if [[ -s $work/isola-ids ]]; then
    while read -r id; do
      for p in /sys/fs/cgroup/*/isola/"$id" /sys/fs/cgroup/isola/"$id"; do
        [[ -d $p ]] && rmdir "$p" 2>/dev/null
      done
    done <"$work/isola-ids"
  fi
  remove_new_paths
  if [[ -n $iroot && -d $iroot ]]; then
    unmount_under "$iroot"
    awk -v p="$iroot/" 'index($5, p) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo \
      && log "mounts remain below $iroot; leaving it in place" || rm -rf --one-file-system "$iroot"
  fi
  unmount_under "$work"
  if awk -v p="$work/" 'index($5, p) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
    log "mounts remain below $work; leaving it in place"
  else
    rm -rf --one-file-system "$work"
  fi
  ((created_policy)) && rm -f /usr/sbin/policy-rc.d
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

work=$(mktemp -d "${BENCH_TMP:-/var/tmp}/isola-bench.XXXXXX")
if command -v iptables-save >/dev/null; then
  ipt_before=$work/iptables.before
  iptables-save >"$ipt_before" 2>/dev/null || ipt_before=""
fi
chmod 755 "$work"
log "mode $mode; scratch $work"

# -------------------------------------------------------- base requirements ---
if [[ $mode == full && $install != no ]]; then
  apt_install busybox-static cpio gzip procps iproute2 qemu-system-x86 iperf3 || log "installing base tools failed (see $work/apt.log)"
fi
pkg_installed busybox-static || die "busybox-static is needed for the shared root filesystem: apt-get install busybox-static"

if [[ -x $isola ]]; then
  :
elif [[ $mode == full ]] && want_engine isola; then
  die "no isola binary at $isola: build it with 'cargo build --release -p isola-cli' (or set ISOLA_BIN)"
else
  note isola "no binary at $isola (cargo build --release -p isola-cli)"
fi

# Peers from Debian's packages: installed on demand in full mode only.
declare -A peer_pkg=([runsc]=runsc [podman]=podman [docker]=docker.io)
for e in runsc podman docker; do
  want_engine "$e" || continue
  if ! pkg_installed "${peer_pkg[$e]}"; then
    if [[ $install == no ]]; then
      note "$e" "not installed (apt package ${peer_pkg[$e]}; full mode installs it)"
      continue
    fi
    if ! apt_install "${peer_pkg[$e]}"; then
      note "$e" "apt-get install ${peer_pkg[$e]} failed"
      continue
    fi
  fi
done

# --------------------------------------------------------- shared rootfs ---
log "building the shared busybox root filesystem"
"$repo/scripts/busybox-rootfs.sh" "$work/rootfs"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .

# One OCI bundle per command, all pointing at the same rootfs (runc spec
# defaults: read-only root, pid/net/ipc/uts/mount namespaces, no seccomp).
if command -v runc >/dev/null; then
  mkdir -p "$work/spec" && (cd "$work/spec" && runc spec)
  for b in true:true sleep:sleep,600 cat:cat; do
    name=${b%%:*} args=${b#*:}
    mkdir -p "$work/bundle-$name"
    "$python" - "$work/spec/config.json" "$work/bundle-$name/config.json" "$work/rootfs" "$args" <<'PY'
import json, sys
src, dst, rootfs, args = sys.argv[1:]
spec = json.load(open(src))
spec["process"]["terminal"] = False
spec["process"]["args"] = args.split(",")
spec["root"]["path"] = rootfs
json.dump(spec, open(dst, "w"), indent=1)
PY
  done
  mkdir -p "$work/runc-state"
elif want_engine runc || want_engine crun || want_engine runsc; then
  note runc "runc not installed (its 'runc spec' also makes the crun/runsc bundles)"
  note crun "no OCI bundle: runc (for 'runc spec') is not installed"
  note runsc "no OCI bundle: runc (for 'runc spec') is not installed"
fi

# crun refuses this host's hybrid cgroup layout: it runs in a private mount
# namespace where the cgroup2 'unified' mount is gone (v1 only).
if want_engine crun && command -v crun >/dev/null && [[ -d $work/bundle-true ]]; then
  mkdir -p "$work/crun-state"
  if findmnt -n /sys/fs/cgroup/unified >/dev/null 2>&1; then
    # setsid: a Ctrl-C in the terminal must not kill it before the cleanup ran.
    setsid unshare -m --propagation private sh -c \
      "umount /sys/fs/cgroup/unified && touch '$work/crun-ns-ready'; exec sleep 1000000" </dev/null >/dev/null 2>&1 &
    crun_holder=$!
    for _ in $(seq 50); do [[ -e $work/crun-ns-ready ]] && break; sleep 0.1; done
    if [[ -e $work/crun-ns-ready ]]; then
      log "crun runs in a private mount namespace without /sys/fs/cgroup/unified (hybrid cgroups unsupported by crun)"
    else
      note crun "could not prepare its private mount namespace"
      kill_wait "$crun_holder"; crun_holder=""
    fi
  else
    setsid unshare -m --propagation private sleep 1000000 </dev/null >/dev/null 2>&1 &
    crun_holder=$!
  fi
elif want_engine crun && ! command -v crun >/dev/null; then
  note crun "not installed (apt package crun)"
fi
want_engine runsc && ! command -v runsc >/dev/null && [[ ! " ${na[*]} " == *" runsc="* ]] && note runsc "not installed"
[[ -d $work/bundle-true ]] && mkdir -p "$work/runsc-state"

# ----------------------------------------------------- QEMU boot floor ---
kernel=${ISOLA_KERNEL:-/var/cache/isola/kernel/vmlinux}
if want_engine qemu && want_case start; then
  if ! command -v qemu-system-x86_64 >/dev/null; then
    note qemu "qemu-system-x86_64 not installed (apt package qemu-system-x86)"
  elif [[ ! -s $kernel ]]; then
    note qemu "no guest kernel at $kernel (guest/build-kernel.sh)"
  elif ! command -v cpio >/dev/null; then
    note qemu "cpio not installed"
  else
    ir=$work/initramfs
    mkdir -p "$ir"/{bin,dev,proc,sys}
    cp /bin/busybox "$ir/bin/busybox"
    mknod -m 600 "$ir/dev/console" c 5 1 2>/dev/null || true
    printf '#!/bin/busybox sh\n/bin/busybox reboot -f\n' >"$ir/init"
    chmod 755 "$ir/init"
    (cd "$ir" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$work/initrd.gz"
  fi
fi

# ------------------------------------------------------------------ isola ---
if [[ -x $isola ]] && want_engine isola; then
  # A private root of its own, removed with the scratch data at exit.
  iroot=$(mktemp -d "${BENCH_TMP:-/var/tmp}/i.XXXX")
  log "importing the rootfs into isola (root $iroot)"
  if ! "$isola" --root "$iroot" import -c 'CMD ["sh"]' "$work/rootfs" busybox >/dev/null 2>"$work/isola-import.log"; then
    isola_failed="import of the shared rootfs failed: $(head -n 1 "$work/isola-import.log")"
    note isola "FAILED: $isola_failed"
  fi
fi

# ----------------------------------------------------------------- podman ---
if want_engine podman && command -v podman >/dev/null && [[ ! " ${na[*]} " == *" podman="* ]]; then
  mkdir -p "$work/podman"/{root,run,tmp}
  # crun (podman's default runtime) refuses hybrid cgroups here: use runc.
  podman_flags=(--root "$work/podman/root" --runroot "$work/podman/run" --tmpdir "$work/podman/tmp"
    --cgroup-manager=cgroupfs --events-backend=file --runtime=runc)
  if ! podman "${podman_flags[@]}" import -q - isola-bench/busybox <"$work/rootfs.tar" >"$work/podman.log" 2>&1; then
    note podman "podman import failed: $(head -n 1 "$work/podman.log")"
    podman_flags=()
  fi
fi

# ----------------------------------------------------------------- docker ---
if want_engine docker && command -v dockerd >/dev/null && [[ ! " ${na[*]} " == *" docker="* ]]; then
  ip link show docker0 >/dev/null 2>&1 && docker0_before=1
  mkdir -p "$work/docker"
  sock=$work/docker/docker.sock
  docker_bin=/usr/bin/docker; [[ -x $docker_bin ]] || docker_bin=$(command -v docker)
  docker_cli="$docker_bin -H unix://$sock"
  log "starting dockerd (private data/exec roots, --bridge=none, --iptables=false)"
  setsid dockerd --data-root "$work/docker/data" --exec-root "$work/docker/exec" --pidfile "$work/docker/dockerd.pid" \
    -H "unix://$sock" --bridge=none --iptables=false --ip-masq=false --userland-proxy=false \
    --log-level=warn </dev/null >"$work/docker/dockerd.log" 2>&1 &
  dockerd_pid=$!
  up=0
  for _ in $(seq 300); do
    kill -0 "$dockerd_pid" 2>/dev/null || break
    $docker_cli version >/dev/null 2>&1 && { up=1; break; }
    sleep 0.1
  done
  [[ -s $work/docker/dockerd.pid ]] && dockerd_pid=$(cat "$work/docker/dockerd.pid")
  if ((!up)); then
    note docker "dockerd did not start: $(tail -n 1 "$work/docker/dockerd.log")"
  elif ! $docker_cli import - isola-bench/busybox <"$work/rootfs.tar" >/dev/null 2>"$work/docker/import.log"; then
    note docker "docker import failed: $(head -n 1 "$work/docker/import.log")"
  fi
elif want_engine docker && ! command -v dockerd >/dev/null && [[ ! " ${na[*]} " == *" docker="* ]]; then
  note docker "dockerd not installed (apt package docker.io)"
fi

# ----------------------------------------------------------------- driver ---
export BENCH_MODE=$mode BENCH_WORK=$work BENCH_CASES=$cases BENCH_ENGINES=$engines
export BENCH_OUT=$out BENCH_STRICT=$strict BENCH_COMMAND=$cmdline BENCH_T0=$t_start BENCH_REPO=$repo
# isola containers get loopback only, like the peers' `--network none` (the
# default bridge would add NAT rules to this host's network namespace).
export ISOLA_DEFAULT_NETWORK=none
export BENCH_ISOLA=$isola BENCH_ISOLA_ROOT=$iroot BENCH_ISOLA_FAILED=$isola_failed BENCH_KERNEL=$kernel BENCH_CRUN_NS=$crun_holder
export BENCH_DOCKER="$docker_cli" BENCH_DOCKERD_PID=$dockerd_pid
BENCH_PODMAN=$(printf '%s\n' "${podman_flags[@]}")
export BENCH_PODMAN
BENCH_NA=$(printf '%s\n' "${na[@]}")
export BENCH_NA
"$python" "$here/bench.py"
