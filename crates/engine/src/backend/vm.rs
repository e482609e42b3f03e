//! VM isolation: the container runs in its own micro-VM. This backend
//! holds the engine's side only (settings, sizes, the spec, the state
//! store); `isola-runtime-vm` lays out the VM (`prepare`), boots it (the
//! monitor becomes the hypervisor) and runs the client sessions with the
//! guest agent (`session`).

use super::{Backend, Ending, Top};
use crate::ids::now_rfc3339;
use crate::lifecycle::Attach;
use crate::store::{Container, Status};
use crate::{Engine, Error, Result};
use isola_proto::layout::{ExitRecord, StatusRecord};
use isola_proto::{Message, MAIN_SESSION};
use isola_runtime_process::sys::process_start_time;
use isola_runtime_process::ProcessSpec;
use isola_runtime_vm::{detect_accel, files, session, Accel, Client, Hypervisor, Qemu, Timeouts};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

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

/// A runtime-vm error as the engine reports it: a command the guest could
/// not run keeps Docker's 126/127.
fn vm_err(e: isola_runtime_vm::Error) -> Error {
    match e {
        isola_runtime_vm::Error::CommandFailed { code, message } => {
            Error::Runtime(exec_error(code, message))
        }
        other => Error::Vm(other),
    }
}

fn exec_error(code: i32, message: String) -> isola_runtime_process::Error {
    isola_runtime_process::Error::relayed(code, &message)
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
        let h = &c.config.host_config;
        // The same contract as process mode: the container's OCI spec,
        // with the guest's paths (the agent assembles the root from the
        // disks and writes /etc/hostname and /etc/hosts itself).
        let placement = crate::spec::Placement {
            root: PathBuf::from("rootfs"),
            binds: Vec::new(),
            init: h.init.then(|| isola_proto::layout::GUEST_INIT.into()),
            shares: Some(isola_proto::layout::GUEST_SHARES.into()),
            vm_guest: true,
        };
        let oci = crate::spec::build(c, &placement)?;
        crate::spec::write_bundle(c, &oci)?;
        let memory_mib = if h.memory > 0 {
            h.memory.div_ceil(1 << 20) + MEMORY_OVERHEAD_MIB
        } else {
            DEFAULT_MEMORY_MIB
        };
        let vcpus = h.nano_cpus.div_ceil(1_000_000_000).max(1) as u32;
        let mut spec = isola_runtime_vm::prepare(isola_runtime_vm::Plan {
            id: &c.config.id,
            dir: &c.dir,
            layers: &c.config.layers,
            layer_cache: &settings.layer_cache,
            spec: oci,
            open_stdin: c.config.config.open_stdin,
            wait_for_attach,
            accel: found.accel,
            memory_mib,
            vcpus,
            kernel: &settings.kernel,
            base_initrd: &settings.initrd,
            log_file: c.log_path(),
            shares: c
                .config
                .mounts
                .iter()
                .filter(|m| m.is_shared())
                .map(|m| isola_runtime_vm::Share {
                    source: m.source.clone(),
                    readonly: m.read_only,
                })
                .collect(),
            restart: h.restart_policy,
            health: crate::health::probe(c),
        })
        .map_err(vm_err)?;
        // The NIC: a tap in the container's network namespace (which the
        // monitor set up before this), redirected to and from its veth.
        if let Some(e) = h.networks.values().find(|e| e.interface == "eth0") {
            let fd = isola_network::tap::attach(&c.netns_path(), "eth0", "tap0")?;
            spec.nic = Some(isola_runtime_vm::Nic {
                tap_fd: std::os::fd::IntoRawFd::into_raw_fd(fd),
                mac: e.mac_address.clone(),
            });
        }

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
            s.restarting = false;
            s.restart_count = 0;
            s.manually_stopped = false;
            s.health = None;
        })?;
        self.container_event(c, "start", &[]);
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
/// The exit record the guest (or [`VmBackend::force_kill`]) left.
fn exit_record(c: &Container) -> Option<ExitRecord> {
    std::fs::read_to_string(c.dir.join(files::EXIT))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| serde_json::from_str::<ExitRecord>(l).ok())
        })
}

/// The last whole status record the guest appended (they are snapshots).
/// Only the file's tail is read: it grows by a line per restart and per
/// health check.
/// Past [`STATUS_ROTATE`] bytes the file is cut back to its last record
/// (QEMU appends with O_APPEND, so its next record follows that one).
fn status_record(c: &Container) -> Option<StatusRecord> {
    use std::io::{Seek, SeekFrom};
    const TAIL: u64 = 64 * 1024;
    let path = c.dir.join(files::STATUS);
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(TAIL))).ok()?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let (line, record) = text.lines().rev().find_map(|l| {
        serde_json::from_str::<StatusRecord>(l)
            .ok()
            .map(|r| (l.to_string(), r))
    })?;
    if len > STATUS_ROTATE && f.set_len(0).is_ok() && f.rewind().is_ok() {
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
    Some(record)
}

/// Size of `status.json` above which it is cut back to its last record.
const STATUS_ROTATE: u64 = 1 << 20;

impl Backend for VmBackend {
    fn check_hotplug(&self) -> Result<()> {
        Err(Error::Conflict(
            "a running VM container cannot be connected or disconnected (the guest has no NIC hot-plug): stop it, connect, and start it again".into(),
        ))
    }

    /// One NIC: microvm has 8 virtio-mmio slots and the fixed device
    /// layout leaves room for exactly one.
    fn max_networks(&self) -> usize {
        1
    }

    fn check_create(&self, network: &crate::NetworkMode) -> Result<()> {
        match network {
            crate::NetworkMode::Host => Err(Error::Invalid(
                "--network host is not available with --isolation=vm (the guest has its own network stack): use a bridge network or --network none".into(),
            )),
            // The other container's stack is in another kernel (or is the
            // host's): there is nothing the guest could join.
            crate::NetworkMode::Container(_) => Err(Error::Invalid(
                "--network container:<name> is not available with --isolation=vm (the guest has its own kernel): put both containers on one network instead".into(),
            )),
            _ => Ok(()),
        }
    }

    /// A guest's namespaces are in its own kernel: there is nothing of the
    /// host's or another container's it could share.
    fn shares_namespaces(&self) -> bool {
        false
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
        session::await_boot(&c.dir, timeouts(), pid).map_err(vm_err)
    }

    /// The CLI attaches over control port 0; the hypervisor's end is then
    /// recorded (and --rm honoured) by a lookup.
    fn wait_attached(&self, engine: &Engine, mut s: crate::Started) -> Result<i32> {
        let streams = s.streams.take().unwrap_or_default();
        let code = session::attach_main(
            &s.dir,
            timeouts(),
            streams,
            s.attach.sig_proxy,
            s.tty,
            s.monitor,
        )
        .map_err(vm_err);
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
        session::exec(connect(c)?, process.clone(), streams, tty).map_err(vm_err)
    }

    /// A running guest does it in its container. A stopped VM container's
    /// writable layer is an ext4 image the guest wrote: the host never
    /// mounts it (a crafted file system attacks the host kernel), so
    /// copying from a stopped VM container needs it started.
    fn fs_op(
        &self,
        c: &Container,
        op: &isola_runtime_process::fsop::FsOp,
        streams: crate::Streams,
    ) -> Result<i32> {
        if c.state.status != crate::Status::Running {
            return Err(Error::Conflict(format!(
                "container {} is not running: VM-isolated containers copy files through their guest; start it first (isola start {})",
                c.name(),
                c.name()
            )));
        }
        session::fs_op(connect(c)?, op.clone(), streams).map_err(vm_err)
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

    fn signal(&self, c: &Container, signal: Signal, within: Duration, stop: bool) -> Result<()> {
        let mut t = timeouts();
        t.response = t.response.min(within);
        let mut client = Client::connect(&c.dir, t, &|| c.state.init_alive()).map_err(vm_err)?;
        // Only for a container with a restart policy: an agent older than
        // protocol 3.1 does not know the message (and restarts nothing).
        if stop && !c.config.host_config.restart_policy.is_none() {
            // The agent restarts nothing from now on; one waiting to
            // restart ends at once and takes no signal.
            let ended = client.call(&Message::EndRestarts {}).map_err(vm_err)?;
            if c.state.restarting && !matches!(ended, Message::Error { .. }) {
                return Ok(());
            }
        }
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

    /// The guest's last status record: restarts and health.
    fn observe(&self, c: &mut Container) {
        let Some(r) = status_record(c) else { return };
        let s = &mut c.state;
        s.restart_count = r.restart_count;
        s.restarting = r.restarting;
        if r.restarting {
            s.exit_code = r.exit_code;
            s.finished_at = Some(r.finished_at).filter(|f| !f.is_empty());
        }
        if !r.started_at.is_empty() {
            s.started_at = Some(r.started_at);
        }
        if r.health.is_some() {
            s.health = r.health;
        }
    }

    /// Kills the hypervisor whatever the guest does (stopped, hung). The
    /// end is recorded as a SIGKILL (137), as for a process-mode container
    /// whose init is killed, unless the guest recorded its own.
    /// Stops the VM's vCPUs through QEMU's QMP socket: the guest and
    /// everything in it stand still, agent included, without its help.
    fn pause(&self, c: &Container) -> Result<()> {
        isola_runtime_vm::qmp::execute(&c.dir, "stop").map_err(vm_err)
    }

    fn unpause(&self, c: &Container) -> Result<()> {
        isola_runtime_vm::qmp::execute(&c.dir, "cont").map_err(vm_err)
    }

    /// The limits of the container's cgroup in the guest; the VM's own RAM
    /// and vCPUs are fixed at boot.
    fn update(
        &self,
        c: &Container,
        changed: &isola_runtime_process::Limits,
        restart: Option<isola_runtime_process::restart::RestartPolicy>,
    ) -> Result<()> {
        let mut client = connect(c)?;
        match client
            .call(&Message::UpdateLimits {
                limits: changed.clone(),
                restart,
            })
            .map_err(vm_err)?
        {
            Message::Ok {} => Ok(()),
            Message::Error { message } => Err(Error::Conflict(message)),
            other => Err(Error::Conflict(format!(
                "the guest agent answered {} to UpdateLimits (an agent older than protocol 3.2: restart the container)",
                other.name()
            ))),
        }
    }

    /// Sampled in the guest: its cgroup, its CPUs and its interfaces.
    fn usage(&self, c: &Container) -> Result<isola_runtime_process::usage::Usage> {
        if c.is_paused() {
            // Its vCPUs are stopped: nothing is used, and no one answers.
            return Ok(Default::default());
        }
        let mut client = connect(c)?;
        match client.call(&Message::GetUsage {}).map_err(vm_err)? {
            Message::Usage { usage } => Ok(*usage),
            Message::Error { message } => Err(Error::Conflict(message)),
            other => Err(Error::Conflict(format!(
                "the guest agent answered {} to GetUsage (an agent older than protocol 3.2: restart the container)",
                other.name()
            ))),
        }
    }

    fn force_kill(&self, c: &Container) {
        if !c.state.init_alive() {
            return;
        }
        let _ = kill(Pid::from_raw(c.state.pid), Signal::SIGKILL);
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while c.state.init_alive()
            && session::vmm_alive(c.state.pid)
            && std::time::Instant::now() < deadline
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

    fn cleanup(&self, c: &Container) -> Result<()> {
        // Everything else of a VM lives in the container directory; its
        // tap goes with the network namespace.
        crate::net::network_down(c);
        Ok(())
    }
}
