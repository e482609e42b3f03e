#!/usr/bin/env bash
# Boot smoke test for isola's guest kernel (see guest/build-kernel.sh).
#
#   guest/boot-smoke.sh [VMLINUX]
#
# Builds a throwaway busybox initramfs and boots it twice in a QEMU microvm
# under TCG:
#   1. /init prints `uname -r`, pings 127.0.0.1 over loopback, checks the
#      filesystems, cgroup v2 controllers, overlayfs-on-tmpfs, devpts and a
#      virtio-serial port to the host, then `reboot -f` (QEMU exits thanks to
#      -no-reboot). Passes only if every check reported ok.
#   2. an init that exits: the guest panics ("Attempted to kill init") and
#      QEMU must end by itself (panic=-1 + -no-reboot) before the timeout.
#
# VMLINUX defaults to $ISOLA_KERNEL, else ${ISOLA_CACHE:-/var/cache/isola}/kernel/vmlinux.
# ISOLA_SMOKE_TIMEOUT (default 60) bounds each boot, in seconds.
# Exit 0 only when both cases pass.
set -euo pipefail

die() { echo "boot-smoke: error: $*" >&2; exit 1; }
log() { echo "boot-smoke: $*" >&2; }

kernel=${1:-${ISOLA_KERNEL:-${ISOLA_CACHE:-/var/cache/isola}/kernel/vmlinux}}
timeout_s=${ISOLA_SMOKE_TIMEOUT:-60}
qemu_bin=qemu-system-x86_64
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
deps=(busybox-static qemu-system-x86 cpio gzip coreutils)

[[ -s $kernel ]] || die "no kernel at $kernel; build it with guest/build-kernel.sh (or pass its path)"
[[ $timeout_s =~ ^[0-9]+$ ]] || die "ISOLA_SMOKE_TIMEOUT must be a number of seconds, got '$timeout_s'"

"$repo/scripts/deps.sh" "${deps[@]}" || die "could not install ${deps[*]}"
busybox=$(command -v busybox) || die "busybox not on PATH although busybox-static is installed; run: apt-get install --reinstall busybox-static"
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' \
  || ldd "$busybox" 2>&1 | grep -q 'not a dynamic executable' \
  || die "$busybox is dynamically linked; run: apt-get install busybox-static"

# Expected release: the file that build-kernel.sh installs beside the kernel.
expected=""
if [[ -r $kernel.release ]]; then
  expected=$(cat "$kernel.release")
elif [[ -r $(readlink -f "$kernel").release ]]; then
  expected=$(cat "$(readlink -f "$kernel").release")
fi

work=$(mktemp -d /tmp/isola-boot-smoke.XXXXXX)
keep_work=0
cleanup() { if ((keep_work)); then log "logs kept in $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT

# --- initramfs ------------------------------------------------------------------------
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys}
cp "$busybox" "$root/bin/busybox"
# The kernel opens /dev/console for init before anything is mounted.
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true

cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox --install -s /bin
export PATH=/bin

echo "SMOKE-RELEASE=$(uname -r)"

ip link set lo up
if ping -c 1 -W 5 127.0.0.1; then echo SMOKE-PING=ok; else echo SMOKE-PING=fail; fi

fs=""
for f in ext4 erofs overlay tmpfs devtmpfs; do
  grep -qw "$f" /proc/filesystems && fs="$fs $f"
done
echo "SMOKE-FS=${fs# }"

mkdir -p /sys/fs/cgroup
if mount -t cgroup2 cgroup2 /sys/fs/cgroup; then
  echo "SMOKE-CGROUP=$(cat /sys/fs/cgroup/cgroup.controllers)"
else
  echo SMOKE-CGROUP=mount-failed
fi

# overlayfs with a tmpfs upper: replacing a lower dir needs an opaque dir
# (trusted.* xattr on tmpfs), deleting a lower file needs a whiteout.
mkdir -p /ov && mount -t tmpfs tmpfs /ov &&
  mkdir -p /ov/l/d /ov/u /ov/w /ov/m && echo x >/ov/l/d/f && echo y >/ov/l/g &&
  mount -t overlay overlay -o lowerdir=/ov/l,upperdir=/ov/u,workdir=/ov/w /ov/m &&
  rm -rf /ov/m/d && mkdir /ov/m/d && rm /ov/m/g &&
  [ ! -e /ov/m/d/f ] && [ ! -e /ov/m/g ] && [ -c /ov/u/g ] &&
  echo SMOKE-OVERLAY=ok || echo SMOKE-OVERLAY=fail

mkdir -p /dev/pts
if mount -t devpts devpts /dev/pts && [ -c /dev/ptmx ]; then echo SMOKE-DEVPTS=ok; else echo SMOKE-DEVPTS=fail; fi

# virtio-serial port named org.isola.smoke -> host file
port=""
for d in /sys/class/virtio-ports/*; do
  [ "$(cat "$d/name" 2>/dev/null)" = org.isola.smoke ] && port=/dev/${d##*/}
done
if [ -n "$port" ] && echo "hello from $(uname -r)" >"$port"; then echo SMOKE-VPORT=ok; else echo SMOKE-VPORT=fail; fi

echo SMOKE-DONE
reboot -f
EOF

cat >"$root/panic-init" <<'EOF'
#!/bin/busybox sh
echo SMOKE-PANIC-INIT
exit 3
EOF
chmod 755 "$root/init" "$root/panic-init"

initrd=$work/initrd.gz
(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet) | gzip -1 >"$initrd"

# --- boot -------------------------------------------------------------------------------
# acpi=off matters: the guest kernel has no ACPI, and QEMU's microvm appends
# the virtio_mmio.device=... entries for its virtio-mmio transports to the
# kernel command line only when ACPI is off (otherwise they are described in
# ACPI tables the guest cannot read, and no virtio device shows up).
cmdline="console=ttyS0 panic=-1 reboot=t lpj=5000000 tsc=reliable no_timer_check quiet"

# boot NAME EXTRA_CMDLINE [QEMU ARGS...]: sets boot_rc and boot_secs, log in $work/NAME.log
boot() {
  local name=$1 extra=$2 t0 t1
  shift 2
  t0=$(date +%s%N)
  boot_rc=0
  timeout --kill-after=5 "$timeout_s" "$qemu_bin" \
    -M microvm,x-option-roms=off,isa-serial=on,rtc=off,acpi=off -accel tcg -cpu max \
    -m 256 -smp 1 -nodefaults -no-user-config -nographic -no-reboot \
    -serial stdio -kernel "$kernel" -initrd "$initrd" \
    -append "$cmdline${extra:+ $extra}" "$@" \
    </dev/null >"$work/$name.log" 2>&1 || boot_rc=$?
  t1=$(date +%s%N)
  boot_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
}

fail=0
check() { # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then log "  ok    $what"; else log "  FAIL  $what"; fail=1; fi
}
has() { grep -qF -- "$1" "$work/$2.log"; }
value() { sed -n "s/^$1=//p" "$work/$2.log" | tr -d '\r' | tail -n 1; }
contains_all() { # contains_all "words present" "words wanted"
  local w
  for w in $2; do [[ " $1 " == *" $w "* ]] || return 1; done
}

log "kernel $kernel${expected:+ ($expected)}, timeout ${timeout_s}s per boot"

boot ok "" \
  -device virtio-serial-device \
  -chardev "file,id=smoke,path=$work/vport.out" \
  -device virtserialport,chardev=smoke,name=org.isola.smoke
release=$(value SMOKE-RELEASE ok)
log "boot 1 (init runs checks, reboot -f): QEMU exited with $boot_rc after ${boot_secs}s"
check "QEMU exited by itself (rc $boot_rc, 124 = timeout)" test "$boot_rc" -eq 0
check "guest printed its release (${release:-nothing})" test -n "$release"
if [[ -n $expected ]]; then
  check "release matches $expected" test "$release" = "$expected"
fi
check "ping 127.0.0.1 over loopback" has SMOKE-PING=ok ok
check "filesystems ext4 erofs overlay tmpfs devtmpfs ($(value SMOKE-FS ok))" \
  contains_all "$(value SMOKE-FS ok)" "ext4 erofs overlay tmpfs devtmpfs"
check "cgroup v2 controllers cpuset cpu memory pids ($(value SMOKE-CGROUP ok))" \
  contains_all "$(value SMOKE-CGROUP ok)" "cpuset cpu memory pids"
check "overlayfs on tmpfs (whiteout + opaque dir)" has SMOKE-OVERLAY=ok ok
check "devpts mount" has SMOKE-DEVPTS=ok ok
check "virtio-serial port reached the host" grep -qF "hello from $release" "$work/vport.out"
ok_secs=$boot_secs

boot panic "rdinit=/panic-init"
log "boot 2 (init exits -> kernel panic): QEMU exited with $boot_rc after ${boot_secs}s"
check "panicking guest ended QEMU by itself (rc $boot_rc, 124 = timeout)" test "$boot_rc" -eq 0
check "guest ran the exiting init" has SMOKE-PANIC-INIT panic
check "guest panicked with 'Attempted to kill init'" has "Attempted to kill init" panic

if ((fail)); then
  keep_work=1
  for name in ok panic; do
    echo "----- $work/$name.log (last 40 lines) -----" >&2
    tail -n 40 "$work/$name.log" >&2
  done
  die "guest boot smoke test failed (see FAIL lines above); fix guest/kernel.config, rerun guest/build-kernel.sh, then this script"
fi
log "PASS: kernel $release booted and shut down in ${ok_secs}s; panic ended QEMU in ${boot_secs}s"
