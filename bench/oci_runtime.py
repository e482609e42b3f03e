#!/usr/bin/env python3
"""`ctr run --rm IMAGE true` through one private containerd with isola-runtime
(process and VM mode), runc and crun as the runc shim's BinaryName, interleaved
in one run (A B C A B C ..., order rotated each round) on one busybox image.

    bench/oci_runtime.py [--rounds 20] [--vm-rounds 3] [--runtime target/debug/isola-runtime]

Prints a markdown table. Must run as root; the containerd it starts, its
root/state and every container are removed on exit. crun refuses this host's
hybrid cgroup layout (see bench/RESULTS.md); its failures are reported as such.
"""

import argparse
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = "docker.io/isola-bench/busybox:latest"


def docker_archive(rootfs, path):
    """A docker-save archive of the directory `rootfs` as one layer."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        t.add(rootfs, arcname=".")
    layer = layer.getvalue()
    diff = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode()
    cname = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": cname, "RepoTags": [IMAGE], "Layers": ["l0/layer.tar"]}]).encode()
    with tarfile.open(path, "w") as t:
        for name, data in ((cname, config), ("l0/layer.tar", layer), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--vm-rounds", type=int, default=3)
    ap.add_argument("--runtime", default=os.path.join(REPO, "target/debug/isola-runtime"))
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="isola-bench-ctrd-", dir="/var/tmp")
    sock = f"{tmp}/containerd.sock"
    with open(f"{tmp}/config.toml", "w") as f:
        f.write(f'''version = 2
root = "{tmp}/root"
state = "{tmp}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
''')
    vm = f"{tmp}/isola-runtime-vm"
    os.symlink(a.runtime, vm)
    ctrd = subprocess.Popen(["containerd", "--config", f"{tmp}/config.toml"],
                            stdout=subprocess.DEVNULL, stderr=open(f"{tmp}/containerd.log", "w"))
    ctr = ["ctr", "--address", sock, "--namespace", "bench"]
    try:
        for _ in range(100):
            if subprocess.run(ctr + ["version"], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        rootfs = f"{tmp}/rootfs"
        subprocess.run([f"{REPO}/scripts/busybox-rootfs.sh", rootfs], check=True, capture_output=True)
        docker_archive(rootfs, f"{tmp}/busybox.tar")
        subprocess.run(ctr + ["image", "import", f"{tmp}/busybox.tar"], check=True, capture_output=True)
        engines = [("isola-runtime (process)", a.runtime, a.rounds),
                   ("runc", shutil.which("runc"), a.rounds),
                   ("crun", shutil.which("crun"), a.rounds),
                   ("isola-runtime-vm (vm)", vm, a.vm_rounds)]
        times = {name: [] for name, _, _ in engines}
        failed = {name: "" for name, _, _ in engines}
        n = 0
        for r in range(max(e[2] for e in engines) + 1):  # round 0: warm-up
            order = engines[r % len(engines):] + engines[:r % len(engines)]
            for name, binary, rounds in order:
                if r > rounds or not binary or (failed[name] and not times[name]):
                    continue
                n += 1
                cmd = ctr + ["run", "--rm", "--runc-binary", binary, "--runc-root", f"{tmp}/runc",
                             IMAGE, f"b{n}", "true"]
                t0 = time.perf_counter_ns()
                p = subprocess.run(cmd, capture_output=True, text=True)
                ms = (time.perf_counter_ns() - t0) / 1e6
                if p.returncode != 0:
                    failed[name] = (p.stderr.strip().splitlines() or ["?"])[-1][:160]
                    subprocess.run(ctr + ["container", "rm", f"b{n}"], capture_output=True)
                elif r > 0:
                    times[name].append(ms)
        print("| runtime (BinaryName of io.containerd.runc.v2) | median ms | min ms | max ms | runs |")
        print("|---|---:|---:|---:|---:|")
        for name, _, _ in engines:
            t = times[name]
            if t:
                print(f"| {name} | {statistics.median(t):.1f} | {min(t):.1f} | {max(t):.1f} | {len(t)} |")
            else:
                print(f"| {name} | n/a | | | 0 (failed: {failed[name] or 'not installed'}) |")
    finally:
        ctrd.kill()
        ctrd.wait()
        subprocess.run(["sh", "-c", f"grep -o ' {tmp}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l"],
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
