#!/usr/bin/env bash
# Build isola's guest kernel: a tiny Linux 6.1 `vmlinux` (ELF, PVH entry) for
# QEMU microvm, from Debian's linux-source-6.1 + guest/kernel.config.
#
#   guest/build-kernel.sh                # build (or reuse) and print the path
#   guest/build-kernel.sh --config-only  # stop after .config is verified
#
# Environment:
#   ISOLA_CACHE  cache root (default /var/cache/isola); results go to
#                $ISOLA_CACHE/kernel/:
#                  vmlinux-<key>          the kernel
#                  vmlinux-<key>.release  `make kernelrelease` (uname -r)
#                  vmlinux-<key>.config   the final .config
#                  vmlinux, vmlinux.release, vmlinux.config  -> newest build
#   ISOLA_NICE=1 run the build under `nice -n 19` (shared machines)
#   ISOLA_JOBS   make -j value (default: nproc)
#
# <key> = sha256(fragment + linux-source package version), so the kernel is
# rebuilt only when either changes; otherwise this is a no-op that prints the
# cached path. The only line on stdout is that path; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
fragment=$here/kernel.config
cache=${ISOLA_CACHE:-/var/cache/isola}
kdir=$cache/kernel
src_pkg=linux-source-6.1
tarball=/usr/src/$src_pkg.tar.xz
deps=("$src_pkg" build-essential bc flex bison libelf-dev libssl-dev cpio xz-utils)

die() { echo "build-kernel: error: $*" >&2; exit 1; }
log() { echo "build-kernel: $*" >&2; }

config_only=0
case ${1:-} in
  "") ;;
  --config-only) config_only=1 ;;
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument '$1' (usage: $0 [--config-only])" ;;
esac

[[ -r $fragment ]] || die "config fragment $fragment is missing; restore guest/kernel.config from git"

# --- 1. build dependencies -----------------------------------------------------
"$repo/scripts/deps.sh" "${deps[@]}" || die "could not install ${deps[*]}"
[[ -r $tarball ]] || die "$tarball not found although $src_pkg is installed; run: apt-get install --reinstall $src_pkg"

# --- 2. cache key and fast path -------------------------------------------------
src_ver=$(dpkg-query -W -f='${Version}' "$src_pkg")
key=$({ cat "$fragment"; printf '%s=%s\n' "$src_pkg" "$src_ver"; } | sha256sum | cut -c1-16)
out=$kdir/vmlinux-$key
build=$kdir/build-$key

if ! mkdir -p "$kdir" 2>/dev/null || [[ ! -w $kdir ]]; then
  die "cannot write $kdir; run as root or set ISOLA_CACHE to a writable directory"
fi

# Point the stable names (vmlinux, vmlinux.release, vmlinux.config) at $out.
link_current() {
  local suffix
  for suffix in "" .release .config; do
    ln -sfn "vmlinux-$key$suffix" "$kdir/.vmlinux$suffix.tmp"
    mv -Tf "$kdir/.vmlinux$suffix.tmp" "$kdir/vmlinux$suffix"
  done
}

cached() { [[ -s $out && -s $out.release && -s $out.config ]]; }

if ((!config_only)) && cached; then
  link_current
  log "up to date: kernel $(cat "$out.release") (key $key), nothing to do"
  echo "$out"
  exit 0
fi

# One build at a time per cache; re-check after waiting for the lock.
exec 9>"$kdir/.lock"
if ! flock -n 9; then
  log "another build holds $kdir/.lock; waiting"
  flock 9
fi
if ((!config_only)) && cached; then
  link_current
  echo "$out"
  exit 0
fi

nice_cmd=()
if [[ ${ISOLA_NICE:-0} == 1 ]]; then nice_cmd=(nice -n 19); fi
jobs=${ISOLA_JOBS:-$(nproc)}
# LOCALVERSION= (set but empty) keeps setlocalversion from appending "+"
# when the cache happens to live inside a git checkout.
mk=("${nice_cmd[@]}" make -C "$build" ARCH=x86_64 LOCALVERSION=)

start=$(date +%s)

# --- 3. source tree -------------------------------------------------------------
# Leftover trees of other keys are failed/interrupted builds: drop them.
for d in "$kdir"/build-*; do
  if [[ -d $d && $d != "$build" ]]; then
    log "removing stale $d"
    rm -rf "$d"
  fi
done
if [[ ! -e $build/.isola-unpacked ]]; then
  log "unpacking $tarball ($src_pkg $src_ver) into $build"
  rm -rf "$build"
  mkdir -p "$build"
  "${nice_cmd[@]}" tar -xJf "$tarball" -C "$build" --strip-components=1 \
    || die "unpacking $tarball failed (disk full?); free space under $kdir and rerun"
  touch "$build/.isola-unpacked"
else
  log "reusing source tree $build"
fi

# --- 4. configuration -------------------------------------------------------------
log "configuring: tinyconfig + $(basename "$fragment") + olddefconfig"
"${mk[@]}" -s tinyconfig >&2 || die "make tinyconfig failed; see output above"
(cd "$build" && ARCH=x86_64 scripts/kconfig/merge_config.sh -m -O "$build" .config "$fragment") \
  >"$build/merge_config.log" 2>&1 || die "merge_config.sh failed; see $build/merge_config.log"
"${mk[@]}" -s olddefconfig >&2 || die "make olddefconfig failed; see output above"

# Every option of the fragment must have survived olddefconfig (Kconfig
# silently drops options whose dependencies are unmet).
dropped=()
while IFS= read -r line; do
  case $line in
    CONFIG_*=*)
      grep -qxF -- "$line" "$build/.config" && continue
      sym=${line%%=*}
      now=$(grep -E "^(# )?${sym}[= ]" "$build/.config" || true)
      dropped+=("$line  (got: ${now:-absent, dependencies unmet})")
      ;;
    "# CONFIG_"*" is not set")
      sym=${line#\# }
      sym=${sym%% *}
      now=$(grep -E "^$sym=" "$build/.config" || true)
      [[ -z $now ]] || dropped+=("$line  (got: $now, forced by a select)")
      ;;
  esac
done <"$fragment"
if ((${#dropped[@]})); then
  printf 'build-kernel:   %s\n' "${dropped[@]}" >&2
  die "${#dropped[@]} option(s) of $fragment did not survive olddefconfig (listed above); add their missing dependencies to the fragment (see 'depends on' in the Kconfig files under $build)"
fi
log "all $(grep -cE '^(CONFIG_|# CONFIG_.* is not set)' "$fragment") fragment options present in .config"

if ((config_only)); then
  echo "$build/.config"
  exit 0
fi

# --- 5. build ------------------------------------------------------------------------
log "building vmlinux with -j$jobs${nice_cmd[*]:+ (${nice_cmd[*]})}; this takes 5-15 min"
"${mk[@]}" -j"$jobs" vmlinux >&2 || die "kernel build failed; see the compiler output above (tree kept at $build)"
release=$("${mk[@]}" -s kernelrelease)
[[ -n $release ]] || die "make kernelrelease printed nothing; inspect $build"

# --- 6. install -----------------------------------------------------------------------
# The release and config go first: a present vmlinux-<key> means complete.
echo "$release" >"$out.release"
cp "$build/.config" "$out.config"
cp "$build/vmlinux" "$out.tmp"
# Drop the symbol table (no debug info is built); PVH notes are kept.
strip --strip-all "$out.tmp"
mv -f "$out.tmp" "$out"
link_current
rm -rf "$build"

log "built kernel $release in $(( $(date +%s) - start ))s: $out ($(du -h "$out" | cut -f1))"
echo "$out"
