//! CLI conventions: isolation selection, one-line errors with exit 125,
//! name conflicts, info.

use isola_e2e::*;

#[test]
fn isolation_flag_values_and_default_resolution() {
    let i = Isola::new();
    i.ok(&[
        "create",
        "--name",
        "a",
        "--isolation",
        "process",
        "busybox",
        "true",
    ]);
    assert_eq!(i.inspect("a", "{{.HostConfig.Isolation}}"), "process");
    i.ok(&[
        "create",
        "--name",
        "b",
        "--isolation",
        "default",
        "busybox",
        "true",
    ]);
    assert_eq!(i.inspect("b", "{{.HostConfig.Isolation}}"), "process");
    assert_fails(
        &i.run(&["run", "--isolation", "bogus", "busybox", "true"]),
        125,
        "invalid value 'bogus' for '--isolation",
    );
    // VM mode must never fall back to process silently.
    for mode in ["vm", "hyperv"] {
        let o = i.run(&["run", "--rm", "--isolation", mode, "busybox", "true"]);
        if o.status.success() {
            continue; // VM isolation available on this build
        }
        assert_fails(&o, 125, "vm isolation is unavailable on this host");
    }
    std::fs::write(
        i.path().join("config.toml"),
        "default_isolation = \"process\"\n",
    )
    .unwrap();
    i.ok(&["create", "--name", "c", "busybox", "true"]);
    assert_eq!(i.inspect("c", "{{.HostConfig.Isolation}}"), "process");
    std::fs::write(
        i.path().join("config.toml"),
        "default_isolation = \"nonsense\"\n",
    )
    .unwrap();
    assert_fails(&i.run(&["ps"]), 1, "use process or vm");
    std::fs::remove_file(i.path().join("config.toml")).unwrap();
    let o = i
        .cmd(&["create", "--name", "d", "busybox", "true"])
        .env("ISOLA_DEFAULT_ISOLATION", "process")
        .output()
        .unwrap();
    assert!(o.status.success());
}

#[test]
fn names_conflict_and_bad_input_is_one_line_125() {
    let i = Isola::new();
    i.ok(&["create", "--name", "same", "busybox", "true"]);
    assert_fails(
        &i.run(&["create", "--name", "same", "busybox", "true"]),
        125,
        "is already in use",
    );
    assert_fails(
        &i.run(&["create", "--name", "bad name", "busybox", "true"]),
        125,
        "invalid container name",
    );
    assert_fails(
        &i.run(&["run", "--memory", "1k", "busybox", "true"]),
        125,
        "minimum",
    );
    assert_fails(
        &i.run(&["run", "--cpus", "999", "busybox", "true"]),
        125,
        "out of range",
    );
    assert_fails(
        &i.run(&["run", "--network", "nope", "busybox", "true"]),
        125,
        "network nope not found",
    );
    assert_fails(&i.run(&["logs", "nope"]), 1, "no such container");
    assert_fails(&i.run(&["kill", "-s", "NOPE", "same"]), 1, "invalid signal");
    assert_fails(
        &i.run(&["run", "--env-file", "/no/such/file", "busybox", "true"]),
        125,
        "env file",
    );
    // Failed creates leave nothing: only "same" exists.
    assert_eq!(i.ok(&["ps", "-aq"]).lines().count(), 1);
}

#[test]
fn info_reports_modes_cgroups_and_kernel() {
    let i = Isola::new();
    let info = i.ok(&["info"]);
    assert!(info.contains("Default Isolation: process"), "{info}");
    assert!(info.contains(" process: available"), "{info}");
    assert!(info.contains(" vm: "), "{info}");
    let cg = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    };
    assert!(info.contains(&format!("Cgroup Version: {cg}")), "{info}");
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert!(info.contains(release.trim()), "{info}");
}

/// Scripts written for Docker's CLI: exit codes by verb, Go templates,
/// `--format`/`--filter` and the command groups (tests/docker_diff.rs
/// compares all of it with a real dockerd; this runs without one).
#[test]
fn docker_exit_codes_templates_formats_and_groups() {
    let i = Isola::new();
    i.ok(&[
        "run", "-d", "--name", "up", "-l", "env=prod", "busybox", "sleep", "30",
    ]);
    let o = i.run(&["run", "--name", "done", "busybox", "sh", "-c", "exit 3"]);
    assert_eq!(o.status.code(), Some(3), "the container's status");
    let code = |args: &[&str]| i.run(args).status.code();
    assert_eq!(code(&["stop", "nope"]), Some(1));
    assert_eq!(code(&["rm", "up"]), Some(1), "rm of a running container");
    assert_eq!(code(&["rm", "-f", "nope"]), Some(0), "rm -f of nothing");
    assert_eq!(code(&["kill", "-s", "BOGUS", "up"]), Some(1));
    assert_eq!(code(&["exec", "done", "true"]), Some(1));
    assert_eq!(
        code(&["run", "--rm", "-w", "rel", "busybox", "pwd"]),
        Some(125)
    );
    assert_eq!(code(&["run", "--rm", "busybox", "nosuchcmd"]), Some(127));
    assert_eq!(code(&["inspect", "-f", "{{.Nope}}", "up"]), Some(1));
    assert_eq!(code(&["inspect", "-f", "{{.State", "up"]), Some(64));
    let f = |t: &str, c: &str| i.ok(&["inspect", "-f", t, c]);
    assert_eq!(f("{{.Config.Cmd}}", "up"), "[sleep 30]\n");
    assert_eq!(f("{{.Config.Labels}}", "up"), "map[env:prod]\n");
    assert_eq!(
        f(
            "{{range .Config.Cmd}}<{{.}}>{{end}} {{len .Config.Cmd}} {{join .Config.Cmd \"+\"}}",
            "up"
        ),
        "<sleep><30> 2 sleep+30\n"
    );
    assert_eq!(
        f("{{if eq .State.ExitCode 3}}three{{end}} {{printf \"%s-%d\" .State.Status .State.ExitCode}} {{upper .State.Status}}", "done"),
        "three exited-3 EXITED\n"
    );
    let ps = |args: &[&str]| i.ok(&[&["ps"][..], args].concat());
    assert_eq!(
        ps(&["--format", "{{.Names}} {{.Command}} {{.State}}"]),
        "up \"sleep 30\" running\n"
    );
    assert_eq!(
        ps(&["-a", "--filter", "exited=3", "--format", "{{.Names}}"]),
        "done\n"
    );
    assert_eq!(
        ps(&[
            "-a",
            "--filter",
            "label=env=prod",
            "--format",
            "{{.Label \"env\"}}"
        ]),
        "prod\n"
    );
    assert_eq!(ps(&["-l", "--format", "{{.Names}}"]), "done\n");
    assert_eq!(
        ps(&["-a", "--filter", "before=done", "--format", "{{.Names}}"]),
        "up\n"
    );
    let table = ps(&["--format", "table {{.Names}}\\t{{.Image}}"]);
    assert_eq!(table, "NAMES     IMAGE\nup        busybox\n");
    assert_eq!(
        i.ok(&[
            "container",
            "ls",
            "-a",
            "--filter",
            "status=exited",
            "--format",
            "{{.Names}}"
        ]),
        "done\n"
    );
    assert_eq!(
        i.ok(&["image", "list", "--format", "{{.Repository}}:{{.Tag}}"]),
        "busybox:latest\n"
    );
    assert_eq!(i.ok(&["images", "busybox", "-q"]).lines().count(), 1);
    assert_eq!(i.ok(&["images", "nosuch", "-q"]), "");
    assert_eq!(i.ok(&["version", "--format", "{{.Client.Os}}"]), "linux\n");
    assert_eq!(
        i.ok(&["info", "--format", "{{.Containers}} {{.ContainersRunning}}"]),
        "2 1\n"
    );
}
