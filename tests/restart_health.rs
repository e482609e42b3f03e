//! Restart policies and health checks (issue #9), in both isolation modes:
//! the process-mode monitor and the VM's guest agent must behave alike.
//! Timing never decides a result: waits are generous `eventually`s.

use isola_e2e::*;

const PROCESS: &str = "--isolation=process";
const VM: &str = "--isolation=vm";

fn status(i: &Isola, name: &str) -> String {
    i.inspect(name, "{{.State.Status}}")
}

fn restart_count(i: &Isola, name: &str) -> u32 {
    i.inspect(name, "{{.RestartCount}}").parse().unwrap()
}

/// `--restart on-failure:3` on a command that exits 1: four runs, three
/// restarts, then it stays exited with the command's code.
fn on_failure_runs_four_times(isolation: &str) {
    let i = Isola::new();
    i.ok(&[
        "run",
        "-d",
        isolation,
        "--network",
        "none",
        "--name",
        "f",
        "--restart",
        "on-failure:3",
        "busybox",
        "sh",
        "-c",
        "echo run; exit 1",
    ]);
    eventually("the container to stop for good", || {
        status(&i, "f") == "exited" && restart_count(&i, "f") == 3
    });
    let logs = i.ok(&["logs", "f"]);
    assert_eq!(logs.lines().filter(|l| *l == "run").count(), 4, "{logs}");
    assert_eq!(i.inspect("f", "{{.State.ExitCode}}"), "1");
    assert_eq!(
        i.inspect("f", "{{json .HostConfig.RestartPolicy}}"),
        r#"{"MaximumRetryCount":3,"Name":"on-failure"}"#
    );
    assert!(i.ps_line("f").contains("Exited (1)"), "{}", i.ps_line("f"));
}

#[test]
fn on_failure_3_runs_exactly_four_times() {
    on_failure_runs_four_times(PROCESS);
}

#[test]
fn vm_on_failure_3_runs_exactly_four_times_without_rebooting() {
    on_failure_runs_four_times(VM);
}

/// Attached, `run` returns with the first run's exit code and output, as
/// Docker's does, and lets go of its streams: the container restarts
/// without it (and `$(isola run ...)` is not held open by later runs).
fn attached_run_returns_at_the_first_exit(isolation: &str) {
    let i = Isola::new();
    let out = i.run(&[
        "run",
        isolation,
        "--network",
        "none",
        "--name",
        "att",
        "--restart",
        "on-failure:5",
        "busybox",
        "sh",
        "-c",
        "echo hi; sleep 1; exit 1",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hi\n");
    // Five more runs of a second each are still to come.
    assert_ne!(status(&i, "att"), "exited");
    eventually("the restarts to go on without the client", || {
        restart_count(&i, "att") >= 2
    });
    assert_eq!(
        i.inspect("att", "{{json .HostConfig.RestartPolicy.Name}}"),
        "\"on-failure\""
    );
    i.ok(&["rm", "-f", "att"]);
}

#[test]
fn attached_run_returns_at_the_first_exit_and_the_container_restarts() {
    attached_run_returns_at_the_first_exit(PROCESS);
}

#[test]
fn vm_attached_run_returns_at_the_first_exit_and_the_container_restarts() {
    attached_run_returns_at_the_first_exit(VM);
}

/// A command that ends when told (sh as PID 1 ignores SIGTERM unless it
/// traps it); it says "up" once the trap is set.
const SERVICE: &str = "trap 'exit 3' TERM; echo up; sleep 1000 & wait";

/// `exec NAME kill 1`. Its own exit status is not checked: the init's end
/// takes the whole PID namespace down, the `kill` process too if it has
/// not exited yet (then 137).
fn kill_init_inside(i: &Isola, name: &str) {
    let out = i.run(&["exec", name, "kill", "1"]);
    assert!(
        matches!(out.status.code(), Some(0 | 137)),
        "{:?}: {}",
        out.status,
        stderr(&out)
    );
}

/// Waits until `SERVICE` has started `runs` times (its trap is set).
fn wait_up(i: &Isola, name: &str, runs: usize) {
    eventually("the service's trap to be set", || {
        i.ok(&["logs", name]).lines().filter(|l| *l == "up").count() >= runs
    });
}

#[test]
fn always_comes_back_after_its_process_is_killed_and_stop_ends_it() {
    let i = Isola::new();
    i.ok(&[
        "run",
        "-d",
        PROCESS,
        "--network",
        "none",
        "--name",
        "a",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        SERVICE,
    ]);
    wait_up(&i, "a", 1);
    // Killed from inside ...
    let first = i.inspect("a", "{{.State.Pid}}");
    kill_init_inside(&i, "a");
    eventually("a restart after kill 1", || {
        restart_count(&i, "a") == 1 && status(&i, "a") == "running"
    });
    // ... and from the host.
    let pid: i32 = i.inspect("a", "{{.State.Pid}}").parse().unwrap();
    assert_ne!(pid.to_string(), first);
    // SAFETY: kill(2) takes plain integers; pid is the container's init.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    eventually("a restart after a host kill", || {
        restart_count(&i, "a") == 2 && status(&i, "a") == "running"
    });
    wait_up(&i, "a", 3);
    // A user's stop ends it for good.
    i.ok(&["stop", "a"]);
    assert_eq!(status(&i, "a"), "exited");
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(status(&i, "a"), "exited");
    assert_eq!(restart_count(&i, "a"), 2);
    assert!(i.inspect("a", "{{.State.ExitCode}}") == "3");
    // A start resets the count, as Docker's.
    i.ok(&["start", "a"]);
    eventually("it to run again", || status(&i, "a") == "running");
    assert_eq!(restart_count(&i, "a"), 0);
    i.ok(&["kill", "a"]);
    eventually("kill to end it", || status(&i, "a") == "exited");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        status(&i, "a"),
        "exited",
        "a kill by the user is not restarted"
    );
}

/// In VM mode the guest agent restarts the process inside the same VM:
/// the hypervisor (the container's one host process) stays the same.
#[test]
fn vm_always_comes_back_after_its_process_is_killed_inside() {
    let i = Isola::new();
    i.ok(&[
        "run",
        "-d",
        VM,
        "--network",
        "none",
        "--name",
        "a",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        SERVICE,
    ]);
    let vmm = i.inspect("a", "{{.State.Pid}}");
    wait_up(&i, "a", 1);
    kill_init_inside(&i, "a");
    eventually("a restart inside the guest", || {
        restart_count(&i, "a") == 1 && status(&i, "a") == "running"
    });
    assert_eq!(i.inspect("a", "{{.State.Pid}}"), vmm, "the same VM");
    wait_up(&i, "a", 2);
    i.ok(&["stop", "a"]);
    assert_eq!(status(&i, "a"), "exited");
    assert_eq!(i.inspect("a", "{{.State.ExitCode}}"), "3");
    assert_eq!(restart_count(&i, "a"), 1);
}

/// A command that fails at once backs off (100 ms doubling), so it is soon
/// seen waiting: `ps` says Restarting, inspect says restarting, and a stop
/// then ends it where it is.
fn restarting_shows_and_stop_ends_it(isolation: &str) {
    let i = Isola::new();
    i.ok(&[
        "run",
        "-d",
        isolation,
        "--network",
        "none",
        "--name",
        "r",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "exit 7",
    ]);
    // Each look is one snapshot: the container comes and goes meanwhile.
    eventually("ps to show it restarting", || {
        i.ps_line("r").contains("Restarting (7)")
    });
    eventually("inspect to show it restarting", || {
        i.inspect(
            "r",
            "{{.State.Status}} {{.State.Restarting}} {{.State.Running}} {{.State.ExitCode}}",
        ) == "restarting true true 7"
    });
    let out = i.run(&["rm", "r"]);
    assert_fails(&out, 1, "cannot remove running container");
    i.ok(&["stop", "r"]);
    eventually("stop to end it", || status(&i, "r") == "exited");
    let count = restart_count(&i, "r");
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(status(&i, "r"), "exited");
    assert_eq!(restart_count(&i, "r"), count, "no restart after stop");
    assert_eq!(i.inspect("r", "{{.State.ExitCode}}"), "7");
}

#[test]
fn restarting_is_shown_and_stop_ends_it() {
    restarting_shows_and_stop_ends_it(PROCESS);
}

#[test]
fn vm_restarting_is_shown_and_stop_ends_it() {
    restarting_shows_and_stop_ends_it(VM);
}

#[test]
fn rm_force_ends_a_restarting_container_and_leaves_nothing() {
    let i = Isola::new();
    i.ok(&[
        "run",
        "-d",
        PROCESS,
        "--network",
        "none",
        "--name",
        "r",
        "--restart",
        "always",
        "busybox",
        "sh",
        "-c",
        "exit 1",
    ]);
    let id = i.id("r");
    eventually("it to restart", || restart_count(&i, "r") >= 3);
    i.ok(&["rm", "-f", "r"]);
    eventually("nothing of it to remain", || leftovers(&id).is_empty());
}

/// Health turns `healthy`, then `unhealthy` once the check fails
/// `--health-retries` times in a row; the last results are kept.
fn check_healthy_then_unhealthy(isolation: &str, extra: &[&str]) {
    let i = Isola::new();
    let mut args = vec![
        "run",
        "-d",
        isolation,
        "--network",
        "none",
        "--name",
        "h",
        "--health-cmd",
        "test -f /tmp/ok && echo fine",
        "--health-interval",
        "300ms",
        "--health-retries",
        "2",
    ];
    args.extend_from_slice(extra);
    let command = format!("touch /tmp/ok; {SERVICE}");
    args.extend(["busybox", "sh", "-c", &command]);
    i.ok(&args);
    assert!(["starting", "healthy"].contains(&i.inspect("h", "{{.State.Health.Status}}").as_str()));
    eventually("healthy", || {
        i.inspect("h", "{{.State.Health.Status}}") == "healthy"
    });
    assert!(i.ps_line("h").contains("(healthy)"), "{}", i.ps_line("h"));
    let log = i.inspect("h", "{{json .State.Health.Log}}");
    let log: serde_json::Value = serde_json::from_str(&log).unwrap();
    let last = log.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], 0, "{last}");
    assert_eq!(last["Output"], "fine\n", "{last}");
    assert!(last["Start"].as_str().unwrap().ends_with('Z'), "{last}");
    i.ok(&["exec", "h", "rm", "/tmp/ok"]);
    eventually("unhealthy", || {
        i.inspect("h", "{{.State.Health.Status}}") == "unhealthy"
    });
    assert!(i.ps_line("h").contains("(unhealthy)"), "{}", i.ps_line("h"));
    let streak: u32 = i
        .inspect("h", "{{.State.Health.FailingStreak}}")
        .parse()
        .unwrap();
    assert!(streak >= 2, "{streak}");
    eventually("the log to keep the last five results", || {
        let log = i.inspect("h", "{{json .State.Health.Log}}");
        serde_json::from_str::<serde_json::Value>(&log)
            .unwrap()
            .as_array()
            .unwrap()
            .len()
            == 5
    });
    let filtered = i.ok(&["ps", "-q", "--filter", "health=unhealthy"]);
    assert_eq!(filtered.lines().count(), 1, "{filtered}");
    // Healthy again once the check passes.
    i.ok(&["exec", "h", "touch", "/tmp/ok"]);
    eventually("healthy again", || {
        i.inspect("h", "{{.State.Health.Status}}") == "healthy"
    });
    i.ok(&["stop", "h"]);
}

#[test]
fn health_turns_healthy_then_unhealthy() {
    check_healthy_then_unhealthy(PROCESS, &[]);
}

#[test]
fn vm_health_turns_healthy_then_unhealthy() {
    check_healthy_then_unhealthy(VM, &[]);
}

#[test]
fn health_check_timeout_counts_as_a_failure() {
    let i = Isola::new();
    i.ok(&[
        "run",
        "-d",
        PROCESS,
        "--network",
        "none",
        "--name",
        "t",
        "--health-cmd",
        "sleep 5",
        "--health-interval",
        "100ms",
        "--health-timeout",
        "200ms",
        "--health-retries",
        "1",
        "busybox",
        "sh",
        "-c",
        SERVICE,
    ]);
    eventually("unhealthy by timeout", || {
        i.inspect("t", "{{.State.Health.Status}}") == "unhealthy"
    });
    let log = i.inspect("t", "{{json .State.Health.Log}}");
    assert!(
        log.contains("Health check exceeded timeout (200ms)"),
        "{log}"
    );
    assert!(log.contains("\"ExitCode\":-1"), "{log}");
}

#[test]
fn no_health_check_without_one_and_none_with_no_healthcheck() {
    let i = Isola::new();
    i.ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "plain",
        "busybox",
        "true",
    ]);
    let v: serde_json::Value = serde_json::from_str(&i.ok(&["inspect", "plain"])).unwrap();
    assert!(v[0]["State"].get("Health").is_none(), "{v}");
    assert_eq!(v[0]["HostConfig"]["RestartPolicy"]["Name"], "no");
    assert_eq!(v[0]["RestartCount"], 0);
    i.ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "off",
        "--no-healthcheck",
        "busybox",
        "true",
    ]);
    assert_eq!(
        i.inspect("off", "{{json .Config.Healthcheck.Test}}"),
        r#"["NONE"]"#
    );
}

/// An image whose configuration has a HEALTHCHECK (as `docker save`
/// writes it) is checked without flags; flags override it field by field.
#[test]
fn the_image_healthcheck_is_run_and_flags_override_it() {
    let i = Isola::new();
    let rootfs = TarBuilder::new().dir_all(".", busybox_rootfs()).finish();
    let diff_id = format!("sha256:{}", sha256_hex(&rootfs));
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {
            "Cmd": ["sh", "-c", SERVICE],
            "Env": ["PATH=/bin:/usr/bin:/sbin:/usr/sbin"],
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 200_000_000u64, "Retries": 2},
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    });
    let config_bytes = serde_json::to_vec(&config).unwrap();
    let config_name = format!("{}.json", sha256_hex(&config_bytes));
    let manifest = serde_json::json!([{
        "Config": config_name, "RepoTags": ["checked:1"], "Layers": ["l/layer.tar"]
    }]);
    let archive = TarBuilder::new()
        .file(&config_name, &config_bytes)
        .file("l/layer.tar", &rootfs)
        .file("manifest.json", &serde_json::to_vec(&manifest).unwrap())
        .finish();
    let out = i.run_with_input(&["load"], &archive);
    assert!(out.status.success(), "{}", stderr(&out));
    i.ok(&[
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        "img",
        "checked:1",
    ]);
    eventually("the image's check to pass", || {
        i.inspect("img", "{{.State.Health.Status}}") == "healthy"
    });
    i.ok(&[
        "create",
        "--network",
        "none",
        "--name",
        "over",
        "--health-cmd",
        "false",
        "--health-retries",
        "9",
        "checked:1",
    ]);
    assert_eq!(
        i.inspect("over", "{{json .Config.Healthcheck}}"),
        r#"{"Interval":200000000,"Retries":9,"Test":["CMD-SHELL","false"]}"#
    );
}

#[test]
fn bad_restart_and_health_flags_fail_with_one_line_and_leave_nothing() {
    let i = Isola::new();
    for (args, needle) in [
        (vec!["--restart", "bogus"], "invalid restart policy"),
        (vec!["--restart", "on-failure:-1"], "maximum retry count"),
        (vec!["--restart", "always:2"], "only valid with on-failure"),
        (
            vec!["--health-interval", "0"],
            "--health-interval must be at least 1ms",
        ),
        (
            vec!["--health-timeout", "0s"],
            "--health-timeout must be at least 1ms",
        ),
        (vec!["--health-interval", "30"], "invalid duration"),
        (vec!["--health-retries", "-1"], "--health-retries"),
        (
            vec!["--restart", "always", "--rm"],
            "conflicting options: --restart and --rm",
        ),
        (
            vec!["--no-healthcheck", "--health-cmd", "true"],
            "--no-healthcheck conflicts",
        ),
    ] {
        let mut full = vec!["run", "-d", "--network", "none"];
        full.extend(args.iter().copied());
        full.extend(["busybox", "true"]);
        let out = i.run(&full);
        assert_fails(&out, 125, needle);
    }
    assert_eq!(i.ok(&["ps", "-aq"]), "", "nothing is left behind");
}

/// After a host reboot every monitor is gone; `start --all-restartable`
/// (the systemd unit's command) brings back `always` containers, and
/// `unless-stopped` ones the user did not stop, as Docker's daemon does.
#[test]
fn start_all_restartable_brings_back_what_a_reboot_took() {
    let i = Isola::new();
    let run = |name: &str, policy: &str| {
        i.ok(&[
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            name,
            "--restart",
            policy,
            "busybox",
            "sh",
            "-c",
            SERVICE,
        ]);
    };
    run("always-stopped", "always");
    run("always-crashed", "always");
    run("unless-stopped-stopped", "unless-stopped");
    run("unless-stopped-crashed", "unless-stopped");
    run("on-failure-crashed", "on-failure");
    run("no-crashed", "no");
    for name in ["always-stopped", "unless-stopped-stopped"] {
        wait_up(&i, name, 1);
    }
    i.ok(&["stop", "always-stopped", "unless-stopped-stopped"]);
    // A "reboot": monitors and containers die without recording anything.
    for name in [
        "always-crashed",
        "unless-stopped-crashed",
        "on-failure-crashed",
        "no-crashed",
    ] {
        for field in ["{{.State.MonitorPid}}", "{{.State.Pid}}"] {
            let pid: i32 = i.inspect(name, field).parse().unwrap();
            // SAFETY: kill(2) takes plain integers.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    for name in ["always-crashed", "unless-stopped-crashed"] {
        eventually("the crash to be recorded", || status(&i, name) == "exited");
    }
    let started = i.ok(&["start", "--all-restartable"]);
    let mut started: Vec<&str> = started.lines().collect();
    started.sort();
    assert_eq!(
        started,
        ["always-crashed", "always-stopped", "unless-stopped-crashed"]
    );
    for name in &started {
        assert_eq!(status(&i, name), "running", "{name}");
    }
    for name in ["unless-stopped-stopped", "on-failure-crashed", "no-crashed"] {
        assert_eq!(status(&i, name), "exited", "{name}");
    }
    let always = i.ok(&["ps", "-aq", "--filter", "restart-policy=always"]);
    assert_eq!(always.lines().count(), 2, "{always}");
}
