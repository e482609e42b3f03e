//! Issue 13's everyday verbs end to end: rename, restart, pause/unpause,
//! update, stats, events, history, system df and the prunes, in process
//! mode, and one shared VM boot for the verbs whose mechanism differs in
//! VM mode (QMP pause, limits and usage through the guest agent).
//! Timing never decides a result: waits are generous `eventually`s.

use isola_e2e::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

const PROCESS: &str = "--isolation=process";
const VM: &str = "--isolation=vm";

fn run_sleeper(i: &Isola, isolation: &str, name: &str) -> String {
    i.ok(&[
        "run", "-d", isolation, "--name", name, "busybox", "sleep", "600",
    ])
    .trim()
    .to_string()
}

/// The names `ps -a` lists, sorted.
fn names(i: &Isola) -> Vec<String> {
    let ps = i.ok(&["ps", "-a"]);
    let mut n: Vec<String> = ps
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .collect();
    n.sort();
    n
}

/// `events` over the whole journal so far, with `extra` flags.
fn journal(i: &Isola, extra: &[&str]) -> String {
    let mut args = vec!["events", "--since", "0", "--until", "0s"];
    args.extend_from_slice(extra);
    i.ok(&args)
}

/// The journal's events so far, one `ACTION NAME` a line.
fn events(i: &Isola, filters: &[&str]) -> Vec<String> {
    let mut args = vec!["--format", "{{.Action}} {{.Actor.Attributes.name}}"];
    for f in filters {
        args.push("--filter");
        args.push(f);
    }
    journal(i, &args).lines().map(str::to_string).collect()
}

/// The host cgroup file of a process-mode container (v1 controller or v2).
fn cgroup_file(ctrl: &str, id: &str, file: &str) -> String {
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let p = if v2 {
        format!("/sys/fs/cgroup/isola/{id}/{file}")
    } else {
        format!("/sys/fs/cgroup/{ctrl}/isola/{id}/{file}")
    };
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{p}: {e}"))
        .trim()
        .to_string()
}

#[test]
fn rename_is_atomic_refuses_taken_names_and_works_while_running() {
    let i = Isola::new();
    let id = run_sleeper(&i, PROCESS, "old-name");
    i.ok(&["create", "--name", "taken", "busybox", "true"]);
    i.ok(&["rename", "old-name", "new-name"]);
    assert_eq!(i.inspect("new-name", "{{.Name}}"), "/new-name");
    assert_eq!(i.id("new-name"), id);
    assert!(
        i.ps_line("new-name").contains("Up "),
        "{}",
        i.ps_line("new-name")
    );
    // The old name is free again, for lookups and for new containers.
    assert_fails(
        &i.run(&["inspect", "--type", "container", "old-name"]),
        1,
        "no such container",
    );
    assert!(!i.path().join("names/old-name").exists());
    // A taken name, the same name, a bad name: exit 1, nothing changed.
    assert_fails(
        &i.run(&["rename", "new-name", "taken"]),
        1,
        "already in use",
    );
    assert_fails(&i.run(&["rename", "new-name", "new-name"]), 1, "same name");
    // Attack: a name that would leave the names directory.
    assert_fails(
        &i.run(&["rename", "new-name", "../evil"]),
        1,
        "invalid container name",
    );
    assert!(!i.path().join("evil").exists());
    assert_fails(&i.run(&["rename", "nope", "c"]), 1, "no such container");
    assert_eq!(i.inspect(&id, "{{.Name}}"), "/new-name");
    assert_eq!(i.id("taken").len(), 64);
    i.ok(&["create", "--name", "old-name", "busybox", "true"]);
    // The running container stops under its new name, and its events say so.
    i.ok(&["stop", "-t", "0", "new-name"]);
    let ev = events(&i, &[&format!("container={id}")]);
    assert!(ev.contains(&"rename new-name".to_string()), "{ev:?}");
    assert!(ev.iter().any(|e| e == "die new-name"), "{ev:?}");
    let old = journal(
        &i,
        &[
            "--filter",
            "event=rename",
            "--format",
            "{{.Actor.Attributes.oldName}}",
        ],
    );
    assert_eq!(old.trim(), "/old-name");
}

#[test]
fn restart_keeps_the_id_and_takes_time_and_signal() {
    let i = Isola::new();
    let id = run_sleeper(&i, PROCESS, "r");
    let pid1 = i.inspect("r", "{{.State.Pid}}");
    let started1 = i.inspect("r", "{{.State.StartedAt}}");
    assert_eq!(i.ok(&["restart", "-t", "0", "r"]).trim(), "r");
    assert_eq!(i.id("r"), id);
    assert_eq!(i.inspect("r", "{{.State.Status}}"), "running");
    assert_ne!(i.inspect("r", "{{.State.Pid}}"), pid1);
    assert_ne!(i.inspect("r", "{{.State.StartedAt}}"), started1);
    assert_eq!(i.inspect("r", "{{.RestartCount}}"), "0");
    // --signal: sleep as PID 1 ignores TERM but not KILL; with KILL the
    // restart does not wait out the timeout, and the exit says KILL.
    i.ok(&["restart", "--signal", "KILL", "-t", "600", "r"]);
    assert_eq!(i.inspect("r", "{{.State.Status}}"), "running");
    let ev = events(&i, &["event=die"]);
    assert_eq!(ev.len(), 2, "{ev:?}");
    let codes = journal(
        &i,
        &[
            "--filter",
            "event=die",
            "--format",
            "{{.Actor.Attributes.exitCode}}",
        ],
    );
    assert_eq!(codes.lines().last(), Some("137"), "{codes}");
    let kills = journal(
        &i,
        &[
            "--filter",
            "event=kill",
            "--format",
            "{{.Actor.Attributes.signal}}",
        ],
    );
    assert_eq!(kills.lines().collect::<Vec<_>>(), vec!["15", "9"]);
    // A stopped container just starts.
    i.ok(&["stop", "-t", "0", "r"]);
    i.ok(&["restart", "r"]);
    assert_eq!(i.inspect("r", "{{.State.Status}}"), "running");
    assert_fails(&i.run(&["restart", "nope"]), 1, "no such container");
}

/// The container's counter output, as lines of its log.
fn log_lines(i: &Isola, name: &str) -> usize {
    i.ok(&["logs", name]).lines().count()
}

#[test]
fn pause_freezes_the_container_until_unpause_and_stop_kill_rm_still_work() {
    let i = Isola::new();
    i.ok(&[
        "run",
        "-d",
        PROCESS,
        "--name",
        "p",
        "busybox",
        "sh",
        "-c",
        "while true; do echo x; sleep 0.05; done",
    ]);
    let id = i.id("p");
    eventually("output", || log_lines(&i, "p") > 0);
    assert_eq!(i.ok(&["pause", "p"]).trim(), "p");
    assert_eq!(
        i.inspect(
            "p",
            "{{.State.Status}} {{.State.Paused}} {{.State.Running}}"
        ),
        "paused true true"
    );
    assert!(i.ps_line("p").contains("(Paused)"), "{}", i.ps_line("p"));
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if v2 {
        assert_eq!(cgroup_file("", &id, "cgroup.freeze"), "1");
    } else {
        assert_eq!(cgroup_file("freezer", &id, "freezer.state"), "FROZEN");
    }
    // Frozen: no output however long we look (a thawed loop writes 20 a second).
    let frozen = log_lines(&i, "p");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        log_lines(&i, "p"),
        frozen,
        "a paused container kept running"
    );
    assert_fails(&i.run(&["pause", "p"]), 1, "already paused");
    assert_fails(&i.run(&["exec", "p", "true"]), 1, "is paused");
    assert_eq!(i.inspect("p", "{{.State.Status}}"), "paused");
    i.ok(&["unpause", "p"]);
    assert_eq!(
        i.inspect("p", "{{.State.Status}} {{.State.Paused}}"),
        "running false"
    );
    eventually("output after unpause", || log_lines(&i, "p") > frozen);
    assert_fails(&i.run(&["unpause", "p"]), 1, "is not paused");
    // stop of a paused container thaws it first, and it ends.
    i.ok(&["pause", "p"]);
    i.ok(&["stop", "-t", "1", "p"]);
    assert_eq!(
        i.inspect("p", "{{.State.Status}} {{.State.Paused}}"),
        "exited false"
    );
    assert_fails(&i.run(&["pause", "p"]), 1, "is not running");
    // kill and rm -f of a paused one too, leaving nothing behind.
    i.ok(&["start", "p"]);
    i.ok(&["pause", "p"]);
    i.ok(&["kill", "p"]);
    eventually("killed", || i.inspect("p", "{{.State.Status}}") == "exited");
    i.ok(&["start", "p"]);
    i.ok(&["pause", "p"]);
    i.ok(&["rm", "-f", "p"]);
    assert!(leftovers(&id).is_empty(), "{:?}", leftovers(&id));
    let ev = events(&i, &["container=p", "event=pause", "event=unpause"]);
    assert_eq!(
        ev.iter().filter(|e| e.starts_with("pause")).count(),
        4,
        "{ev:?}"
    );
    assert_eq!(
        ev.iter().filter(|e| e.starts_with("unpause")).count(),
        1,
        "{ev:?}"
    );
}

#[test]
fn update_changes_the_limits_of_a_running_container_and_persists_them() {
    let i = Isola::new();
    let id = run_sleeper(&i, PROCESS, "u");
    i.ok(&[
        "update",
        "--memory",
        "64m",
        "--memory-swap",
        "128m",
        "--cpus",
        "0.5",
        "--cpu-shares",
        "512",
        "--cpuset-cpus",
        "0",
        "--pids-limit",
        "5",
        "--restart",
        "on-failure:2",
        "u",
    ]);
    assert_eq!(
        i.inspect("u", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuShares}} {{.HostConfig.CpusetCpus}} {{.HostConfig.PidsLimit}}"),
        "67108864 134217728 500000000 512 0 5"
    );
    assert_eq!(
        i.inspect("u", "{{json .HostConfig.RestartPolicy}}"),
        r#"{"MaximumRetryCount":2,"Name":"on-failure"}"#
    );
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if v2 {
        assert_eq!(cgroup_file("", &id, "memory.max"), "67108864");
        assert_eq!(cgroup_file("", &id, "pids.max"), "5");
        assert_eq!(cgroup_file("", &id, "cpu.max"), "50000 100000");
    } else {
        assert_eq!(
            cgroup_file("memory", &id, "memory.limit_in_bytes"),
            "67108864"
        );
        assert_eq!(cgroup_file("pids", &id, "pids.max"), "5");
        assert_eq!(cgroup_file("cpu", &id, "cpu.cfs_quota_us"), "50000");
        assert_eq!(cgroup_file("cpu", &id, "cpu.shares"), "512");
        assert_eq!(cgroup_file("cpuset", &id, "cpuset.cpus"), "0");
    }
    // The pids limit holds: the container cannot start 6 processes.
    let o = i.run(&[
        "exec",
        "u",
        "sh",
        "-c",
        "for n in 1 2 3 4 5 6; do sleep 5 & done; wait",
    ]);
    assert!(stderr(&o).contains("fork") || !o.status.success(), "{o:?}");
    // Bad values: exit 1, one line, nothing changed.
    assert_fails(
        &i.run(&["update", "--memory", "64m", "--memory-swap", "32m", "u"]),
        1,
        "memoryswap",
    );
    assert_fails(
        &i.run(&["update", "--cpuset-cpus", "0-999", "u"]),
        1,
        "--cpuset-cpus",
    );
    assert_fails(
        &i.run(&["update", "--cpu-shares", "1", "u"]),
        1,
        "--cpu-shares",
    );
    assert_fails(&i.run(&["update", "u"]), 1, "one or more flags");
    assert_eq!(i.inspect("u", "{{.HostConfig.Memory}}"), "67108864");
    // A new restart policy applies to the running container's next end.
    i.ok(&[
        "run",
        "-d",
        PROCESS,
        "--name",
        "again",
        "busybox",
        "sh",
        "-c",
        "while [ ! -f /tmp/go ]; do sleep 0.1; done; exit 1",
    ]);
    i.ok(&["update", "--restart", "on-failure:1", "again"]);
    i.ok(&["exec", "again", "touch", "/tmp/go"]);
    eventually("one restart, then exited", || {
        i.inspect("again", "{{.State.Status}} {{.RestartCount}}") == "exited 1"
    });
    // A stopped container keeps the new limits for its next start.
    i.ok(&["stop", "-t", "0", "u"]);
    i.ok(&["update", "--pids-limit", "7", "u"]);
    i.ok(&["start", "u"]);
    let pids = if v2 {
        cgroup_file("", &id, "pids.max")
    } else {
        cgroup_file("pids", &id, "pids.max")
    };
    assert_eq!(pids, "7");
    let mem = if v2 {
        cgroup_file("", &id, "memory.max")
    } else {
        cgroup_file("memory", &id, "memory.limit_in_bytes")
    };
    assert_eq!(mem, "67108864");
}

#[test]
fn stats_reports_docker_columns_from_the_cgroup() {
    let i = Isola::new();
    i.ok(&[
        "run",
        "-d",
        PROCESS,
        "--name",
        "s",
        "--memory",
        "64m",
        "--pids-limit",
        "10",
        "busybox",
        "sleep",
        "600",
    ]);
    i.ok(&["create", "--name", "idle", "busybox", "true"]);
    let table = i.ok(&["stats", "--no-stream"]);
    let mut lines = table.lines();
    let header = lines.next().unwrap();
    for col in [
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
        "BLOCK I/O",
        "PIDS",
    ] {
        assert!(header.contains(col), "{header}");
    }
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 1, "only running ones without -a: {table}");
    assert!(rows[0].contains(" s "), "{table}");
    assert!(rows[0].contains("/ 64MiB"), "{table}");
    let json = i.ok(&["stats", "--no-stream", "--format", "json", "s"]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["Name"], "s");
    assert_eq!(v["PIDs"], "1");
    assert!(v["CPUPerc"].as_str().unwrap().ends_with('%'), "{v}");
    assert!(!v["MemUsage"].as_str().unwrap().starts_with("0B"), "{v}");
    let all = i.ok(&[
        "stats",
        "--no-stream",
        "-a",
        "--format",
        "{{.Name}} {{.PIDs}} {{.MemUsage}}",
    ]);
    assert!(all.lines().any(|l| l == "idle 0 0B / 0B"), "{all}");
    assert_fails(
        &i.run(&["stats", "--no-stream", "nope"]),
        1,
        "no such container",
    );
}

#[test]
fn events_journal_streams_filters_and_formats() {
    let i = Isola::new();
    // A follower started first sees what happens after it.
    let mut child = i
        .cmd(&[
            "events",
            "--filter",
            "type=container",
            "--filter",
            "event=start",
            "--filter",
            "event=die",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    // Killed however the test ends.
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _reap = Reap(child);
    let o = i.run(&[
        "run", PROCESS, "--name", "e", "--label", "team=x", "busybox", "sh", "-c", "exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let mut reader = BufReader::new(out);
    let mut got = Vec::new();
    for _ in 0..2 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        got.push(line.trim().to_string());
    }
    // A missing attribute prints as Go templates print it.
    assert_eq!(got, vec!["start e <no value>", "die e 3"]);
    i.ok(&["rm", "e"]);
    let all = events(&i, &["container=e"]);
    assert_eq!(all, vec!["create e", "start e", "die e", "destroy e"]);
    assert_eq!(
        events(&i, &["label=team=x", "event=create"]),
        vec!["create e"]
    );
    assert!(events(&i, &["label=team=y"]).is_empty());
    // --until before everything: nothing; Docker's JSON shape.
    assert!(i.ok(&["events", "--since", "0", "--until", "1"]).is_empty());
    let json = journal(&i, &["--format", "json", "--filter", "event=die"]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["Type"], "container");
    assert_eq!(v["Action"], "die");
    assert_eq!(v["scope"], "local");
    assert_eq!(v["Actor"]["Attributes"]["exitCode"], "3");
    assert_eq!(v["Actor"]["Attributes"]["image"], "busybox");
    assert!(v["timeNano"].as_i64().unwrap() / 1_000_000_000 == v["time"].as_i64().unwrap());
    // The default line: time, type, action, id, attributes.
    let line = journal(&i, &["--filter", "event=create"]);
    assert!(
        line.contains(" container create ") && line.contains("(image=busybox, name=e, team=x)"),
        "{line}"
    );
    assert_fails(
        &i.run(&["events", "--filter", "bogus=1", "--until", "0s"]),
        1,
        "invalid filter",
    );
    assert_fails(
        &i.run(&["events", "--since", "yesterday-ish"]),
        1,
        "invalid time",
    );
    // Images, volumes and health checks have theirs too.
    i.ok(&["tag", "busybox", "copy:1"]);
    i.ok(&["rmi", "copy:1"]);
    i.ok(&["volume", "create", "vol"]);
    i.ok(&["volume", "rm", "vol"]);
    let kinds = journal(
        &i,
        &[
            "--filter",
            "type=image",
            "--filter",
            "type=volume",
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.ID}}",
        ],
    );
    let kinds: Vec<&str> = kinds.lines().collect();
    // The harness imported busybox first.
    assert!(kinds[0].starts_with("image import sha256:"), "{kinds:?}");
    assert!(kinds[1].starts_with("image tag sha256:"), "{kinds:?}");
    assert_eq!(
        kinds[2..],
        [
            "image untag copy:1",
            "volume create vol",
            "volume destroy vol"
        ],
        "{kinds:?}"
    );
    i.ok(&[
        "run",
        "-d",
        PROCESS,
        "--name",
        "h",
        "--health-cmd",
        "true",
        "--health-interval",
        "200ms",
        "busybox",
        "sleep",
        "600",
    ]);
    eventually("a health_status event", || {
        events(&i, &["container=h"]).contains(&"health_status: healthy h".to_string())
    });
    // Attack: a label (or command) carrying a newline and a forged event
    // stays inside its own line of the journal.
    let forged = r#"x=a
{"Type":"container","Action":"destroy","Actor":{"ID":"forged","Attributes":{}},"scope":"local","time":1,"timeNano":1}"#;
    i.ok(&[
        "create", "--name", "forger", "--label", forged, "busybox", "true",
    ]);
    assert!(journal(&i, &["--filter", "container=forged"]).is_empty());
    assert_eq!(events(&i, &["container=forger"]), vec!["create forger"]);
    // The journal holds names, labels and commands: root only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(i.path().join("events.jsonl"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn history_df_and_prunes_never_touch_what_is_in_use() {
    let i = Isola::new();
    let h = i.ok(&["history", "busybox"]);
    let mut lines = h.lines();
    let header = lines.next().unwrap();
    for col in ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"] {
        assert!(header.contains(col), "{h}");
    }
    assert!(lines.next().is_some(), "{h}");
    let image_id = i.inspect("busybox", "{{.Id}}")[7..19].to_string();
    assert_eq!(
        i.ok(&["history", "-q", "busybox"]).lines().next(),
        Some(image_id.as_str())
    );
    assert_fails(&i.run(&["history", "nope"]), 1, "nope");

    i.ok(&[
        "run", "-d", PROCESS, "--name", "up", "busybox", "sleep", "600",
    ]);
    i.ok(&[
        "run",
        PROCESS,
        "--name",
        "done",
        "busybox",
        "sh",
        "-c",
        "head -c 100000 /dev/zero > /big",
    ]);
    i.ok(&[
        "create", "--name", "labelled", "--label", "keep=1", "busybox", "true",
    ]);
    let df = i.ok(&["system", "df"]);
    assert!(df.starts_with("TYPE"), "{df}");
    for kind in ["Images", "Containers", "Local Volumes", "Build Cache"] {
        assert!(df.contains(kind), "{df}");
    }
    let containers = df.lines().find(|l| l.starts_with("Containers")).unwrap();
    assert!(containers.split_whitespace().nth(1) == Some("3"), "{df}");
    assert!(i
        .ok(&["system", "df", "-v"])
        .contains("Containers space usage:"));

    // Without -f on a non-terminal: refused, nothing removed.
    assert_eq!(i.run(&["container", "prune"]).status.code(), Some(1));
    assert_eq!(i.ok(&["ps", "-aq"]).lines().count(), 3);
    let out = i.ok(&["container", "prune", "-f", "--filter", "label!=keep"]);
    assert!(out.contains("Deleted Containers:"), "{out}");
    assert!(out.contains("Total reclaimed space: 1"), "{out}");
    assert_eq!(names(&i), vec!["labelled", "up"]);
    // The image is used: image prune -a keeps it.
    let out = i.ok(&["image", "prune", "-a", "-f"]);
    assert_eq!(out.trim(), "Total reclaimed space: 0B");
    assert!(i.ok(&["images", "-q"]).contains(&image_id));
    let out = i.ok(&["system", "prune", "-f", "--volumes"]);
    assert!(
        out.ends_with("Total reclaimed space: 0B\n") || out.contains("Total reclaimed space:"),
        "{out}"
    );
    assert_eq!(names(&i), vec!["up"]);
    // Only once nothing uses it does -a remove the image.
    i.ok(&["rm", "-f", "up"]);
    let out = i.ok(&["system", "prune", "-a", "-f"]);
    assert!(
        out.contains("Deleted Images:") && out.contains("deleted: sha256:"),
        "{out}"
    );
    assert!(i.ok(&["images", "-q"]).trim().is_empty());
}

/// `attach` under a pseudo-terminal (util-linux `script`): typing the
/// detach keys leaves the container running.
fn attach_and_detach(
    i: &Isola,
    name: &str,
    keys: Option<&str>,
    typed: &str,
) -> std::process::Output {
    let mut cmd = format!(
        "{} --root {} attach",
        i.cmd(&[]).get_program().to_string_lossy(),
        i.path().display()
    );
    if let Some(k) = keys {
        cmd.push_str(&format!(" --detach-keys {k}"));
    }
    cmd.push_str(&format!(" {name}"));
    // The keys come once the attach is listening (its event is recorded).
    let script = format!(
        "(while ! grep -q '\"attach\"' {root}/events.jsonl; do sleep 0.1; done; sleep 0.3; printf '{typed}') | script -qec '{cmd}' /dev/null",
        root = i.path().display()
    );
    std::process::Command::new("sh")
        .args(["-c", &script])
        .env("ISOLA_DEFAULT_NETWORK", "none")
        .output()
        .unwrap()
}

#[test]
fn attach_follows_output_proxies_signals_and_detaches() {
    let i = Isola::new();
    // Output from the moment of attaching, and the container's exit code.
    i.ok(&["run", "-d", PROCESS, "--name", "w", "busybox", "sh", "-c", "echo before; while [ ! -f /tmp/go ]; do sleep 0.1; done; echo hello; echo oops >&2; exit 5"]);
    eventually("first output", || i.ok(&["logs", "w"]).contains("before"));
    let child = i
        .cmd(&["attach", "--no-stdin", "w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually("attached", || events(&i, &["event=attach"]).len() == 1);
    i.ok(&["exec", "w", "touch", "/tmp/go"]);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert_eq!(stdout(&out), "hello\n");
    assert_eq!(stderr(&out), "oops\n");
    // --sig-proxy (default): SIGINT to the client reaches the container.
    i.ok(&[
        "run",
        "-d",
        PROCESS,
        "--name",
        "s",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got INT; exit 7' INT; while true; do sleep 0.1; done",
    ]);
    let child = i
        .cmd(&["attach", "--no-stdin", "s"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    eventually("attached", || {
        events(&i, &["event=attach", "container=s"]).len() == 1
    });
    // SAFETY: signals our own child, which has not been reaped yet.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    assert_eq!(stdout(&out), "got INT\n");
    // Ctrl-P Ctrl-Q, and custom keys, under a terminal: detached, still up.
    i.ok(&[
        "run",
        "-d",
        "-it",
        PROCESS,
        "--name",
        "t",
        "busybox",
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.2; done",
    ]);
    let out = attach_and_detach(&i, "t", None, "\\020\\021");
    assert!(stdout(&out).contains("tick"), "{out:?}");
    assert!(stdout(&out).contains("read escape sequence"), "{out:?}");
    assert_eq!(i.inspect("t", "{{.State.Status}}"), "running");
    let out = attach_and_detach(&i, "t", Some("ctrl-a,x"), "\\001x");
    assert!(stdout(&out).contains("read escape sequence"), "{out:?}");
    assert_eq!(i.inspect("t", "{{.State.Status}}"), "running");
    // Errors: exit 1, one line.
    assert_fails(
        &i.run(&["attach", "--detach-keys", "ctrl-é", "t"]),
        1,
        "invalid detach keys",
    );
    assert_fails(&i.run(&["attach", "w"]), 1, "stopped container");
    i.ok(&["pause", "t"]);
    assert_fails(&i.run(&["attach", "t"]), 1, "paused container");
    assert_fails(&i.run(&["attach", "nope"]), 1, "no such container");
}

/// One VM boot for everything whose mechanism differs in VM mode: QMP
/// pause, limits and usage through the agent, rename and restart.
#[test]
fn vm_pause_update_stats_rename_restart() {
    let i = Isola::new();
    let info = i.ok(&["info"]);
    assert!(
        info.contains(" vm: available"),
        "VM isolation unavailable: {info}"
    );
    // With a terminal: detach keys are read from a raw terminal only.
    let id = i
        .ok(&[
            "run", "-d", "-it", VM, "--name", "v", "busybox", "sleep", "600",
        ])
        .trim()
        .to_string();
    i.ok(&["exec", "v", "true"]); // booted and answering
    i.ok(&["rename", "v", "w"]);
    assert_eq!(i.inspect(&id, "{{.Name}}"), "/w");
    // Limits of the guest's container cgroup, and usage sampled there.
    i.ok(&["update", "--memory", "48m", "--pids-limit", "4", "w"]);
    assert_eq!(
        i.inspect("w", "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}"),
        "50331648 4"
    );
    let json = i.ok(&["stats", "--no-stream", "--format", "json", "w"]);
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert!(v["MemUsage"].as_str().unwrap().ends_with("/ 48MiB"), "{v}");
    assert_ne!(v["PIDs"], "0", "{v}");
    let o = i.run(&[
        "exec",
        "w",
        "sh",
        "-c",
        "for n in 1 2 3 4 5; do sleep 5 & done; wait",
    ]);
    assert!(stderr(&o).contains("fork") || !o.status.success(), "{o:?}");
    // Raised again (the sleeps it started may still hold the slots); the
    // agent takes a new restart policy too.
    i.ok(&[
        "update",
        "--pids-limit",
        "100",
        "--restart",
        "on-failure:2",
        "w",
    ]);
    assert_eq!(
        i.inspect("w", "{{json .HostConfig.RestartPolicy}}"),
        r#"{"MaximumRetryCount":2,"Name":"on-failure"}"#
    );
    // Paused: the vCPUs stand still (the agent cannot answer), then go on.
    i.ok(&["pause", "w"]);
    assert_eq!(
        i.inspect("w", "{{.State.Status}} {{.State.Paused}}"),
        "paused true"
    );
    assert!(i.ps_line("w").contains("(Paused)"), "{}", i.ps_line("w"));
    let zero = i.ok(&["stats", "--no-stream", "--format", "{{.PIDs}}", "w"]);
    assert_eq!(zero.trim(), "0");
    assert_fails(&i.run(&["exec", "w", "true"]), 1, "is paused");
    i.ok(&["unpause", "w"]);
    i.ok(&["exec", "w", "true"]);
    // stop of a paused VM continues it first, so the guest can stop.
    i.ok(&["pause", "w"]);
    i.ok(&["restart", "-t", "1", "w"]);
    assert_eq!(
        i.inspect("w", "{{.State.Status}} {{.Id}}"),
        format!("running {id}")
    );
    i.ok(&["exec", "w", "true"]);
    // The QMP socket controls the whole VM: it lives in the container's
    // directory, which only root can enter.
    use std::os::unix::fs::PermissionsExt;
    let dir = i.path().join("containers").join(&id);
    assert!(dir.join("qmp.sock").exists());
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let out = attach_and_detach(&i, "w", None, "\\020\\021");
    assert!(stdout(&out).contains("read escape sequence"), "{out:?}");
    assert_eq!(i.inspect("w", "{{.State.Status}}"), "running");
    i.ok(&["rm", "-f", "w"]);
    assert!(leftovers(&id).is_empty(), "{:?}", leftovers(&id));
    let ev = events(&i, &[&format!("container={id}")]);
    for want in [
        "rename w",
        "update w",
        "pause w",
        "unpause w",
        "restart w",
        "destroy w",
    ] {
        assert!(ev.iter().any(|e| e == want), "{want} missing: {ev:?}");
    }
}
