//! The container verbs end to end: exit codes, streams, pty, detach, logs,
//! stop, kill, rm, wait, exec, ps, inspect — against real containers.

use isola_e2e::*;
use std::time::{Duration, Instant};

#[test]
fn exit_codes_follow_docker() {
    let i = Isola::new();
    assert_eq!(
        i.run(&["run", "--rm", "busybox", "true"]).status.code(),
        Some(0)
    );
    assert_eq!(
        i.run(&["run", "--rm", "busybox", "false"]).status.code(),
        Some(1)
    );
    assert_eq!(
        i.run(&["run", "--rm", "busybox", "sh", "-c", "exit 42"])
            .status
            .code(),
        Some(42)
    );
    let o = i.run(&["run", "--rm", "busybox", "no-such-command"]);
    assert_fails(&o, 127, "executable file not found in $PATH");
    let o = i.run(&["run", "--rm", "busybox", "/no/such/file"]);
    assert_fails(&o, 127, "no such file or directory");
    let o = i.run(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_fails(&o, 126, "permission denied");
    // (The container's init ignores even SIGKILL from inside its own PID
    // namespace, so the killed process is a child.)
    let o = i.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "sleep 10 & kill -9 $!; wait $!",
    ]);
    assert_eq!(o.status.code(), Some(137));
    let o = i.run(&["run", "--rm", "no-such-image", "true"]);
    assert_fails(&o, 125, "no-such-image");
    let o = i.run(&["run", "--bogus-flag", "busybox"]);
    assert_eq!(o.status.code(), Some(125));
    // --rm containers are gone afterwards, failed starts included.
    assert_eq!(i.ok(&["ps", "-aq"]), "");
}

#[test]
fn stdout_and_stderr_stay_separate_and_stdin_pipes_through() {
    let i = Isola::new();
    let o = i.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]);
    assert_eq!(stdout(&o), "out\n");
    assert_eq!(stderr(&o), "err\n");
    let o = i.run_with_input(&["run", "--rm", "-i", "busybox", "cat"], b"hi\n");
    assert_eq!(stdout(&o), "hi\n");
    assert!(o.status.success());
    // Without -i the container's stdin is empty.
    let o = i.run_with_input(&["run", "--rm", "busybox", "cat"], b"ignored");
    assert_eq!(stdout(&o), "");
}

#[test]
fn hundred_megabytes_pass_through_binary_safe() {
    let i = Isola::new();
    let mut data = vec![0u8; 100 << 20];
    let mut x: u64 = 0x9e3779b97f4a7c15;
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    let o = i.run_with_input(&["run", "--rm", "-i", "busybox", "cat"], &data);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout.len(), data.len());
    assert_eq!(sha256_hex(&o.stdout), sha256_hex(&data));
}

#[test]
fn tty_gives_the_container_a_terminal() {
    let i = Isola::new();
    let o = i.run(&[
        "run",
        "--rm",
        "-t",
        "busybox",
        "sh",
        "-c",
        "tty; test -t 0 && echo is-a-tty",
    ]);
    let out = stdout(&o);
    assert!(out.contains("/dev/pts/0"), "{out:?}");
    // Output went through a pty: the line discipline turned \n into \r\n.
    assert!(out.contains("is-a-tty\r\n"), "{out:?}");
    let o = i.run(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "test -t 1 || echo no-tty",
    ]);
    assert_eq!(stdout(&o), "no-tty\n");
}

#[test]
fn detach_logs_follow_and_wait() {
    let i = Isola::new();
    let id = i.ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "for n in 1 2 3; do echo line$n; echo err$n >&2; sleep 0.3; done",
    ]);
    assert_eq!(id.trim().len(), 64);
    let o = i.run(&["logs", "-f", "talker"]);
    assert_eq!(stdout(&o), "line1\nline2\nline3\n");
    assert_eq!(stderr(&o), "err1\nerr2\nerr3\n");
    assert_eq!(i.ok(&["wait", "talker"]).trim(), "0");
    // --tail counts lines of both streams, as in Docker.
    let o = i.run(&["logs", "--tail", "2", "talker"]);
    assert_eq!(
        (stdout(&o).as_str(), stderr(&o).as_str()),
        ("line3\n", "err3\n")
    );
    let ts = i.ok(&["logs", "-t", "talker"]);
    assert!(
        ts.lines().all(|l| l.contains('T') && l.contains("Z line")),
        "{ts}"
    );
    // The log file is Docker's json-file format.
    let log = std::fs::read_to_string(i.inspect("talker", "{{.LogPath}}")).unwrap();
    let first: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert!(first["log"].as_str().unwrap().ends_with('\n'));
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(i.inspect("talker", "{{.State.Status}}"), "exited");
}

#[test]
fn stop_honours_sigterm_then_kills_after_the_timeout() {
    let i = Isola::new();
    i.ok(&[
        "run",
        "-d",
        "--name",
        "polite",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got-term; exit 0' TERM; while true; do sleep 0.1; done",
    ]);
    i.ok(&["stop", "polite"]);
    assert_eq!(i.inspect("polite", "{{.State.ExitCode}}"), "0");
    assert_eq!(i.ok(&["logs", "polite"]), "got-term\n");

    i.ok(&[
        "run",
        "-d",
        "--name",
        "stubborn",
        "busybox",
        "sh",
        "-c",
        "trap '' TERM; while true; do sleep 0.1; done",
    ]);
    let t = Instant::now();
    i.ok(&["stop", "-t", "1", "stubborn"]);
    // It must have waited for the timeout before SIGKILL.
    assert!(t.elapsed() >= Duration::from_secs(1));
    assert_eq!(i.inspect("stubborn", "{{.State.ExitCode}}"), "137");
    assert_eq!(i.inspect("stubborn", "{{.State.Status}}"), "exited");
}

#[test]
fn kill_rm_and_nothing_left_behind() {
    let i = Isola::new();
    i.ok(&["run", "-d", "--name", "k", "busybox", "sleep", "100"]);
    let id = i.id("k");
    let pid: i32 = i.inspect("k", "{{.State.Pid}}").parse().unwrap();
    let monitor: i32 = i.inspect("k", "{{.State.MonitorPid}}").parse().unwrap();
    assert_eq!(comm(pid), "sleep");
    let o = i.run(&["rm", "k"]);
    assert_fails(&o, 1, "stop it first or use rm -f");
    i.ok(&["kill", "-s", "TERM", "k"]); // ignored: sleep is PID 1 without a handler
    i.ok(&["kill", "k"]);
    assert_eq!(i.ok(&["wait", "k"]).trim(), "137");
    let o = i.run(&["kill", "k"]);
    assert_fails(&o, 1, "is not running");
    i.ok(&["rm", "k"]);
    assert!(leftovers(&id).is_empty(), "{:?}", leftovers(&id));
    assert!(!running(pid) && !running(monitor));
    assert!(!i.path().join("containers").join(&id).exists());
    let o = i.run(&["inspect", "k"]);
    assert_fails(&o, 1, "no such object");
    // The name is free again.
    i.ok(&["create", "--name", "k", "busybox", "true"]);
}

#[test]
fn rm_force_of_running_container_cleans_everything() {
    let i = Isola::new();
    i.ok(&[
        "run", "-d", "--name", "f", "--memory", "64m", "busybox", "sleep", "100",
    ]);
    let id = i.id("f");
    assert!(
        !leftovers(&id).is_empty(),
        "a running container has a cgroup and monitor"
    );
    i.ok(&["rm", "-f", "f"]);
    assert!(leftovers(&id).is_empty(), "{:?}", leftovers(&id));
    assert_eq!(i.ok(&["ps", "-aq"]), "");
}

#[test]
fn create_then_start_attached() {
    let i = Isola::new();
    let id = i.ok(&[
        "create",
        "--name",
        "c1",
        "busybox",
        "sh",
        "-c",
        "echo hello; exit 3",
    ]);
    assert_eq!(i.inspect("c1", "{{.State.Status}}"), "created");
    assert!(i.ok(&["ps", "-a"]).contains("Created"));
    let o = i.run(&["start", "-a", id.trim()]);
    assert_eq!(stdout(&o), "hello\n");
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(i.inspect("c1", "{{.State.ExitCode}}"), "3");
    // A stopped container starts again, keeping its writable layer.
    i.ok(&[
        "run",
        "--name",
        "keep",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data",
    ]);
    let o = i.run(&["start", "-a", "keep"]);
    assert!(o.status.success());
    i.ok(&["rm", "keep"]);
    let o = i.run_with_input(&["start", "-a", "-i", "c1"], b"");
    assert_eq!(o.status.code(), Some(3));
}

#[test]
fn exec_runs_in_the_container_with_its_own_exit_code() {
    let i = Isola::new();
    i.ok(&[
        "run", "-d", "--name", "e", "-e", "A=1", "busybox", "sleep", "100",
    ]);
    assert_eq!(i.ok(&["exec", "e", "sh", "-c", "echo $A"]), "1\n");
    assert_eq!(
        i.ok(&["exec", "-e", "A=2", "e", "sh", "-c", "echo $A"]),
        "2\n"
    );
    assert_eq!(i.ok(&["exec", "-w", "/etc", "e", "pwd"]), "/etc\n");
    assert_eq!(i.ok(&["exec", "-u", "nobody", "e", "id", "-u"]), "65534\n");
    assert_eq!(
        i.run(&["exec", "e", "sh", "-c", "exit 7"]).status.code(),
        Some(7)
    );
    let o = i.run(&["exec", "e", "nope"]);
    assert_fails(&o, 127, "executable file not found");
    let o = i.run_with_input(&["exec", "-i", "e", "cat"], b"piped");
    assert_eq!(stdout(&o), "piped");
    let o = i.run(&["exec", "-t", "e", "tty"]);
    assert!(stdout(&o).contains("/dev/pts/"), "{}", stdout(&o));
    // exec shares the container's namespaces: it sees init as PID 1.
    assert_eq!(i.ok(&["exec", "e", "cat", "/proc/1/comm"]), "sleep\n");
    i.ok(&["stop", "-t", "0", "e"]);
    let o = i.run(&["exec", "e", "true"]);
    assert_fails(&o, 1, "is not running");
}

#[test]
fn ps_and_inspect_have_dockers_shape() {
    let i = Isola::new();
    i.ok(&["run", "-d", "--name", "web", "busybox", "sleep", "100"]);
    i.ok(&["run", "--name", "done", "busybox", "true"]);
    let ps = i.ok(&["ps"]);
    let mut lines = ps.lines();
    let header = lines.next().unwrap();
    for col in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(header.contains(col), "{header}");
    }
    let row = lines.next().unwrap();
    assert!(
        row.contains("busybox")
            && row.contains("\"sleep 100\"")
            && row.contains("Up ")
            && row.ends_with("web"),
        "{row}"
    );
    assert!(lines.next().is_none(), "ps without -a shows running only");
    let all = i.ok(&["ps", "-a"]);
    assert!(all.contains("Exited (0)") && all.contains("done"), "{all}");
    let q = i.ok(&["ps", "-aq"]);
    assert_eq!(q.lines().count(), 2);
    assert!(q.lines().all(|l| l.len() == 12));
    let nt = i.ok(&["ps", "-q", "--no-trunc"]);
    assert_eq!(nt.trim().len(), 64);

    let json: serde_json::Value = serde_json::from_str(&i.ok(&["inspect", "web"])).unwrap();
    let c = &json[0];
    assert_eq!(c["Name"], "/web");
    assert_eq!(c["Id"].as_str().unwrap().len(), 64);
    assert_eq!(c["State"]["Status"], "running");
    assert_eq!(c["State"]["Running"], true);
    assert!(c["State"]["Pid"].as_i64().unwrap() > 0);
    assert!(c["State"]["StartedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(c["State"]["FinishedAt"], "0001-01-01T00:00:00Z");
    assert_eq!(c["HostConfig"]["Isolation"], "process");
    assert_eq!(c["Config"]["Cmd"][0], "sleep");
    assert_eq!(c["Config"]["Image"], "busybox");
    // Unique id prefixes work, ambiguous or unknown ones do not.
    let id = i.id("web");
    assert_eq!(i.id(&id[..10]), id);
    assert_fails(
        &i.run(&["inspect", "--type", "container", "zzz"]),
        1,
        "no such container",
    );
}

#[test]
fn parallel_detached_runs_get_unique_names() {
    let i = Isola::new();
    let children: Vec<_> = (0..20)
        .map(|_| {
            i.cmd(&["run", "-d", "busybox", "sleep", "60"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let o = c.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let ids = i.ok(&["ps", "-q", "--no-trunc"]);
    let ids: Vec<&str> = ids.lines().collect();
    assert_eq!(ids.len(), 20, "all 20 are running");
    let mut args = vec!["inspect", "-f", "{{.Name}}"];
    args.extend(ids.iter());
    let names = i.ok(&args);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 20, "names are unique: {names:?}");
}
