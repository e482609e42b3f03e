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
    assert_fails(&i.run(&["ps"]), 125, "use process or vm");
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
    assert_fails(&i.run(&["logs", "nope"]), 125, "no such container");
    assert_fails(
        &i.run(&["kill", "-s", "NOPE", "same"]),
        125,
        "invalid signal",
    );
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
