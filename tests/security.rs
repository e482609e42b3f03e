//! Attacks on the host from a container or from another local user, as the
//! hardening issue describes them: each test attacks one hole the way an
//! attacker would, in both isolation modes where the mode matters.

use isola_e2e::*;
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

const VM: &str = "--isolation=vm";

/// Runs `args` with a directory of the host open at fd 9 *without*
/// CLOEXEC, as a shell's `exec 9</dir` would leave it.
fn with_fd9(i: &Isola, dir: &Path, args: &[&str]) -> std::process::Output {
    let held = std::fs::File::open(dir).unwrap();
    let raw = held.as_raw_fd();
    let mut cmd = i.cmd(args);
    // SAFETY: dup2 is async-signal-safe; it runs in the forked child only.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 9) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    drop(held);
    out
}

/// Whether any fd of `pid` points at `dir`.
fn holds(pid: i32, dir: &Path) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == dir))
        })
        .unwrap_or(false)
}

#[test]
fn inherited_fds_reach_no_container_monitor_or_vm() {
    let i = Isola::new();
    let secret = tempfile::tempdir().unwrap();
    let probe =
        "if [ -e /proc/self/fd/9 ]; then echo LEAK; ls /proc/self/fd/9/; else echo clean; fi";
    // run (attached), in both modes.
    for mode in ["--isolation=process", VM] {
        let o = with_fd9(
            &i,
            secret.path(),
            &["run", "--rm", mode, "busybox", "sh", "-c", probe],
        );
        assert_eq!(stdout(&o), "clean\n", "{mode}: {}", stderr(&o));
    }
    // run -d: neither the monitor nor the container's init holds it.
    let o = with_fd9(
        &i,
        secret.path(),
        &["run", "-d", "--name", "p", "busybox", "sleep", "1000"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let pid: i32 = i.inspect("p", "{{.State.Pid}}").parse().unwrap();
    let id = i.id("p");
    assert!(
        !holds(pid, secret.path()),
        "the container's init holds the fd"
    );
    for p in processes_mentioning(&id) {
        assert!(
            !holds(p, secret.path()),
            "process {p} (monitor) holds the fd"
        );
    }
    // exec
    let o = with_fd9(&i, secret.path(), &["exec", "p", "sh", "-c", probe]);
    assert_eq!(stdout(&o), "clean\n", "exec: {}", stderr(&o));
    // VM mode: the hypervisor does not inherit it either.
    let o = with_fd9(
        &i,
        secret.path(),
        &["run", "-d", "--name", "v", VM, "busybox", "sleep", "1000"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let qemu: i32 = i.inspect("v", "{{.State.Pid}}").parse().unwrap();
    assert!(!holds(qemu, secret.path()), "QEMU holds the fd");
    let o = with_fd9(&i, secret.path(), &["exec", "v", "sh", "-c", probe]);
    assert_eq!(stdout(&o), "clean\n", "vm exec: {}", stderr(&o));
}

/// Runs `sh -c script` as user nobody (uid 65534, no groups).
fn as_nobody(script: &str) -> std::process::Output {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sh",
            "-c",
            script,
        ])
        .output()
        .expect("setpriv (util-linux)")
}

#[test]
fn other_host_users_cannot_read_state_or_run_container_setuid_files() {
    // A root whose parent every user can traverse, as /var/lib is.
    let outer = tempfile::tempdir_in("/var/tmp").unwrap();
    std::fs::set_permissions(outer.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = outer.path().join("root");
    let i = Isola::at(&root);
    i.ok(&[
        "run",
        "-d",
        "--name",
        "p",
        "-e",
        "SECRET=hunter2",
        "busybox",
        "sh",
        "-c",
        "cp /bin/busybox /suid && chmod 4755 /suid && echo logged-secret && sleep 1000",
    ]);
    i.ok(&[
        "run",
        "-d",
        "--name",
        "v",
        VM,
        "-e",
        "SECRET=hunter2",
        "busybox",
        "sleep",
        "1000",
    ]);
    let (p, v) = (i.id("p"), i.id("v"));
    eventually("the set-uid file", || {
        root.join(format!("containers/{p}/upper/suid")).exists()
    });
    let dir = |id: &str| root.join("containers").join(id);
    let attempts = [
        format!("cat {}/config.json", dir(&p).display()),
        format!("cat {}/{p}-json.log", dir(&p).display()),
        format!("{}/upper/suid id -u", dir(&p).display()),
        format!("ls {}", root.join("containers").display()),
        format!("cat {}/config.json", dir(&v).display()),
        format!("head -c1 {}/upper.ext4", dir(&v).display()),
        format!("ls {}/images", root.display()),
        format!("ls {}/vm", root.display()),
    ];
    for a in &attempts {
        let o = as_nobody(a);
        assert!(!o.status.success(), "nobody could: {a}: {}", stdout(&o));
    }
    // An older root with open permissions is tightened when next opened.
    for path in [root.clone(), root.join("containers"), dir(&p)] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(
        dir(&p).join("config.json"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    i.ok(&["ps"]);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode(&root), 0o710);
    assert_eq!(mode(&root.join("containers")), 0o700);
    assert_eq!(mode(&dir(&p)), 0o700);
    assert_eq!(mode(&dir(&p).join("config.json")), 0o600);
    let o = as_nobody(&format!("cat {}/config.json", dir(&p).display()));
    assert!(!o.status.success(), "readable after upgrade");
}

/// The devices a container must not open, by node: kvm, loop-control,
/// fuse, kmsg. It may create nodes (Docker grants mknod) but not use them.
const DEVICE_PROBE: &str =
    "for d in 'kvm c 10 232' 'loopctl c 10 237' 'fuse c 10 229' 'kmsg c 1 11'; do \
    set -- $d; mknod /tmp/$1 $2 $3 $4 || echo mknod-failed-$1; \
    if head -c0 /tmp/$1 2>/dev/null; then echo OPENED-$1; else echo denied-$1; fi; done; \
    head -c0 /dev/null && echo null-ok";

#[test]
fn pure_cgroup_v2_host_enforces_the_device_list() {
    let i = Isola::new();
    // A pure-v2 view of this hybrid host: cgroup2 at /sys/fs/cgroup in a
    // private mount namespace (attaching a device program needs no
    // controller).
    let script = format!(
        "set -e; mount -t cgroup2 none /sys/fs/cgroup; {bin} --root {root} info | grep 'Cgroup Version'; \
         {bin} --root {root} run --rm busybox sh -c \"$PROBE\"",
        bin = bin().display(),
        root = i.path().display(),
    );
    // The script runs isola itself, not through `Isola::cmd`: no network,
    // or its container would join the bridge in the machine's namespace.
    let o = Command::new("unshare")
        .env("PROBE", DEVICE_PROBE)
        .env("ISOLA_DEFAULT_NETWORK", "none")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(out.contains("Cgroup Version: 2"), "not a v2 view: {out}");
    for dev in ["kvm", "loopctl", "fuse", "kmsg"] {
        assert!(out.contains(&format!("denied-{dev}")), "{dev}: {out}");
    }
    assert!(out.contains("null-ok"), "{out}");
    assert!(!out.contains("OPENED"), "{out}");
}

#[test]
fn the_guest_applies_the_device_list_too() {
    let i = Isola::new();
    let o = i.run(&[
        "run", "--rm", VM, "busybox", "sh", "-c",
        &format!("{DEVICE_PROBE}; mknod /tmp/disk b 254 0; head -c1 /tmp/disk >/dev/null 2>&1 && echo OPENED-disk || echo denied-disk"),
    ]);
    let out = stdout(&o);
    for dev in ["kmsg", "disk", "fuse"] {
        assert!(
            out.contains(&format!("denied-{dev}")),
            "{dev}: {out}{}",
            stderr(&o)
        );
    }
    assert!(out.contains("null-ok") && !out.contains("OPENED"), "{out}");
}

#[test]
fn exec_helper_binary_cannot_be_opened_from_the_container() {
    // The helper that joins the container resolves the user in the
    // container's /etc/passwd; the container makes that a FIFO, so the
    // helper (a copy of the host's isola until it executes the command)
    // waits inside the container while the container's own process tries
    // to open its /proc/PID/exe, as CVE-2019-5736 did. Runs on a copy of
    // the binary, so a successful attack cannot damage the one under test.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("isola");
    std::fs::copy(bin(), &copy).unwrap();
    let i = Isola::new().with_bin(&copy);
    let watcher = "cp /etc/passwd /tmp/passwd.real; rm /etc/passwd; mkfifo /etc/passwd; echo armed; \
        while :; do for p in /proc/[0-9]*; do p=${p#/proc/}; \
          if tr '\\0' ' ' < /proc/$p/cmdline 2>/dev/null | grep -q -e '-[-]root'; then \
            if cat /proc/$p/exe > /tmp/stolen 2>/tmp/err; then echo RESULT stolen $(wc -c < /tmp/stolen); \
            else echo RESULT denied $(cat /tmp/err); fi; \
            echo x >> /proc/$p/exe 2>/dev/null && echo RESULT WROTE; \
            cat /tmp/passwd.real > /etc/passwd; rm /etc/passwd; cp /tmp/passwd.real /etc/passwd; \
            sleep 1000; fi; done; done";
    i.ok(&["run", "-d", "--name", "w", "busybox", "sh", "-c", watcher]);
    eventually("the FIFO", || i.ok(&["logs", "w"]).contains("armed"));
    let exec = i
        .cmd(&["exec", "-u", "nobody", "w", "true"])
        .output()
        .unwrap();
    assert!(exec.status.success(), "exec: {}", stderr(&exec));
    eventually("the watcher's result", || {
        i.ok(&["logs", "w"]).contains("RESULT")
    });
    let logs = i.ok(&["logs", "w"]);
    assert!(logs.contains("RESULT denied"), "{logs}");
    assert!(
        !logs.contains("stolen") && !logs.contains("WROTE"),
        "{logs}"
    );
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(bin()).unwrap());
}

#[test]
fn a_container_racing_concurrent_execs_never_opens_the_host_binary() {
    // The CVE-2019-5736 race itself: the container's own process spins
    // over /proc opening every new process's exe (with shell builtins
    // only, so it is fast) while the host runs `isola exec` again and
    // again. Between dropping to the container's capabilities and executing
    // the command, the helper is the host's isola binary; it must never be
    // opened.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("isola");
    std::fs::copy(bin(), &copy).unwrap();
    let i = Isola::new().with_bin(&copy);
    let watcher = "seen=' '; echo armed; while :; do for p in /proc/[0-9]*; do n=${p#/proc/}; \
        case $seen in *\" $n \"*) continue;; esac; \
        if command exec 3< $p/exe 2>/dev/null; then \
          case $seen in *\" $n \"*) ;; *) seen=\"$seen$n \"; esac; \
          l=$(readlink /proc/self/fd/3); exec 3<&-; \
          case $l in /bin/busybox) ;; *) echo STOLEN $n $l;; esac; fi; done; done";
    i.ok(&["run", "-d", "--name", "r", "busybox", "sh", "-c", watcher]);
    eventually("the watcher", || i.ok(&["logs", "r"]).contains("armed"));
    for _ in 0..150 {
        i.ok(&["exec", "r", "true"]);
    }
    let logs = i.ok(&["logs", "r"]);
    assert!(!logs.contains("STOLEN"), "{logs}");
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(bin()).unwrap());
}

#[test]
fn exec_runs_from_a_sealed_copy_of_the_binary() {
    let i = Isola::new();
    i.ok(&["run", "-d", "--name", "s", "busybox", "sleep", "1000"]);
    let mut child = i
        .cmd(&["exec", "s", "sleep", "5"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    eventually("the sealed re-exec", || {
        std::fs::read_link(format!("/proc/{pid}/exe"))
            .is_ok_and(|t| t.to_string_lossy().starts_with("/memfd:isola-sealed"))
    });
    // Sealed against writes, growth and shrinking: once nothing executes
    // it, still nobody (not even the host's root) can change a byte.
    let f = std::fs::File::open(format!("/proc/{pid}/exe")).unwrap();
    // SAFETY: F_GET_SEALS reads nothing from memory.
    let seals = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GET_SEALS) };
    let want = libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL;
    assert_eq!(seals & want, want, "seals {seals:#x}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn a_guest_flooding_its_console_fills_nothing_on_the_host() {
    let i = Isola::new();
    // kmsg and the serial port are the guest's ways to its console: the
    // device list refuses them, and QEMU keeps the console in a bounded
    // ring in any case.
    let o = i.run(&[
        "run", "--rm", "--name", "flood", VM, "busybox", "sh", "-c",
        "mknod /tmp/kmsg c 1 11; mknod /tmp/ttyS0 c 4 64; \
         for n in $(seq 2000); do echo AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA > /tmp/kmsg; \
         echo AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA > /tmp/ttyS0; done 2>/dev/null; \
         echo done",
    ]);
    assert_eq!(stdout(&o), "done\n", "{}", stderr(&o));
    i.ok(&["run", "-d", "--name", "v", VM, "busybox", "sleep", "1000"]);
    let qemu: i32 = i.inspect("v", "{{.State.Pid}}").parse().unwrap();
    let cmdline = String::from_utf8(std::fs::read(format!("/proc/{qemu}/cmdline")).unwrap())
        .unwrap()
        .replace('\0', " ");
    assert!(
        cmdline.contains("-chardev ringbuf,id=console,size=65536 -serial chardev:console"),
        "{cmdline}"
    );
    assert!(!cmdline.contains("file:"), "a console file: {cmdline}");
}

#[test]
fn set_uid_programs_work_without_no_new_privs_in_both_modes() {
    let i = Isola::new();
    for mode in ["--isolation=process", VM] {
        let o = i.run(&[
            "run",
            "--rm",
            mode,
            "-u",
            "nobody",
            "busybox",
            "grep",
            "NoNewPrivs",
            "/proc/self/status",
        ]);
        assert_eq!(stdout(&o), "NoNewPrivs:\t0\n", "{mode}: {}", stderr(&o));
        // Seccomp still applies: the default policy refuses unshare.
        let o = i.run(&["run", "--rm", mode, "busybox", "unshare", "-U", "true"]);
        assert!(!o.status.success(), "{mode}: unshare allowed");
    }
}

/// The cgroup view every container gets (cgroup v1 hosts included): its own
/// limits, read-only. A process in the container can neither raise its
/// limit, nor remount the view writable, nor move itself out.
#[test]
fn the_cgroup_view_is_the_containers_own_and_read_only() {
    let i = Isola::new();
    let probe = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; \
        for f in memory/memory.limit_in_bytes memory.max; do \
          [ -e /sys/fs/cgroup/$f ] && { echo 999999999 > /sys/fs/cgroup/$f && echo WROTE-$f || echo denied-write; }; done; \
        mount -o remount,rw /sys/fs/cgroup 2>/dev/null && echo REMOUNTED || echo denied-remount; \
        for p in /sys/fs/cgroup/memory/cgroup.procs /sys/fs/cgroup/cgroup.procs; do \
          [ -e $p ] && { echo $$ > $p 2>/dev/null && echo MOVED || echo denied-move; }; done; \
        ls /sys/fs/cgroup/memory 2>/dev/null | grep -c '^isola$' || true";
    let o = i.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "-m",
        "64m",
        "busybox",
        "sh",
        "-c",
        probe,
    ]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(out.starts_with("67108864\n"), "not its own limit: {out}");
    for denied in ["denied-write", "denied-remount", "denied-move"] {
        assert!(out.contains(denied), "{denied}: {out}");
    }
    assert!(
        !out.contains("WROTE") && !out.contains("REMOUNTED") && !out.contains("MOVED"),
        "{out}"
    );
    // The root of the view is the container's cgroup: no other container's.
    assert!(
        out.trim_end().ends_with('0'),
        "sees the host's isola/ cgroups: {out}"
    );
}

/// `--uts host` shares the host's name but cannot change it; joining a
/// stopped container's namespaces is refused in one line, nothing made.
#[test]
fn shared_namespaces_grant_nothing_more() {
    let i = Isola::new();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let o = i.run(&[
        "run",
        "--rm",
        "--network",
        "none",
        "--uts",
        "host",
        "busybox",
        "sh",
        "-c",
        "hostname; hostname evil 2>/dev/null && echo RENAMED || echo denied",
    ]);
    assert_eq!(stdout(&o), format!("{host}denied\n"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        host
    );
    i.ok(&[
        "create",
        "--name",
        "idle",
        "--network",
        "none",
        "busybox",
        "sleep",
        "5",
    ]);
    for flag in ["--pid", "--ipc"] {
        let o = i.run(&[
            "run",
            "--rm",
            "--network",
            "none",
            flag,
            "container:idle",
            "busybox",
            "true",
        ]);
        assert_fails(&o, 125, "it is not running");
    }
    assert_fails(
        &i.run(&["run", "--rm", "--uts", "container:idle", "busybox", "true"]),
        125,
        "--uts",
    );
    // A guest has its own kernel: nothing of the host's to share.
    let o = i.run(&["run", "--rm", VM, "--pid", "host", "busybox", "true"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(
        err.contains("--pid host is not available with --isolation=vm")
            || err.contains("isolation is unavailable"),
        "{err}"
    );
    assert_eq!(
        i.ok(&["ps", "-aq"]).lines().count(),
        1,
        "a refused run left a container"
    );
}
