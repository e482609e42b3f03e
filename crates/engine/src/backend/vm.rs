//! VM isolation: the container runs in its own micro-VM; the monitor
//! prepares the VM and then becomes its hypervisor (see `isola-runtime-vm`
//! for why). Everything else reaches the guest agent over a control port.

use super::{Backend, Ending, Top};
use crate::ids::now_rfc3339;
use crate::lifecycle::Attach;
use crate::signals::signalfd;
use crate::store::{Container, Status};
use crate::{Engine, Error, Result};
use isola_proto::layout::{BootConfig, ExitRecord, CONTROL_PORTS};
use isola_proto::{
    ContainerConfig, ExecConfig, Filesystem, Frame, FrameWriter, Layer, Message, Rootfs, Stream,
    TtySize, Upper, MAIN_SESSION,
};
use isola_runtime_process::sys::{get_winsize, process_start_time};
use isola_runtime_process::ProcessSpec;
use isola_runtime_vm::{
    control_socket, detect_accel, files, layer_image, upper_image, write_initrd, Accel, Client,
    Console, Disk, Hypervisor, Qemu, Timeouts, VmSpec,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Guest RAM added to `--memory` for the guest kernel, agent and page
/// cache; the container's own cgroup inside the guest gets `--memory`.
const MEMORY_OVERHEAD_MIB: u64 = 96;
/// Guest RAM without `--memory`.
const DEFAULT_MEMORY_MIB: u64 = 256;
/// How long a client waits for the guest to answer, boot included
/// (`ISOLA_VM_BOOT_TIMEOUT` seconds overrides it).
fn boot_timeout() -> Duration {
    std::env::var("ISOLA_VM_BOOT_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(Duration::from_secs(60), Duration::from_secs_f64)
}

/// How long a guest that has already booted may take to answer any request
/// (`ISOLA_VM_RESPONSE_TIMEOUT` seconds overrides it).
fn timeouts() -> Timeouts {
    let response = std::env::var("ISOLA_VM_RESPONSE_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map_or(Duration::from_secs(5), Duration::from_secs_f64);
    Timeouts {
        boot: boot_timeout(),
        response,
    }
}

/// Guest RAM of the serial console's ring buffer.
const CONSOLE_RING_BYTES: u32 = 64 * 1024;

/// A client on a free control port of the running container `c`.
fn connect(c: &Container) -> Result<Client> {
    Client::connect(&c.dir, timeouts(), &|| c.state.init_alive()).map_err(vm_err)
}

/// Where VM mode finds its parts (from the host configuration).
#[derive(Debug, Clone)]
pub(crate) struct VmSettings {
    pub accel: String,
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    /// erofs images of image layers, shared by all VMs.
    pub layer_cache: PathBuf,
}

/// What `check` found: the accelerator and why.
pub(crate) struct Ready {
    pub accel: Accel,
    pub reason: String,
    pub qemu: Qemu,
}

impl VmSettings {
    /// Whether VM containers can run here; the error names the cause and fix.
    pub(crate) fn check(&self) -> std::result::Result<Ready, String> {
        let qemu = Qemu::find().map_err(|e| e.to_string())?;
        for (what, path, fix) in [
            (
                "guest kernel",
                &self.kernel,
                "run guest/build-kernel.sh (scripts/setup.sh does)",
            ),
            (
                "guest agent initramfs",
                &self.initrd,
                "run guest/build-initrd.sh (scripts/setup.sh does)",
            ),
        ] {
            if !path.is_file() {
                return Err(format!("{what} not found at {}: {fix}", path.display()));
            }
        }
        // QEMU boots the ELF vmlinux (PVH entry); catch a corrupt file here
        // rather than as a VM that dies after start.
        let mut magic = [0u8; 4];
        let elf = std::fs::File::open(&self.kernel)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
            && &magic == b"\x7fELF";
        if !elf {
            return Err(format!(
                "guest kernel {} is not an ELF vmlinux: rebuild it with guest/build-kernel.sh",
                self.kernel.display()
            ));
        }
        let (accel, why) = detect_accel(&self.accel)?;
        Ok(Ready {
            accel,
            reason: format!("{}, {why}", accel.as_str()),
            qemu,
        })
    }

    /// The guest kernel's release (`uname -r` in the guest), from the file
    /// the kernel build writes beside it.
    pub(crate) fn kernel_release(&self) -> String {
        let p = PathBuf::from(format!("{}.release", self.kernel.display()));
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }
}

pub(crate) struct VmBackend;

fn proto_err(e: isola_proto::Error) -> Error {
    Error::Vm(isola_runtime_vm::Error::Protocol(e))
}

fn vm_err(e: isola_runtime_vm::Error) -> Error {
    Error::Vm(e)
}

/// A unique session id for an exec from this process.
fn new_session() -> u32 {
    let mut b = [0u8; 4];
    let _ = getrandom::getrandom(&mut b);
    u32::from_le_bytes(b).max(1)
}

/// The size of the client's terminal, if its stdin is one.
fn tty_size(stdin: Option<&OwnedFd>) -> Option<TtySize> {
    get_winsize(stdin?.as_fd()).map(|w| TtySize {
        rows: w.ws_row,
        cols: w.ws_col,
    })
}

impl Engine {
    /// The monitor's VM path: builds the disks and the boot configuration,
    /// records the container as running under this PID, tells the CLI,
    /// then becomes the hypervisor. Returns only on failure.
    pub(crate) fn launch_vm(
        &self,
        c: &mut Container,
        wait_for_attach: bool,
        ready: &mut Option<std::fs::File>,
    ) -> Result<std::convert::Infallible> {
        let settings = &self.config.vm;
        let found = settings.check().map_err(Error::Invalid)?;
        let mut disks = Vec::new();
        let mut layers = Vec::new();
        // Top-most layer first, as overlayfs wants them.
        for (i, dir) in c.config.layers.iter().rev().enumerate() {
            let image = layer_image(&settings.layer_cache, dir).map_err(vm_err)?;
            let serial = format!("l{i}");
            disks.push(Disk {
                path: image,
                serial: serial.clone(),
                readonly: true,
            });
            layers.push(Layer::Disk {
                serial,
                fs: Filesystem::Erofs,
            });
        }
        let upper = c.dir.join(files::UPPER);
        upper_image(&upper).map_err(vm_err)?;
        disks.push(Disk {
            path: upper,
            serial: "upper".into(),
            readonly: false,
        });
        let h = &c.config.host_config;
        let cfg = &c.config.config;
        // The same contract as process mode: the container's OCI spec,
        // with the guest's paths (the agent assembles the root from the
        // disks and writes /etc/hostname and /etc/hosts itself).
        let placement = crate::spec::Placement {
            root: PathBuf::from("rootfs"),
            binds: Vec::new(),
            init: h.init.then(|| isola_proto::layout::GUEST_INIT.into()),
        };
        let spec = crate::spec::build(c, &placement)?;
        crate::spec::write_bundle(c, &spec)?;
        let boot = BootConfig {
            container: ContainerConfig {
                spec,
                open_stdin: cfg.open_stdin,
                tty_size: None,
                rootfs: Rootfs {
                    layers,
                    upper: Upper::Disk {
                        serial: "upper".into(),
                        fs: Filesystem::Ext4,
                    },
                },
                time_ns: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64),
            },
            wait_for_attach,
        };
        let json = serde_json::to_vec(&boot).expect("boot config serializes");
        let initrd = c.dir.join(files::INITRD);
        write_initrd(&settings.initrd, &json, &initrd).map_err(vm_err)?;
        for stale in [files::EXIT, files::CONSOLE, files::BOOTED, files::PIDFILE] {
            let _ = std::fs::remove_file(c.dir.join(stale));
        }
        let sockets: Vec<PathBuf> = (0..CONTROL_PORTS).map(control_socket).collect();
        for s in &sockets {
            let _ = std::fs::remove_file(c.dir.join(s));
        }
        let memory_mib = if h.memory > 0 {
            h.memory.div_ceil(1 << 20) + MEMORY_OVERHEAD_MIB
        } else {
            DEFAULT_MEMORY_MIB
        };
        let vcpus = h.nano_cpus.div_ceil(1_000_000_000).max(1) as u32;
        let spec = VmSpec {
            id: c.config.id.clone(),
            accel: found.accel,
            memory_mib,
            vcpus,
            kernel: settings.kernel.clone(),
            initrd,
            disks,
            workdir: c.dir.clone(),
            control_sockets: sockets,
            log_file: c.log_path(),
            exit_file: c.dir.join(files::EXIT),
            console: Console::Ring(CONSOLE_RING_BYTES),
            vmm_log: c.dir.join(files::VMM_LOG),
        };

        let me = std::process::id() as i32;
        let start = process_start_time(me).unwrap_or(0);
        let vm_info = crate::store::VmInfo {
            accelerator: found.accel.as_str().into(),
            kernel: settings.kernel_release(),
            memory_mib,
            vcpus,
        };
        c.update(|s| {
            s.status = Status::Running;
            s.pid = me;
            s.pid_start = start;
            s.monitor_pid = me;
            s.monitor_start = start;
            s.exit_code = 0;
            s.error.clear();
            s.oom_killed = false;
            s.started_at = Some(now_rfc3339());
            s.finished_at = None;
            s.vm = Some(vm_info);
        })?;
        if let Some(mut r) = ready.take() {
            let _ = writeln!(r, "{}", serde_json::json!({"pid": me}));
        }
        let err = found.qemu.exec(&spec);
        // exec failed: the container never ran.
        let _ = c.update(|s| {
            s.status = Status::Exited;
            s.exit_code = 125;
            s.error = err.to_string();
            s.finished_at = Some(now_rfc3339());
        });
        Err(vm_err(err))
    }
}

/// Relays this process's stdio to a session in the guest until it exits;
/// returns its exit code. Signals to this process go to the session, and
/// SIGWINCH becomes a resize.
/// Relays the client's `streams` to a session in the guest until it exits;
/// returns its exit code. With `sig_proxy`, signals to this process go to
/// the session; SIGWINCH becomes a resize.
fn relay(
    client: Client,
    session: u32,
    streams: crate::Streams,
    sig_proxy: bool,
    tty: bool,
) -> Result<i32> {
    let crate::Streams {
        stdin,
        stdout,
        stderr,
    } = streams;
    let size_fd = match &stdin {
        Some(fd) => Some(fd.try_clone().map_err(crate::io_err("dup"))?),
        None => None,
    };
    let Client {
        mut reader, writer, ..
    } = client;
    let writer = Arc::new(Mutex::new(writer));
    let proxied: &[Signal] = if sig_proxy {
        &[
            Signal::SIGINT,
            Signal::SIGTERM,
            Signal::SIGHUP,
            Signal::SIGQUIT,
        ]
    } else {
        &[]
    };
    let watched: Vec<Signal> = proxied.iter().copied().chain([Signal::SIGWINCH]).collect();
    let sfd = signalfd(&watched).map_err(|e| Error::Io {
        context: "signalfd".into(),
        source: e.into(),
    })?;
    if tty {
        if let Some(size) = tty_size(size_fd.as_ref()) {
            send(
                &writer,
                &Message::Resize {
                    session,
                    rows: size.rows,
                    cols: size.cols,
                },
            );
        }
    }
    {
        let writer = writer.clone();
        std::thread::spawn(move || loop {
            let Ok(Some(info)) = sfd.read_signal() else {
                continue;
            };
            let msg = match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGWINCH) => match tty_size(size_fd.as_ref()) {
                    Some(s) => Message::Resize {
                        session,
                        rows: s.rows,
                        cols: s.cols,
                    },
                    None => continue,
                },
                Ok(Signal::SIGCHLD) | Err(_) => continue,
                Ok(sig) => Message::Signal {
                    session,
                    signal: sig as i32,
                },
            };
            send(&writer, &msg);
        });
    }
    if let Some(stdin) = stdin {
        let writer = writer.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut input = std::fs::File::from(stdin);
            loop {
                match input.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if writer
                            .lock()
                            .map(|mut w| w.send_data(session, Stream::Stdin, &buf[..n]))
                            .is_err()
                        {
                            return;
                        }
                    }
                }
            }
            send(&writer, &Message::CloseStdin { session });
        });
    }
    let mut out = stdout.map(std::fs::File::from);
    let mut err = stderr.map(std::fs::File::from);
    loop {
        match reader.read_frame().map_err(proto_err)? {
            Frame::Data {
                session: s,
                stream,
                data,
            } if s == session => {
                let client = if stream == Stream::Stderr {
                    &mut err
                } else {
                    &mut out
                };
                if let Some(w) = client {
                    let _ = w.write_all(&data);
                }
            }
            Frame::Control(Message::Exited {
                session: s, code, ..
            }) if s == session => {
                if session == MAIN_SESSION {
                    send(&writer, &Message::Shutdown);
                }
                return Ok(code);
            }
            Frame::Control(Message::StartFailed { code, message })
            | Frame::Control(Message::ExecFailed { code, message, .. }) => {
                return Err(Error::Runtime(exec_error(code, message)));
            }
            _ => {}
        }
    }
}

fn send(writer: &Arc<Mutex<FrameWriter<UnixStream>>>, msg: &Message) {
    if let Ok(mut w) = writer.lock() {
        let _ = w.send(msg);
    }
}

fn exec_error(code: i32, message: String) -> isola_runtime_process::Error {
    match code {
        126 | 127 => isola_runtime_process::Error::Exec { code, message },
        _ => isola_runtime_process::Error::Setup(message),
    }
}

/// The attached client's side of `run`/`start -a` in VM mode: relays its
/// streams to the main process over control port 0, then waits for the VM
/// to end.
fn attach_main(
    dir: &Path,
    streams: crate::Streams,
    sig_proxy: bool,
    tty: bool,
    mut vmm: std::process::Child,
) -> Result<i32> {
    let pid = vmm.id() as i32;
    let result = Client::attach(dir, timeouts(), &|| vmm_alive(pid))
        .map_err(vm_err)
        .and_then(|client| relay(client, MAIN_SESSION, streams, sig_proxy, tty));
    if result.is_err() {
        // Attaching fails when the guest died (a panic closes the port):
        // let QEMU finish its own exit, which tells a panic from a kill
        // (its pidfile), before killing a VM that really hangs.
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while matches!(vmm.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = vmm.kill();
    }
    let _ = vmm.wait();
    result
}

/// Whether the hypervisor `pid` (our child) still runs: neither gone nor
/// a zombie waiting to be reaped.
fn vmm_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| !r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// The exit record the guest (or [`VmBackend::force_kill`]) left.
fn exit_record(c: &Container) -> Option<ExitRecord> {
    std::fs::read_to_string(c.dir.join(files::EXIT))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| serde_json::from_str::<ExitRecord>(l).ok())
        })
}

/// Waits until the guest of a just-started detached container answers, so
/// `run -d` reports a VM that never comes up (and kills it).
fn await_boot(dir: &Path, pid: i32) -> Result<()> {
    match Client::connect(dir, timeouts(), &|| vmm_alive(pid)) {
        Ok(_) => Ok(()),
        Err(e) => {
            // As in attach_main: a guest that died is left to end on its own.
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while vmm_alive(pid) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            Err(vm_err(e))
        }
    }
}

impl Backend for VmBackend {
    fn check_create(&self, network: crate::NetworkMode) -> Result<()> {
        if network == crate::NetworkMode::Host {
            return Err(Error::Invalid(
                "--network host is not available with --isolation=vm (the guest has its own network stack): use --network none".into(),
            ));
        }
        Ok(())
    }

    /// The monitor prepares the VM and becomes its hypervisor.
    fn run_monitor(
        &self,
        engine: &Engine,
        c: &mut Container,
        opts: crate::MonitorOptions,
        ready: &mut Option<std::fs::File>,
    ) -> Result<i32> {
        let attached = opts.attach_output || opts.attach_stdin;
        match engine.launch_vm(c, attached, ready)? {}
    }

    /// A detached VM container is started once its guest answers, so
    /// `run -d` reports a VM that never comes up (and kills it).
    fn started(&self, _engine: &Engine, c: &Container, pid: i32, attach: Attach) -> Result<()> {
        if attach.output() {
            return Ok(()); // the attaching client waits for the guest
        }
        await_boot(&c.dir, pid)
    }

    /// The CLI attaches over control port 0; the hypervisor's end is then
    /// recorded (and --rm honoured) by a lookup.
    fn wait_attached(&self, engine: &Engine, mut s: crate::Started) -> Result<i32> {
        let streams = s.streams.take().unwrap_or_default();
        let code = attach_main(&s.dir, streams, s.attach.sig_proxy, s.tty, s.monitor);
        let _ = engine.lookup(&s.id);
        code
    }

    fn exec(
        &self,
        c: &Container,
        process: &ProcessSpec,
        streams: crate::Streams,
        tty: bool,
    ) -> Result<i32> {
        let mut client = connect(c)?;
        let session = new_session();
        client
            .send(&Message::Exec(Box::new(ExecConfig {
                session,
                process: process.clone(),
                tty,
                stdin: streams.stdin.is_some(),
                tty_size: if tty {
                    tty_size(streams.stdin.as_ref())
                } else {
                    None
                },
            })))
            .map_err(vm_err)?;
        relay(client, session, streams, true, tty)
    }

    fn top(&self, c: &Container, _ps_args: &[String]) -> Result<Top> {
        let mut client = connect(c)?;
        match client.call(&Message::ListProcesses {}).map_err(vm_err)? {
            Message::Processes { header, rows } => Ok(Top {
                titles: header,
                processes: rows,
            }),
            Message::Error { message } => Err(Error::Conflict(message)),
            other => Err(Error::Conflict(format!(
                "the guest agent answered {} to ListProcesses",
                other.name()
            ))),
        }
    }

    fn signal(&self, c: &Container, signal: Signal, within: Duration) -> Result<()> {
        let mut t = timeouts();
        t.response = t.response.min(within);
        let mut client = Client::connect(&c.dir, t, &|| c.state.init_alive()).map_err(vm_err)?;
        match client
            .call(&Message::Signal {
                session: MAIN_SESSION,
                signal: signal as i32,
            })
            .map_err(vm_err)?
        {
            Message::Error { message } => Err(Error::Conflict(message)),
            _ => Ok(()),
        }
    }

    /// Kills the hypervisor whatever the guest does (stopped, hung). The
    /// end is recorded as a SIGKILL (137), as for a process-mode container
    /// whose init is killed, unless the guest recorded its own.
    fn force_kill(&self, c: &Container) {
        if !c.state.init_alive() {
            return;
        }
        let _ = kill(Pid::from_raw(c.state.pid), Signal::SIGKILL);
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while c.state.init_alive() && vmm_alive(c.state.pid) && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        if exit_record(c).is_none() {
            let record = ExitRecord {
                code: 137,
                oom_killed: false,
                finished_at: now_rfc3339(),
                error: "the VM was killed: it did not stop in time or was removed".into(),
            };
            if let Ok(line) = serde_json::to_string(&record) {
                let _ = std::fs::write(c.dir.join(files::EXIT), line + "\n");
            }
        }
    }

    /// Reads the exit record the guest left; without one the VM died
    /// (guest kernel panic, agent crash, hypervisor killed).
    fn ending(&self, c: &Container) -> Ending {
        if let Some(r) = exit_record(c) {
            return Ending {
                code: r.code,
                oom_killed: r.oom_killed,
                error: r.error,
            };
        }
        // QEMU removes its pidfile when it exits by itself, which without
        // an exit record means the guest kernel stopped the VM.
        let why = if c.dir.join(files::PIDFILE).exists() {
            "the VM ended without reporting an exit status: its hypervisor was killed"
        } else {
            "the VM ended without reporting an exit status: the guest kernel panicked (or its agent crashed)"
        };
        Ending {
            code: 255,
            oom_killed: false,
            error: why.into(),
        }
    }

    fn cleanup(&self, _c: &Container) -> Result<()> {
        // Everything of a VM lives in the container directory.
        Ok(())
    }
}
