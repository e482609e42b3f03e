//! Faults an unlucky operator meets: a CLI killed mid-command, damaged
//! state, a full disk, a huge log, a frozen VM, a damaged image blob, a
//! closed pipe. Each must end with a usable engine and nothing left behind.

use isola_e2e::*;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const VM: &str = "--isolation=vm";

/// Small deterministic pseudo-random delays (no rand dependency).
struct Jitter(u64);

impl Jitter {
    fn next_ms(&mut self, max: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % max
    }
}

fn assert_empty_root(i: &Isola) {
    for sub in ["containers", "names"] {
        let left: Vec<_> = std::fs::read_dir(i.path().join(sub))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "{sub} still holds {left:?}");
    }
}

fn killed_run_d_loop(mode: &str, rounds: usize, max_delay_ms: u64) {
    let i = Isola::new();
    let mut jitter = Jitter(std::process::id() as u64);
    for round in 0..rounds {
        let mut cli = i
            .cmd(&["run", "-d", "--name", "k", mode, "busybox", "sleep", "1000"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(jitter.next_ms(max_delay_ms)));
        let _ = cli.kill();
        let _ = cli.wait();
        // Whatever the CLI got to, rm -f frees the name ...
        let o = i.run(&["rm", "-f", "k"]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "round {round}: rm -f: {}",
            stderr(&o)
        );
        // ... and the name can be used again at once.
        let o = i.run(&["run", "-d", "--name", "k", mode, "busybox", "sleep", "1000"]);
        assert!(o.status.success(), "round {round}: {}", stderr(&o));
        let id = i.id("k");
        i.ok(&["rm", "-f", "k"]);
        assert!(
            leftovers(&id).is_empty(),
            "round {round}: {:?}",
            leftovers(&id)
        );
    }
    assert_eq!(i.ok(&["ps", "-aq"]), "");
    assert_empty_root(&i);
}

#[test]
fn a_cli_killed_during_run_d_never_strands_a_name() {
    killed_run_d_loop("--isolation=process", 25, 60);
}

#[test]
fn a_cli_killed_during_vm_run_d_never_strands_a_name() {
    killed_run_d_loop(VM, 5, 400);
}

/// Damages `file` of container `name` the way a crash mid-write or a bad
/// disk would: cut in half.
fn damage(i: &Isola, name: &str, file: &str) {
    let path = i.path().join("containers").join(i.id(name)).join(file);
    let data = std::fs::read(&path).unwrap();
    std::fs::write(&path, &data[..data.len() / 2]).unwrap();
}

#[test]
fn damaged_state_shows_dead_and_rm_f_kills_what_runs() {
    let i = Isola::new();
    for (name, mode, file) in [
        ("ps", "--isolation=process", "state.json"),
        ("pc", "--isolation=process", "config.json"),
        ("vs", VM, "state.json"),
    ] {
        i.ok(&[
            "run", "-d", "--name", name, mode, "busybox", "sleep", "1000",
        ]);
        let id = i.id(name);
        let pid: i32 = i.inspect(name, "{{.State.Pid}}").parse().unwrap();
        damage(&i, name, file);
        let ps = i.ok(&["ps", "-a"]);
        let row = ps
            .lines()
            .find(|l| l.ends_with(name))
            .unwrap_or_else(|| panic!("{name} hidden: {ps}"));
        assert!(row.contains("Dead"), "{row}");
        let o = i.run(&["rm", "-f", name]);
        assert_eq!(o.status.code(), Some(0), "{name}: {}", stderr(&o));
        assert!(!running(pid), "{name}: process {pid} still runs");
        assert!(leftovers(&id).is_empty(), "{name}: {:?}", leftovers(&id));
    }
    assert_empty_root(&i);
}

#[test]
fn a_full_disk_strands_no_container() {
    let i = Isola::empty();
    // The whole root on a 24 MiB tmpfs, in a private mount namespace.
    let script = format!(
        r#"set -u
        R={root}; B={bin}
        mount -t tmpfs -o size=24m isola-full "$R" || exit 90
        $B --root "$R" import -c 'CMD ["sh"]' {rootfs} busybox >/dev/null || exit 91
        echo "run-rm-exit:$($B --root "$R" run --rm busybox sh -c 'dd if=/dev/zero of=/fill bs=1M 2>/dev/null; exit 3'; echo $?)"
        echo "after-run-rm:$(ls -A "$R/containers"; ls -A "$R/names")"
        $B --root "$R" run -d --name f busybox sh -c 'dd if=/dev/zero of=/fill bs=1M 2>/dev/null; sleep 1000' >/dev/null || exit 92
        for n in $(seq 100); do [ "$(df --output=avail "$R" | tail -1)" -lt 100 ] && break; sleep 0.1; done
        echo "avail:$(df --output=avail "$R" | tail -1 | tr -d ' ')"
        $B --root "$R" ps -a --format '{{{{.Names}}}}' 2>&1 | sed 's/^/ps:/'
        $B --root "$R" ps -a 2>&1 | grep -q ' f$' && echo listed
        $B --root "$R" rm -f f >/dev/null; echo "rm-exit:$?"
        $B --root "$R" run -d --name g --isolation=vm busybox sh -c 'dd if=/dev/zero of=/fill bs=1M; sleep 1000' >/dev/null 2>&1
        sleep 3
        $B --root "$R" rm -f g >/dev/null; echo "vm-rm-exit:$?"
        echo "after-rm:$(ls -A "$R/containers"; ls -A "$R/names")"
        # A process killed a moment ago may still be closing its files.
        for n in $(seq 25); do umount "$R" 2>/dev/null && exit 0; sleep 0.2; done
        echo "still busy:"; ls -l /proc/[0-9]*/cwd /proc/[0-9]*/fd 2>/dev/null | grep "$R" | head
        exit 93
        "#,
        root = i.path().display(),
        bin = bin().display(),
        rootfs = busybox_rootfs().display(),
    );
    // The script runs isola itself, not through `Isola::cmd`: without
    // this its containers would join the default bridge in the machine's
    // own network namespace (netavark's chains were left there).
    let o = Command::new("unshare")
        .args(["-m", "--propagation", "private", "bash", "-c", &script])
        .env("ISOLA_DEFAULT_NETWORK", "none")
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    assert!(out.contains("run-rm-exit:3\n"), "{out}");
    assert!(out.contains("after-run-rm:\n"), "{out}");
    assert!(out.contains("avail:0\n") || out.contains("listed"), "{out}");
    assert!(out.contains("listed"), "hidden on a full disk: {out}");
    assert!(out.contains("rm-exit:0\n"), "{out}");
    assert!(out.contains("vm-rm-exit:0\n"), "{out}");
    assert!(out.contains("after-rm:\n"), "{out}");
}

#[test]
fn logs_tail_of_a_300_mb_log_runs_in_bounded_memory() {
    let i = Isola::new();
    i.ok(&["run", "--name", "l", "busybox", "echo", "first"]);
    let log = i
        .path()
        .join("containers")
        .join(i.id("l"))
        .join(format!("{}-json.log", i.id("l")));
    {
        let mut f =
            std::io::BufWriter::new(std::fs::OpenOptions::new().append(true).open(&log).unwrap());
        let line = format!(
            "{{\"log\":\"{}\\n\",\"stream\":\"stdout\",\"time\":\"2026-01-01T00:00:00.000000000Z\"}}\n",
            "x".repeat(200)
        );
        let mut written = 0;
        while written < 300 << 20 {
            f.write_all(line.as_bytes()).unwrap();
            written += line.len();
        }
        f.write_all(
            b"{\"log\":\"the end\\n\",\"stream\":\"stderr\",\"time\":\"2026-01-01T00:00:01Z\"}\n",
        )
        .unwrap();
    }
    // 200 MiB of address space: far less than the log.
    let o = Command::new("prlimit")
        .args(["--as=209715200", "--"])
        .arg(bin())
        .arg("--root")
        .arg(i.path())
        .args(["logs", "--tail", "1", "l"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    assert_eq!(stderr(&o), "the end\n");
    // Streaming the whole log stays within the limit too.
    let o = Command::new("prlimit")
        .args(["--as=209715200", "--"])
        .arg(bin())
        .arg("--root")
        .arg(i.path())
        .args(["logs", "l"])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o), "the end\n");
}

/// Runs `args` and fails the test if it has not finished after `limit`:
/// a hang detector, not a timing assertion.
fn run_bounded(i: &Isola, args: &[&str], limit: Duration) -> std::process::Output {
    let mut child = i
        .cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("isola {args:?} hung for {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_frozen_vm_never_hangs_stop_kill_or_exec() {
    let i = Isola::new();
    i.ok(&["run", "-d", "--name", "fz", VM, "busybox", "sleep", "1000"]);
    let id = i.id("fz");
    let qemu: i32 = i.inspect("fz", "{{.State.Pid}}").parse().unwrap();
    // SAFETY: sends SIGSTOP to the VM's process, which this test owns.
    unsafe { libc::kill(qemu, libc::SIGSTOP) };
    let limit = Duration::from_secs(60);
    for _ in 0..3 {
        let o = run_bounded(&i, &["kill", "-s", "HUP", "fz"], limit);
        assert_fails(&o, 1, "not responding");
    }
    let o = run_bounded(&i, &["exec", "fz", "true"], limit);
    assert_fails(&o, 1, "not responding");
    let o = run_bounded(&i, &["stop", "-t", "2", "fz"], limit);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        i.inspect("fz", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 137"
    );
    i.ok(&["rm", "fz"]);
    assert!(leftovers(&id).is_empty(), "{:?}", leftovers(&id));
}

#[test]
fn save_refuses_a_blob_damaged_in_the_store() {
    let i = Isola::new();
    let blobs = i.path().join("images/blobs/sha256");
    let biggest = std::fs::read_dir(&blobs)
        .unwrap()
        .flatten()
        .max_by_key(|e| e.metadata().unwrap().len())
        .unwrap()
        .path();
    let mut data = std::fs::read(&biggest).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&biggest, &data).unwrap();
    let out = tempfile::tempdir().unwrap();
    let tar = out.path().join("b.tar");
    let o = i.run(&["save", "-o", tar.to_str().unwrap(), "busybox"]);
    assert_fails(&o, 1, "damaged");
    assert_eq!(
        std::fs::read_dir(out.path()).unwrap().count(),
        0,
        "partial archive left"
    );
}

#[test]
fn a_closed_pipe_ends_quietly_and_relative_workdirs_are_refused() {
    let i = Isola::new();
    i.ok(&["run", "--name", "c", "busybox", "true"]);
    for cmd in [
        "inspect c | head -c0",
        "ps -a | true",
        "images | head -c1 >/dev/null",
        "logs c | true",
    ] {
        let o = Command::new("bash")
            .args([
                "-c",
                &format!(
                    "set -o pipefail; {} --root {} {cmd}; echo status=$?",
                    bin().display(),
                    i.path().display()
                ),
            ])
            .output()
            .unwrap();
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{cmd}: {err}");
        assert!(err.is_empty(), "{cmd}: {err}");
    }
    let o = i.run(&["run", "--rm", "-w", "rel/dir", "busybox", "pwd"]);
    assert_fails(&o, 125, "needs to be an absolute path");
    let o = i.run(&["create", "-w", "x", "busybox"]);
    assert_fails(&o, 125, "needs to be an absolute path");
    i.ok(&["run", "-d", "--name", "e", "busybox", "sleep", "100"]);
    let o = i.run(&["exec", "-w", "tmp", "e", "pwd"]);
    assert_fails(&o, 1, "needs to be an absolute path");
    assert_eq!(
        i.ok(&["ps", "-aq"]).lines().count(),
        2,
        "a refused create left a container"
    );
}
