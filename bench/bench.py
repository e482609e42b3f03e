#!/usr/bin/env python3
"""isola benchmark driver (stdlib only). Started by bench/run.sh, which prepares
the shared rootfs, OCI bundles, daemons and images and passes them in BENCH_*
environment variables; this file runs the cases, computes the statistics and
writes the markdown report. Not meant to be run by hand.

Cases (each peer interleaved with isola, round by round, so that drift of the
machine hits all engines alike):
  start    `true` in a fresh container, removed afterwards (wall time per run)
  memory   host PSS of what an engine keeps per detached container
  density  N detached containers started as fast as possible, then removed
  load     `load` of a docker-save archive of a multi-layer image
  stream   bytes through `run -i --rm ... cat`, stdin to stdout
"""

import ctypes
import fcntl
import glob
import json
import os
import pickle
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import network  # noqa: E402  (case 8)
import storage  # noqa: E402  (cases 6 and 7)

E = os.environ
LIBC = ctypes.CDLL(None, use_errno=True)
PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNS = 0x00020000
F_SETPIPE_SZ = 1031

PARAMS = {
    "full": dict(start_n=40, start_warmup=3, mem_k=10, density_n=200, density_vm_n=20,
                 load_reps=5, load_mb=100, stream_reps=3, stream_bytes=1 << 30, timeout=180),
    "smoke": dict(start_n=3, start_warmup=1, mem_k=2, density_n=8, density_vm_n=2,
                  load_reps=1, load_mb=8, stream_reps=1, stream_bytes=64 << 20, timeout=60),
}

GOAL_START_CRUN = "process `run --rm true` no slower than bare crun"
GOAL_START_DOCKER = "process `run --rm true` at least 20x faster than docker"
GOAL_MEM = "memory per detached container <= 1 MiB PSS (monitor)"


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


class Failed(Exception):
    pass


# ------------------------------------------------------------------ processes --

class NsWorker:
    """A fork of the driver that lives in another mount namespace (crun's,
    without cgroup2) and runs module-level functions there on request. crun is
    spawned and timed by it exactly as the other engines are by the driver
    (vfork+exec, perf_counter_ns around it); only the request and the answer
    cross the pipes, outside the timed window."""

    def __init__(self, ns_pid):
        req_r, req_w = os.pipe()
        ans_r, ans_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(req_w)
            os.close(ans_r)
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C
            code = 0
            try:
                fd = os.open(f"/proc/{ns_pid}/ns/mnt", os.O_RDONLY)
                if LIBC.setns(fd, CLONE_NEWNS) != 0:
                    raise OSError(ctypes.get_errno(), "setns")
                os.close(fd)
                inp, outp = os.fdopen(req_r, "rb"), os.fdopen(ans_w, "wb")
                while True:
                    try:
                        fn, args, kw = pickle.load(inp)
                    except EOFError:
                        break
                    try:
                        ans = ("ok", fn(*args, **kw))
                    except Exception as ex:  # noqa: BLE001 - handed back to the driver
                        ans = ("err", ex if isinstance(ex, Failed) else Failed(f"{type(ex).__name__}: {ex}"))
                    pickle.dump(ans, outp)
                    outp.flush()
            except BaseException as ex:  # noqa: BLE001
                print(f"bench: crun namespace worker: {ex}", file=sys.stderr)
                code = 1
            os._exit(code)
        os.close(req_r)
        os.close(ans_w)
        self.w, self.r = os.fdopen(req_w, "wb"), os.fdopen(ans_r, "rb")

    def call(self, fn, *args, **kw):
        pickle.dump((fn, args, kw), self.w)
        self.w.flush()
        try:
            kind, val = pickle.load(self.r)
        except EOFError:
            raise Failed("the crun namespace worker died")
        if kind == "err":
            raise val
        return val


def last_line(text):
    lines = [l.strip() for l in (text or "").splitlines() if l.strip()]
    return lines[-1][:300] if lines else ""


class _Alarm(Exception):
    pass


def _on_alarm(_sig, _frame):
    raise _Alarm()


class deadline:
    """Raises _Alarm in the blocked wait when `seconds` pass. A blocking wait
    matters: Popen.wait(timeout) polls with growing sleeps (0.5, 1, 2 ... 50 ms),
    which would round every measured time up to its next poll."""

    def __init__(self, seconds):
        self.seconds = seconds

    def __enter__(self):
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc):
        signal.setitimer(signal.ITIMER_REAL, 0)
        return False


def run(argv, timeout=60, stdin=subprocess.DEVNULL, capture_out=True, check=True):
    """Runs argv; returns (rc, stdout, stderr, seconds)."""
    with open(os.path.join(E["BENCH_WORK"], "stderr.tmp"), "w+") as errf:
        out = b""
        t0 = time.perf_counter_ns()
        p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE if capture_out else subprocess.DEVNULL,
                             stderr=errf)
        try:
            with deadline(timeout):
                if capture_out:
                    out = p.stdout.read()
                p.wait()
        except _Alarm:
            p.kill()
            p.wait()
            raise Failed(f"timed out after {timeout}s: {' '.join(argv[:6])}")
        finally:
            if p.stdout:
                p.stdout.close()
        dt = (time.perf_counter_ns() - t0) / 1e9
        errf.seek(0)
        err = errf.read()
    out = out.decode(errors="replace")
    if check and p.returncode != 0:
        raise Failed(f"exit {p.returncode}: {last_line(err) or last_line(out) or ' '.join(argv[:6])}")
    return p.returncode, out, err, dt


def proc_stat(pid):
    """(comm, ppid) or None."""
    try:
        s = open(f"/proc/{pid}/stat").read()
    except OSError:
        return None
    comm = s[s.index("(") + 1:s.rindex(")")]
    ppid = int(s[s.rindex(")") + 2:].split()[1])
    return comm, ppid


def proc_children():
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(d)
            if st:
                kids.setdefault(st[1], []).append(int(d))
    return kids


def subtree(pid, kids):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def smaps(pid):
    """{'Pss': kB, 'Rss': kB, 'Uss': kB} of one process (0s when it is gone)."""
    r = {"Pss": 0, "Rss": 0, "Uss": 0}
    try:
        for line in open(f"/proc/{pid}/smaps_rollup"):
            k, _, v = line.partition(":")
            if k in ("Pss", "Rss"):
                r[k] = int(v.split()[0])
            elif k in ("Private_Clean", "Private_Dirty"):
                r["Uss"] += int(v.split()[0])
    except OSError:
        pass
    return r


def cmdline(pid):
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        return b""


def mem_available_kb():
    for line in open("/proc/meminfo"):
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def spawn_many(argvs, conc, capture, errpath, timeout):
    """Runs the commands, `conc` at a time, as fast as possible. Returns
    ([(index, rc, stdout, latency ms)], total seconds)."""
    done, running, todo = [], {}, list(range(len(argvs)))
    with open(errpath, "a") as errf, deadline(timeout):
        t0 = time.perf_counter_ns()
        try:
            while todo or running:
                while todo and len(running) < conc:
                    i = todo.pop(0)
                    pr = subprocess.Popen(argvs[i], stdin=subprocess.DEVNULL,
                                          stdout=subprocess.PIPE if capture else subprocess.DEVNULL, stderr=errf)
                    running[pr.pid] = (pr, i, time.perf_counter_ns())
                # Block until a child exits (without reaping it), then collect.
                os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
                for pid, (pr, i, ts) in list(running.items()):
                    if pr.poll() is None:
                        continue
                    ms = (time.perf_counter_ns() - ts) / 1e6
                    out = ""
                    if pr.stdout:  # non-blocking: a grandchild may still hold the pipe
                        os.set_blocking(pr.stdout.fileno(), False)
                        try:
                            out = (os.read(pr.stdout.fileno(), 65536) or b"").decode(errors="replace")
                        except BlockingIOError:
                            pass
                        pr.stdout.close()
                    del running[pid]
                    done.append((i, pr.returncode, out, ms))
        except BaseException as ex:
            for pr, _, _ in running.values():
                pr.kill()
                pr.wait()
            if isinstance(ex, _Alarm):
                raise Failed(f"{len(done)} of {len(argvs)} started when the {timeout}s budget ran out")
            raise
        return done, (time.perf_counter_ns() - t0) / 1e9


def stream_run(argv, path, size, timeout, errpath):
    """Pipes the file at `path` through argv; returns seconds, checks the byte count."""
    with open(errpath, "w+") as errf, open(path, "rb") as src:
        t0 = time.perf_counter_ns()
        pr = subprocess.Popen(argv, stdin=src, stdout=subprocess.PIPE, stderr=errf)
        fd = pr.stdout.fileno()
        try:
            fcntl.fcntl(fd, F_SETPIPE_SZ, 1 << 20)
        except OSError:
            pass
        got = 0
        try:
            with deadline(timeout):
                while True:
                    b = os.read(fd, 1 << 20)
                    if not b:
                        break
                    got += len(b)
                rc = pr.wait()
        except _Alarm:
            pr.kill()
            pr.wait()
            raise Failed(f"timed out after {timeout}s")
        finally:
            pr.stdout.close()
        dt = (time.perf_counter_ns() - t0) / 1e9
        errf.seek(0)
        err = errf.read()
    if rc != 0:
        raise Failed(f"exit {rc}: {last_line(err)}")
    if got != size:
        raise Failed(f"got {got} bytes, sent {size}")
    return dt


# --------------------------------------------------------------------- engines --

class Engine:
    """One engine under test. Subclasses fill in the commands they support."""
    name = label = ""
    counted = "nothing"  # what the memory case counts as per-container machinery
    is_isola = False

    def __init__(self):
        self.na = ""  # reason the engine is unavailable everywhere

    def call(self, fn, *args, **kw):
        """Calls a module-level function where this engine's commands run."""
        return fn(*args, **kw)

    def erun(self, argv, **kw):
        return self.call(run, argv, **kw)

    # Case 1
    def start_argv(self, tag):
        return None

    # Cases 2 and 3
    def det_argv(self, name):
        return None

    def det_id(self, name, stdout):
        return stdout.strip().splitlines()[-1] if stdout.strip() else name

    def det_capture(self):
        return True  # False when the container would inherit our stdout pipe

    def det_pids(self, cid, kids):
        """(workload pid, [machinery pids], note)."""
        raise NotImplementedError

    def remove(self, ids):
        raise NotImplementedError

    def count_left(self):
        return None

    def count_running(self):
        return None

    # Case 4
    def load_argv(self, archive, rep):
        return None

    def load_check(self, rep):
        pass

    def load_reset(self, rep):
        pass

    # Case 5
    def stream_argv(self, tag):
        return None


def parent_machinery(w, kids, names):
    """Parent of workload pid w when it is one of the engine's processes."""
    st = proc_stat(w)
    if not st:
        raise Failed(f"workload pid {w} is gone")
    par = st[1]
    pst = proc_stat(par)
    if pst and any(pst[0].startswith(n) for n in names):
        keep = set(subtree(w, kids))
        return [p for p in subtree(par, kids) if p not in keep], ""
    return [], f"container's parent is PID {par} ({pst[0] if pst else '?'}), not an engine process"


class Isola(Engine):
    name, label, is_isola = "isola", "isola (process)", True
    counted = "`isola __monitor`"

    def __init__(self, vm=False):
        super().__init__()
        self.bin = E["BENCH_ISOLA"]
        self.root = E.get("BENCH_ISOLA_ROOT") or os.path.join(E["BENCH_WORK"], "isola")
        self.vm = vm
        if vm:
            self.name, self.label = "isola-vm", "isola (vm)"
            self.counted = "the VM's process (QEMU; guest RAM included)"
        self.iso = ["--isolation=vm"] if vm else []
        self.ids_file = os.path.join(E["BENCH_WORK"], "isola-ids")

    def cli(self, *args):
        return [self.bin, "--root", self.root, *args]

    def start_argv(self, tag):
        return self.cli("run", "--rm", *self.iso, "busybox", "true")

    def det_argv(self, name):
        return self.cli("run", "-d", *self.iso, "--name", name, "busybox", "sleep", "600")

    def det_id(self, name, stdout):
        cid = super().det_id(name, stdout)
        with open(self.ids_file, "a") as f:
            f.write(cid + "\n")
        return cid

    def det_pids(self, cid, kids):
        _, out, _, _ = run(self.cli("inspect", "-f", "{{.State.Pid}} {{.State.MonitorPid}}", cid))
        w, mon = (int(x) for x in out.split())
        if mon <= 0:
            raise Failed(f"no monitor pid for {cid}")
        if self.vm:  # the workload runs in the guest: the whole VM is per-container cost
            return w, subtree(mon, kids), ""
        keep = set(subtree(w, kids))
        return w, [p for p in subtree(mon, kids) if p not in keep], ""

    def remove(self, ids):
        for i in range(0, len(ids), 100):
            run(self.cli("rm", "-f", *ids[i:i + 100]), timeout=600)

    def count_left(self):
        return len(run(self.cli("ps", "-aq"))[1].split())

    def count_running(self):
        return len(run(self.cli("ps", "-q"))[1].split())

    def load_root(self, rep):
        return os.path.join(E["BENCH_WORK"], f"isola-load-{rep}")

    def load_argv(self, archive, rep):
        return [self.bin, "--root", self.load_root(rep), "load", "-i", archive]

    def load_check(self, rep):
        out = run([self.bin, "--root", self.load_root(rep), "images"])[1]
        if "isola-bench/load" not in out:
            raise Failed("`isola images` does not list isola-bench/load after load")

    def load_reset(self, rep):
        shutil.rmtree(self.load_root(rep), ignore_errors=True)

    def stream_argv(self, tag):
        return None if self.vm else self.cli("run", "-i", "--rm", "busybox", "cat")


class Oci(Engine):
    """runc, crun and runsc on the shared bundles."""

    def __init__(self, name, extra=()):
        super().__init__()
        self.name = self.label = name
        self.state = os.path.join(E["BENCH_WORK"], f"{name}-state")
        self.extra = list(extra)
        self.rm_flag = "-f"

    def cli(self, *args):
        return [self.name, "--root", self.state, *self.extra, *args]

    def bundle(self, what):
        return os.path.join(E["BENCH_WORK"], f"bundle-{what}")

    def start_argv(self, tag):
        return self.cli("run", "--bundle", self.bundle("true"), tag)

    def det_argv(self, name):
        return self.cli("run", "-d", "--bundle", self.bundle("sleep"), name)

    def det_id(self, name, stdout):
        return name

    def det_capture(self):
        return False

    def state_of(self, cid):
        return json.loads(self.erun(self.cli("state", cid))[1])

    def det_pids(self, cid, kids):
        w = int(self.state_of(cid)["pid"])
        mach, _ = parent_machinery(w, kids, (self.name,))
        return w, mach, "" if mach else f"{self.name} exits once the container runs; nothing stays per container"

    def remove(self, ids):
        for cid in ids:
            self.erun(self.cli("delete", self.rm_flag, cid), check=False)

    def count_left(self):
        return len(self.erun(self.cli("list", "-q"))[1].split())

    def count_running(self):
        out = self.erun(self.cli("list"))[1]
        return sum(1 for line in out.splitlines()[1:] if "running" in line.split())

    def stream_argv(self, tag):
        return self.cli("run", "--bundle", self.bundle("cat"), tag)


class Crun(Oci):
    worker = None

    def __init__(self):
        super().__init__("crun")
        self.label = "crun"

    def call(self, fn, *args, **kw):
        if Crun.worker is None:
            Crun.worker = NsWorker(E["BENCH_CRUN_NS"])
        return Crun.worker.call(fn, *args, **kw)


class Runsc(Oci):
    counted = "runsc-sandbox (Sentry) + runsc-gofer; the ptrace stubs running the workload excluded"

    def __init__(self):
        super().__init__("runsc", ["--platform=ptrace", "--network=none"])
        self.label = "gVisor runsc (ptrace)"
        self.rm_flag = "-force"

    def cli(self, *args):
        return ["runsc", "--root", self.state, *self.extra, *args]

    def det_argv(self, name):
        return self.cli("run", "-detach", "--bundle", self.bundle("sleep"), name)

    def det_pids(self, cid, kids):
        sandbox = int(self.state_of(cid)["pid"])
        gofer = 0
        for f in glob.glob(os.path.join(self.state, f"*{cid}*.state")):
            gofer = int(json.load(open(f)).get("goferPid") or 0) or gofer
        stubs = set(subtree(sandbox, kids)) - {sandbox}
        pids = [sandbox] + ([gofer] if gofer else [])
        return sandbox, pids, f"{len(stubs)} ptrace stub process(es) not counted"


class DockerLikeCli(Engine):
    """The verbs docker and podman share (same CLI, same image names)."""

    rm_flags: tuple = ("-f",)

    def cli(self, *args):
        raise NotImplementedError

    def remove(self, ids):
        for i in range(0, len(ids), 100):
            run(self.cli("rm", *self.rm_flags, *ids[i:i + 100]), timeout=600)

    def count_left(self):
        return len(run(self.cli("ps", "-aq"))[1].split())

    def count_running(self):
        return len(run(self.cli("ps", "-q"))[1].split())

    def load_argv(self, archive, rep):
        return self.cli("load", "-q", "-i", archive)

    def load_check(self, rep):
        if "isola-bench/load" not in run(self.cli("images"))[1]:
            raise Failed(f"`{self.name} images` does not list isola-bench/load after load")

    def load_reset(self, rep):
        run(self.cli("rmi", "-f", "isola-bench/load:latest"), check=False)


class Podman(DockerLikeCli):
    name, label = "podman", "podman"
    counted = "conmon"

    def __init__(self):
        super().__init__()
        self.flags = [f for f in E.get("BENCH_PODMAN", "").split("\n") if f]
        self.run_flags = ["--network", "none", "--ulimit", "nofile=20000:20000",
                          "--ulimit", "nproc=32768:32768"]
        self.img = "isola-bench/busybox"
        if not self.flags:
            self.na = "not set up"

    def cli(self, *args):
        return ["podman", *self.flags, *args]

    def start_argv(self, tag):
        return self.cli("run", "--rm", *self.run_flags, self.img, "true")

    def det_argv(self, name):
        return self.cli("run", "-d", "--name", name, *self.run_flags, self.img, "sleep", "600")

    def det_pids(self, cid, kids):
        out = run(self.cli("inspect", "-f", "{{.State.Pid}} {{.State.ConmonPid}}", cid))[1]
        w, conmon = (int(x) for x in out.split())
        keep = set(subtree(w, kids))
        return w, [p for p in subtree(conmon, kids) if p not in keep], ""

    rm_flags = ("-f", "-t", "0")

    def stream_argv(self, tag):
        return self.cli("run", "-i", "--rm", *self.run_flags, self.img, "cat")


class Docker(DockerLikeCli):
    name, label = "docker", "docker"
    counted = "containerd-shim-runc-v2"

    def __init__(self):
        super().__init__()
        self.base = E.get("BENCH_DOCKER", "").split()
        self.img = "isola-bench/busybox"
        if not self.base:
            self.na = "not set up"

    def cli(self, *args):
        return [*self.base, *args]

    def start_argv(self, tag):
        return self.cli("run", "--rm", "--network", "none", self.img, "true")

    def det_argv(self, name):
        return self.cli("run", "-d", "--network", "none", "--name", name, self.img, "sleep", "600")

    def det_pids(self, cid, kids):
        w = int(run(self.cli("inspect", "-f", "{{.State.Pid}}", cid))[1].strip())
        mach, note = parent_machinery(w, kids, ("containerd-shim",))
        if not mach:
            raise Failed(note)
        return w, mach, ""

    def shared(self, kids):
        d = int(E.get("BENCH_DOCKERD_PID") or 0)
        if not d:
            return []
        return [d] + [p for p in kids.get(d, []) if (proc_stat(p) or ("",))[0] == "containerd"]

    rm_flags = ("-f",)

    def stream_argv(self, tag):
        return self.cli("run", "-i", "--rm", "--network", "none", self.img, "cat")


class Qemu(Engine):
    name, label = "qemu", "bare QEMU boot floor (TCG microvm)"

    def start_argv(self, tag):
        return ["qemu-system-x86_64", "-M", "microvm,x-option-roms=off,isa-serial=on,rtc=off,acpi=off",
                "-accel", "tcg", "-cpu", "max", "-m", "256", "-smp", "1", "-nodefaults", "-no-user-config",
                "-nographic", "-no-reboot", "-serial", "stdio", "-kernel", E["BENCH_KERNEL"],
                "-initrd", os.path.join(E["BENCH_WORK"], "initrd.gz"), "-append",
                "console=ttyS0 panic=-1 reboot=t lpj=5000000 tsc=reliable no_timer_check quiet"]


class Host(Engine):
    name, label = "host", "host `busybox cat` (no container)"

    def stream_argv(self, tag):
        # The same static busybox that the containers run.
        return [os.path.join(E["BENCH_WORK"], "rootfs", "bin", "busybox"), "cat"]


# ----------------------------------------------------------------- statistics --

def stats(xs):
    if not xs:
        return None
    return dict(n=len(xs), median=statistics.median(xs), min=min(xs), max=max(xs),
                mean=statistics.fmean(xs), stdev=statistics.stdev(xs) if len(xs) > 1 else 0.0)


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.2f}×"


def fmt(x, digits=1):
    return "–" if x is None else f"{x:.{digits}f}"


# -------------------------------------------------------------------- the suite --

class Suite:
    def __init__(self):
        self.mode = E["BENCH_MODE"]
        self.p = PARAMS[self.mode]
        self.work = E["BENCH_WORK"]
        self.cases = E["BENCH_CASES"].split(",")
        wanted = E["BENCH_ENGINES"].split(",")
        self.na = {}
        for line in E.get("BENCH_NA", "").splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                self.na[k] = v
        self.isola_errors = [f"setup: {E['BENCH_ISOLA_FAILED']}"] if E.get("BENCH_ISOLA_FAILED") else []
        self.results = {}
        self.notes = []
        self.load_start = os.getloadavg()

        candidates = []
        if "isola" in wanted:
            candidates += [Isola(), Isola(vm=True)]
        if "runc" in wanted:
            candidates.append(Oci("runc"))
        if "crun" in wanted:
            candidates.append(Crun())
            if not E.get("BENCH_CRUN_NS"):
                self.na.setdefault("crun", "not set up (see the log above)")
        if "runsc" in wanted:
            candidates.append(Runsc())
        if "podman" in wanted:
            candidates.append(Podman())
        if "docker" in wanted:
            candidates.append(Docker())
        if "qemu" in wanted:
            candidates.append(Qemu())
        candidates.append(Host())
        self.engines = {}
        for e in candidates:
            base = e.name.split("-")[0]
            if base in self.na:
                e.na = self.na[base]
            elif e.na:
                self.na[e.name] = e.na
            self.engines[e.name] = e
        iso, vm = self.engines.get("isola"), self.engines.get("isola-vm")
        if vm and not vm.na:
            vm.na = self.vm_unavailable(iso)
            if vm.na:
                self.na["isola-vm"] = vm.na

    def vm_unavailable(self, isola):
        try:
            out = run([isola.bin, "--root", isola.root, "info"])[1]
        except Failed as ex:
            return f"`isola info` failed: {ex}"
        for line in out.splitlines():
            m = re.match(r"\s*vm:\s*unavailable\s*\((.*)\)\s*$", line)
            if m:
                return f"VM mode not available: {m.group(1)}"
        if not re.search(r"^\s*vm:", out, re.M):
            return "`isola info` does not list a vm mode"
        return ""

    def sel(self, names):
        return [self.engines[n] for n in names if n in self.engines]

    def isola_failed(self, case, e, why):
        if e.is_isola:
            self.isola_errors.append(f"{case}: {e.label}: {why}")

    # ---- case 1 ------------------------------------------------------------------
    def case_start(self):
        p = self.p
        order = ["isola", "isola-vm", "runc", "crun", "runsc", "podman", "docker", "qemu"]
        res = {}
        live = []
        for e in self.sel(order):
            if e.na:
                res[e.name] = dict(label=e.label, na=e.na)
            elif e.start_argv("x") is None:
                continue
            else:
                live.append(e)
        log(f"case start: {p['start_warmup']} warm-up + {p['start_n']} interleaved runs of "
            f"{', '.join(e.name for e in live)}")
        times = {e.name: [] for e in live}
        fails = {e.name: 0 for e in live}
        errs = {}
        tag = f"b{os.getpid()}"
        # Warm-up: caches, lazy setup; an engine that fails here is n/a (isola: FAILED).
        for w in range(p["start_warmup"]):
            for e in list(live):
                try:
                    e.erun(e.start_argv(f"{tag}-w{w}"), timeout=p["timeout"], capture_out=False)
                except Failed as ex:
                    res[e.name] = dict(label=e.label, na=f"failed: {ex}", failed=e.is_isola)
                    self.isola_failed("start", e, str(ex))
                    live.remove(e)
        for r in range(p["start_n"]):
            k = r % max(1, len(live))
            for e in live[k:] + live[:k]:  # rotate the order each round
                try:
                    _, _, _, dt = e.erun(e.start_argv(f"{tag}-{r}"), timeout=p["timeout"], capture_out=False)
                    times[e.name].append(dt * 1000)
                except Failed as ex:
                    fails[e.name] += 1
                    errs[e.name] = str(ex)
            if (r + 1) % 10 == 0:
                log(f"  round {r + 1}/{p['start_n']}")
        for e in live:
            s = stats(times[e.name])
            if s is None:
                res[e.name] = dict(label=e.label, na=f"every run failed: {errs.get(e.name)}", failed=e.is_isola)
                self.isola_failed("start", e, errs.get(e.name))
            else:
                res[e.name] = dict(label=e.label, ms=s, failures=fails[e.name], error=errs.get(e.name),
                                   samples=[round(x, 3) for x in times[e.name]])
                if fails[e.name]:
                    self.isola_failed("start", e, f"{fails[e.name]} failed runs: {errs.get(e.name)}")
        iso = self.engines.get("isola")
        if iso and not iso.na:
            try:
                left = run(iso.cli("ps", "-aq"))[1].split()
                if left:
                    self.isola_failed("start", iso, f"{len(left)} containers left behind by `run --rm`")
                    self.safe_remove(iso, left)  # keep them out of the later cases
            except Failed as ex:
                self.isola_failed("start", iso, f"ps: {ex}")
        self.results["start"] = {k: res[k] for k in order if k in res}

    # ---- case 2 ------------------------------------------------------------------
    def case_memory(self):
        k = self.p["mem_k"]
        order = ["isola", "isola-vm", "runc", "crun", "runsc", "podman", "docker"]
        res, live = {}, []
        for e in self.sel(order):
            if e.na:
                res[e.name] = dict(label=e.label, na=e.na)
            else:
                live.append(e)
        log(f"case memory: {k} detached `sleep 600` per engine, started round-robin: "
            f"{', '.join(e.name for e in live)}")
        started = {e.name: [] for e in live}
        try:
            for i in range(k):
                for e in list(live):
                    name = f"bench-mem-{e.name}-{os.getpid()}-{i}"
                    try:
                        started[e.name].append(self.det_start(e, name))
                    except Failed as ex:
                        self.safe_remove(e, [name])  # what a failed start may have left
                        res[e.name] = dict(label=e.label, na=f"failed to start: {ex}", failed=e.is_isola)
                        self.isola_failed("memory", e, str(ex))
                        live.remove(e)
            time.sleep(1.0)
            kids = proc_children()
            for e in live:
                per, uss, nprocs, notes = [], [], [], set()
                try:
                    for cid in started[e.name]:
                        w, mach, note = e.det_pids(cid, kids)
                        m = [smaps(pid) for pid in mach]
                        per.append(sum(x["Pss"] for x in m))
                        uss.append(sum(x["Uss"] for x in m))
                        nprocs.append(len(mach))
                        if note:
                            notes.add(note)
                except Failed as ex:
                    res[e.name] = dict(label=e.label, na=f"could not measure: {ex}", failed=e.is_isola)
                    self.isola_failed("memory", e, str(ex))
                    continue
                r = dict(label=e.label, counted=e.counted if any(nprocs) else "nothing",
                         pss=stats(per), uss=stats(uss), procs=statistics.median(nprocs), k=len(per),
                         notes=sorted(notes))
                if isinstance(e, Docker):
                    sh = e.shared(kids)
                    r["shared"] = dict(what="dockerd + containerd", pss=sum(smaps(x)["Pss"] for x in sh))
                res[e.name] = r
        finally:
            for e in live:
                try:
                    e.remove(started[e.name])
                except Failed as ex:
                    log(f"  removing {e.name} containers: {ex}")
        self.results["memory"] = {k2: res[k2] for k2 in order if k2 in res}

    def det_start(self, e, name):
        _, out, _, _ = e.erun(e.det_argv(name), timeout=self.p["timeout"], capture_out=e.det_capture())
        return e.det_id(name, out)

    # ---- case 3 ------------------------------------------------------------------
    def case_density(self):
        order = ["isola", "isola-vm", "runc", "crun", "podman", "docker"]
        conc = os.cpu_count() or 1
        res = {}
        if "runsc" in self.engines:
            res["runsc"] = dict(label=self.engines["runsc"].label,
                                na="not run: a gVisor sandbox per container is tens of MB (see memory)")
        for e in self.sel(order):
            if e.na:
                res[e.name] = dict(label=e.label, na=e.na)
                continue
            n = self.p["density_vm_n"] if e.name == "isola-vm" else self.p["density_n"]
            log(f"case density: {e.name}: {n} detached containers, {conc} at a time")
            try:
                res[e.name] = self.density_one(e, n, conc)
            except Failed as ex:
                res[e.name] = dict(label=e.label, na=f"failed: {ex}", failed=e.is_isola)
                self.isola_failed("density", e, str(ex))
        self.results["density"] = {k: res[k] for k in ["isola", "isola-vm", "runc", "crun", "runsc", "podman",
                                                       "docker"] if k in res}

    def density_one(self, e, n, conc):
        tag = f"bench-den-{e.name}-{os.getpid()}"
        names = [f"{tag}-{i}" for i in range(n)]
        errpath = os.path.join(self.work, f"density-{e.name}.err")
        ids, lat, fails, err = [], [], 0, ""
        time.sleep(1.0)
        mem0 = mem_available_kb()
        try:
            done, total = e.call(spawn_many, [e.det_argv(nm) for nm in names], conc, e.det_capture(), errpath,
                                 60 + 20 * n)
            failed_names = []
            for i, rc, out, ms in done:
                if rc == 0:
                    ids.append(e.det_id(names[i], out))
                    lat.append(ms)
                else:
                    fails += 1
                    failed_names.append(names[i])
            if not ids:
                self.safe_remove(e, failed_names)
                raise Failed(f"all {n} starts failed: {last_line(open(errpath).read())}")
            time.sleep(2.0)
            mem1 = mem_available_kb()
            alive = None
            try:
                alive = e.count_running()
            except Failed:
                pass
        except BaseException:
            self.safe_remove(e, ids or names)
            raise
        if fails:
            err = last_line(open(errpath).read())
            self.isola_failed("density", e, f"{fails}/{n} starts failed: {err}")
        t1 = time.perf_counter_ns()
        rm_err = ""
        try:
            e.remove(ids)
            if failed_names:  # what a failed `run -d` may have left (created, never started)
                self.safe_remove(e, failed_names)
        except Failed as ex:
            rm_err = str(ex)
            self.isola_failed("density", e, f"rm: {ex}")
        rm_s = (time.perf_counter_ns() - t1) / 1e9
        time.sleep(0.5)
        r = dict(label=e.label, n=n, conc=conc, total_s=total, started=len(ids), failures=fails,
                 error=err, lat=stats(lat), running=alive,
                 mem_delta_kb=(mem0 - mem1) / max(1, len(ids)), rm_s=rm_s, rm_error=rm_err)
        r["leaks"] = self.leaks(e, ids)
        if e.is_isola and r["leaks"] != "none":
            self.isola_failed("density", e, f"leaks: {r['leaks']}")
        return r

    def safe_remove(self, e, ids):
        try:
            e.remove(ids)
        except Failed as ex:
            log(f"  removing {e.name} containers: {ex}")

    def leaks(self, e, ids):
        found = []
        try:
            left = e.count_left()
            if left:
                found.append(f"{left} containers still listed")
        except Failed as ex:
            found.append(f"listing failed: {ex}")
        if isinstance(e, Isola):
            root = e.root.encode()
            # monitors (`isola --root ROOT __monitor`) and VMs (QEMU with files under ROOT/)
            procs = [d for d in os.listdir("/proc") if d.isdigit() and d != str(os.getpid())
                     and (b"\0" + root + b"\0" in (c := cmdline(d)) or root + b"/" in c)]
            if procs:
                found.append(f"{len(procs)} monitor/VM processes")
            cgs = [d for cid in ids for d in glob.glob(f"/sys/fs/cgroup/*/isola/{cid}") +
                   glob.glob(f"/sys/fs/cgroup/isola/{cid}")]
            if cgs:
                found.append(f"{len(cgs)} cgroup dirs (e.g. {cgs[0]})")
            mnts = [l for l in open("/proc/self/mountinfo") if e.root in l]
            if mnts:
                found.append(f"{len(mnts)} mounts under {e.root}")
        return "; ".join(found) if found else "none"

    # ---- case 4 ------------------------------------------------------------------
    def case_load(self):
        p = self.p
        order = ["isola", "podman", "docker"]
        res, live = {}, []
        for e in self.sel(order):
            if e.na:
                res[e.name] = dict(label=e.label, na=e.na)
            elif e.load_argv("x", 0) is not None:
                live.append(e)
        if not live:
            log("case load: no engine available")
            self.results["load"] = dict(archive_mib=p["load_mb"], engines={k: res[k] for k in order if k in res})
            return
        archive = os.path.join(self.work, "load-image.tar")
        run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen_image.py"),
             archive, "--size-mb", str(p["load_mb"]), "--layers", "4"], timeout=600)
        size = os.path.getsize(archive)
        log(f"case load: {size / 2**20:.0f} MiB docker-save archive, 4 layers, {p['load_reps']} interleaved "
            f"rounds of {', '.join(e.name for e in live)}")
        times = {e.name: [] for e in live}
        errs = {}
        for r in range(p["load_reps"]):
            k = r % max(1, len(live))
            for e in live[k:] + live[:k]:
                subprocess.run(["sync"])
                try:
                    _, _, _, dt = run(e.load_argv(archive, r), timeout=600)
                    if r == 0:
                        e.load_check(r)
                    times[e.name].append(dt)
                except Failed as ex:
                    errs[e.name] = str(ex)
                finally:
                    e.load_reset(r)
        for e in live:
            s = stats(times[e.name])
            if s is None:
                res[e.name] = dict(label=e.label, na=f"failed: {errs.get(e.name)}", failed=e.is_isola)
                self.isola_failed("load", e, errs.get(e.name))
            else:
                res[e.name] = dict(label=e.label, s=s, mbps=size / 1e6 / s["median"], error=errs.get(e.name),
                                   failures=p["load_reps"] - s["n"])
                if errs.get(e.name):
                    self.isola_failed("load", e, errs[e.name])
        self.results["load"] = dict(archive_mib=size / 2**20, engines={k: res[k] for k in order if k in res})

    # ---- case 5 ------------------------------------------------------------------
    def case_stream(self):
        p = self.p
        size = p["stream_bytes"]
        order = ["host", "isola", "isola-vm", "runc", "crun", "runsc", "podman", "docker"]
        res, live = {}, []
        for e in self.sel(order):
            if e.na:
                res[e.name] = dict(label=e.label, na=e.na)
            elif e.stream_argv("x") is not None:
                live.append(e)
            elif e.name == "isola-vm":
                res[e.name] = dict(label=e.label, na="not run: this case is process mode only (a TCG-emulated "
                                   "VM relays a GiB far too slowly for the suite)")
        path = os.path.join(self.work, "stream.bin")
        with open(path, "wb") as f:
            left = size
            while left:
                chunk = os.urandom(min(left, 16 << 20))
                f.write(chunk)
                left -= len(chunk)
        log(f"case stream: {size / 2**20:.0f} MiB through `cat`, {p['stream_reps']} interleaved rounds of "
            f"{', '.join(e.name for e in live)}")
        times = {e.name: [] for e in live}
        errs = {}
        for r in range(p["stream_reps"]):
            k = r % max(1, len(live))
            for e in live[k:] + live[:k]:
                try:
                    times[e.name].append(e.call(stream_run, e.stream_argv(f"bench-st-{os.getpid()}-{r}"), path, size,
                                                self.p["timeout"] * 4, os.path.join(self.work, "stream.err")))
                except Failed as ex:
                    errs[e.name] = str(ex)
        for e in live:
            s = stats(times[e.name])
            if s is None:
                res[e.name] = dict(label=e.label, na=f"failed: {errs.get(e.name)}", failed=e.is_isola)
                self.isola_failed("stream", e, errs.get(e.name))
            else:
                rates = [size / 1e6 / t for t in times[e.name]]
                res[e.name] = dict(label=e.label, s=s, mbps=stats(rates), error=errs.get(e.name))
                if errs.get(e.name):
                    self.isola_failed("stream", e, errs[e.name])
        self.results["stream"] = dict(bytes=size, engines={k: res[k] for k in order if k in res})

    def case_storage(self):
        storage.Storage(self, run, Failed, log).case()

    def case_vmboot(self):
        storage.VmBoot(self, run, Failed, log).case()

    def case_network(self):
        network.Network(self, LIBC, log).case()

    # ---- report --------------------------------------------------------------------
    def versions(self):
        def ver(argv, pick=lambda s: s.splitlines()[0] if s else ""):
            try:
                _, out, err, _ = run(argv, timeout=20, check=False)
                return pick((out or err).strip())
            except (Failed, OSError):
                return ""
        v = {}
        iso = self.engines.get("isola")
        if iso and os.path.exists(iso.bin):
            rev = ver(["git", "-C", E["BENCH_REPO"], "rev-parse", "--short", "HEAD"])
            dirty = ver(["git", "-C", E["BENCH_REPO"], "status", "--porcelain", "--untracked-files=no"],
                        pick=lambda s: " + uncommitted changes" if s else "")
            v["isola"] = f"{ver([iso.bin, '--version'])} (git {rev}{dirty})"
        for name, argv in [("runc", ["runc", "--version"]), ("crun", ["crun", "--version"]),
                           ("runsc", ["runsc", "--version"]), ("podman", ["podman", "--version"]),
                           ("conmon", ["conmon", "--version"]),
                           ("docker", ["dockerd", "--version"]), ("containerd", ["containerd", "--version"]),
                           ("qemu", ["qemu-system-x86_64", "--version"])]:
            if shutil.which(argv[0]):
                v[name] = ver(argv)
        return v

    def machine(self):
        cpu = "?"
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = 0
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1])
        osname = "Linux"
        try:
            for line in open("/etc/os-release"):
                if line.startswith("PRETTY_NAME="):
                    osname = line.split("=", 1)[1].strip().strip('"')
        except OSError:
            pass
        fs = {l.split()[4]: l.split(" - ")[1].split()[0] for l in open("/proc/self/mountinfo")
              if l.split()[4].startswith("/sys/fs/cgroup")}
        if fs.get("/sys/fs/cgroup") == "cgroup2":
            cg = "cgroup v2 (unified)"
        elif fs.get("/sys/fs/cgroup/unified") == "cgroup2":
            cg = "hybrid (cgroup v1 controllers + v2 at /sys/fs/cgroup/unified)"
        else:
            cg = "cgroup v1"
        return dict(cpu=cpu, cores=os.cpu_count(), mem_gib=mem / 2**20, kernel=platform.release(), os=osname,
                    cgroups=cg)

    def goals(self):
        g = []
        st = self.results.get("start", {})
        iso = st.get("isola", {}).get("ms")

        def peer_ms(name):
            return st.get(name, {}).get("ms")
        if "start" not in self.results:
            pass
        elif iso is None:
            g.append((GOAL_START_CRUN, "not measured", "isola start " + st.get("isola", {}).get("na", "n/a")))
            g.append((GOAL_START_DOCKER, "not measured", "isola start " + st.get("isola", {}).get("na", "n/a")))
        else:
            c = peer_ms("crun")
            if c is None:
                g.append((GOAL_START_CRUN, "not measured", f"crun {st.get('crun', {}).get('na', 'not run')}"))
            else:
                ok = iso["median"] <= c["median"]
                g.append((GOAL_START_CRUN, "MET" if ok else "MISSED",
                          f"isola {iso['median']:.1f} ms vs crun {c['median']:.1f} ms median "
                          f"({'faster' if ok else 'slower'} by {abs(c['median'] - iso['median']):.1f} ms)"))
            d = peer_ms("docker")
            if d is None:
                g.append((GOAL_START_DOCKER, "not measured", f"docker {st.get('docker', {}).get('na', 'not run')}"))
            else:
                x = d["median"] / iso["median"]
                g.append((GOAL_START_DOCKER, "MET" if x >= 20 else "MISSED",
                          f"docker {d['median']:.1f} ms / isola {iso['median']:.1f} ms = {x:.1f}×"))
        mem = self.results.get("memory", {}).get("isola")
        if "memory" in self.results:
            if mem and mem.get("pss"):
                kb = mem["pss"]["median"]
                g.append((GOAL_MEM, "MET" if kb <= 1024 else "MISSED",
                          f"{kb:.0f} KiB PSS per monitor (median of {mem['k']}; USS {mem['uss']['median']:.0f} KiB)"))
            else:
                g.append((GOAL_MEM, "not measured", (mem or {}).get("na", "isola not run")))
        return g

    def markdown(self, wall):
        p, m, v = self.p, self.machine(), self.versions()
        out = []
        a = out.append
        a("# isola benchmarks" + (" (smoke run: tiny N, not for comparison)" if self.mode == "smoke" else ""))
        a("")
        a(f"- Date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
        a(f"- Command: `{E['BENCH_COMMAND']}` (as root, from the repository root)")
        a(f"- Machine: {m['cpu']}, {m['cores']} cores, {m['mem_gib']:.1f} GiB RAM; {m['os']}; "
          f"kernel {m['kernel']}; {m['cgroups']}")
        a(f"- Load average at start / end: {self.load_start[0]:.2f} / {os.getloadavg()[0]:.2f} "
          "(other work on the host shows up here)")
        if getattr(self, "case_load_avg", None):
            a("- Load average (1 min) as each case began: " +
              ", ".join(f"{c} {l:.2f}" for c, l in self.case_load_avg))
        a(f"- Wall time of the run: {wall:.0f} s")
        a("- Versions:")
        for k, val in v.items():
            a(f"  - {k}: {val}")
        a("")
        a("Method: every case runs its engines interleaved (A B C A B C …, the order rotated each round) so "
          "that drift of the machine hits all of them alike; one shared busybox root filesystem "
          "(`scripts/busybox-rootfs.sh`) is used by every engine: isola imports it, runc/crun/runsc run it as "
          "the read-only root of a default `runc spec` bundle (`terminal: false`; no seccomp, no overlay), "
          "docker and podman `import` it. Times are wall-clock, measured in Python around each command "
          "(`time.perf_counter_ns`).")
        a("")
        a("Setup notes:")
        a("- crun refuses this host's hybrid cgroup layout, so crun (only) runs in a private mount namespace "
          "(`unshare -m --propagation private`) in which `/sys/fs/cgroup/unified` is unmounted (cgroup v1 "
          "only). A fork of the driver joins that namespace with setns() and spawns and times the crun "
          "commands exactly as the driver does for the other engines.")
        a("- docker: a private dockerd (own data/exec roots, `--bridge=none --iptables=false`), overlay2, "
          "containers with `--network none`; it is stopped and its state removed afterwards.")
        a("- podman: private `--root/--runroot`, `--cgroup-manager=cgroupfs --events-backend=file "
          "--runtime=runc` (crun fails on hybrid cgroups), `--network none --ulimit nofile=20000:20000 "
          "--ulimit nproc=32768:32768`.")
        a("- isola: default process mode (its default network is `none`: loopback only); private `--root` "
          f"(`{self.engines['isola'].root if 'isola' in self.engines else '-'}`).")
        a("- The driver runs below a child-subreaper that reaps orphans at once (PID 1 of this machine "
          "reaps late), so detached containers and monitors are reaped as on a normal host.")
        if self.na:
            a("")
            a("Not available (n/a):")
            for k, why in self.na.items():
                a(f"- {k}: {why}")
        a("")
        goals = self.goals()
        if goals:
            a("## Goals")
            a("")
            a("| goal | verdict | measured |")
            a("|---|---|---|")
            for goal, verdict, detail in goals:
                a(f"| {goal} | **{verdict}** | {detail} |")
            missed = [g for g in goals if g[1] == "MISSED"]
            if missed:
                a("")
                for goal, _, detail in missed:
                    a(f"isola misses the goal \"{goal}\": {detail}.")
            a("")
        if self.isola_errors:
            a("## isola failures during the run")
            a("")
            for x in self.isola_errors:
                a(f"- {x}")
            a("")

        shown = set()

        def na_row(name, r, cols):
            why = r["na"]
            if why == self.na.get(name) and name in shown:
                why = "see \"Not available\" above"
            shown.add(name)
            a(f"| {r['label']} | " + ("**FAILED** " if r.get("failed") else "n/a ") + f"({why})"
              + " |" * (cols - 1))

        if "start" in self.results:
            st = self.results["start"]
            iso = st.get("isola", {}).get("ms")
            a("## 1. Start latency: `true` in a fresh container, removed afterwards")
            a("")
            a(f"{p['start_warmup']} warm-up runs per engine, then {p['start_n']} interleaved rounds. "
              "isola/engine is the ratio of medians (< 1: isola is faster).")
            a("")
            a("| engine | median ms | min ms | max ms | mean ± sd ms | runs (failed) | isola/engine |")
            a("|---|---:|---:|---:|---:|---:|---:|")
            for name, r in st.items():
                if "na" in r:
                    na_row(name, r, 7)
                    continue
                s = r["ms"]
                a(f"| {r['label']} | {s['median']:.1f} | {s['min']:.1f} | {s['max']:.1f} | "
                  f"{s['mean']:.1f} ± {s['stdev']:.1f} | {s['n']} ({r['failures']}) | "
                  f"{ratio(iso['median'] if iso else None, s['median'])} |")
            a("")
            a("Commands: isola `run --rm busybox true`; runc/crun `run --bundle B ID`; runsc "
              "`--platform=ptrace --network=none run`; podman/docker `run --rm --network none IMG true`; "
              "QEMU: microvm under TCG booting the isola guest kernel with a busybox initramfs whose /init "
              "does `reboot -f` (the floor for VM mode, no container inside).")
            a("")
        if "memory" in self.results:
            mm = self.results["memory"]
            iso = mm.get("isola", {}).get("pss")
            a("## 2. Memory per detached container (`sleep 600`)")
            a("")
            a(f"{p['mem_k']} detached containers per engine, started round-robin; host PSS "
              "(`/proc/PID/smaps_rollup`) of the processes the engine keeps per container, the workload "
              "excluded; USS = private clean + dirty. Medians over the containers.")
            a("")
            a("| engine | counted per container | PSS KiB | min–max KiB | USS KiB | processes | isola/engine |")
            a("|---|---|---:|---:|---:|---:|---:|")
            for name, r in mm.items():
                if "na" in r:
                    na_row(name, r, 7)
                    continue
                s = r["pss"]
                note = f" ({'; '.join(r['notes'])})" if r.get("notes") else ""
                a(f"| {r['label']} | {r['counted']}{note} | {s['median']:.0f} | {s['min']:.0f}–{s['max']:.0f} | "
                  f"{r['uss']['median']:.0f} | {r['procs']:g} | "
                  f"{ratio(iso['median'] if iso else None, s['median']) if s['median'] else '–'} |")
            shared = [(r["label"], r["shared"]) for r in mm.values() if r.get("shared")]
            a("")
            a("Shared daemons (not per container): " + (", ".join(
                f"{lbl}: {sh['what']} {sh['pss'] / 1024:.1f} MiB PSS" for lbl, sh in shared) or "none measured")
              + "; isola, podman, runc and crun have no daemon.")
            a("")
        if "density" in self.results:
            dd = self.results["density"]
            a("## 3. Density: N detached containers started as fast as possible, then removed")
            a("")
            a(f"Engines run one after another (each batch has the machine to itself); starts run "
              f"{os.cpu_count()} at a time (one per core). Memory: MemAvailable before the starts "
              "minus 2 s after the last one, per started container (workload, kernel objects and engine "
              "included). Leaks are checked after removing them all (isola: monitor or VM processes naming its root, "
              "`/sys/fs/cgroup/*/isola/<id>` dirs, mounts containing the root dir; all: containers listed).")
            a("")
            a("| engine | N | total s | starts/s | start latency median (max) ms | failed | running | "
              "MemAvailable Δ per container MiB | remove all s | leaks after removal |")
            a("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
            for name, r in dd.items():
                if "na" in r:
                    na_row(name, r, 10)
                    continue
                lat = r["lat"]
                a(f"| {r['label']} | {r['n']} | {r['total_s']:.2f} | {r['started'] / r['total_s']:.1f} | "
                  f"{fmt(lat and lat['median'])} ({fmt(lat and lat['max'])}) | {r['failures']} | "
                  f"{'–' if r['running'] is None else r['running']} | {r['mem_delta_kb'] / 1024:.2f} | "
                  f"{r['rm_s']:.2f} | {r['leaks']} |")
            errs = [(r["label"], r["error"]) for r in dd.values() if r.get("error")]
            for lbl, er in errs:
                a(f"\n{lbl}: last start error: `{er}`")
            a("")
        if "load" in self.results:
            ld = self.results["load"]
            le = ld["engines"]
            iso = le.get("isola", {}).get("s")
            a("## 4. Image load: docker-save archive of a 4-layer image")
            a("")
            a(f"Archive: {ld['archive_mib']:.0f} MiB, 4 layers of generated random-ish files "
              "(`bench/gen_image.py`: half incompressible, half text; small, medium and large files; the last "
              f"layer has whiteouts, an opaque dir and links). {p['load_reps']} interleaved rounds, `sync` "
              "before each load, image removed after each (isola: a fresh `--root` per load).")
            a("")
            a("| engine | median s | min s | max s | MB/s (median) | isola/engine |")
            a("|---|---:|---:|---:|---:|---:|")
            for name, r in le.items():
                if "na" in r:
                    na_row(name, r, 6)
                    continue
                s = r["s"]
                a(f"| {r['label']} | {s['median']:.2f} | {s['min']:.2f} | {s['max']:.2f} | {r['mbps']:.0f} | "
                  f"{ratio(iso['median'] if iso else None, s['median'])} |")
            a("")
        if "stream" in self.results:
            sm = self.results["stream"]
            se = sm["engines"]
            iso = se.get("isola", {}).get("mbps")
            a("## 5. Stream throughput: stdin → `cat` in a container → stdout")
            a("")
            a(f"{sm['bytes'] / 2**20:.0f} MiB of random bytes from a file (page cache) on stdin; stdout is a pipe "
              f"read by the harness, byte count checked. {p['stream_reps']} interleaved rounds; MB = 10^6 bytes; "
              "times include starting the container. isola/engine is the ratio of median throughputs "
              "(> 1: isola is faster). The host reference runs the same busybox `cat` on the same file (the "
              "floor); crun and runsc hand the file itself to the container as its stdin, the others relay "
              "the bytes through pipes or sockets (isola: its monitor's poll loop).")
            a("")
            a("| engine | median MB/s | min MB/s | max MB/s | median s | isola/engine |")
            a("|---|---:|---:|---:|---:|---:|")
            for name, r in se.items():
                if "na" in r:
                    na_row(name, r, 6)
                    continue
                s = r["mbps"]
                a(f"| {r['label']} | {s['median']:.0f} | {s['min']:.0f} | {s['max']:.0f} | {r['s']['median']:.2f} | "
                  f"{ratio(iso['median'] if iso else None, s['median'])} |")
            a("")
        if "storage" in self.results:
            storage.storage_markdown(self.results["storage"], a)
        if "vmboot" in self.results:
            storage.vmboot_markdown(self.results["vmboot"], a)
        if "network" in self.results:
            network.network_markdown(self.results["network"], a)
        return "\n".join(out) + "\n"

    def main(self):
        t0 = float(E.get("BENCH_T0") or time.time())
        self.case_load_avg = []
        for case in ["start", "memory", "density", "load", "stream", "storage", "vmboot", "network"]:
            if case in self.cases:
                self.case_load_avg.append((case, os.getloadavg()[0]))
                getattr(self, f"case_{case}")()
        md = self.markdown(time.time() - t0)
        print(md)
        if E.get("BENCH_OUT"):
            with open(E["BENCH_OUT"], "w") as f:
                f.write(md)
            with open(os.path.splitext(E["BENCH_OUT"])[0] + ".json", "w") as f:
                json.dump(dict(mode=self.mode, params=self.p, results=self.results, na=self.na,
                               isola_errors=self.isola_errors), f, indent=1)
            log(f"wrote {E['BENCH_OUT']}")
        if self.isola_errors:
            log("isola failures: " + " | ".join(self.isola_errors))
            if E.get("BENCH_STRICT") == "1":
                return 1
        return 0


def driver():
    try:
        return Suite().main()
    except KeyboardInterrupt:
        log("interrupted")
        return 130


def main():
    for k in ("BENCH_MODE", "BENCH_WORK", "BENCH_CASES", "BENCH_ENGINES"):
        if k not in E:
            print(f"bench.py: error: {k} is not set; run bench/run.sh instead", file=sys.stderr)
            return 2
    # Become a child subreaper and run the driver in a child: orphans of the
    # engines (detached containers, monitors) are reaped here at once.
    LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    pid = os.fork()
    if pid == 0:
        rc = 1
        try:
            rc = driver()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(rc)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, lambda sig, _f: os.kill(pid, sig))
    rc = 1
    while True:
        try:
            p, st = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if p == pid:
            rc = os.waitstatus_to_exitcode(st)
            break
    while True:  # reap what already died; the rest goes back to PID 1
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break
    return rc if rc >= 0 else 128 - rc


if __name__ == "__main__":
    sys.exit(main())
