//! VM isolation end to end, under whatever accelerator the host has (TCG
//! on the reference machine): the same verbs and flags as process mode,
//! the seed demonstration, and failures that must end cleanly.

use isola_e2e::*;
use std::process::Stdio;

const VM: &str = "--isolation=vm";

/// A root with busybox, where VM mode must be available: these tests fail
/// (not skip) on a host whose set-up did not provide kernel and agent.
fn vm_root() -> Isola {
    let i = Isola::new();
    let info = i.ok(&["info"]);
    assert!(
        info.contains(" vm: available"),
        "VM isolation unavailable: {info}"
    );
    i
}

#[test]
fn vm_seed_demo_guest_ping_and_one_host_process() {
    let i = vm_root();
    i.ok(&[
        "run",
        "-d",
        "--name",
        "v",
        "--isolation=hyperv",
        "busybox",
        "ping",
        "localhost",
    ]);
    let id = i.id("v");
    let top = i.ok(&["top", "v"]);
    assert!(top.lines().any(|l| l.contains("ping localhost")), "{top}");
    // The host has no ping of this container ...
    let host_pings = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| comm(*p) == "ping")
        .count();
    assert_eq!(host_pings, 0, "a ping runs on the host");
    // ... only the one VM monitor, whose PID inspect reports.
    let procs = processes_mentioning(&id);
    assert_eq!(procs.len(), 1, "host processes of the VM: {procs:?}");
    assert_eq!(i.inspect("v", "{{.State.Pid}}"), procs[0].to_string());
    assert_eq!(i.inspect("v", "{{.HostConfig.Isolation}}"), "vm");
    assert!(!i.inspect("v", "{{.State.VM.Kernel}}").is_empty());
    assert!(!i.inspect("v", "{{.State.VM.Accelerator}}").is_empty());
    i.ok(&["rm", "-f", "v"]);
    assert!(processes_mentioning(&id).is_empty());
    assert!(!i.path().join("containers").join(&id).exists());
}

#[test]
fn vm_exit_codes_streams_and_guest_kernel() {
    let i = vm_root();
    assert_eq!(
        i.run(&["run", "--rm", VM, "busybox", "true"]).status.code(),
        Some(0)
    );
    assert_eq!(
        i.run(&["run", "--rm", VM, "busybox", "false"])
            .status
            .code(),
        Some(1)
    );
    assert_fails(
        &i.run(&["run", "--rm", VM, "busybox", "nope"]),
        127,
        "executable file not found",
    );
    assert_fails(
        &i.run(&["run", "--rm", VM, "busybox", "/etc/passwd"]),
        126,
        "permission denied",
    );
    let o = i.run(&[
        "run",
        "--rm",
        VM,
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!(
        (stdout(&o).as_str(), stderr(&o).as_str()),
        ("out\n", "err\n")
    );
    let o = i.run(&[
        "run",
        "--rm",
        VM,
        "busybox",
        "sh",
        "-c",
        "sleep 10 & kill -9 $!; wait $!",
    ]);
    assert_eq!(o.status.code(), Some(137));
    let host = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let guest = i.ok(&["run", "--rm", VM, "busybox", "uname", "-r"]);
    assert_ne!(guest.trim(), host.trim(), "the guest runs its own kernel");
    assert!(guest.starts_with("6.1."), "{guest}");
    let o = i.run_with_input(
        &["run", "--rm", "-i", VM, "busybox", "cat"],
        b"through the VM\n",
    );
    assert_eq!(stdout(&o), "through the VM\n");
    let o = i.run(&["run", "--rm", "-t", VM, "busybox", "tty"]);
    assert!(stdout(&o).contains("/dev/pts/0"), "{}", stdout(&o));
    assert_eq!(i.ok(&["ps", "-aq"]), "", "--rm removed them all");
    assert_fails(
        &i.run(&["run", "--rm", VM, "--network", "host", "busybox", "true"]),
        125,
        "--network host is not available",
    );
}

#[test]
fn vm_detached_logs_exec_stop_and_rm() {
    let i = vm_root();
    i.ok(&[
        "run",
        "-d",
        "--name",
        "w",
        VM,
        "-e",
        "A=1",
        "busybox",
        "sh",
        "-c",
        "trap 'echo bye; exit 0' TERM; echo hello; echo oops >&2; while true; do sleep 0.2; done",
    ]);
    let id = i.id("w");
    eventually("the greeting in the log", || {
        i.ok(&["logs", "w"]).contains("hello")
    });
    let o = i.run(&["logs", "w"]);
    assert_eq!(
        (stdout(&o).as_str(), stderr(&o).as_str()),
        ("hello\n", "oops\n")
    );
    assert_eq!(i.ok(&["exec", "w", "sh", "-c", "echo $A"]), "1\n");
    assert_eq!(
        i.run(&["exec", "w", "sh", "-c", "exit 9"]).status.code(),
        Some(9)
    );
    assert_fails(
        &i.run(&["exec", "w", "nope"]),
        127,
        "executable file not found",
    );
    let o = i.run_with_input(&["exec", "-i", "w", "cat"], b"piped");
    assert_eq!(stdout(&o), "piped");
    // logs -f follows until the container stops.
    let follower = i
        .cmd(&["logs", "-f", "w"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    i.ok(&["stop", "w"]);
    let followed = follower.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&followed.stdout), "hello\nbye\n");
    assert_eq!(i.inspect("w", "{{.State.Status}}"), "exited");
    assert_eq!(i.inspect("w", "{{.State.ExitCode}}"), "0");
    assert!(processes_mentioning(&id).is_empty());
    i.ok(&["rm", "w"]);
    assert!(!i.path().join("containers").join(&id).exists());
}

#[test]
fn vm_stop_kills_after_timeout_and_keeps_writes_across_restart() {
    let i = vm_root();
    i.ok(&[
        "run",
        "-d",
        "--name",
        "s",
        VM,
        "busybox",
        "sh",
        "-c",
        "echo kept >> /data; trap '' TERM; while true; do sleep 0.2; done",
    ]);
    eventually("the container to run", || {
        i.run(&["exec", "s", "test", "-f", "/data"])
            .status
            .success()
    });
    i.ok(&["stop", "-t", "1", "s"]);
    assert_eq!(i.inspect("s", "{{.State.ExitCode}}"), "137");
    // A restarted VM container keeps what it wrote (its upper disk).
    i.ok(&["start", "s"]);
    eventually("the second run to append", || {
        i.run(&["exec", "s", "cat", "/data"]).stdout == b"kept\nkept\n"
    });
    i.ok(&["stop", "-t", "1", "s"]);
    i.ok(&["run", "-d", "--name", "t", VM, "busybox", "sleep", "100"]);
    i.ok(&["kill", "t"]);
    assert_eq!(i.ok(&["wait", "t"]).trim(), "137");
}

#[test]
fn default_isolation_from_config_and_cpus_memory_sizing() {
    let i = vm_root();
    std::fs::write(i.path().join("config.toml"), "default_isolation = \"vm\"\n").unwrap();
    assert!(i.ok(&["info"]).contains("Default Isolation: vm"));
    let out = i.ok(&[
        "run",
        "--name",
        "d",
        "--cpus",
        "2",
        "--memory",
        "64m",
        "busybox",
        "sh",
        "-c",
        "grep -c ^processor /proc/cpuinfo",
    ]);
    assert_eq!(out.trim(), "2", "--cpus 2 gives two vCPUs");
    assert_eq!(i.inspect("d", "{{.HostConfig.Isolation}}"), "vm");
    assert_eq!(
        i.inspect("d", "{{.State.VM.MemoryMib}}"),
        (64 + 96).to_string()
    );
    // --isolation=process still overrides the default.
    i.ok(&[
        "run",
        "--name",
        "p",
        "--isolation=process",
        "busybox",
        "true",
    ]);
    assert_eq!(i.inspect("p", "{{.HostConfig.Isolation}}"), "process");
}

#[test]
fn four_vms_at_once() {
    let i = vm_root();
    let children: Vec<_> = (0..4)
        .map(|n| {
            i.cmd(&[
                "run",
                "-d",
                "--name",
                &format!("m{n}"),
                VM,
                "busybox",
                "sleep",
                "60",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    assert_eq!(i.ok(&["ps", "-q"]).lines().count(), 4);
    for n in 0..4 {
        let top = i.ok(&["top", &format!("m{n}")]);
        assert!(top.contains("sleep 60"), "{top}");
    }
}

#[test]
fn vm_memory_limit_and_dead_vm_statuses() {
    let i = vm_root();
    let o = i.run(&[
        "run",
        "--name",
        "hog",
        VM,
        "--memory",
        "32m",
        "busybox",
        "tail",
        "/dev/zero",
    ]);
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
    assert_eq!(i.inspect("hog", "{{.State.OOMKilled}}"), "true");
    // kill -9 of the hypervisor: an exited container with a clear status.
    i.ok(&["run", "-d", "--name", "k9", VM, "busybox", "sleep", "100"]);
    let id = i.id("k9");
    let pid: i32 = i.inspect("k9", "{{.State.Pid}}").parse().unwrap();
    unsafe { libc::kill(pid, libc::SIGKILL) };
    eventually("the VM to be gone", || {
        comm(pid).is_empty() || i.inspect("k9", "{{.State.Status}}") == "exited"
    });
    assert_eq!(i.inspect("k9", "{{.State.Status}}"), "exited");
    assert_eq!(i.inspect("k9", "{{.State.ExitCode}}"), "255");
    assert!(i
        .inspect("k9", "{{.State.Error}}")
        .contains("without reporting an exit status"));
    i.ok(&["rm", "k9"]);
    assert!(processes_mentioning(&id).is_empty());
    assert!(!i.path().join("containers").join(&id).exists());
}

#[test]
fn crashed_agent_panics_the_guest_and_ends_the_container() {
    let i = vm_root();
    // An "agent" that exits at once: the guest kernel panics (init died).
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    std::fs::write(root.join("init"), "#!/bin/sh\nexit 1\n").unwrap();
    std::process::Command::new("chmod")
        .args(["+x", root.join("init").to_str().unwrap()])
        .status()
        .unwrap();
    let initrd = dir.path().join("initrd.img");
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd {} && find . | cpio -o -H newc --quiet > {}",
            root.display(),
            initrd.display()
        ))
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::write(
        i.path().join("config.toml"),
        format!("vm_initrd = \"{}\"\n", initrd.display()),
    )
    .unwrap();
    let o = i.run(&["run", "--name", "crash", VM, "busybox", "true"]);
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    let id = i.id("crash");
    assert_eq!(i.inspect("crash", "{{.State.Status}}"), "exited");
    assert!(
        i.inspect("crash", "{{.State.Error}}")
            .contains("guest kernel panicked"),
        "{}",
        i.inspect("crash", "{{.State.Error}}")
    );
    assert!(processes_mentioning(&id).is_empty());
}

#[test]
fn missing_or_corrupt_parts_are_one_line_125_errors() {
    let i = vm_root();
    std::fs::write(
        i.path().join("config.toml"),
        "vm_kernel = \"/nonexistent/vmlinux\"\n",
    )
    .unwrap();
    assert_fails(
        &i.run(&["run", "--rm", VM, "busybox", "true"]),
        125,
        "guest kernel not found at /nonexistent/vmlinux",
    );
    let junk = i.path().join("junk-vmlinux");
    std::fs::write(&junk, b"not a kernel").unwrap();
    std::fs::write(
        i.path().join("config.toml"),
        format!("vm_kernel = \"{}\"\n", junk.display()),
    )
    .unwrap();
    assert_fails(
        &i.run(&["run", "--rm", VM, "busybox", "true"]),
        125,
        "not an ELF",
    );
    std::fs::remove_file(i.path().join("config.toml")).unwrap();
    let o = i
        .cmd(&["run", "--rm", VM, "busybox", "true"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_fails(&o, 125, "qemu-system-x86");
    // A VM that does not come up in time is killed, nothing left running.
    let o = i
        .cmd(&["run", "-d", "--name", "slow", VM, "busybox", "sleep", "60"])
        .env("ISOLA_VM_BOOT_TIMEOUT", "0.2")
        .output()
        .unwrap();
    assert_fails(&o, 125, "did not come up");
    let id = i.id("slow");
    eventually("no VM process left", || {
        processes_mentioning(&id).is_empty()
    });
    assert_ne!(i.inspect("slow", "{{.State.Status}}"), "running");
    assert_eq!(i.ok(&["ps", "-q"]), "");
}

#[test]
fn isolation_rules_choose_vm_for_matching_images_unless_asked() {
    let i = vm_root();
    i.ok(&["tag", "busybox", "untrusted.example:5000/tools/busybox:1"]);
    std::fs::write(
        i.path().join("config.toml"),
        "default_isolation = \"process\"\n\n[[isolation_rule]]\nimage = \"untrusted.example:5000/*\"\nisolation = \"vm\"\n",
    )
    .unwrap();
    let info = i.ok(&["info"]);
    assert!(
        info.contains(" 1: image untrusted.example:5000/* -> vm"),
        "{info}"
    );
    i.ok(&[
        "create",
        "--name",
        "u",
        "untrusted.example:5000/tools/busybox:1",
    ]);
    assert_eq!(i.inspect("u", "{{.HostConfig.Isolation}}"), "vm");
    assert!(i
        .inspect("u", "{{.HostConfig.IsolationSource}}")
        .starts_with("isolation_rule 1"));
    let o = i.run(&["start", "-a", "u"]);
    assert!(o.status.success(), "{}", stderr(&o));
    // Other images keep the host default; an explicit flag beats the rule.
    i.ok(&["create", "--name", "t", "busybox"]);
    assert_eq!(i.inspect("t", "{{.HostConfig.Isolation}}"), "process");
    assert!(i
        .inspect("t", "{{.HostConfig.IsolationSource}}")
        .starts_with("default"));
    i.ok(&[
        "create",
        "--name",
        "p",
        "--isolation=process",
        "untrusted.example:5000/tools/busybox:1",
    ]);
    assert_eq!(i.inspect("p", "{{.HostConfig.Isolation}}"), "process");
    assert_eq!(
        i.inspect("p", "{{.HostConfig.IsolationSource}}"),
        "--isolation"
    );
    // A bad rule is one clear line.
    std::fs::write(
        i.path().join("config.toml"),
        "[[isolation_rule]]\nimage = \"x/*\"\nisolation = \"container\"\n",
    )
    .unwrap();
    assert_fails(&i.run(&["ps"]), 1, "isolation_rule 1");
}
