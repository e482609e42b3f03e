//! Docker's security flags in both isolation modes: capabilities,
//! `--privileged`, `--security-opt`, stop signal and timeout, labels and
//! `--cidfile`, with the bad input each refuses.

use isola_e2e::*;

const MODES: [&str; 2] = ["--isolation=process", "--isolation=vm"];

fn run_in(i: &Isola, mode: &str, flags: &[&str], script: &str) -> std::process::Output {
    let mut args = vec!["run", "--rm", mode];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["busybox", "sh", "-c", script]);
    i.run(&args)
}

fn status_field(i: &Isola, mode: &str, flags: &[&str], field: &str) -> String {
    let o = run_in(
        i,
        mode,
        flags,
        &format!("grep '^{field}:' /proc/self/status"),
    );
    assert!(o.status.success(), "{mode} {flags:?}: {}", stderr(&o));
    stdout(&o)
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string()
}

#[test]
fn capabilities_follow_cap_add_cap_drop_and_privileged() {
    let i = Isola::new();
    for mode in MODES {
        // Docker's default set, then ALL dropped: ping loses CAP_NET_RAW.
        assert_eq!(
            status_field(&i, mode, &[], "CapEff"),
            "00000000a80425fb",
            "{mode}"
        );
        assert_eq!(
            status_field(&i, mode, &["--cap-drop", "ALL"], "CapEff"),
            "0000000000000000"
        );
        let o = run_in(&i, mode, &["--cap-drop", "ALL"], "ping -c1 -W1 127.0.0.1");
        assert!(!o.status.success(), "{mode}: ping without NET_RAW");
        let o = run_in(&i, mode, &[], "ping -c1 -W1 127.0.0.1");
        assert!(
            o.status.success(),
            "{mode}: ping with NET_RAW: {}",
            stderr(&o)
        );
        // NET_ADMIN lets the container configure its own interfaces.
        let o = run_in(&i, mode, &[], "ip link set lo mtu 1280");
        assert!(!o.status.success(), "{mode}: NET_ADMIN by default");
        let o = run_in(
            &i,
            mode,
            &["--cap-add", "net_admin"],
            "ip link set lo mtu 1280 && echo ok",
        );
        assert_eq!(stdout(&o), "ok\n", "{mode}: {}", stderr(&o));
        // --cap-drop ALL --cap-add keeps only what is added.
        let eff = status_field(
            &i,
            mode,
            &["--cap-drop", "ALL", "--cap-add", "CAP_KILL"],
            "CapEff",
        );
        assert_eq!(eff, "0000000000000020", "{mode}");
        // Privileged: every capability and no seccomp filter, inside the
        // guest in VM mode, with no host device appearing.
        let o = run_in(
            &i,
            mode,
            &["--privileged"],
            "grep -E '^(CapEff|Seccomp):' /proc/self/status",
        );
        let out = stdout(&o);
        assert!(out.contains("Seccomp:\t0"), "{mode}: {out}");
        // Every capability the runtime holds (this CI sandbox itself lacks
        // CAP_SYS_RESOURCE): at least the defaults plus SYS_ADMIN and NET_ADMIN.
        let eff = out
            .lines()
            .find_map(|l| l.strip_prefix("CapEff:\t"))
            .unwrap_or("0");
        let eff = u64::from_str_radix(eff.trim(), 16).unwrap();
        let want = 0xa804_25fb_u64 | 1 << 21 | 1 << 12;
        assert_eq!(eff & want, want, "{mode}: {eff:#x}");
        assert!(eff.count_ones() >= 37, "{mode}: {eff:#x}");
    }
    let o = i.run(&[
        "run",
        "--rm",
        "--isolation=vm",
        "--privileged",
        "busybox",
        "ls",
        "/dev",
    ]);
    assert!(
        !stdout(&o).contains("kvm") && !stdout(&o).contains("sda"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn security_opt_seccomp_and_no_new_privileges() {
    let i = Isola::new();
    let dir = tempfile::tempdir().unwrap();
    let deny_mkdir = dir.path().join("deny-mkdir.json");
    std::fs::write(
        &deny_mkdir,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#,
    )
    .unwrap();
    let deny = format!("seccomp={}", deny_mkdir.display());

    for mode in MODES {
        // The default profile refuses unshare; unconfined, the kernel
        // lets any user create a user namespace.
        let o = run_in(&i, mode, &[], "unshare -U true");
        assert!(
            stderr(&o).contains("Operation not permitted"),
            "{mode}: {}",
            stderr(&o)
        );
        let o = run_in(
            &i,
            mode,
            &["--security-opt", "seccomp=unconfined"],
            "unshare -U true && echo ok",
        );
        assert_eq!(stdout(&o), "ok\n", "{mode}: {}", stderr(&o));
        assert_eq!(
            status_field(
                &i,
                mode,
                &["--security-opt", "seccomp=unconfined"],
                "Seccomp"
            ),
            "0"
        );
        // A profile from a file, in Docker's format.
        let o = run_in(
            &i,
            mode,
            &["--security-opt", &deny],
            "mkdir /x || echo refused; touch /y && echo touched",
        );
        assert_eq!(stdout(&o), "refused\ntouched\n", "{mode}: {}", stderr(&o));
        // no_new_privs only on request.
        assert_eq!(status_field(&i, mode, &[], "NoNewPrivs"), "0");
        assert_eq!(
            status_field(
                &i,
                mode,
                &["--security-opt", "no-new-privileges"],
                "NoNewPrivs"
            ),
            "1"
        );
    }
}

#[test]
fn bad_security_input_is_one_line_125_and_creates_nothing() {
    let i = Isola::new();
    let dir = tempfile::tempdir().unwrap();
    let not_json = dir.path().join("not.json");
    std::fs::write(&not_json, "this is not json").unwrap();
    let unknown = dir.path().join("unknown.json");
    std::fs::write(
        &unknown,
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "frobnicate"], "action": "SCMP_ACT_ALLOW"}]}"#,
    )
    .unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--cap-add".into(), "FOO".into()],
            "invalid --cap-add value \"FOO\"",
        ),
        (
            vec!["--cap-drop".into(), "CAP_NOPE".into()],
            "invalid --cap-drop value",
        ),
        (
            vec![
                "--security-opt".into(),
                format!("seccomp={}", not_json.display()),
            ],
            "not a seccomp profile",
        ),
        (
            vec![
                "--security-opt".into(),
                format!("seccomp={}", unknown.display()),
            ],
            "unknown syscall names: frobnicate",
        ),
        (
            vec!["--security-opt".into(), "seccomp=/no/such/file".into()],
            "seccomp=/no/such/file",
        ),
        (
            vec!["--security-opt".into(), "apparmor=x".into()],
            "invalid --security-opt",
        ),
        (
            vec!["--stop-signal".into(), "SIGNOPE".into()],
            "--stop-signal",
        ),
        (vec!["--label".into(), "=v".into()], "invalid label"),
    ];
    for (flags, needle) in cases {
        let mut args: Vec<&str> = vec!["run", "--rm"];
        args.extend(flags.iter().map(String::as_str));
        args.extend(["busybox", "true"]);
        let o = i.run(&args);
        assert_fails(&o, 125, needle);
    }
    assert_eq!(i.ok(&["ps", "-aq"]), "", "a refused run left a container");
}

#[test]
fn stop_signal_stop_timeout_labels_and_cidfile() {
    let i = Isola::new();
    let dir = tempfile::tempdir().unwrap();
    for (n, mode) in MODES.iter().enumerate() {
        let name = format!("s{n}");
        i.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            mode,
            "--stop-signal",
            "USR1",
            "busybox",
            "sh",
            "-c",
            "trap 'echo got-usr1; exit 3' USR1; echo ready; while :; do sleep 0.1; done",
        ]);
        eventually("ready", || i.ok(&["logs", &name]).contains("ready"));
        i.ok(&["stop", &name]);
        assert!(i.ok(&["logs", &name]).contains("got-usr1"), "{mode}");
        assert_eq!(i.inspect(&name, "{{.State.ExitCode}}"), "3", "{mode}");
        // --stop-timeout: a process that ignores the signal is killed.
        let name = format!("t{n}");
        i.ok(&[
            "run",
            "-d",
            "--name",
            &name,
            mode,
            "--stop-timeout",
            "1",
            "busybox",
            "sh",
            "-c",
            "trap '' TERM; echo ready; while :; do sleep 0.1; done",
        ]);
        eventually("ready", || i.ok(&["logs", &name]).contains("ready"));
        i.ok(&["stop", &name]);
        assert_eq!(i.inspect(&name, "{{.State.ExitCode}}"), "137", "{mode}");
    }
    // Labels, from flags and a file, in inspect.
    let labels = dir.path().join("labels");
    std::fs::write(&labels, "# comment\nteam=infra\n\ntier=web\n").unwrap();
    i.ok(&[
        "create",
        "--name",
        "l",
        "-l",
        "a=1",
        "--label",
        "b",
        "--label-file",
        labels.to_str().unwrap(),
        "busybox",
    ]);
    assert_eq!(
        i.inspect("l", "{{json .Config.Labels}}"),
        r#"{"a":"1","b":"","team":"infra","tier":"web"}"#
    );
    let id = i.id("l");
    assert_eq!(
        i.ok(&["ps", "-aq", "--no-trunc", "--filter", "label=team=infra"])
            .trim(),
        id
    );
    assert_eq!(
        i.ok(&["ps", "-aq", "--no-trunc", "--filter", "label=b"])
            .trim(),
        id
    );
    assert_eq!(i.ok(&["ps", "-aq", "--filter", "label=team=other"]), "");
    assert_fails(
        &i.run(&["ps", "--filter", "colour=red"]),
        1,
        "invalid filter key",
    );
    // --cidfile gets the id; an existing file is refused before anything is created.
    let cid = dir.path().join("cid");
    i.ok(&[
        "create",
        "--name",
        "c",
        "--cidfile",
        cid.to_str().unwrap(),
        "busybox",
    ]);
    assert_eq!(std::fs::read_to_string(&cid).unwrap(), i.id("c"));
    let o = i.run(&[
        "create",
        "--name",
        "c2",
        "--cidfile",
        cid.to_str().unwrap(),
        "busybox",
    ]);
    assert_fails(&o, 125, "the file exists");
    assert!(i.run(&["inspect", "c2"]).status.code() != Some(0));
}

#[test]
fn device_ulimit_sysctl_shm_group_add_and_init() {
    let i = Isola::new();
    for mode in MODES {
        // --device: the device of the kernel the container runs on.
        let o = run_in(
            &i,
            mode,
            &["--device", "/dev/null:/dev/mynull"],
            "ls -l /dev/mynull; echo hi > /dev/mynull && echo wrote",
        );
        let out = stdout(&o);
        assert!(
            out.starts_with('c') && out.contains("wrote"),
            "{mode}: {out}{}",
            stderr(&o)
        );
        let o = run_in(
            &i,
            mode,
            &["--device", "/dev/kmsg:/dev/rokmsg:r"],
            "echo hi > /dev/rokmsg || echo refused",
        );
        assert!(stdout(&o).contains("refused"), "{mode}: {}", stdout(&o));
        // --ulimit
        let o = run_in(
            &i,
            mode,
            &["--ulimit", "nofile=100:200"],
            "ulimit -n; ulimit -Hn",
        );
        assert_eq!(stdout(&o), "100\n200\n", "{mode}: {}", stderr(&o));
        // --sysctl: a namespaced one, visible inside only.
        let o = run_in(
            &i,
            mode,
            &[
                "--sysctl",
                "kernel.shmmni=1234",
                "--sysctl",
                "net.ipv4.ip_forward=1",
            ],
            "cat /proc/sys/kernel/shmmni /proc/sys/net/ipv4/ip_forward",
        );
        assert_eq!(stdout(&o), "1234\n1\n", "{mode}: {}", stderr(&o));
        // --shm-size
        let o = run_in(&i, mode, &["--shm-size", "32m"], "df -k /dev/shm | tail -1");
        assert!(
            stdout(&o).split_whitespace().nth(1) == Some("32768"),
            "{mode}: {}",
            stdout(&o)
        );
        // --group-add, by name and number
        let o = run_in(
            &i,
            mode,
            &[
                "-u",
                "nobody",
                "--group-add",
                "daemon",
                "--group-add",
                "4242",
            ],
            "id -G",
        );
        let groups = stdout(&o);
        assert!(
            groups.split_whitespace().any(|g| g == "1") && groups.contains("4242"),
            "{mode}: {groups}{}",
            stderr(&o)
        );
        // --init: tini is PID 1 and reaps the orphaned zombie.
        let o = run_in(&i, mode, &["--init"], "cat /proc/1/cmdline | tr '\\0' ' '; echo; (sleep 0.1 &) ; sleep 0.5; ps -o stat= | grep -c Z || true");
        let out = stdout(&o);
        assert!(
            out.starts_with("/sbin/docker-init -- sh"),
            "{mode}: {out}{}",
            stderr(&o)
        );
        assert!(out.trim_end().ends_with('0'), "{mode}: zombies left: {out}");
    }
    // The host's own value is untouched.
    assert_ne!(
        std::fs::read_to_string("/proc/sys/kernel/shmmni")
            .unwrap()
            .trim(),
        "1234"
    );
}

#[test]
fn bad_runtime_flags_are_one_line_125() {
    let i = Isola::new();
    for (flags, needle) in [
        (
            &["--sysctl", "kernel.panic=1"][..],
            "--sysctl kernel.panic is not allowed",
        ),
        (&["--sysctl", "vm.swappiness=1"][..], "not namespaced"),
        (
            &["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"][..],
            "--network host",
        ),
        (&["--sysctl", "nonsense"][..], "use KEY=VALUE"),
        (&["--ulimit", "nofiles=1"][..], "unknown name"),
        (&["--ulimit", "nofile=10:5"][..], "soft limit is above"),
        (&["--device", "dev/null"][..], "paths must be absolute"),
        (
            &["--device", "/dev/null:/dev/x:rwx"][..],
            "combination of r, w and m",
        ),
        (&["--shm-size", "lots"][..], "'lots' for '--shm-size"),
    ] {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend(["busybox", "true"]);
        assert_fails(&i.run(&args), 125, needle);
    }
    // A device missing where the container runs: refused at start, nothing left.
    let o = i.run(&[
        "run",
        "--rm",
        "--device",
        "/dev/no-such-device",
        "busybox",
        "true",
    ]);
    assert_fails(&o, 125, "/dev/no-such-device");
    assert_eq!(i.ok(&["ps", "-aq"]), "");
}

#[test]
fn attach_selects_streams_and_sig_proxy_can_be_turned_off() {
    let i = Isola::new();
    for (n, mode) in MODES.iter().enumerate() {
        let script = "echo out; echo err >&2";
        let o = i.run(&[
            "run", "--rm", mode, "-a", "stdout", "busybox", "sh", "-c", script,
        ]);
        assert_eq!(
            (stdout(&o).as_str(), stderr(&o).as_str()),
            ("out\n", ""),
            "{mode}"
        );
        let o = i.run(&[
            "run", "--rm", mode, "-a", "stderr", "busybox", "sh", "-c", script,
        ]);
        assert_eq!(
            (stdout(&o).as_str(), stderr(&o).as_str()),
            ("", "err\n"),
            "{mode}"
        );
        // With --sig-proxy=false a signal to the CLI ends only the CLI.
        for (proxy, name) in [("true", format!("p{n}")), ("false", format!("q{n}"))] {
            let mut cli = i
                .cmd(&[
                    "run", "--name", &name, mode, &format!("--sig-proxy={proxy}"), "busybox", "sh", "-c",
                    "trap 'echo got-term; exit 5' TERM; echo ready; for s in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do sleep 0.2; done; echo done",
                ])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap();
            eventually("ready", || {
                stdout(&i.run(&["logs", &name])).contains("ready")
            });
            // SAFETY: signals the CLI child this test started.
            unsafe { libc::kill(cli.id() as i32, libc::SIGTERM) };
            let _ = cli.wait();
            i.ok(&["wait", &name]);
            let logs = i.ok(&["logs", &name]);
            if proxy == "true" {
                assert!(
                    logs.contains("got-term") && !logs.contains("done"),
                    "{mode}: {logs}"
                );
            } else {
                assert!(
                    !logs.contains("got-term") && logs.contains("done"),
                    "{mode}: {logs}"
                );
            }
        }
    }
}
