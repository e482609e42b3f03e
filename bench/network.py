"""Case 8 of the suite (imported by bench.py): networking, measured in a private
network and mount namespace of its own, so that the bridges, addresses and NAT
rules the engines create never touch this machine's network (and /run is a
fresh tmpfs there, for podman's and netavark's state).

- start latency of `run --rm true` on the engine's default bridge vs
  `--network none` (isola process and VM mode, podman);
- TCP throughput from the host to a published port over 127.0.0.1, iperf3
  (the host's, bind-mounted read-only into the container) for 10 s.

docker: a second private dockerd is started inside the case's namespaces
(its own data/exec roots, its default docker0 bridge, iptables and the
userland proxy as Docker ships them), and stopped at the end.
"""

import json
import os
import statistics
import subprocess
import time

IPERF_BINDS = ["-v", "/usr/bin/iperf3:/usr/bin/iperf3:ro",
               "-v", "/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu:ro",
               "-v", "/lib64:/lib64:ro"]
CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000


def sh(argv, timeout=300, check=True):
    t0 = time.perf_counter()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    dt = time.perf_counter() - t0
    if check and p.returncode != 0:
        raise RuntimeError(f"exit {p.returncode}: {' '.join(argv[:8])}: "
                           f"{p.stderr.decode(errors='replace').strip().splitlines()[-1:] }")
    return p.stdout.decode(errors="replace"), dt


def private_namespaces(libc):
    if libc.unshare(CLONE_NEWNET | CLONE_NEWNS) != 0:
        raise OSError("unshare failed")
    sh(["mount", "--make-rprivate", "/"])
    sh(["mount", "-t", "tmpfs", "tmpfs", "/run"])
    sh(["ip", "link", "set", "lo", "up"])


def iperf(client_to, seconds):
    out, _ = sh(["iperf3", "-c", "127.0.0.1", "-p", str(client_to), "-t", str(seconds), "-J"],
                timeout=seconds + 60)
    j = json.loads(out)
    return j["end"]["sum_received"]["bits_per_second"] / 1e9


def sample(res, label, argv):
    """Times one `run --rm` into res[label]'s samples (an error is kept)."""
    t = res.setdefault(label, dict(samples=[]))
    try:
        t["samples"].append(sh(argv)[1] * 1000)
    except (RuntimeError, subprocess.TimeoutExpired) as ex:
        t["error"] = str(ex)


def summarize(res):
    """Turns the samples gathered so far into median and count."""
    for t in res.values():
        if "samples" in t:
            t["ms"] = statistics.median(t["samples"]) if t["samples"] else None
            t["n"] = len(t["samples"])
            del t["samples"]


def pairs(n):
    """n rounds of (network flags, label suffix): bridge and none, order alternating."""
    both = [([], "bridge (default)"), (["--network", "none"], "none")]
    for r in range(n):
        yield from (both if r % 2 == 0 else both[::-1])


def docker_case(res, tput, n, seconds):
    """Docker with its default bridge, in these namespaces (see the module doc)."""
    if subprocess.run(["which", "dockerd"], stdout=subprocess.DEVNULL).returncode != 0:
        res["docker"] = dict(ms=None, n=0, error="dockerd is not installed")
        return
    work = os.path.join(os.environ["BENCH_WORK"], "dnet")
    os.makedirs(work, exist_ok=True)
    sock = f"unix://{work}/sock"
    d = subprocess.Popen(["dockerd", "--data-root", f"{work}/data", "--exec-root", f"{work}/exec",
                          "--pidfile", f"{work}/pid", "-H", sock],
                         stdout=open(f"{work}/log", "w"), stderr=subprocess.STDOUT)
    dk = ["docker", "-H", sock]
    try:
        for _ in range(300):
            if subprocess.run(dk + ["info"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
                break
            time.sleep(0.1)
        with open(os.path.join(os.environ["BENCH_WORK"], "rootfs.tar"), "rb") as f:
            subprocess.run(dk + ["import", "-", "isola-bench/busybox"], stdin=f, stdout=subprocess.DEVNULL, check=True)
        for net, what in pairs(n):
            sample(res, f"docker, {what}", dk + ["run", "--rm", *net, "isola-bench/busybox", "true"])
        summarize(res)
        name = f"bench-iperf-d{os.getpid()}"
        try:
            sh(dk + ["run", "-d", "--name", name, "-p", "127.0.0.1:15204:5201", *IPERF_BINDS,
                     "isola-bench/busybox", "iperf3", "-s", "-p", "5201"])
            time.sleep(1)
            tput["docker (its default userland proxy for 127.0.0.1)"] = dict(gbps=iperf(15204, seconds))
        except (RuntimeError, subprocess.TimeoutExpired, KeyError, ValueError) as ex:
            tput["docker"] = dict(na=f"failed: {ex}")
        finally:
            sh(dk + ["rm", "-f", name], check=False)
    except (RuntimeError, subprocess.CalledProcessError, OSError) as ex:
        res["docker"] = dict(ms=None, n=0, error=f"failed: {ex}")
    finally:
        d.terminate()
        try:
            d.wait(timeout=30)
        except subprocess.TimeoutExpired:
            d.kill()
            d.wait()
        subprocess.run(["pkill", "-f", f"containerd.*{work}"], check=False)
        subprocess.run(["umount", "-R", "-l", f"{work}/data"], stderr=subprocess.DEVNULL, check=False)


def measure(isola, vm_ok, podman, podman_flags, n, vm_n, seconds):
    res = {}
    for net, what in pairs(n):
        sample(res, f"isola process, {what}", isola + ["run", "--rm", *net, "busybox", "true"])
        if podman:
            sample(res, f"podman, {what}",
                   podman + ["run", "--rm", *podman_flags, *net, "isola-bench/busybox", "true"])
    if vm_ok:
        for net, what in pairs(vm_n):
            sample(res, f"isola vm, {what}", isola + ["run", "--rm", "--isolation=vm", *net, "busybox", "true"])
    summarize(res)

    tput = {}
    modes = [("isola process", [])] + ([("isola vm", ["--isolation=vm"])] if vm_ok else [])
    for label, extra in modes:
        name = f"bench-iperf-{os.getpid()}"
        try:
            sh(isola + ["run", "-d", "--name", name, *extra, "-p", "127.0.0.1:15201:5201", *IPERF_BINDS,
                        "busybox", "iperf3", "-s", "-p", "5201"])
            time.sleep(1 if not extra else 3)
            tput[label] = dict(gbps=iperf(15201, seconds))
        except (RuntimeError, subprocess.TimeoutExpired, KeyError, ValueError) as ex:
            tput[label] = dict(na=f"failed: {ex}")
        finally:
            sh(isola + ["rm", "-f", name], check=False)
    if podman:
        name = f"bench-iperf-p{os.getpid()}"
        try:
            sh(podman + ["run", "-d", "--name", name, *podman_flags, "-p", "127.0.0.1:15202:5201", *IPERF_BINDS,
                         "isola-bench/busybox", "iperf3", "-s", "-p", "5201"])
            time.sleep(1)
            tput["podman"] = dict(gbps=iperf(15202, seconds))
        except (RuntimeError, subprocess.TimeoutExpired, KeyError, ValueError) as ex:
            tput["podman"] = dict(na=f"failed: {ex}")
        finally:
            sh(podman + ["rm", "-f", "-t", "0", name], check=False)
    docker_case(res, tput, n, seconds)
    # The host's own loopback, the floor.
    srv = subprocess.Popen(["iperf3", "-s", "-p", "15203", "-1"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        tput["host loopback (no container)"] = dict(gbps=iperf(15203, seconds))
    except (RuntimeError, subprocess.TimeoutExpired, KeyError, ValueError) as ex:
        tput["host loopback (no container)"] = dict(na=f"failed: {ex}")
    finally:
        srv.kill()
        srv.wait()
    return dict(start=res, throughput=tput, seconds=seconds)


class Network:
    def __init__(self, suite, libc, log):
        self.s, self.libc, self.log = suite, libc, log
        smoke = suite.mode == "smoke"
        self.n = 3 if smoke else 20
        self.vm_n = 1 if smoke else 3
        self.seconds = 2 if smoke else 10

    def case(self):
        iso = self.s.engines.get("isola")
        vm = self.s.engines.get("isola-vm")
        pod = self.s.engines.get("podman")
        if iso is None or iso.na:
            self.s.results["network"] = dict(na=iso.na if iso else "isola not selected")
            return
        if subprocess.run(["which", "iperf3"], stdout=subprocess.DEVNULL).returncode != 0:
            self.s.results["network"] = dict(na="iperf3 is not installed (apt-get install iperf3)")
            return
        self.log(f"case network: in a private net+mount namespace; {self.n} start pairs, iperf3 {self.seconds} s")
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            out = {}
            try:
                private_namespaces(self.libc)
                # This case is about the bridge: no default of `none` here.
                os.environ.pop("ISOLA_DEFAULT_NETWORK", None)
                # podman's flags but its network (this case chooses it).
                pflags = []
                if pod and not pod.na:
                    f = list(pod.run_flags)
                    while "--network" in f:
                        i = f.index("--network")
                        del f[i:i + 2]
                    pflags = f
                out = measure(iso.cli(), bool(vm and not vm.na),
                              pod.cli() if pod and not pod.na else None, pflags, self.n, self.vm_n, self.seconds)
            except Exception as ex:  # reported, not raised: this is a forked child
                out = dict(na=f"failed: {ex}")
            finally:
                os.write(w, json.dumps(out).encode())
                os._exit(0)
        os.close(w)
        data = b""
        while True:
            chunk = os.read(r, 65536)
            if not chunk:
                break
            data += chunk
        os.waitpid(pid, 0)
        res = json.loads(data or b"{}")
        for k, v in res.get("start", {}).items():
            if k.startswith("isola") and v.get("error"):
                self.s.isola_errors.append(f"network: {k}: {v['error']}")
        self.s.results["network"] = res


def network_markdown(nw, a):
    a("## 8. Networking: bridge start cost and published-port throughput")
    a("")
    if nw.get("na"):
        a(f"n/a: {nw['na']}")
        a("")
        return
    a("Measured in a private network and mount namespace (the bridges and NAT rules never reach this "
      "machine's network). Start: median ms of `run --rm busybox true`, the engine's default bridge and "
      "`--network none` interleaved. isola's bridge is netavark's (the same podman runs), so the difference "
      "is netavark's setup and teardown plus the namespace. docker: a private dockerd started in the same "
      "namespaces, with its default bridge, iptables and userland proxy.")
    a("")
    a("| engine, network | n | median ms |")
    a("|---|---:|---:|")
    for k, v in nw["start"].items():
        ms = "–" if v.get("ms") is None else f"{v['ms']:.0f}"
        a(f"| {k} | {v['n']} | {ms} |")
    a("")
    a(f"Throughput: iperf3 for {nw['seconds']} s from the host to a port published on 127.0.0.1 (DNAT by "
      "iptables, no proxy process), the server the host's iperf3 bind-mounted into the busybox container.")
    a("")
    a("| path | Gbit/s |")
    a("|---|---:|")
    for k, v in nw["throughput"].items():
        a(f"| {k} | {v['gbps']:.2f} |" if "gbps" in v else f"| {k} | n/a: {v['na']} |")
    a("")
