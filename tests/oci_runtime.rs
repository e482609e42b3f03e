//! `isola-runtime` behind real clients: containerd 1.6 (started here with
//! its own root, state, socket and runc root), Podman and Docker, plus the
//! runtime's own reliability cases. Every fixture removes what it started
//! and checks that no mount, cgroup or process of its containers is left.

use isola_e2e::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `isola-runtime-vm`: the same binary by another name (VM mode).
#[allow(dead_code)] // VM-mode cases below
fn runtime_vm_bin(dir: &Path) -> PathBuf {
    let link = dir.join("isola-runtime-vm");
    if !link.exists() {
        std::os::unix::fs::symlink(runtime_bin(), &link).unwrap();
    }
    link
}

/// Fails the test (never skips silently) when a client is not installed.
fn need(tool: &str) {
    let found = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .any(|d| Path::new(d).join(tool).exists());
    assert!(
        found,
        "{tool} is not installed: run scripts/deps.sh (scripts/test.sh does)"
    );
}

fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed ({:?}): {}{}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

const IMAGE: &str = "docker.io/isola-test/busybox:latest";

/// The busybox image as a docker-save archive in `dir`.
fn image_archive(dir: &Path) -> PathBuf {
    let layer = TarBuilder::new().dir_all(".", busybox_rootfs()).finish();
    let path = dir.join("busybox.tar");
    std::fs::write(&path, docker_save_archive(&[layer], IMAGE, &["sh"])).unwrap();
    path
}

/// Cgroup directories named `name` (a container id) anywhere under the
/// cgroup root, at most three levels down.
fn cgroups_named(name: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, name: &str, depth: u32, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if e.file_name() == name {
                out.push(e.path());
            } else if depth > 0 {
                walk(&e.path(), name, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), name, 3, &mut out);
    out
}

/// Mounts, cgroups and processes of container `id`, and its state dir.
fn leaks(id: &str, runtime_root: &Path) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(id))
        .map(|l| format!("mount: {l}"))
        .collect();
    found.extend(
        cgroups_named(id)
            .iter()
            .map(|d| format!("cgroup: {}", d.display())),
    );
    found.extend(
        processes_mentioning(id)
            .iter()
            .filter(|p| running(**p))
            .map(|p| format!("process {p}")),
    );
    if runtime_root.join(id).exists() {
        found.push(format!("state: {}", runtime_root.join(id).display()));
    }
    found
}

fn assert_gone(id: &str, runtime_root: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let l = leaks(id, runtime_root);
        if l.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "{id} left behind: {l:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A containerd of this test's own: root, state, sockets, config.
struct Containerd {
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Containerd {
    fn start() -> Containerd {
        need("containerd");
        need("ctr");
        let dir = tempfile::Builder::new()
            .prefix("isola-ctrd-")
            .tempdir()
            .unwrap();
        let d = dir.path().display();
        let config = format!(
            r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{d}/containerd.sock"
[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
"#
        );
        std::fs::write(dir.path().join("config.toml"), config).unwrap();
        let mut c = Containerd { dir, child: None };
        c.launch();
        let archive = image_archive(c.dir.path());
        ok(
            c.ctr(&["image", "import", archive.to_str().unwrap()]),
            "ctr image import",
        );
        c
    }

    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("containerd.log"))
            .unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(self.dir.path().join("config.toml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        eventually("containerd answers", || {
            self.ctr(&["version"]).status.success()
        });
    }

    /// Kills containerd (SIGKILL: no clean shutdown) and starts it again.
    fn restart(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.launch();
    }

    fn sock(&self) -> PathBuf {
        self.dir.path().join("containerd.sock")
    }

    fn runc_root(&self) -> PathBuf {
        self.dir.path().join("runc")
    }

    fn ctr(&self, args: &[&str]) -> Output {
        Command::new("ctr")
            .arg("--address")
            .arg(self.sock())
            .args(["--namespace", "isola-test"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// `ctr run` with the runtime binary `runtime` (by `--runc-binary`,
    /// which containerd hands the runc shim as its `BinaryName` option).
    fn run(&self, runtime: &Path, extra: &[&str], id: &str, cmd: &[&str]) -> Output {
        let runtime = runtime.to_str().unwrap().to_string();
        let root = self.runc_root().to_str().unwrap().to_string();
        let mut args = vec!["run", "--runc-binary", &runtime, "--runc-root", &root];
        args.extend_from_slice(extra);
        args.push(IMAGE);
        args.push(id);
        args.extend_from_slice(cmd);
        self.ctr(&args)
    }

    fn task_status(&self, id: &str) -> String {
        let out = stdout(&self.ctr(&["task", "ls"]));
        out.lines()
            .find(|l| l.split_whitespace().next() == Some(id))
            .and_then(|l| l.split_whitespace().nth(2))
            .unwrap_or("")
            .to_string()
    }

    /// `ctr task exec` of `sh -c script` in container `id`.
    fn exec(&self, id: &str, exec_id: &str, script: &str) -> Output {
        self.ctr(&["task", "exec", "--exec-id", exec_id, id, "sh", "-c", script])
    }

    /// The PIDs `ctr task ps` lists.
    fn ps(&self, id: &str) -> Vec<i32> {
        let ps = ok(self.ctr(&["task", "ps", id]), "ctr task ps");
        ps.lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect()
    }

    /// SIGKILLs container `id` through containerd (its command is PID 1 of
    /// its namespace: only SIGKILL ends it, as with runc), waits for the
    /// task to stop, then deletes task and container.
    fn remove(&self, id: &str) {
        ok(
            self.ctr(&["task", "kill", "-s", "KILL", id]),
            "ctr task kill",
        );
        eventually("the killed task stops", || {
            self.task_status(id) == "STOPPED"
        });
        ok(self.ctr(&["task", "delete", id]), "ctr task delete");
        ok(
            self.ctr(&["container", "delete", id]),
            "ctr container delete",
        );
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let out = stdout(&self.ctr(&["container", "ls", "-q"]));
        for id in out.lines() {
            let _ = self.ctr(&["task", "kill", "-s", "KILL", id]);
            std::thread::sleep(Duration::from_millis(200));
            let _ = self.ctr(&["task", "delete", id]);
            let _ = self.ctr(&["container", "delete", id]);
        }
        let _ = self.ctr(&["image", "rm", IMAGE]);
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Shims exit with their last task; any left is a leak we clean.
        for pid in processes_mentioning(&self.sock().display().to_string()) {
            let _ = nix_kill(pid);
        }
        let prefix = self.dir.path().display().to_string();
        let mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        for m in mounts.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
    }
}

fn nix_kill(pid: i32) -> bool {
    // SAFETY: kill(2) with a PID and a signal number; no memory involved.
    unsafe { libc::kill(pid, libc::SIGKILL) == 0 }
}

/// containerd's cgroups of namespace `isola-test` are `/isola-test/<id>`;
/// the parent stays (as with runc): remove it when empty.
fn remove_empty_parent_cgroups(name: &str) {
    for d in cgroups_named(name) {
        let _ = std::fs::remove_dir(d);
    }
}

#[test]
fn containerd_runs_process_containers_with_exit_codes_output_exec_kill_and_ps() {
    let c = Containerd::start();
    let rt = runtime_bin();
    let root = c.runc_root().join("isola-test");

    // Output and exit status of a foreground container.
    let o = c.run(
        &rt,
        &["--rm"],
        "ctr-exit",
        &["sh", "-c", "echo hello from isola; exit 7"],
    );
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "hello from isola");
    assert_gone("ctr-exit", &root);

    // A command that does not exist fails the run (nothing left behind).
    let o = c.run(&rt, &["--rm"], "ctr-missing", &["/no/such/binary"]);
    assert!(!o.status.success(), "running a missing binary succeeded");
    let _ = c.ctr(&["container", "delete", "ctr-missing"]);
    assert_gone("ctr-missing", &root);

    // A detached container: exec, ps, kill.
    ok(
        c.run(&rt, &["-d"], "ctr-long", &["sleep", "1000"]),
        "ctr run -d",
    );
    eventually("the task runs", || c.task_status("ctr-long") == "RUNNING");
    let o = c.exec("ctr-long", "e1", "echo exec says $((6*7)); exit 3");
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "exec says 42");
    let pids = c.ps("ctr-long");
    assert_eq!(pids.len(), 1, "task ps: {pids:?}");
    assert_eq!(
        comm(pids[0]),
        "sleep",
        "task ps names the host PID of sleep"
    );
    // The runtime's own view agrees.
    let state = Command::new(&rt)
        .arg("--root")
        .arg(&root)
        .args(["state", "ctr-long"])
        .output()
        .unwrap();
    let state: serde_json::Value = serde_json::from_str(&ok(state, "state")).unwrap();
    assert_eq!(state["status"], "running");
    assert_eq!(state["pid"], pids[0]);
    c.remove("ctr-long");
    assert_gone("ctr-long", &root);
    remove_empty_parent_cgroups("isola-test");
}

#[test]
fn a_container_outlives_a_containerd_restart_and_is_still_managed() {
    let mut c = Containerd::start();
    let rt = runtime_bin();
    let root = c.runc_root().join("isola-test");
    ok(
        c.run(&rt, &["-d"], "ctr-restart", &["sleep", "1000"]),
        "ctr run -d",
    );
    eventually("the task runs", || {
        c.task_status("ctr-restart") == "RUNNING"
    });
    c.restart();
    assert_eq!(c.task_status("ctr-restart"), "RUNNING");
    let o = c.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e2",
        "ctr-restart",
        "echo",
        "still here",
    ]);
    assert_eq!(stdout(&o).trim(), "still here", "{}", stderr(&o));
    c.remove("ctr-restart");
    assert_gone("ctr-restart", &root);
    remove_empty_parent_cgroups("isola-test");
}

/// An OCI bundle of busybox with a spec from `isola-runtime spec`,
/// changed by `edit`, and a private `--root` for the runtime.
struct Bundle {
    dir: tempfile::TempDir,
}

/// A failed test leaves nothing either: every container of the bundle's
/// root is deleted with `--force`.
impl Drop for Bundle {
    fn drop(&mut self) {
        for e in std::fs::read_dir(self.root())
            .into_iter()
            .flatten()
            .flatten()
        {
            let id = e.file_name().to_string_lossy().into_owned();
            let _ = self.out(&["delete", "--force", &id]);
        }
    }
}

impl Bundle {
    fn new(edit: impl FnOnce(&mut serde_json::Value)) -> Bundle {
        let dir = tempfile::Builder::new()
            .prefix("isola-bundle-")
            .tempdir()
            .unwrap();
        let st = Command::new("cp")
            .arg("-a")
            .arg(busybox_rootfs())
            .arg(dir.path().join("rootfs"))
            .status()
            .unwrap();
        assert!(st.success());
        ok(
            Command::new(runtime_bin())
                .args(["spec", "--bundle"])
                .arg(dir.path())
                .output()
                .unwrap(),
            "isola-runtime spec",
        );
        let path = dir.path().join("config.json");
        let mut spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        spec["process"]["terminal"] = false.into();
        spec["root"]["readonly"] = false.into();
        edit(&mut spec);
        std::fs::write(&path, serde_json::to_vec(&spec).unwrap()).unwrap();
        Bundle { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn rt(&self, args: &[&str]) -> Command {
        let mut c = Command::new(runtime_bin());
        c.arg("--root").arg(self.root()).args(args);
        c.stdin(Stdio::null());
        c
    }

    fn out(&self, args: &[&str]) -> Output {
        self.rt(args).output().unwrap()
    }

    /// `create` with `extra` flags. Its stdio becomes the container's (as
    /// runc's does), so it goes to files: a pipe would stay open as long
    /// as the container runs.
    fn spawn_create(&self, extra: &[&str], id: &str) -> Child {
        let mut c = self.rt(&["create", "--bundle", self.path().to_str().unwrap()]);
        c.args(extra).arg(id);
        c.stdout(std::fs::File::create(self.path().join("create.out")).unwrap());
        c.stderr(std::fs::File::create(self.path().join("create.err")).unwrap());
        c.spawn().unwrap()
    }

    fn create_with(&self, extra: &[&str], id: &str) {
        let st = self.spawn_create(extra, id).wait().unwrap();
        let err = std::fs::read_to_string(self.path().join("create.err")).unwrap();
        assert!(st.success(), "create {id}: {err}");
    }

    fn create(&self, id: &str) {
        self.create_with(&[], id)
    }

    fn state(&self, id: &str) -> serde_json::Value {
        serde_json::from_str(&ok(self.out(&["state", id]), "state")).unwrap()
    }
}

/// A container id unique to this test run (leak checks look for it).
fn cid(name: &str) -> String {
    format!("isolart-{name}-{}", std::process::id())
}

fn args(spec: &mut serde_json::Value, cmd: &[&str]) {
    spec["process"]["args"] = serde_json::json!(cmd);
}

#[test]
fn the_create_start_split_has_a_real_pid_and_kill_9_of_the_init_is_a_stopped_container() {
    let id = &cid("split");
    let b = Bundle::new(|s| args(s, &["sleep", "1000"]));
    let pid_file = b.path().join("pid");
    b.create_with(&["--pid-file", pid_file.to_str().unwrap()], id);
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    let st = b.state(id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["pid"], pid);
    assert!(running(pid), "the created init {pid} exists");
    // Not started: its command has not run yet.
    assert_ne!(comm(pid), "sleep");
    // Only a created container starts; a second create of the id fails.
    let again = b.out(&["create", "--bundle", b.path().to_str().unwrap(), id]);
    // (a failed create hands no stdio to any container: output() is fine)
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert!(
        !b.out(&["delete", id]).status.success(),
        "deleting a created container without --force"
    );
    assert!(nix_kill(pid));
    eventually("the killed init is stopped", || {
        b.state(id)["status"] == "stopped"
    });
    let start = b.out(&["start", id]);
    assert!(
        stderr(&start).contains("only a created container can be started"),
        "{}",
        stderr(&start)
    );
    ok(b.out(&["delete", id]), "delete");
    assert_gone(id, &b.root());
    let gone = b.out(&["state", id]);
    assert!(
        stderr(&gone).contains("does not exist"),
        "{}",
        stderr(&gone)
    );
}

#[test]
fn kill_9_of_the_runtime_during_create_leaves_a_container_that_delete_force_cleans() {
    let id = &cid("half");
    let marker = format!("isola-hook-{}", std::process::id());
    let b = Bundle::new(|s| {
        args(s, &["sleep", "1000"]);
        s["hooks"] = serde_json::json!({"createRuntime": [
            {"path": "/bin/sh", "args": ["sh", "-c", format!("while :; do sleep 0.1; done # {marker}")]}
        ]});
    });
    let mut create = b.spawn_create(&[], id);
    eventually("create runs its hook", || {
        !processes_mentioning(&marker).is_empty()
    });
    create.kill().unwrap();
    create.wait().unwrap();
    for p in processes_mentioning(&marker) {
        nix_kill(p);
    }
    let st = b.state(id);
    assert_eq!(st["status"], "created", "{st}");
    let pid = st["pid"].as_i64().unwrap() as i32;
    assert!(running(pid));
    ok(b.out(&["delete", "--force", id]), "delete --force");
    assert!(!running(pid), "delete --force killed the init");
    assert_gone(id, &b.root());
}

#[test]
fn hooks_run_in_order_with_the_state_on_stdin() {
    let id = &cid("hooked");
    let log = tempfile::NamedTempFile::new().unwrap();
    let logp = log.path().display().to_string();
    let hook = |name: &str| {
        serde_json::json!({"path": "/bin/sh", "args": ["sh", "-c",
            format!("read -r s; echo {name} $(echo \"$s\" | grep -o '\"status\":\"[a-z]*\"') >> {logp}")]})
    };
    let b = Bundle::new(|s| {
        args(s, &["sh", "-c", "echo main >> /started"]);
        s["hooks"] = serde_json::json!({
            "prestart": [hook("prestart")],
            "createRuntime": [hook("createRuntime")],
            "createContainer": [hook("createContainer")],
            // Runs inside the container: its sh, its file system.
            "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "cat > /start-state"]}],
            "poststart": [hook("poststart")],
            "poststop": [hook("poststop")],
        });
    });
    let o = b.out(&["run", "--bundle", b.path().to_str().unwrap(), id]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let got = std::fs::read_to_string(log.path()).unwrap();
    let want = "prestart \"status\":\"created\"\ncreateRuntime \"status\":\"created\"\n\
                createContainer \"status\":\"created\"\npoststart \"status\":\"running\"\n\
                poststop \"status\":\"stopped\"\n";
    assert_eq!(got, want);
    let start_state = std::fs::read_to_string(b.path().join("rootfs/start-state")).unwrap();
    assert!(
        start_state.contains(&format!("\"id\":\"{id}\"")),
        "{start_state}"
    );
    assert_eq!(
        std::fs::read_to_string(b.path().join("rootfs/started")).unwrap(),
        "main\n"
    );
    assert_gone(id, &b.root());
}

#[test]
fn exec_takes_env_cwd_user_and_pid_file_and_nothing_of_the_runtime_reaches_the_container() {
    let id = &cid("ex");
    let b = Bundle::new(|s| args(s, &["sleep", "1000"]));
    b.create(id);
    ok(b.out(&["start", id]), "start");
    let pid_file = b.path().join("exec.pid");
    let o = b.out(&[
        "exec",
        "--env",
        "FOO=bar",
        "--cwd",
        "/tmp",
        "--user",
        "1000:1000",
        "--pid-file",
        pid_file.to_str().unwrap(),
        id,
        "sh",
        "-c",
        "echo $FOO $(pwd) $(id -u); ls /proc/self/fd",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("bar /tmp 1000"));
    // Only stdio (and ls's own directory fd): no exec fifo, no state fd.
    let fds: Vec<&str> = lines.collect();
    assert!(fds.len() <= 4, "fds open in the container: {fds:?}");
    assert!(std::fs::read_to_string(&pid_file)
        .unwrap()
        .parse::<i32>()
        .is_ok());
    // The main process has no fd of the runtime's either.
    let o = b.out(&["exec", id, "ls", "-l", "/proc/1/fd"]);
    assert!(!stdout(&o).contains("exec.fifo"), "{}", stdout(&o));
    let o = b.out(&["exec", id, "sh", "-c", "exit 9"]);
    assert_eq!(o.status.code(), Some(9));
    let ps: Vec<i32> =
        serde_json::from_str(&ok(b.out(&["ps", "--format", "json", id]), "ps")).unwrap();
    assert_eq!(ps.len(), 1, "{ps:?}");
    ok(b.out(&["pause", id]), "pause");
    assert_eq!(b.state(id)["status"], "paused");
    ok(b.out(&["resume", id]), "resume");
    assert_eq!(b.state(id)["status"], "running");
    ok(b.out(&["update", "--pids-limit", "20", id]), "update");
    let stats = ok(b.out(&["events", "--stats", id]), "events --stats");
    assert!(stats.contains("\"pids\":{\"current\":1,"), "{stats}");
    ok(b.out(&["delete", "--force", id]), "delete --force");
    assert_gone(id, &b.root());
}

#[test]
fn the_console_socket_gets_the_terminal_of_the_container() {
    let id = &cid("tty");
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let b = Bundle::new(|s| {
        args(s, &["sh", "-c", "tty; echo on-the-terminal"]);
        s["process"]["terminal"] = true.into();
    });
    let sock = b.path().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let mut create = b.spawn_create(&["--console-socket", sock.to_str().unwrap()], id);
    let (conn, _) = listener.accept().unwrap();
    let mut buf = [0u8; 64];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::empty(),
    )
    .unwrap();
    let mut master = None;
    for c in msg.cmsgs().unwrap() {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: SCM_RIGHTS just gave us this fd.
            master = Some(unsafe { OwnedFd::from_raw_fd(fds[0]) });
        }
    }
    let master = std::fs::File::from(master.expect("a pty master over SCM_RIGHTS"));
    assert!(create.wait().unwrap().success());
    ok(b.out(&["start", id]), "start");
    let mut text = String::new();
    let mut r = std::io::BufReader::new(master);
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut r, &mut line).unwrap_or(0) > 0 {
        text.push_str(&line);
        line.clear();
        if text.contains("on-the-terminal") {
            break;
        }
    }
    assert!(
        text.contains("/dev/pts/0") || text.contains("/dev/console"),
        "{text:?}"
    );
    eventually("the tty container stops", || {
        b.state(id)["status"] == "stopped"
    });
    ok(b.out(&["delete", id]), "delete");
    assert_gone(id, &b.root());
}

#[test]
fn what_isola_runtime_does_not_do_is_refused_by_name() {
    let b = Bundle::new(|s| {
        args(s, &["true"]);
        s["annotations"] = serde_json::json!({"io.isola.isolation": "gvisor"});
    });
    let bundle = b.path().to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["checkpoint", "x"],
            "checkpoint (there is no CRIU integration)",
        ),
        (vec!["--systemd-cgroup", "state", "x"], "--systemd-cgroup"),
        (
            vec!["create", "--bundle", bundle, "../escape"],
            "invalid container id",
        ),
        (
            vec!["create", "--bundle", bundle, "bad-annotation"],
            "io.isola.isolation=\"gvisor\"",
        ),
        (
            vec!["kill", "nope", "KILL"],
            "container nope does not exist",
        ),
    ];
    for (a, needle) in cases {
        let o = b.out(&a);
        assert_eq!(o.status.code(), Some(1), "{a:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{a:?}: {}", stderr(&o));
    }
    assert!(!b.root().join("bad-annotation").exists());
    assert!(!b.path().join("escape").exists());
}

/// Removes empty cgroup directories named `name` (a caller's parent
/// cgroup such as podman's `libpod_parent` or docker's `docker`), with
/// their empty children (podman's `conmon`), when no other user is left.
fn remove_empty_cgroups(name: &str) {
    for d in cgroups_named(name) {
        for child in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let _ = std::fs::remove_dir(child.path());
        }
        let _ = std::fs::remove_dir(d);
    }
}

/// Unmounts everything mounted under `dir`, deepest first, repeatedly
/// (podman mounts its storage home over itself once per invocation).
fn unmount_under(dir: &Path) {
    let prefix = dir.display().to_string();
    for _ in 0..5 {
        let mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        if mounts.is_empty() {
            return;
        }
        for m in mounts.iter().rev() {
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
    }
}

#[test]
fn podman_runs_containers_on_isola_runtime() {
    need("podman");
    need("conmon");
    let dir = tempfile::Builder::new()
        .prefix("isola-podman-")
        .tempdir()
        .unwrap();
    let archive = image_archive(dir.path());
    let rt = runtime_bin();
    let podman = |args: &[&str]| -> Output {
        Command::new("podman")
            .arg("--root")
            .arg(dir.path().join("root"))
            .arg("--runroot")
            .arg(dir.path().join("runroot"))
            .arg("--tmpdir")
            .arg(dir.path().join("tmp"))
            .arg("--runtime")
            .arg(&rt)
            .args([
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
                "--storage-driver",
                "overlay",
            ])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    ok(
        podman(&["load", "-i", archive.to_str().unwrap()]),
        "podman load",
    );
    let name = cid("podman");
    // This host grants no CAP_SYS_RESOURCE: podman's default rlimits
    // exceed its hard limits, so give ones it can set.
    let o = podman(&[
        "run",
        "--rm",
        "--name",
        &name,
        "--network",
        "none",
        "--ulimit",
        "nofile=20000:20000",
        "--ulimit",
        "nproc=32768:32768",
        IMAGE,
        "sh",
        "-c",
        "echo podman on isola; exit 4",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "podman on isola");
    let o = podman(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "--ulimit",
        "nofile=20000:20000",
        "--ulimit",
        "nproc=32768:32768",
        IMAGE,
        "sleep",
        "1000",
    ]);
    ok(o, "podman run -d");
    let o = podman(&["exec", &name, "sh", "-c", "echo exec in podman"]);
    assert_eq!(stdout(&o).trim(), "exec in podman", "{}", stderr(&o));
    ok(podman(&["rm", "-f", "-t", "0", &name]), "podman rm -f");
    ok(podman(&["rmi", "-a", "-f"]), "podman rmi");
    unmount_under(dir.path());
    assert_gone(&name, &dir.path().join("runroot"));
    remove_empty_cgroups("libpod_parent");
}

#[test]
fn docker_runs_containers_with_an_added_isola_runtime() {
    need("dockerd");
    need("docker");
    let dir = tempfile::Builder::new()
        .prefix("isola-dockerd-rt-")
        .tempdir()
        .unwrap();
    let d = dir.path();
    let sock = format!("unix://{}/docker.sock", d.display());
    let rt = runtime_bin();
    let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
    let mut dockerd = Command::new("dockerd")
        .arg("--data-root")
        .arg(d.join("data"))
        .arg("--exec-root")
        .arg(d.join("exec"))
        .arg("--pidfile")
        .arg(d.join("docker.pid"))
        .args(["-H", &sock])
        .args([
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-forward=false",
            "--ip-masq=false",
        ])
        .arg("--add-runtime")
        .arg(format!("isola={}", rt.display()))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let docker = |args: &[&str]| -> Output {
        Command::new("docker")
            .args(["-H", &sock])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let result = std::panic::catch_unwind(|| {
        eventually("dockerd answers", || docker(&["version"]).status.success());
        let archive = image_archive(d);
        ok(
            docker(&["load", "-i", archive.to_str().unwrap()]),
            "docker load",
        );
        let name = cid("docker");
        let o = docker(&[
            "run",
            "--rm",
            "--runtime=isola",
            "--network",
            "none",
            "--name",
            &name,
            "isola-test/busybox",
            "sh",
            "-c",
            "echo docker on isola; exit 5",
        ]);
        assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
        assert_eq!(stdout(&o).trim(), "docker on isola");
        ok(
            docker(&[
                "run",
                "-d",
                "--runtime=isola",
                "--network",
                "none",
                "--name",
                &name,
                "isola-test/busybox",
                "sleep",
                "1000",
            ]),
            "docker run -d",
        );
        let o = docker(&["exec", &name, "sh", "-c", "echo exec in docker"]);
        assert_eq!(stdout(&o).trim(), "exec in docker", "{}", stderr(&o));
        let top = ok(docker(&["top", &name]), "docker top");
        assert!(top.contains("sleep 1000"), "{top}");
        ok(docker(&["rm", "-f", &name]), "docker rm -f");
        name
    });
    let _ = docker(&["rm", "-f", &cid("docker")]);
    // SAFETY: kill(2) with our child's PID.
    unsafe { libc::kill(dockerd.id() as i32, libc::SIGTERM) };
    let _ = dockerd.wait();
    unmount_under(d);
    let name = result.unwrap_or_else(|e| std::panic::resume_unwind(e));
    assert_gone(&name, &d.join("exec"));
    remove_empty_cgroups("docker");
}

/// VM mode needs the guest kernel and the agent's initramfs in isola's
/// cache (`ISOLA_CACHE`); without them the test fails saying so.
fn need_guest() {
    let cache = std::env::var("ISOLA_CACHE").unwrap_or_else(|_| "/var/cache/isola".into());
    for f in ["kernel/vmlinux", "agent/initrd.img"] {
        assert!(
            Path::new(&cache).join(f).exists(),
            "{cache}/{f} is missing: run guest/build-kernel.sh and guest/build-initrd.sh"
        );
    }
}

/// QEMU processes of container `id` (its initramfs is in the
/// container's state directory, named by the full id).
fn qemus_of(id: &str) -> Vec<i32> {
    processes_mentioning(&format!("/{id}/initrd.img"))
        .into_iter()
        .filter(|p| running(*p))
        .collect()
}

#[test]
fn containerd_runs_vm_containers_by_binary_name_and_by_annotation() {
    need_guest();
    let c = Containerd::start();
    let links = tempfile::tempdir().unwrap();
    let vm = runtime_vm_bin(links.path());
    let root = c.runc_root().join("isola-test");

    // `isola-runtime-vm`: output and exit status of the guest's process.
    let o = c.run(
        &vm,
        &["--rm"],
        "ctr-vm-exit",
        &["sh", "-c", "echo hello from the vm; uname -r; exit 3"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.starts_with("hello from the vm\n"), "{out}");
    let guest_kernel = out.lines().nth(1).unwrap_or_default().to_string();
    let host_kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_ne!(guest_kernel, host_kernel.trim(), "ran on the host's kernel");
    assert_gone("ctr-vm-exit", &root);

    // The annotation on the process-mode binary: exec, ps, kill.
    let rt = runtime_bin();
    ok(
        c.run(
            &rt,
            &["-d", "--annotation", "io.isola.isolation=vm"],
            "ctr-vm-long",
            &["sleep", "1000"],
        ),
        "ctr run -d (vm)",
    );
    eventually("the VM task runs", || {
        c.task_status("ctr-vm-long") == "RUNNING"
    });
    assert_eq!(
        qemus_of("ctr-vm-long").len(),
        1,
        "one QEMU for the container"
    );
    let o = c.exec("ctr-vm-long", "v1", "echo exec in vm; exit 4");
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "exec in vm");
    let pids = c.ps("ctr-vm-long");
    assert!(!pids.is_empty(), "task ps lists the guest's processes");
    c.remove("ctr-vm-long");
    eventually("no QEMU is left", || qemus_of("ctr-vm-long").is_empty());
    assert_gone("ctr-vm-long", &root);
    remove_empty_parent_cgroups("isola-test");
}

#[test]
fn a_pod_container_joins_its_sandbox_namespaces_by_path() {
    // The sandbox ("pause") container: its own network, IPC, UTS and PID
    // namespaces, as containerd's CRI creates it.
    let sandbox_id = &cid("sandbox");
    let sandbox = Bundle::new(|s| {
        args(s, &["sleep", "1000"]);
        s["hostname"] = "the-pod".into();
    });
    sandbox.create(sandbox_id);
    ok(sandbox.out(&["start", sandbox_id]), "start sandbox");
    let pid = sandbox.state(sandbox_id)["pid"].as_i64().unwrap();
    let ns = |t: &str| std::fs::read_link(format!("/proc/{pid}/ns/{t}")).unwrap();

    let member_id = &cid("member");
    let member = Bundle::new(|s| {
        args(
            s,
            &["sh", "-c", "hostname; for n in net ipc uts pid; do readlink /proc/self/ns/$n; done; ps -o pid,comm"],
        );
        s["hostname"] = serde_json::Value::Null;
        let joined: Vec<serde_json::Value> = ["network", "ipc", "uts", "pid"]
            .iter()
            .zip(["net", "ipc", "uts", "pid"])
            .map(|(t, f)| serde_json::json!({"type": t, "path": format!("/proc/{pid}/ns/{f}")}))
            .chain([serde_json::json!({"type": "mount"})])
            .collect();
        s["linux"]["namespaces"] = serde_json::json!(joined);
    });
    let o = member.out(&[
        "run",
        "--bundle",
        member.path().to_str().unwrap(),
        member_id,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("the-pod"), "{out}");
    for t in ["net", "ipc", "uts", "pid"] {
        assert_eq!(
            lines.next().map(PathBuf::from),
            Some(ns(t)),
            "{t} namespace not shared: {out}"
        );
    }
    assert!(
        out.contains("sleep"),
        "the sandbox's process is visible: {out}"
    );
    ok(
        sandbox.out(&["delete", "--force", sandbox_id]),
        "delete sandbox",
    );
    assert_gone(member_id, &member.root());
    assert_gone(sandbox_id, &sandbox.root());
}

#[test]
fn a_created_vm_container_is_deleted_with_its_vm() {
    need_guest();
    let id = &cid("vm-created");
    let b = Bundle::new(|s| {
        args(s, &["sleep", "1000"]);
        s["annotations"] = serde_json::json!({"io.isola.isolation": "vm"});
    });
    b.create(id);
    let st = b.state(id);
    assert_eq!(st["status"], "created");
    let keeper = st["pid"].as_i64().unwrap() as i32;
    assert!(running(keeper));
    eventually("its QEMU runs", || qemus_of(id).len() == 1);
    ok(b.out(&["delete", "--force", id]), "delete --force (vm)");
    assert!(!running(keeper), "the keeper was killed");
    eventually("no QEMU is left", || qemus_of(id).is_empty());
    assert_gone(id, &b.root());
}
