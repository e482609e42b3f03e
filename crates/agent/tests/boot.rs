//! Boots `isola-agent` as PID 1 of a QEMU micro-VM (TCG) with the guest
//! kernel and drives it over the control port the way the host runtime
//! will: Hello, CreateContainer, stdio, Exec, ListProcesses, Signal,
//! Shutdown.
//!
//! Ignored by default: it needs root, `qemu-system-x86_64`, the guest
//! kernel (`guest/build-kernel.sh`), busybox-static, cpio, e2fsprogs,
//! erofs-utils and a static agent build. `crates/agent/tests/boot.sh`
//! builds the agent and runs it; by hand:
//!
//! ```text
//! RUSTFLAGS='-C target-feature=+crt-static' cargo build --release -p isola-agent \
//!     --target x86_64-unknown-linux-gnu
//! cargo test -p isola-agent --test boot -- --ignored --test-threads=1 --nocapture
//! ```
//!
//! Environment: `ISOLA_AGENT` (agent binary), `ISOLA_KERNEL` (default
//! /var/cache/isola/kernel/vmlinux), `ISOLA_BOOT_CONSOLE=1` (print each
//! guest's serial console, which is otherwise printed only on failure).

use isola_proto::{
    check_hello, ContainerConfig, ExecConfig, Filesystem, Frame, FrameReader, FrameWriter, Layer,
    Limits, Message, Rootfs, SessionId, Stream, TtySize, Upper, MAIN_SESSION, VERSION,
};
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::symlink;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Upper bound for one VM's whole life, boot to QEMU exit.
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
const EROFS_SERIAL: &str = "isola-l0";
const EXT4_SERIAL: &str = "isola-l1";
const UPPER_SERIAL: &str = "isola-upper";

/// One VM at a time: TCG is CPU-bound and the machine has two cores.
static VM_LOCK: Mutex<()> = Mutex::new(());

/// Inputs shared by all boots, built once.
struct Fixture {
    dir: tempfile::TempDir,
    kernel: PathBuf,
    kernel_release: String,
    initrd: PathBuf,
    /// Top layer (erofs): /etc/isola-layer says "erofs".
    erofs_layer: PathBuf,
    /// Base layer (ext4): busybox, /etc/isola-layer says "ext4".
    ext4_layer: PathBuf,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build_fixture)
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e} (is the tool installed?)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn agent_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("ISOLA_AGENT") {
        return PathBuf::from(p);
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
    let newest = ["x86_64-unknown-linux-gnu", "x86_64-unknown-linux-musl"]
        .iter()
        .map(|t| target.join(t).join("release/isola-agent"))
        .filter_map(|p| Some((fs::metadata(&p).ok()?.modified().ok()?, p)))
        .max();
    match newest {
        Some((_, p)) => p,
        None => panic!(
            "no static isola-agent build; run crates/agent/tests/boot.sh, or build it with \
             RUSTFLAGS='-C target-feature=+crt-static' cargo build --release -p isola-agent \
             --target x86_64-unknown-linux-gnu (or set ISOLA_AGENT)"
        ),
    }
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
    let agent = agent_binary();
    let kind = Command::new("file").arg("-L").arg(&agent).output().unwrap();
    let kind = String::from_utf8_lossy(&kind.stdout);
    assert!(
        kind.contains("statically linked") || kind.contains("static-pie linked"),
        "{} is not a static binary: {kind}",
        agent.display()
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

    let dir = tempfile::Builder::new()
        .prefix("isola-boot-test.")
        .tempdir()
        .unwrap();
    let d = dir.path();

    // The image: busybox, its applets and a passwd file.
    let image = d.join("image");
    fs::create_dir_all(image.join("bin")).unwrap();
    fs::create_dir_all(image.join("etc")).unwrap();
    fs::copy(busybox, image.join("bin/busybox")).unwrap();
    let list = Command::new(busybox).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            symlink("busybox", image.join("bin").join(applet)).unwrap();
        }
    }
    fs::write(
        image.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    fs::write(image.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    fs::write(image.join("etc/isola-layer"), "initramfs\n").unwrap();

    // The initramfs: the agent as /init, the image under /image.
    let root = d.join("initramfs");
    fs::create_dir_all(root.join("dev")).unwrap();
    let strip = Command::new("strip")
        .arg("-o")
        .arg(root.join("init"))
        .arg(&agent)
        .status();
    if !strip.is_ok_and(|s| s.success()) {
        fs::copy(&agent, root.join("init")).unwrap();
    }
    run(Command::new("mknod")
        .args(["-m", "600"])
        .arg(root.join("dev/console"))
        .args(["c", "5", "1"]));
    run(Command::new("cp")
        .arg("-a")
        .arg(&image)
        .arg(root.join("image")));
    let initrd = d.join("initrd.gz");
    run(Command::new("sh").current_dir(&root).arg("-c").arg(format!(
        "find . | cpio -o -H newc --quiet | gzip -1 > {}",
        initrd.display()
    )));

    // Disk layers: busybox on ext4 below a one-file erofs layer.
    fs::write(image.join("etc/isola-layer"), "ext4\n").unwrap();
    let ext4_layer = d.join("base.ext4");
    make_ext4(&ext4_layer, Some(&image), 32);
    let top = d.join("top");
    fs::create_dir_all(top.join("etc")).unwrap();
    fs::write(top.join("etc/isola-layer"), "erofs\n").unwrap();
    let erofs_layer = d.join("top.erofs");
    run(Command::new("mkfs.erofs")
        .arg("--quiet")
        .arg(&erofs_layer)
        .arg(&top));

    Fixture {
        dir,
        kernel,
        kernel_release,
        initrd,
        erofs_layer,
        ext4_layer,
    }
}

fn make_ext4(path: &Path, content: Option<&Path>, mib: u64) {
    fs::File::create(path).unwrap().set_len(mib << 20).unwrap();
    let mut cmd = Command::new("mkfs.ext4");
    cmd.args(["-q", "-F"]);
    if let Some(dir) = content {
        cmd.arg("-d").arg(dir);
    }
    run(cmd.arg(path));
}

/// A disk to attach: image file, serial, read-only.
struct Disk<'a>(&'a Path, &'a str, bool);

/// A running VM and the host's end of its control channel.
struct Vm {
    name: String,
    qemu: Child,
    reader: FrameReader<UnixStream>,
    writer: FrameWriter<UnixStream>,
    console: PathBuf,
    started: Instant,
    deadline: Instant,
    /// Frames read while waiting for something else.
    backlog: Vec<Frame>,
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl Vm {
    fn boot(name: &str, disks: &[Disk]) -> Vm {
        let serial = VM_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let fx = fixture();
        let sock = fx.dir.path().join(format!("{name}.sock"));
        let console = fx.dir.path().join(format!("{name}.console"));
        let _ = fs::remove_file(&sock);
        let listener = UnixListener::bind(&sock).unwrap();
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args([
            "-M",
            "microvm,x-option-roms=off,isa-serial=on,rtc=off,acpi=off",
            "-accel",
            "tcg",
            "-cpu",
            "max",
            "-m",
            "256",
            "-smp",
            "1",
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-no-reboot",
        ])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .arg("-kernel")
        .arg(&fx.kernel)
        .arg("-initrd")
        .arg(&fx.initrd)
        .args([
            "-append",
            "console=ttyS0 panic=-1 reboot=t lpj=5000000 tsc=reliable no_timer_check quiet",
            "-device",
            "virtio-serial-device",
        ])
        .arg("-chardev")
        .arg(format!("socket,id=ctl,path={},server=off", sock.display()))
        .args(["-device", "virtserialport,chardev=ctl,name=org.isola.ctl"]);
        for (i, Disk(path, serial, readonly)) in disks.iter().enumerate() {
            cmd.arg("-drive").arg(format!(
                "file={},format=raw,if=none,id=d{i},readonly={}",
                path.display(),
                if *readonly { "on" } else { "off" }
            ));
            cmd.arg("-device")
                .arg(format!("virtio-blk-device,drive=d{i},serial={serial}"));
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: the closure only makes the prctl syscall, which is
        // async-signal-safe; it kills QEMU if this test thread dies.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                    .map_err(std::io::Error::from)
            });
        }
        let started = Instant::now();
        let deadline = started + BOOT_TIMEOUT;
        let mut qemu = cmd.spawn().expect("starting qemu-system-x86_64");

        // QEMU connects to us (server=off) right at its start.
        listener.set_nonblocking(true).unwrap();
        let stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if let Ok(Some(status)) = qemu.try_wait() {
                        let mut err = String::new();
                        use std::io::Read;
                        let _ = qemu.stderr.take().unwrap().read_to_string(&mut err);
                        panic!("{name}: QEMU exited with {status} before connecting: {err}");
                    }
                    assert!(Instant::now() < deadline, "{name}: QEMU never connected");
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        stream.set_nonblocking(false).unwrap();
        let writer = FrameWriter::new(stream.try_clone().unwrap());
        Vm {
            name: name.to_string(),
            qemu,
            reader: FrameReader::new(stream),
            writer,
            console,
            started,
            deadline,
            backlog: Vec::new(),
            _serial: serial,
        }
    }

    fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    /// The next frame from the guest, failing the test at the deadline.
    fn read(&mut self) -> Frame {
        if !self.backlog.is_empty() {
            return self.backlog.remove(0);
        }
        let left = self.deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "{}: timed out", self.name);
        self.reader.get_ref().set_read_timeout(Some(left)).unwrap();
        match self.reader.read_frame() {
            Ok(f) => f,
            Err(isola_proto::Error::Io(e))
                if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                panic!(
                    "{}: no frame from the guest within the {}s boot timeout",
                    self.name,
                    BOOT_TIMEOUT.as_secs()
                )
            }
            Err(e) => panic!("{}: reading from the guest: {e}", self.name),
        }
    }

    fn read_message(&mut self) -> Message {
        match self.read() {
            Frame::Control(m) => m,
            other => panic!("{}: expected a message, got {other:?}", self.name),
        }
    }

    /// Reads until `pick` accepts a message; frames it does not want are
    /// kept for later reads.
    fn wait_for<T>(&mut self, what: &str, mut pick: impl FnMut(&Message) -> Option<T>) -> T {
        let mut skipped = Vec::new();
        loop {
            let frame = self.read();
            if let Frame::Control(m) = &frame {
                if let Message::Error { message } = m {
                    panic!(
                        "{}: guest error while waiting for {what}: {message}",
                        self.name
                    );
                }
                if let Some(v) = pick(m) {
                    skipped.append(&mut self.backlog);
                    self.backlog = skipped;
                    return v;
                }
            }
            skipped.push(frame);
        }
    }

    fn send(&mut self, msg: &Message) {
        self.writer.send(msg).expect("sending to the guest");
    }

    fn handshake(&mut self) {
        let hello = self.read_message();
        check_hello(&hello).expect("guest Hello");
        self.send(&Message::Hello {
            version: VERSION,
            software: "boot-test".into(),
        });
        eprintln!(
            "{}: guest said Hello after {:.2}s",
            self.name,
            self.elapsed()
        );
    }

    /// Sends CreateContainer and returns the guest PID of the main process.
    fn create(&mut self, cfg: ContainerConfig) -> Result<i32, (i32, String)> {
        let t = Instant::now();
        self.send(&Message::CreateContainer(Box::new(cfg)));
        let r = self.wait_for("Started", |m| match m {
            Message::Started { pid } => Some(Ok(*pid)),
            Message::StartFailed { code, message } => Some(Err((*code, message.clone()))),
            _ => None,
        });
        eprintln!(
            "{}: CreateContainer answered in {:.2}s",
            self.name,
            t.elapsed().as_secs_f64()
        );
        r
    }

    /// Collects a session's output until its `Exited`.
    fn collect(&mut self, session: SessionId) -> Collected {
        let mut out = Collected::default();
        loop {
            match self.read() {
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
                Frame::Control(Message::Error { message }) => {
                    panic!("{}: guest error: {message}", self.name)
                }
                other => self.backlog.push(other),
            }
        }
    }

    /// Acknowledges the end and waits for QEMU to exit by itself.
    fn shutdown(mut self) {
        self.send(&Message::Shutdown);
        self.wait_exit();
    }

    fn wait_exit(mut self) {
        loop {
            if let Some(status) = self.qemu.try_wait().unwrap() {
                assert!(status.success(), "{}: QEMU exited with {status}", self.name);
                eprintln!("{}: QEMU exited after {:.2}s", self.name, self.elapsed());
                return;
            }
            assert!(
                Instant::now() < self.deadline,
                "{}: QEMU did not exit within {}s",
                self.name,
                BOOT_TIMEOUT.as_secs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if self.qemu.try_wait().ok().flatten().is_none() {
            let _ = self.qemu.kill();
            let _ = self.qemu.wait();
        }
        if std::thread::panicking() || std::env::var_os("ISOLA_BOOT_CONSOLE").is_some() {
            let log = fs::read_to_string(&self.console).unwrap_or_default();
            eprintln!("----- {} serial console -----\n{log}-----", self.name);
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

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

fn config(args: &[&str], rootfs: Rootfs) -> ContainerConfig {
    ContainerConfig {
        args: args.iter().map(|a| a.to_string()).collect(),
        env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
        cwd: String::new(),
        user: String::new(),
        hostname: "guest".into(),
        tty: false,
        open_stdin: false,
        tty_size: None,
        rootfs,
        readonly: false,
        network_none: true,
        limits: Limits::default(),
        time_ns: now_ns(),
    }
}

/// erofs over ext4 layers from disks, with an ext4 disk as upper layer.
fn disk_rootfs() -> Rootfs {
    Rootfs {
        layers: vec![
            Layer::Disk {
                serial: EROFS_SERIAL.into(),
                fs: Filesystem::Erofs,
            },
            Layer::Disk {
                serial: EXT4_SERIAL.into(),
                fs: Filesystem::Ext4,
            },
        ],
        upper: Upper::Disk {
            serial: UPPER_SERIAL.into(),
            fs: Filesystem::Ext4,
        },
    }
}

/// The image directory inside the initramfs, with a tmpfs upper layer.
fn dir_rootfs() -> Rootfs {
    Rootfs {
        layers: vec![Layer::Dir {
            path: "/image".into(),
        }],
        upper: Upper::Tmpfs { size_bytes: None },
    }
}

fn fresh_upper(name: &str) -> PathBuf {
    let path = fixture().dir.path().join(format!("{name}-upper.ext4"));
    make_ext4(&path, None, 32);
    path
}

fn disks<'a>(upper: &'a Path) -> Vec<Disk<'a>> {
    let fx = fixture();
    vec![
        Disk(&fx.ext4_layer, EXT4_SERIAL, true),
        Disk(upper, UPPER_SERIAL, false),
        Disk(&fx.erofs_layer, EROFS_SERIAL, true),
    ]
}

/// Starts an exec session; returns its guest PID.
fn exec(vm: &mut Vm, session: SessionId, args: &[&str], stdin: bool, tty: bool) -> i32 {
    vm.send(&Message::Exec(ExecConfig {
        session,
        args: args.iter().map(|a| a.to_string()).collect(),
        env: vec!["PATH=/bin".into()],
        cwd: String::new(),
        user: String::new(),
        tty,
        stdin,
        tty_size: tty.then_some(TtySize { rows: 33, cols: 77 }),
    }));
    vm.wait_for("ExecStarted", |m| match m {
        Message::ExecStarted { session: s, pid } if *s == session => Some(*pid),
        Message::ExecFailed {
            session: s,
            code,
            message,
        } if *s == session => panic!("exec failed ({code}): {message}"),
        _ => None,
    })
}

#[test]
#[ignore = "boots QEMU: needs root, the guest kernel and a static agent (see crates/agent/tests/boot.sh)"]
fn separates_stdout_and_stderr_and_reports_the_exit_code() {
    let upper = fresh_upper("streams");
    let mut vm = Vm::boot("streams", &disks(&upper));
    vm.handshake();
    let cfg = config(
        &["sh", "-c", "echo out; echo err >&2; exit 3"],
        disk_rootfs(),
    );
    vm.create(cfg).expect("container started");
    let got = vm.collect(MAIN_SESSION);
    assert_eq!(got.stdout(), "out\n");
    assert_eq!(got.stderr(), "err\n");
    assert_eq!(got.code, 3);
    assert!(!got.oom_killed);
    vm.shutdown();
}

#[test]
#[ignore = "boots QEMU: needs root, the guest kernel and a static agent (see crates/agent/tests/boot.sh)"]
fn runs_on_the_guest_kernel() {
    let mut vm = Vm::boot("uname", &[]);
    vm.handshake();
    vm.create(config(&["uname", "-r"], dir_rootfs()))
        .expect("container started");
    let got = vm.collect(MAIN_SESSION);
    assert_eq!(got.code, 0, "stderr: {}", got.stderr());
    let guest = got.stdout().trim().to_string();
    let host = nix::sys::utsname::uname().unwrap();
    let host = host.release().to_string_lossy().into_owned();
    eprintln!("uname: guest kernel {guest}, host kernel {host}");
    assert!(guest.starts_with("6.1."), "guest release {guest:?}");
    assert_ne!(guest, host);
    if !fixture().kernel_release.is_empty() {
        assert_eq!(guest, fixture().kernel_release);
    }
    vm.shutdown();
}

#[test]
#[ignore = "boots QEMU: needs root, the guest kernel and a static agent (see crates/agent/tests/boot.sh)"]
fn reports_a_missing_command_as_127() {
    let mut vm = Vm::boot("notfound", &[]);
    vm.handshake();
    let err = vm
        .create(config(&["no-such-command"], dir_rootfs()))
        .expect_err("start must fail");
    assert_eq!(err.0, 127, "{}", err.1);
    assert!(err.1.contains("no-such-command"), "{}", err.1);
    vm.shutdown();
}

#[test]
#[ignore = "boots QEMU: needs root, the guest kernel and a static agent (see crates/agent/tests/boot.sh)"]
fn rejects_another_major_version_and_powers_off() {
    let mut vm = Vm::boot("version", &[]);
    let hello = vm.read_message();
    check_hello(&hello).unwrap();
    vm.send(&Message::Hello {
        version: isola_proto::Version {
            major: VERSION.major + 1,
            minor: 0,
        },
        software: "future host".into(),
    });
    match vm.read_message() {
        Message::Error { message } => {
            assert!(message.contains("version mismatch"), "{message}")
        }
        other => panic!("expected Error, got {other:?}"),
    }
    vm.wait_exit();
}

#[test]
#[ignore = "boots QEMU: needs root, the guest kernel and a static agent (see crates/agent/tests/boot.sh)"]
fn serves_top_exec_signals_and_keeps_the_upper_disk() {
    let upper = fresh_upper("sleep");
    let mut vm = Vm::boot("sleep", &disks(&upper));
    vm.handshake();
    let pid = vm
        .create(config(&["sleep", "30"], disk_rootfs()))
        .expect("container started");

    // top: the guest's view of the container's processes.
    vm.send(&Message::ListProcesses {});
    let (header, rows) = vm.wait_for("Processes", |m| match m {
        Message::Processes { header, rows } => Some((header.clone(), rows.clone())),
        _ => None,
    });
    eprintln!("top: {header:?} {rows:?}");
    for col in ["UID", "PID", "TIME", "CMD"] {
        assert!(header.iter().any(|h| h == col), "{col} missing: {header:?}");
    }
    let cmd = header.iter().position(|h| h == "CMD").unwrap();
    let pid_col = header.iter().position(|h| h == "PID").unwrap();
    let sleep = rows
        .iter()
        .find(|r| r[cmd] == "sleep 30")
        .unwrap_or_else(|| panic!("no sleep in {rows:?}"));
    assert_eq!(sleep[pid_col], pid.to_string());
    assert_eq!(sleep[0], "root");

    // The erofs top layer shadows the ext4 base layer.
    exec(&mut vm, 1, &["cat", "/etc/isola-layer"], false, false);
    assert_eq!(vm.collect(1).stdout(), "erofs\n");

    // stdin and stdout are binary-safe end to end.
    exec(&mut vm, 2, &["cat"], true, false);
    let bytes: Vec<u8> = (0..=255u8).cycle().take(64 * 1024 + 7).collect();
    vm.writer.send_data(2, Stream::Stdin, &bytes).unwrap();
    vm.send(&Message::CloseStdin { session: 2 });
    let echoed = vm.collect(2);
    assert_eq!(echoed.code, 0);
    assert!(
        echoed.stdout == bytes,
        "cat echoed {} bytes",
        echoed.stdout.len()
    );

    // A terminal of the requested size, allocated in the container.
    exec(&mut vm, 3, &["sh", "-c", "stty size; tty"], false, true);
    let tty = vm.collect(3);
    assert_eq!(tty.stdout(), "33 77\r\n/dev/pts/0\r\n");

    // A write to the upper layer, checked on the disk after power-off.
    exec(
        &mut vm,
        4,
        &["sh", "-c", "echo kept > /written"],
        false,
        false,
    );
    assert_eq!(vm.collect(4).code, 0);

    // A missing command fails the exec with Docker's 127.
    vm.send(&Message::Exec(ExecConfig {
        session: 5,
        args: vec!["no-such-command".into()],
        env: vec![],
        cwd: String::new(),
        user: String::new(),
        tty: false,
        stdin: false,
        tty_size: None,
    }));
    let code = vm.wait_for("ExecFailed", |m| match m {
        Message::ExecFailed {
            session: 5, code, ..
        } => Some(*code),
        Message::ExecStarted { session: 5, .. } => panic!("no-such-command started"),
        _ => None,
    });
    assert_eq!(code, 127);

    // sleep is its PID namespace's init: only SIGKILL ends it, as in Docker.
    vm.send(&Message::Signal {
        session: MAIN_SESSION,
        signal: 9,
    });
    let main = vm.collect(MAIN_SESSION);
    assert_eq!(main.code, 137);
    vm.shutdown();

    let out = Command::new("debugfs")
        .args(["-R", "cat /upper/written"])
        .arg(&upper)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "kept\n");
    let check = Command::new("e2fsck")
        .args(["-fn"])
        .arg(&upper)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "upper disk not clean: {}",
        String::from_utf8_lossy(&check.stdout)
    );
}

#[test]
#[ignore = "boots QEMU: needs root, the guest kernel and a static agent (see crates/agent/tests/boot.sh)"]
fn runs_an_interactive_terminal_with_resize() {
    let mut vm = Vm::boot("tty", &[]);
    vm.handshake();
    let mut cfg = config(&["sh"], dir_rootfs());
    cfg.tty = true;
    cfg.open_stdin = true;
    cfg.tty_size = Some(TtySize { rows: 24, cols: 80 });
    vm.create(cfg).expect("container started");
    vm.send(&Message::Resize {
        session: MAIN_SESSION,
        rows: 40,
        cols: 100,
    });
    vm.writer
        .send_data(MAIN_SESSION, Stream::Stdin, b"stty size; tty; exit 7\n")
        .unwrap();
    let got = vm.collect(MAIN_SESSION);
    let out = got.stdout();
    assert_eq!(got.code, 7, "{out}");
    assert!(got.stderr.is_empty(), "a terminal has no separate stderr");
    assert!(out.contains("40 100\r\n"), "{out:?}");
    assert!(out.contains("/dev/pts/0\r\n"), "{out:?}");
    vm.shutdown();
}

#[test]
#[ignore = "boots QEMU: needs root, the guest kernel and a static agent (see crates/agent/tests/boot.sh)"]
fn powers_off_when_the_host_goes_away() {
    let mut vm = Vm::boot("hostgone", &[]);
    vm.handshake();
    vm.create(config(&["sleep", "30"], dir_rootfs()))
        .expect("container started");
    vm.reader
        .get_ref()
        .shutdown(std::net::Shutdown::Both)
        .unwrap();
    vm.wait_exit();
}
