"""Cases 6 and 7 of the suite (imported by bench.py): file work in a bind-mounted
directory, and VM boot time and memory by image depth.

Case 6 runs the same busybox script on the host and in containers whose /w is
a bind mount of a fresh host directory: extract a tarball of small files, `find`
over them, write a file sequentially (fsync'd), then, after the host's caches
are dropped, read it back. Times come from /proc/uptime inside the container
(the guest's clock in a VM), so container start-up is not counted. isola's VM
mode shares directories over QEMU's virtio-9p; for comparison the same guest
kernel is booted by a bare QEMU with the directory over virtio-fs (virtiofsd)
and as an ext4 image on a virtio-blk disk (what a block-device volume would be).
"""

import json
import os
import shutil
import subprocess
import tarfile
import time

WRITE = r'''
d=$1; t(){ read u _ < /proc/uptime; echo $u; }
a=$(t); mkdir -p $d/x && tar xf $d/files.tar -C $d/x || exit 1; b=$(t)
n=$(find $d/x | wc -l); c=$(t)
dd if=/dev/zero of=$d/big bs=1048576 count=@MB@ conv=fsync 2>/dev/null || exit 1; e=$(t)
echo "W $a $b $c $e $n"
'''
READ = r'''
d=$1; t(){ read u _ < /proc/uptime; echo $u; }
a=$(t); dd if=$d/big of=/dev/null bs=1048576 2>/dev/null || exit 1; b=$(t)
echo "R $a $b"
'''

INIT = r'''#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /w
case "$(cat /proc/cmdline)" in
  *fs=virtiofs*) mount -t virtiofs w /w ;;
  *fs=blk*) mount -t ext4 /dev/vda /w ;;
esac
sh /write.sh /w
sync; echo 3 > /proc/sys/vm/drop_caches
sh /read.sh /w
umount /w; sync
reboot -f
'''


def drop_caches():
    subprocess.run(["sync"], check=False)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def make_files_tar(path, n):
    with tarfile.open(path, "w") as t:
        for i in range(n):
            data = (f"file {i} " * 12).encode()
            info = tarfile.TarInfo(f"d{i // 500}/f{i}")
            info.size = len(data)
            info.mtime = 1700000000
            import io
            t.addfile(info, io.BytesIO(data))


def parse(out):
    w = r = None
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "W" and len(f) == 6:
            a, b, c, e = map(float, f[1:5])
            w = dict(extract=b - a, find=c - b, write=e - c, files=int(f[5]))
        if f and f[0] == "R" and len(f) == 3:
            r = float(f[2]) - float(f[1])
    if w is None or r is None:
        raise RuntimeError(f"no timings in the output: {out[-300:]!r}")
    w["read"] = r
    return w


class Storage:
    """Case 6 for one suite (see the module doc)."""

    def __init__(self, suite, run, Failed, log):
        self.s, self.run, self.Failed, self.log = suite, run, Failed, log
        self.work = suite.work
        smoke = suite.mode == "smoke"
        self.files = 500 if smoke else 10000
        self.mb = 16 if smoke else 1024
        self.timeout = 600 if smoke else 3600
        # Rounds for the engines that take seconds (interleaved, medians);
        # the VM transports take minutes under TCG and run once.
        self.rounds = 1 if smoke else 3

    def fresh_dir(self, name):
        d = os.path.join(self.work, "storage", name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        shutil.copy(self.tar, os.path.join(d, "files.tar"))
        return d

    def container(self, e, d):
        """Write then read in two containers of engine e, /w bound to d."""
        def argv(script):
            body = ["sh", "-c", script, "sh", "/w"]
            if e.name.startswith("isola"):
                return e.cli("run", "--rm", "--network", "none", *e.iso, "-v", f"{d}:/w", "busybox", *body)
            flags = getattr(e, "run_flags", ["--network", "none"])
            return e.cli("run", "--rm", *flags, "-v", f"{d}:/w", e.img, *body)
        out = self.run(argv(WRITE.replace("@MB@", str(self.mb))), timeout=self.timeout)[1]
        drop_caches()
        out += self.run(argv(READ), timeout=self.timeout)[1]
        return parse(out)

    def host(self, d):
        bb = os.path.join(self.work, "rootfs", "bin", "busybox")
        out = self.run([bb, "sh", "-c", WRITE.replace("@MB@", str(self.mb)), "sh", d], timeout=self.timeout)[1]
        drop_caches()
        out += self.run([bb, "sh", "-c", READ, "sh", d], timeout=self.timeout)[1]
        return parse(out)

    def initrd(self):
        path = os.path.join(self.work, "storage-initrd.gz")
        if os.path.exists(path):
            return path
        root = os.path.join(self.work, "storage-initrd")
        shutil.rmtree(root, ignore_errors=True)
        for d in ("bin", "proc", "sys", "dev"):
            os.makedirs(os.path.join(root, d))
        shutil.copy(os.path.join(self.work, "rootfs", "bin", "busybox"), os.path.join(root, "bin", "busybox"))
        for name, text in (("init", INIT), ("write.sh", WRITE.replace("@MB@", str(self.mb))), ("read.sh", READ)):
            with open(os.path.join(root, name), "w") as f:
                f.write(text)
            os.chmod(os.path.join(root, name), 0o755)
        subprocess.run(f"cd {root} && find . | cpio -o -H newc --quiet | gzip -1 > {path}", shell=True, check=True)
        return path

    def qemu(self, fs, d):
        """A bare QEMU with isola's guest kernel: virtio-fs or a virtio-blk ext4 image."""
        kernel = os.environ["BENCH_KERNEL"]
        # Modern (non-legacy) virtio-mmio: virtiofsd's libvhost-user refuses
        # legacy devices, microvm's default.
        argv = ["qemu-system-x86_64", "-global", "virtio-mmio.force-legacy=false", "-accel", "tcg,tb-size=32", "-cpu", "max", "-m", "512", "-smp", "1",
                "-nodefaults", "-no-user-config", "-nographic", "-no-reboot", "-serial", "stdio",
                "-kernel", kernel, "-initrd", self.initrd(),
                "-append", f"console=ttyS0 panic=-1 reboot=t quiet lpj=5000000 tsc=reliable no_timer_check fs={fs}"]
        helper = None
        machine = "microvm,x-option-roms=off,isa-serial=on,rtc=off,acpi=off"
        try:
            if fs == "virtiofs":
                sock = os.path.join(self.work, "storage", "vfs.sock")
                helper = subprocess.Popen(["/usr/lib/qemu/virtiofsd", f"--socket-path={sock}", "-o",
                                           f"source={d}", "-o", "cache=auto"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for _ in range(100):
                    if os.path.exists(sock):
                        break
                    time.sleep(0.05)
                machine += ",memory-backend=mem"
                argv += ["-object", "memory-backend-memfd,id=mem,size=512M,share=on",
                         "-chardev", f"socket,id=vfs,path={sock}",
                         "-device", "vhost-user-fs-device,chardev=vfs,tag=w"]
            else:
                img = os.path.join(self.work, "storage", "blk.ext4")
                with open(img, "wb") as f:
                    f.truncate((self.mb + 512) << 20)
                subprocess.run(["mkfs.ext4", "-q", "-F", "-d", d, img], check=True)
                argv += ["-drive", f"file={img},if=none,id=d,format=raw",
                         "-device", "virtio-blk-device,drive=d"]
            argv += ["-M", machine]
            out = self.run(argv, timeout=self.timeout)[1]
            return parse(out)
        finally:
            if helper:
                helper.kill()
                helper.wait()

    def case(self):
        self.tar = os.path.join(self.work, "files.tar")
        make_files_tar(self.tar, self.files)
        res = {}
        order = ["host", "isola", "isola-vm", "qemu-virtiofs", "qemu-blk", "docker", "podman"]
        labels = {"host": "host (no container)", "isola": "isola process (bind)", "isola-vm": "isola vm (virtio-9p, default)",
                  "qemu-virtiofs": "same guest kernel, bare QEMU, virtio-fs (virtiofsd cache=auto)",
                  "qemu-blk": "same guest kernel, bare QEMU, ext4 on virtio-blk",
                  "docker": "docker (bind)", "podman": "podman (bind)"}
        self.log(f"case storage: {self.files} files, {self.mb} MiB write+read; {', '.join(order)}")
        fast = {"host", "isola", "docker", "podman"}
        samples = {name: [] for name in order}
        for rnd in range(self.rounds):
            for name in order[rnd % len(order):] + order[:rnd % len(order)]:
                if name in res or (rnd > 0 and name not in fast):
                    continue
                e = self.s.engines.get(name.split("-")[0] if name.startswith("qemu") else name)
                try:
                    if name == "host":
                        r = self.host(self.fresh_dir(name))
                    elif name.startswith("qemu"):
                        if not os.path.exists(os.environ.get("BENCH_KERNEL", "")):
                            res[name] = dict(label=labels[name], na="no guest kernel")
                            continue
                        r = self.qemu(name.split("-")[1], self.fresh_dir(name))
                    elif e is None or e.na:
                        res[name] = dict(label=labels[name], na=(e.na if e else "not selected"))
                        continue
                    else:
                        r = self.container(e, self.fresh_dir(name))
                    samples[name].append(r)
                    self.log(f"  {name} round {rnd + 1}: "
                             f"{json.dumps({k: round(v, 2) for k, v in r.items() if isinstance(v, float)})}")
                except (self.Failed, RuntimeError, subprocess.CalledProcessError, OSError) as ex:
                    res[name] = dict(label=labels[name], na=f"failed: {ex}", failed=name.startswith("isola"))
                    if name.startswith("isola"):
                        self.s.isola_errors.append(f"storage: {name}: {ex}")
                finally:
                    shutil.rmtree(os.path.join(self.work, "storage", name), ignore_errors=True)
        for name in order:
            if name in res or not samples[name]:
                continue
            med = {k: sorted(x[k] for x in samples[name])[len(samples[name]) // 2]
                   for k in ("extract", "find", "write", "read")}
            res[name] = dict(label=labels[name], n=len(samples[name]), **med)
        res = {k: res[k] for k in order if k in res}
        shutil.rmtree(os.path.join(self.work, "storage"), ignore_errors=True)
        self.s.results["storage"] = dict(files=self.files, mb=self.mb, engines=res)


def storage_markdown(st, a):
    host = st["engines"].get("host", {})
    a("## 6. File work in a bind-mounted directory")
    a("")
    a(f"The same busybox script on the host and in a container with a fresh host directory bound at /w: "
      f"extract a tar of {st['files']} small files, `find` over them, write {st['mb']} MiB with `dd conv=fsync`, "
      "then (host caches dropped, a new container) read it back. Seconds from /proc/uptime inside the "
      "container or guest (start-up not counted), medians of interleaved rounds (n). ratio = engine / host "
      "(< 1.1 is the goal for process mode). "
      "VM rows run under QEMU TCG on this host (no hardware virtualization): they measure the transport "
      "plus emulation, which is why a VM's write can beat the host's (its fsync ends at QEMU's page cache).")
    a("")
    a("| engine | n | extract s | find s | write s | read s | extract ratio | find ratio | write ratio | read ratio |")
    a("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in st["engines"].items():
        if "na" in r:
            a(f"| {r['label']} | n/a: {r['na']} | | | | | | | | |")
            continue
        cells = [f"{r[k]:.2f}" for k in ("extract", "find", "write", "read")]
        ratios = [(f"{r[k] / host[k]:.2f}×" if host.get(k) else "–") for k in ("extract", "find", "write", "read")]
        a(f"| {r['label']} | {r.get('n', 1)} | {' | '.join(cells)} | {' | '.join(ratios)} |")
    a("")


class VmBoot:
    """Case 7: `run -d` to an answering guest, and QEMU's PSS, by image depth."""

    def __init__(self, suite, run, Failed, log):
        self.s, self.run, self.Failed, self.log = suite, run, Failed, log
        self.reps = 1 if suite.mode == "smoke" else 3

    def archive(self, layers):
        """A docker-save archive: the shared busybox rootfs plus layers-1 one-file layers."""
        import hashlib
        import io
        work = self.s.work
        path = os.path.join(work, f"deep{layers}.tar")
        tars = [open(os.path.join(work, "rootfs.tar"), "rb").read()]
        for n in range(1, layers):
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w") as t:
                data = f"{n}\n".encode()
                info = tarfile.TarInfo(f"layers/{n}")
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            tars.append(buf.getvalue())
        diff_ids = ["sha256:" + hashlib.sha256(t).hexdigest() for t in tars]
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
                             "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
        chex = hashlib.sha256(config).hexdigest()
        with tarfile.open(path, "w") as out:
            def add(name, data):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                out.addfile(info, io.BytesIO(data))
            names = []
            for t, d in zip(tars, diff_ids):
                names.append(f"{d[7:]}/layer.tar")
                add(names[-1], t)
            add(f"{chex}.json", config)
            add("manifest.json", json.dumps([{"Config": f"{chex}.json", "RepoTags": [f"isola-bench/deep:{layers}"],
                                              "Layers": names}]).encode())
        return path

    def case(self):
        iso = self.s.engines.get("isola-vm")
        res = {}
        if iso is None or iso.na:
            self.s.results["vmboot"] = dict(na=iso.na if iso else "not selected", rows={})
            return
        self.log(f"case vmboot: 1- and 32-layer images, {self.reps} detached VMs each")
        for layers in (1, 32):
            try:
                self.run(iso.cli("load", "-i", self.archive(layers)), timeout=300)
                times, pss = [], []
                for r in range(self.reps):
                    name = f"vmboot-{os.getpid()}-{layers}-{r}"
                    dt = self.run(iso.cli("run", "-d", "--network", "none", "--isolation=vm", "--name", name,
                                          f"isola-bench/deep:{layers}", "sleep", "600"), timeout=300)[3]
                    pid = int(self.run(iso.cli("inspect", "-f", "{{.State.Pid}}", name))[1].strip())
                    time.sleep(1)
                    with open(f"/proc/{pid}/smaps_rollup") as f:
                        kb = next(int(l.split()[1]) for l in f if l.startswith("Pss:"))
                    times.append(dt)
                    pss.append(kb / 1024)
                    self.run(iso.cli("rm", "-f", name), timeout=120)
                res[layers] = dict(s=sorted(times)[len(times) // 2], pss=sorted(pss)[len(pss) // 2],
                                   first=times[0])
            except (self.Failed, OSError, ValueError, StopIteration) as ex:
                res[layers] = dict(na=f"failed: {ex}")
                self.s.isola_errors.append(f"vmboot: {layers} layers: {ex}")
        self.s.results["vmboot"] = dict(rows=res, reps=self.reps)


def vmboot_markdown(vb, a):
    a("## 7. VM boot and memory by image depth")
    a("")
    a("`isola run -d --isolation=vm` until the guest's agent answers, and the QEMU process's PSS one second "
      "later, for the busybox image (1 layer) and busybox plus 31 one-file layers. Every image boots from one "
      "merged read-only erofs disk, built once per image (the first run's time includes that build).")
    a("")
    if vb.get("na"):
        a(f"n/a: {vb['na']}")
        a("")
        return
    a("| layers | first run s (builds the disk) | median s | median PSS MiB |")
    a("|---:|---:|---:|---:|")
    for layers, r in vb["rows"].items():
        if "na" in r:
            a(f"| {layers} | n/a: {r['na']} | | |")
        else:
            a(f"| {layers} | {r['first']:.2f} | {r['s']:.2f} | {r['pss']:.1f} |")
    a("")
