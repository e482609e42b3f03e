//! Boots `isola-agent` as PID 1 of a QEMU micro-VM (TCG) built exactly as
//! the engine builds it, with `isola_runtime_vm`: the base initramfs plus
//! the container's boot configuration (`write_initrd`), erofs layer disks
//! (`layer_image`), an ext4 upper disk (`upper_image`), and QEMU's command
//! line from `Qemu::command`, spawned here instead of exec'd. Clients talk
//! to it with `Client`, like the CLI will; the log and exit record are
//! read from the files QEMU writes.
//!
//! Ignored by default: it needs root, `qemu-system-x86_64`, the guest
//! kernel (`guest/build-kernel.sh`), the base initramfs
//! (`guest/build-initrd.sh`), busybox-static, e2fsprogs and erofs-utils.
//! `crates/agent/tests/boot.sh` builds the initramfs and runs it.
//!
//! Environment: `ISOLA_INITRD` (base initramfs, default
//! `${ISOLA_CACHE:-/var/cache/isola}/agent/initrd.img`), `ISOLA_KERNEL`
//! (default /var/cache/isola/kernel/vmlinux), `ISOLA_BOOT_CONSOLE=1` (print
//! each guest's serial console, which is otherwise printed on failure).

use isola_proto::layout::{BootConfig, ExitRecord, CONTROL_PORTS};
use isola_proto::{
    ContainerConfig, ExecConfig, Filesystem, Frame, Layer, Message, ProcessSpec, Rootfs, SessionId,
    Spec, Stream, TtySize, Upper, MAIN_SESSION,
};
use isola_runtime_vm::{
    control_socket, detect_accel, layer_image, upper_image, write_initrd, Client, Disk, Hypervisor,
    Qemu, VmSpec,
};
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::symlink;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Upper bound for one VM's whole life, boot to QEMU's exit.
const VM_TIMEOUT: Duration = Duration::from_secs(60);

/// One VM at a time: TCG is CPU-bound and the machine has two cores.
static VM_LOCK: Mutex<()> = Mutex::new(());

/// Inputs shared by all boots, built once.
struct Fixture {
    dir: PathBuf,
    kernel: PathBuf,
    kernel_release: String,
    base_initrd: PathBuf,
    /// Image layer disks, top-most first: l0 holds only /etc/isola-layer
    /// ("top"), l1 busybox (and an /etc/isola-layer saying "base").
    layers: Vec<PathBuf>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build_fixture)
}

fn build_fixture() -> Fixture {
    let kernel = PathBuf::from(
        std::env::var_os("ISOLA_KERNEL").unwrap_or("/var/cache/isola/kernel/vmlinux".into()),
    );
    assert!(
        kernel.exists(),
        "no guest kernel at {}; build it with guest/build-kernel.sh",
        kernel.display()
    );
    let kernel_release = fs::read_to_string(format!("{}.release", kernel.display()))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let base_initrd = std::env::var_os("ISOLA_INITRD")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("ISOLA_CACHE").unwrap_or("/var/cache/isola".into());
            Path::new(&cache).join("agent/initrd.img")
        });
    assert!(
        base_initrd.exists(),
        "no base initramfs at {}; build it with guest/build-initrd.sh \
         (crates/agent/tests/boot.sh does)",
        base_initrd.display()
    );
    let busybox = Path::new("/bin/busybox");
    let kind = Command::new("file")
        .arg("-L")
        .arg(busybox)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&kind.stdout).contains("statically linked"),
        "need a static /bin/busybox: apt-get install busybox-static"
    );

    // Under target/, replaced by each run: a static is never dropped, so a
    // temporary directory would be left behind in /tmp.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("agent-boot");
    match fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != ErrorKind::NotFound => panic!("removing {}: {e}", dir.display()),
        _ => fs::create_dir_all(&dir).unwrap(),
    }
    // Layer directories are named like the engine's, by diff-id.
    let base = dir.join("layers/sha256-base");
    fs::create_dir_all(base.join("bin")).unwrap();
    fs::create_dir_all(base.join("etc")).unwrap();
    fs::copy(busybox, base.join("bin/busybox")).unwrap();
    let list = Command::new(busybox).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            symlink("busybox", base.join("bin").join(applet)).unwrap();
        }
    }
    fs::write(
        base.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    fs::write(base.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    fs::write(base.join("etc/isola-layer"), "base\n").unwrap();
    let top = dir.join("layers/sha256-top");
    fs::create_dir_all(top.join("etc")).unwrap();
    fs::write(top.join("etc/isola-layer"), "top\n").unwrap();
    let cache = dir.join("layer-cache");
    let layers = [&top, &base]
        .iter()
        .map(|l| layer_image(&cache, l).expect("building an erofs layer"))
        .collect();
    Fixture {
        dir,
        kernel,
        kernel_release,
        base_initrd,
        layers,
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A detached container running `args` on the fixture's layers.
fn boot_config(args: &[&str]) -> BootConfig {
    let layers = (0..fixture().layers.len())
        .map(|i| Layer::Disk {
            serial: format!("l{i}"),
            fs: Filesystem::Erofs,
        })
        .collect();
    BootConfig {
        container: ContainerConfig {
            spec: spec(args, false, None),
            open_stdin: false,
            tty_size: None,
            rootfs: Rootfs {
                layers,
                upper: Upper::Disk {
                    serial: "upper".into(),
                    fs: Filesystem::Ext4,
                },
            },
            time_ns: now_ns(),
            shares: false,
            restart: Default::default(),
            health: None,
        },
        wait_for_attach: false,
    }
}

/// A small OCI spec for the guest: the engine sends Docker's full
/// defaults; these namespaces, mounts and devices will do.
fn spec(args: &[&str], terminal: bool, memory: Option<i64>) -> Spec {
    let mut resources = serde_json::json!({"devices": [
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
        {"allow": true, "type": "c", "major": 5, "access": "rwm"},
        {"allow": true, "type": "c", "major": 136, "access": "rwm"},
    ]});
    if let Some(m) = memory {
        resources["memory"] = serde_json::json!({"limit": m});
    }
    serde_json::from_value(serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": terminal,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "cwd": "/",
        },
        "root": {"path": "rootfs"},
        "hostname": "guest",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}],
            "resources": resources,
        },
    }))
    .unwrap()
}

/// Kills QEMU at the deadline unless it was reaped: a hung guest, or a
/// client blocked on it, fails the test instead of hanging it.
struct Watchdog {
    /// QEMU's PID while it is not reaped.
    pid: Arc<Mutex<Option<i32>>>,
}

impl Watchdog {
    fn start(pid: i32, deadline: Instant) -> Watchdog {
        let slot = Arc::new(Mutex::new(Some(pid)));
        let watched = Arc::clone(&slot);
        std::thread::spawn(move || {
            while Instant::now() < deadline {
                if watched.lock().unwrap().is_none() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if let Some(pid) = *watched.lock().unwrap() {
                eprintln!("watchdog: QEMU {pid} ran past its deadline; killing it");
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        });
        Watchdog { pid: slot }
    }
}

/// A running VM and its files.
struct Vm {
    name: String,
    dir: PathBuf,
    qemu: Child,
    watchdog: Watchdog,
    started: Instant,
    deadline: Instant,
    _serial: MutexGuard<'static, ()>,
}

impl Vm {
    fn boot(name: &str, boot: &BootConfig) -> Vm {
        Vm::boot_raw(name, &serde_json::to_vec(boot).unwrap(), 1)
    }

    /// Boots with `config` as /isola/config.json, exactly as given.
    fn boot_raw(name: &str, config: &[u8], vcpus: u32) -> Vm {
        let serial = VM_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let fx = fixture();
        let dir = fx.dir.join(name);
        fs::create_dir_all(&dir).unwrap();
        let upper = dir.join("upper.ext4");
        upper_image(&upper).unwrap();
        let initrd = dir.join("initrd.img");
        write_initrd(&fx.base_initrd, config, &initrd).unwrap();
        let mut disks: Vec<Disk> = fx
            .layers
            .iter()
            .enumerate()
            .map(|(i, path)| Disk {
                path: path.clone(),
                serial: format!("l{i}"),
                readonly: true,
            })
            .collect();
        disks.push(Disk {
            path: upper,
            serial: "upper".into(),
            readonly: false,
        });
        let spec = VmSpec {
            id: format!("boot-test-{name}"),
            accel: detect_accel("auto").unwrap().0,
            memory_mib: 256,
            vcpus,
            kernel: fx.kernel.clone(),
            initrd,
            disks,
            workdir: dir.clone(),
            control_sockets: (0..CONTROL_PORTS).map(control_socket).collect(),
            log_file: dir.join("json.log"),
            exit_file: dir.join("exit.json"),
            status_file: dir.join("status.json"),
            console: isola_runtime_vm::Console::File(dir.join("console.log")),
            vmm_log: dir.join("vmm.log"),
            shares: Vec::new(),
            nic: None,
        };
        let vmm_log = fs::File::create(&spec.vmm_log).unwrap();
        let mut cmd = Qemu::find().unwrap().command(&spec);
        cmd.stdin(Stdio::null())
            .stdout(vmm_log.try_clone().unwrap())
            .stderr(vmm_log);
        // SAFETY: the closure only makes the prctl syscall, which is
        // async-signal-safe; it kills QEMU if this test process dies.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                    .map_err(std::io::Error::from)
            });
        }
        let started = Instant::now();
        let deadline = started + VM_TIMEOUT;
        let qemu = cmd.spawn().expect("starting qemu-system-x86_64");
        let watchdog = Watchdog::start(qemu.id() as i32, deadline);
        Vm {
            name: name.to_string(),
            dir,
            qemu,
            watchdog,
            started,
            deadline,
            _serial: serial,
        }
    }

    fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    fn left(&self) -> Duration {
        let left = self.deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "{}: out of time", self.name);
        left
    }

    /// The test's remaining time for booting and for every answer alike.
    fn timeouts(&self) -> isola_runtime_vm::Timeouts {
        let left = self.left();
        isola_runtime_vm::Timeouts {
            boot: left,
            response: left,
        }
    }

    /// Attaches to port 0, as `isola start -a` will.
    fn attach(&self) -> Client {
        let c = Client::attach(&self.dir, self.timeouts(), &|| self.running())
            .expect("attaching to port 0");
        eprintln!("{}: attached after {:.2}s", self.name, self.elapsed());
        c
    }

    /// Connects to a free port other than 0, as `isola exec` will.
    fn connect(&self) -> Client {
        Client::connect(&self.dir, self.timeouts(), &|| self.running())
            .expect("connecting to a control port")
    }

    /// Whether QEMU still runs (it is not reaped before `wait_exit`).
    fn running(&self) -> bool {
        fs::read_to_string(format!("/proc/{}/stat", self.qemu.id()))
            .is_ok_and(|s| !s[s.rfind(')').unwrap() + 2..].starts_with('Z'))
    }

    /// Waits for QEMU to exit by itself; it must exit cleanly.
    fn wait_exit(&mut self) {
        loop {
            let mut slot = self.watchdog.pid.lock().unwrap();
            if let Some(status) = self.qemu.try_wait().unwrap() {
                *slot = None;
                assert!(status.success(), "{}: QEMU exited with {status}", self.name);
                eprintln!("{}: QEMU exited after {:.2}s", self.name, self.elapsed());
                return;
            }
            drop(slot);
            assert!(
                Instant::now() < self.deadline,
                "{}: QEMU did not exit within {}s",
                self.name,
                VM_TIMEOUT.as_secs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// QEMU's user + system CPU time so far, in clock ticks.
    fn cpu_ticks(&self) -> u64 {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.qemu.id())).unwrap();
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..]
            .split_whitespace()
            .collect();
        // Fields 14 and 15 of stat; fields[0] is field 3.
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    /// The one exit record the guest wrote, at a time after the VM started
    /// (the guest's clock comes from the boot configuration).
    fn exit_record(&self) -> ExitRecord {
        let rec = self.exit_record_any_time();
        assert_rfc3339_nanos(&rec.finished_at);
        rec
    }

    /// The one exit record the guest wrote.
    fn exit_record_any_time(&self) -> ExitRecord {
        let text = fs::read_to_string(self.dir.join("exit.json")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{}: exit.json is {text:?}", self.name);
        serde_json::from_str(lines[0]).unwrap()
    }

    /// The json-file log: (log, stream) per entry.
    fn log(&self) -> Vec<(String, String)> {
        let text = fs::read_to_string(self.dir.join("json.log")).unwrap();
        text.lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                assert_eq!(v.as_object().unwrap().len(), 3, "{l}");
                assert_rfc3339_nanos(v["time"].as_str().unwrap());
                (
                    v["log"].as_str().unwrap().to_string(),
                    v["stream"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn console(&self) -> String {
        fs::read_to_string(self.dir.join("console.log")).unwrap_or_default()
    }

    /// Checks that the guest left the writable disk clean.
    fn assert_upper_clean(&self) {
        let upper = self.dir.join("upper.ext4");
        let check = Command::new("e2fsck")
            .arg("-fn")
            .arg(&upper)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}: upper disk not clean: {}",
            self.name,
            String::from_utf8_lossy(&check.stdout)
        );
    }

    /// A file from the writable layer (the upper disk's `upper/`).
    fn upper_file(&self, path: &str) -> String {
        let upper = self.dir.join("upper.ext4");
        let out = Command::new("debugfs")
            .args(["-R", &format!("cat /upper{path}")])
            .arg(&upper)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let mut slot = self.watchdog.pid.lock().unwrap_or_else(|e| e.into_inner());
        if self.qemu.try_wait().ok().flatten().is_none() {
            let _ = self.qemu.kill();
        }
        let _ = self.qemu.wait();
        *slot = None;
        if std::thread::panicking() || std::env::var_os("ISOLA_BOOT_CONSOLE").is_some() {
            let vmm = fs::read_to_string(self.dir.join("vmm.log")).unwrap_or_default();
            eprintln!(
                "----- {} serial console -----\n{}----- QEMU -----\n{vmm}-----",
                self.name,
                self.console()
            );
        }
    }
}

/// `2026-11-27T21:40:00.123456789Z`, the format of Docker and the engine.
fn assert_rfc3339_nanos(t: &str) {
    let b = t.as_bytes();
    assert!(
        b.len() == 30 && b[10] == b'T' && b[19] == b'.' && b[29] == b'Z',
        "{t:?} is not RFC 3339 with nanoseconds in UTC"
    );
    // The guest's clock comes from the host: it is today, not 1970.
    let t = humantime::parse_rfc3339(t).unwrap();
    let age = SystemTime::now().duration_since(t).unwrap_or_default();
    assert!(age < VM_TIMEOUT, "guest clock not set: {t:?}");
}

/// The next frame from the guest, failing the test at `deadline`.
fn recv(c: &mut Client, deadline: Instant) -> Frame {
    let left = deadline.saturating_duration_since(Instant::now());
    assert!(!left.is_zero(), "timed out waiting for the guest");
    c.reader.get_ref().set_read_timeout(Some(left)).unwrap();
    match c.recv() {
        Ok(f) => f,
        Err(isola_runtime_vm::Error::Protocol(isola_proto::Error::Io(e)))
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
        {
            panic!("no frame from the guest in time")
        }
        Err(e) => panic!("reading from the guest: {e}"),
    }
}

fn send(c: &mut Client, msg: &Message) {
    c.send(msg).expect("sending to the guest");
}

/// Reads until `pick` accepts a message; other frames are dropped.
fn wait_for<T>(
    c: &mut Client,
    deadline: Instant,
    mut pick: impl FnMut(&Message) -> Option<T>,
) -> T {
    loop {
        if let Frame::Control(m) = recv(c, deadline) {
            if let Some(v) = pick(&m) {
                return v;
            }
            if let Message::Error { message } = m {
                panic!("guest error: {message}");
            }
        }
    }
}

#[derive(Debug, Default)]
struct Collected {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    code: i32,
    oom_killed: bool,
}

impl Collected {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Collects a session's output until its `Exited`.
fn collect(c: &mut Client, session: SessionId, deadline: Instant) -> Collected {
    let mut out = Collected::default();
    loop {
        match recv(c, deadline) {
            Frame::Data {
                session: s,
                stream,
                data,
            } if s == session => match stream {
                Stream::Stdout => out.stdout.extend(data),
                Stream::Stderr => out.stderr.extend(data),
                Stream::Stdin => panic!("stdin data from the guest"),
            },
            Frame::Control(Message::Exited {
                session: s,
                code,
                oom_killed,
            }) if s == session => {
                out.code = code;
                out.oom_killed = oom_killed;
                return out;
            }
            Frame::Control(Message::Error { message }) => panic!("guest error: {message}"),
            other => panic!("unexpected while collecting session {session}: {other:?}"),
        }
    }
}

fn exec_config(session: SessionId, args: &[&str], stdin: bool, tty: bool) -> ExecConfig {
    ExecConfig {
        session,
        process: ProcessSpec {
            args: args.iter().map(|a| a.to_string()).collect(),
            env: vec!["PATH=/bin".into()],
            ..ProcessSpec::default()
        },
        tty,
        stdin,
        tty_size: tty.then_some(TtySize { rows: 33, cols: 77 }),
        fs_op: None,
    }
}

/// Starts an exec session; returns its guest PID.
fn exec(c: &mut Client, session: SessionId, args: &[&str], deadline: Instant) -> i32 {
    send(
        c,
        &Message::Exec(Box::new(exec_config(session, args, false, false))),
    );
    wait_for(c, deadline, |m| match m {
        Message::ExecStarted { session: s, pid } if *s == session => Some(*pid),
        Message::ExecFailed {
            session: s,
            code,
            message,
        } if *s == session => panic!("exec failed ({code}): {message}"),
        _ => None,
    })
}

/// The container's processes as `(user, pid, cmd)`.
fn processes(c: &mut Client, deadline: Instant) -> Vec<(String, String, String)> {
    send(c, &Message::ListProcesses {});
    let (header, rows) = wait_for(c, deadline, |m| match m {
        Message::Processes { header, rows } => Some((header.clone(), rows.clone())),
        _ => None,
    });
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no {name} in {header:?}"))
    };
    let (uid, pid, cmd) = (col("UID"), col("PID"), col("CMD"));
    rows.into_iter()
        .map(|r| (r[uid].clone(), r[pid].clone(), r[cmd].clone()))
        .collect()
}

/// Waits (up to 5 s) until no process of the container runs `cmd`: the
/// agent kills with SIGKILL, which takes effect asynchronously.
fn wait_gone(c: &mut Client, cmd: &str, deadline: Instant) {
    let t = Instant::now();
    loop {
        let procs = processes(c, deadline);
        if !procs.iter().any(|p| p.2 == cmd) {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{cmd} was not killed: {procs:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The text of the next `Error`.
fn error_reply(c: &mut Client, deadline: Instant) -> String {
    wait_for(c, deadline, |m| match m {
        Message::Error { message } => Some(message.clone()),
        _ => None,
    })
}

fn signal(c: &mut Client, session: SessionId, signal: i32, deadline: Instant) {
    send(c, &Message::Signal { session, signal });
    wait_for(c, deadline, |m| matches!(m, Message::Ok {}).then_some(()));
}

#[test]
#[ignore = "boots QEMU: needs root, the guest kernel and the agent's initramfs (see crates/agent/tests/boot.sh)"]
fn detached_container_logs_and_records_its_exit() {
    let mut vm = Vm::boot(
        "detached",
        &boot_config(&["sh", "-c", "echo out; echo err >&2; exit 3"]),
    );
    vm.wait_exit();
    let rec = vm.exit_record();
    assert_eq!((rec.code, rec.oom_killed), (3, false), "{rec:?}");
    assert!(rec.error.is_empty(), "{rec:?}");
    let mut log = vm.log();
    log.sort();
    assert_eq!(
        log,
        [
            ("err\n".to_string(), "stderr".to_string()),
            ("out\n".to_string(), "stdout".to_string())
        ]
    );
    vm.assert_upper_clean();
}

#[test]
#[ignore = "boots QEMU: needs root, the guest kernel and the agent's initramfs (see crates/agent/tests/boot.sh)"]
fn attached_client_gets_all_output_then_exited() {
    let mut boot = boot_config(&[
        "sh",
        "-c",
        "for i in 1 2 3; do echo line $i; done; echo err >&2; printf tail",
    ]);
    boot.wait_for_attach = true;
    let mut vm = Vm::boot("attached", &boot);
    let mut c = vm.attach();
    let t = Instant::now();
    let got = collect(&mut c, MAIN_SESSION, vm.deadline);
    eprintln!(
        "attached: output and Exited {:.2}s after attaching",
        t.elapsed().as_secs_f64()
    );
    assert_eq!(got.stdout(), "line 1\nline 2\nline 3\ntail");
    assert_eq!(got.stderr(), "err\n");
    assert_eq!((got.code, got.oom_killed), (0, false));
    // exit.json is complete before Exited is sent.
    assert_eq!(vm.exit_record().code, 0);
    send(&mut c, &Message::Shutdown);
    vm.wait_exit();
    let log = vm.log();
    let stdout: Vec<&str> = log
        .iter()
        .filter(|(_, s)| s == "stdout")
        .map(|(l, _)| l.as_str())
        .collect();
    assert_eq!(stdout, ["line 1\n", "line 2\n", "line 3\n", "tail"]);
    assert!(log.contains(&("err\n".into(), "stderr".into())), "{log:?}");
}

#[test]
#[ignore = "boots QEMU: needs root, the guest kernel and the agent's initramfs (see crates/agent/tests/boot.sh)"]
fn attached_terminal_takes_stdin_and_resize() {
    let mut boot = boot_config(&["sh"]);
    boot.wait_for_attach = true;
    boot.container.spec = spec(&["sh"], true, None);
    boot.container.open_stdin = true;
    boot.container.tty_size = Some(TtySize { rows: 24, cols: 80 });
    let mut vm = Vm::boot("tty", &boot);
    let mut c = vm.attach();
    send(
        &mut c,
        &Message::Resize {
            session: MAIN_SESSION,
            rows: 40,
            cols: 100,
        },
    );
    c.writer
        .send_data(MAIN_SESSION, Stream::Stdin, b"stty size; tty; exit 7\n")
        .unwrap();
    let got = collect(&mut c, MAIN_SESSION, vm.deadline);
    let out = got.stdout();
    assert_eq!(got.code, 7, "{out}");
    assert!(got.stderr.is_empty(), "a terminal has no separate stderr");
    assert!(out.contains("40 100\r\n"), "{out:?}");
    assert!(out.contains("/dev/pts/0\r\n"), "{out:?}");
    send(&mut c, &Message::Shutdown);
    vm.wait_exit();
    assert_eq!(vm.exit_record().code, 7);
    let log = vm.log();
    assert!(log.iter().all(|(_, s)| s == "stdout"), "{log:?}");
    assert!(log.iter().any(|(l, _)| l == "40 100\r\n"), "{log:?}");
}

#[test]
#[ignore = "boots QEMU: needs root, the guest kernel and the agent's initramfs (see crates/agent/tests/boot.sh)"]
fn serves_clients_on_several_ports_until_killed() {
    let mut vm = Vm::boot("sleep", &boot_config(&["sleep", "30"]));
    let dl = vm.deadline;
    let mut a = vm.connect();
    let t = Instant::now();
    let procs = processes(&mut a, dl);
    eprintln!(
        "sleep: Processes {:.3}s after the request: {procs:?}",
        t.elapsed().as_secs_f64()
    );
    let sleep = procs
        .iter()
        .find(|p| p.2 == "sleep 30")
        .unwrap_or_else(|| panic!("no sleep in {procs:?}"));
    assert_eq!(sleep.0, "root");

    // A second client at the same time, on another port; exec session ids
    // are per port, so both may use 1.
    let mut b = vm.connect();
    exec(&mut b, 1, &["uname", "-r"], dl);
    let uname = collect(&mut b, 1, dl);
    let release = uname.stdout().trim().to_string();
    assert_eq!(uname.code, 0, "{}", uname.stderr());
    assert!(release.starts_with("6.1."), "guest release {release:?}");
    if !fixture().kernel_release.is_empty() {
        assert_eq!(release, fixture().kernel_release);
    }
    exec(&mut a, 1, &["cat", "/etc/isola-layer"], dl);
    assert_eq!(
        collect(&mut a, 1, dl).stdout(),
        "top\n",
        "l0 is the top layer"
    );

    // stdin and stdout of an exec are binary-safe end to end.
    send(
        &mut b,
        &Message::Exec(Box::new(exec_config(2, &["cat"], true, false))),
    );
    wait_for(&mut b, dl, |m| {
        matches!(m, Message::ExecStarted { session: 2, .. }).then_some(())
    });
    let bytes: Vec<u8> = (0..=255u8).cycle().take(64 * 1024 + 7).collect();
    b.writer.send_data(2, Stream::Stdin, &bytes).unwrap();
    send(&mut b, &Message::CloseStdin { session: 2 });
    let echoed = collect(&mut b, 2, dl);
    assert_eq!(echoed.code, 0);
    assert!(
        echoed.stdout == bytes,
        "cat echoed {} bytes",
        echoed.stdout.len()
    );

    // A write to the upper layer, checked on the disk after power-off.
    exec(&mut b, 3, &["sh", "-c", "echo kept > /written"], dl);
    assert_eq!(collect(&mut b, 3, dl).code, 0);

    // A client that leaves takes its exec sessions with it; the port
    // serves the next client.
    exec(&mut a, 2, &["sleep", "99"], dl);
    drop(a);
    let mut a = vm.connect();
    wait_gone(&mut a, "sleep 99", dl);
    eprintln!("sleep: reconnected; the old client's exec is gone");

    // A Hello on a greeted port is a new client the guest did not see
    // connect (a reconnect faster than the guest noticed): it gets a fresh
    // port and a Hello of its own, and the old client's execs die.
    exec(&mut a, 5, &["sleep", "98"], dl);
    send(
        &mut a,
        &Message::Hello {
            version: isola_proto::VERSION,
            software: "boot-test, again".into(),
        },
    );
    wait_for(&mut a, dl, |m| {
        matches!(m, Message::Hello { .. }).then_some(())
    });
    wait_gone(&mut a, "sleep 98", dl);
    exec(&mut a, 5, &["true"], dl);
    assert_eq!(collect(&mut a, 5, dl).code, 0);

    // Requests that cannot be served are answered with an Error, and the
    // conversation goes on.
    send(
        &mut a,
        &Message::Signal {
            session: 42,
            signal: 9,
        },
    );
    let message = error_reply(&mut a, dl);
    assert!(message.contains("42"), "{message}");

    // sleep is its PID namespace's init: TERM without a handler is
    // ignored, as in Docker; KILL ends it.
    signal(&mut a, MAIN_SESSION, 15, dl);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        processes(&mut b, dl).iter().any(|p| p.2 == "sleep 30"),
        "TERM ended the container"
    );
    signal(&mut a, MAIN_SESSION, 9, dl);
    vm.wait_exit();
    let rec = vm.exit_record();
    assert_eq!((rec.code, rec.oom_killed), (137, false), "{rec:?}");
    vm.assert_upper_clean();
    assert_eq!(vm.upper_file("/written"), "kept\n");
}

#[test]
#[ignore = "boots QEMU: needs root, the guest kernel and the agent's initramfs (see crates/agent/tests/boot.sh)"]
fn a_missing_command_is_127_detached_and_attached() {
    let mut vm = Vm::boot("notfound", &boot_config(&["nope"]));
    vm.wait_exit();
    let rec = vm.exit_record();
    assert_eq!(rec.code, 127, "{rec:?}");
    assert!(rec.error.contains("nope"), "{rec:?}");
    drop(vm);

    let mut boot = boot_config(&["nope"]);
    boot.wait_for_attach = true;
    let mut vm = Vm::boot("notfound-attached", &boot);
    let mut c = vm.attach();
    let (code, message) = wait_for(&mut c, vm.deadline, |m| match m {
        Message::StartFailed { code, message } => Some((*code, message.clone())),
        _ => None,
    });
    assert_eq!(code, 127, "{message}");
    assert!(message.contains("nope"), "{message}");
    vm.wait_exit();
    assert_eq!(vm.exit_record().code, 127);
}

#[test]
#[ignore = "boots QEMU: needs root, the guest kernel and the agent's initramfs (see crates/agent/tests/boot.sh)"]
fn a_container_waiting_for_attach_can_be_stopped() {
    let mut boot = boot_config(&["sleep", "30"]);
    boot.wait_for_attach = true;
    let mut vm = Vm::boot("unattached", &boot);
    let dl = vm.deadline;
    let mut c = vm.connect();
    assert!(processes(&mut c, dl).is_empty(), "started without a client");
    send(
        &mut c,
        &Message::Exec(Box::new(exec_config(1, &["true"], false, false))),
    );
    let code = wait_for(&mut c, dl, |m| match m {
        Message::ExecFailed {
            session: 1, code, ..
        } => Some(*code),
        _ => None,
    });
    assert_eq!(code, 125);
    send(
        &mut c,
        &Message::Signal {
            session: 0,
            signal: 9,
        },
    );
    let message = error_reply(&mut c, dl);
    assert!(message.contains("not running"), "{message}");
    send(&mut c, &Message::Shutdown);
    vm.wait_exit();
    let rec = vm.exit_record();
    assert_eq!((rec.code, rec.error.as_str()), (137, ""), "{rec:?}");
    assert!(vm.log().is_empty());
}

#[test]
#[ignore = "boots QEMU: needs root, the guest kernel and the agent's initramfs (see crates/agent/tests/boot.sh)"]
fn an_invalid_boot_config_is_recorded_as_125() {
    let mut vm = Vm::boot_raw("badconfig", b"{\"container\": 42}", 1);
    vm.wait_exit();
    // Without a configuration the guest's clock stays near 1970.
    let rec = vm.exit_record_any_time();
    assert_eq!(rec.code, 125, "{rec:?}");
    assert!(rec.error.contains("/isola/config.json"), "{rec:?}");
    assert!(
        vm.console()
            .contains("isola-agent: fatal: the boot configuration"),
        "{}",
        vm.console()
    );
}

#[test]
#[ignore = "boots QEMU: needs root, the guest kernel and the agent's initramfs (see crates/agent/tests/boot.sh)"]
fn the_memory_limit_ends_the_container_as_oom_killed() {
    // dd touches its whole 64 MiB buffer at once.
    let args = ["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"];
    let mut boot = boot_config(&args);
    boot.container.spec = spec(&args, false, Some(32 << 20));
    let mut vm = Vm::boot("oom", &boot);
    vm.wait_exit();
    let rec = vm.exit_record();
    assert_eq!((rec.code, rec.oom_killed), (137, true), "{rec:?}");
}

#[test]
#[ignore = "boots QEMU: needs root, the guest kernel and the agent's initramfs (see crates/agent/tests/boot.sh)"]
fn idle_vm_cpu_use() {
    const WINDOW: Duration = Duration::from_secs(5);
    let ticks_per_sec = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .unwrap()
        .unwrap() as f64;
    for vcpus in [1, 2] {
        let boot = boot_config(&["sleep", "50"]);
        let name = format!("idle-{vcpus}cpu");
        let mut vm = Vm::boot_raw(&name, &serde_json::to_vec(&boot).unwrap(), vcpus);
        let dl = vm.deadline;
        // Under TCG an idle guest costs nearly nothing with the TSC as its
        // clocksource (tickless idle), but a few % per vCPU when the
        // kernel's TSC calibration failed and it ticks at HZ on jiffies.
        let clocksource = {
            let mut c = vm.connect();
            assert!(processes(&mut c, dl).iter().any(|p| p.2 == "sleep 50"));
            let path = "/sys/devices/system/clocksource/clocksource0/current_clocksource";
            exec(&mut c, 1, &["cat", path], dl);
            collect(&mut c, 1, dl).stdout().trim().to_string()
        };
        std::thread::sleep(Duration::from_secs(1));
        let before = vm.cpu_ticks();
        std::thread::sleep(WINDOW);
        let used = (vm.cpu_ticks() - before) as f64 / ticks_per_sec;
        eprintln!(
            "{name}: QEMU used {:.2}s CPU to boot and start; then idle (sleep, \
             clocksource {clocksource}): {used:.3}s CPU in {}s = {:.2}% of one core",
            before as f64 / ticks_per_sec,
            WINDOW.as_secs(),
            used / WINDOW.as_secs_f64() * 100.0
        );
        let mut c = vm.connect();
        send(&mut c, &Message::Shutdown);
        vm.wait_exit();
        assert_eq!(vm.exit_record().code, 137);
    }
}
