//! Process isolation end to end: the seed demonstration, namespaces,
//! cgroup limits, Docker's security defaults and crash resilience.

use isola_e2e::*;
use std::process::Stdio;

#[test]
fn seed_demo_top_shows_the_host_pid_of_ping() {
    let i = Isola::new();
    i.ok(&["run", "-d", "--name", "p", "busybox", "ping", "localhost"]);
    let top = i.ok(&["top", "p"]);
    let mut lines = top.lines();
    let header = lines.next().unwrap();
    let pid_col = header.split_whitespace().position(|h| h == "PID").unwrap();
    let ping = lines
        .find(|l| l.contains("ping localhost"))
        .unwrap_or_else(|| panic!("no ping in top: {top}"));
    let pid: i32 = ping
        .split_whitespace()
        .nth(pid_col)
        .unwrap()
        .parse()
        .unwrap();
    // The host sees the very same PID as a process named ping ...
    assert_eq!(comm(pid), "ping");
    let host_ps = std::process::Command::new("ps")
        .args(["-p", &pid.to_string(), "-o", "comm="])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&host_ps.stdout).trim(), "ping");
    // ... which is the container's init.
    assert_eq!(i.inspect("p", "{{.State.Pid}}"), pid.to_string());
    // Inside, the container sees only its own processes.
    let inside = i.ok(&["exec", "p", "ps", "-o", "pid,comm"]);
    let procs: Vec<&str> = inside.lines().skip(1).collect();
    assert!(procs.iter().any(|l| l.trim() == "1 ping"), "{inside}");
    assert!(procs.len() <= 3, "sees host processes: {inside}");
    // ping really works on the container's loopback.
    i.ok(&["exec", "p", "ping", "-c", "1", "127.0.0.1"]);
    // top takes ps options.
    let custom = i.ok(&["top", "p", "-o", "pid,comm"]);
    assert!(
        custom
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == [pid.to_string().as_str(), "ping"]),
        "{custom}"
    );
}

#[test]
fn namespaces_hostname_network_and_user() {
    let i = Isola::new();
    assert_eq!(
        i.ok(&["run", "--rm", "--hostname", "box", "busybox", "hostname"]),
        "box\n"
    );
    let id = i.ok(&["run", "-d", "busybox", "sleep", "30"]);
    assert_eq!(
        i.ok(&["exec", id.trim(), "hostname"]).trim(),
        &id.trim()[..12]
    );
    // --network none: loopback only, and up.
    let ifs = i.ok(&["run", "--rm", "busybox", "ls", "/sys/class/net"]);
    assert_eq!(ifs, "lo\n");
    let host_ifs = std::fs::read_dir("/sys/class/net").unwrap().count();
    let o = i.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "ls",
        "/sys/class/net",
    ]);
    assert_eq!(o.lines().count(), host_ifs);
    assert_eq!(
        i.ok(&["run", "--rm", "-u", "nobody", "busybox", "id"]),
        "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n"
    );
    assert_eq!(
        i.ok(&[
            "run",
            "--rm",
            "-u",
            "1234:5678",
            "busybox",
            "sh",
            "-c",
            "id -u; id -g; echo $HOME"
        ]),
        "1234\n5678\n/\n"
    );
    assert_fails(
        &i.run(&["run", "--rm", "-u", "ghost", "busybox", "true"]),
        125,
        "unable to find user ghost",
    );
    // Own mount namespace: the container's root never shows on the host.
    let cid = id.trim();
    assert!(!std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains(cid));
}

#[test]
fn env_workdir_entrypoint_and_read_only() {
    let i = Isola::new();
    let env_file = i.path().join("env.list");
    std::fs::write(&env_file, "# comment\nFROM_FILE=yes\n\nB=file\n").unwrap();
    let out = i.ok(&[
        "run",
        "--rm",
        "-e",
        "A=1",
        "-e",
        "B=flag",
        "--env-file",
        env_file.to_str().unwrap(),
        "-w",
        "/work/dir",
        "busybox",
        "sh",
        "-c",
        "echo $A $B $FROM_FILE $HOSTNAME; pwd; echo $PATH",
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("1 flag yes "), "{out}");
    assert_eq!(lines[1], "/work/dir");
    assert_eq!(
        lines[2],
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    );
    assert_eq!(
        i.ok(&["run", "--rm", "--entrypoint", "echo", "busybox", "a", "b"]),
        "a b\n"
    );
    // The image's CMD ["sh"] applies when no command is given.
    let o = i.run_with_input(&["run", "--rm", "-i", "busybox"], b"echo from-sh\n");
    assert_eq!(stdout(&o), "from-sh\n");
    let o = i.run(&["run", "--rm", "--read-only", "busybox", "touch", "/x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    i.ok(&[
        "run",
        "--rm",
        "--read-only",
        "busybox",
        "touch",
        "/dev/shm/ok",
    ]);
}

#[test]
fn docker_security_defaults() {
    let i = Isola::new();
    // Capabilities: Docker's default set only (CapEff 0x00000000a80425fb).
    let status = i.ok(&[
        "run",
        "--rm",
        "busybox",
        "grep",
        "-E",
        "^(CapEff|CapBnd|NoNewPrivs|Seccomp):",
        "/proc/self/status",
    ]);
    assert!(status.contains("CapEff:\t00000000a80425fb"), "{status}");
    assert!(status.contains("CapBnd:\t00000000a80425fb"), "{status}");
    // As in Docker: no_new_privs only with --security-opt no-new-privileges.
    assert!(status.contains("NoNewPrivs:\t0"), "{status}");
    assert!(status.contains("Seccomp:\t2"), "{status}");
    // Non-root users keep only the bounding set, as execve leaves them.
    let status = i.ok(&[
        "run",
        "--rm",
        "-u",
        "nobody",
        "busybox",
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!(status, "CapEff:\t0000000000000000\n");
    // No CAP_SYS_ADMIN, and seccomp refuses mount.
    let o = i.run(&[
        "run", "--rm", "busybox", "mount", "-t", "tmpfs", "x", "/mnt",
    ]);
    assert_ne!(o.status.code(), Some(0));
    // Masked and read-only paths.
    for masked in ["/proc/kcore", "/proc/keys", "/proc/timer_list"] {
        if std::path::Path::new(masked).exists() {
            assert_eq!(
                i.ok(&["run", "--rm", "busybox", "cat", masked]),
                "",
                "{masked}"
            );
        }
    }
    let o = i.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo 1 > /proc/sys/kernel/panic",
    ]);
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    // Docker's default devices exist and work.
    assert_eq!(
        i.ok(&[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "head -c 4 /dev/zero | wc -c"
        ])
        .trim(),
        "4"
    );
}

#[test]
fn memory_limit_ends_in_oom_kill_137() {
    let i = Isola::new();
    let o = i.run(&[
        "run",
        "--name",
        "hog",
        "--memory",
        "32m",
        "busybox",
        "tail",
        "/dev/zero",
    ]);
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
    assert_eq!(i.inspect("hog", "{{.State.OOMKilled}}"), "true");
    assert_eq!(
        i.inspect("hog", "{{.HostConfig.Memory}}"),
        (32 << 20).to_string()
    );
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    let i = Isola::new();
    i.ok(&[
        "run",
        "-d",
        "--name",
        "bomb",
        "--pids-limit",
        "10",
        "busybox",
        "sleep",
        "60",
    ]);
    let o = i.run(&[
        "exec",
        "bomb",
        "sh",
        "-c",
        "for n in $(seq 40); do sleep 60 >/dev/null 2>&1 & done",
    ]);
    assert!(stderr(&o).contains("can't fork"), "{}", stderr(&o));
    let id = i.id("bomb");
    let v1 = std::path::Path::new("/sys/fs/cgroup/pids/isola")
        .join(&id)
        .join("pids.current");
    let v2 = std::path::Path::new("/sys/fs/cgroup/isola")
        .join(&id)
        .join("pids.current");
    let current: usize = std::fs::read_to_string(&v1)
        .or_else(|_| std::fs::read_to_string(&v2))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(current <= 10, "{current} processes despite --pids-limit 10");
    // With every slot taken, exec fails cleanly too.
    assert_eq!(i.run(&["exec", "bomb", "true"]).status.code(), Some(1));
}

#[test]
fn cpus_sets_the_cfs_quota() {
    let i = Isola::new();
    i.ok(&[
        "run", "-d", "--name", "c", "--cpus", "0.5", "busybox", "sleep", "30",
    ]);
    let id = i.id("c");
    let v1 = std::path::Path::new("/sys/fs/cgroup/cpu/isola")
        .join(&id)
        .join("cpu.cfs_quota_us");
    let v2 = std::path::Path::new("/sys/fs/cgroup/isola")
        .join(&id)
        .join("cpu.max");
    let quota = std::fs::read_to_string(&v1)
        .or_else(|_| std::fs::read_to_string(&v2))
        .unwrap();
    assert!(quota.starts_with("50000"), "{quota}");
    assert_eq!(i.inspect("c", "{{.HostConfig.NanoCpus}}"), "500000000");
}

#[test]
fn killing_the_cli_or_the_monitor_leaves_a_removable_container() {
    let i = Isola::new();
    // kill -9 the CLI while `run -d` is under way.
    let mut cli = i
        .cmd(&["run", "-d", "--name", "orphan", "busybox", "sleep", "100"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let dir = i.path().join("containers");
    eventually("the container to be created", || {
        std::fs::read_dir(&dir)
            .map(|d| d.flatten().any(|e| e.path().join("config.json").exists()))
            .unwrap_or(false)
    });
    let _ = cli.kill();
    let _ = cli.wait();
    assert!(i.ok(&["ps", "-a"]).contains("orphan"));
    let id = i.id("orphan");
    i.ok(&["rm", "-f", "orphan"]);
    assert!(leftovers(&id).is_empty(), "{:?}", leftovers(&id));

    // kill -9 the monitor of a running container.
    i.ok(&["run", "-d", "--name", "nomon", "busybox", "sleep", "100"]);
    let id = i.id("nomon");
    let monitor: i32 = i.inspect("nomon", "{{.State.MonitorPid}}").parse().unwrap();
    let pid: i32 = i.inspect("nomon", "{{.State.Pid}}").parse().unwrap();
    unsafe { libc::kill(monitor, libc::SIGKILL) };
    eventually("the monitor to die", || !running(monitor));
    assert!(
        i.ok(&["ps"]).contains("nomon"),
        "still running without its monitor"
    );
    i.ok(&["rm", "-f", "nomon"]);
    eventually("the container init to die", || {
        comm(pid).is_empty() || comm(pid) != "sleep"
    });
    assert!(leftovers(&id).is_empty(), "{:?}", leftovers(&id));
    assert_eq!(i.ok(&["ps", "-aq"]), "");
}
