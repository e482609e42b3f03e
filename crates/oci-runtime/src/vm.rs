//! VM isolation: the container runs in its own micro-VM (QEMU, the guest
//! kernel and isola's agent as PID 1, as `isola run --isolation=vm`).
//!
//! The PID containerd gets is a *keeper*: a host process forked by
//! `create` that boots the VM as its child, waits at the exec FIFO like a
//! process-mode init, then attaches to the guest's main process with its
//! own stdio (containerd's FIFOs) and exits with that process's status
//! when it ends: it lives exactly as long as the container (runsc's
//! sandbox process plays this part for gVisor). QEMU gets
//! `PR_SET_PDEATHSIG`, so a killed keeper never leaves a VM behind.
//! `kill`, `exec` and `ps` go to the guest agent over the VM's control
//! sockets; an exec'd process is represented on the host by a forked
//! process that relays its stdio and exits with its status.
//!
//! What a bundle may ask for in VM mode: its root (copied into an erofs
//! disk beside the VM; the guest's writes go to the VM's own writable
//! disk, not back into the bundle), namespaces the guest creates, the
//! process, rlimits, capabilities, seccomp, masked/read-only paths and the
//! standard mounts. Refused by name: joining namespaces by path (a pod's
//! sandbox: one VM per container cannot share the pause container's
//! namespaces; that needs a shim v2 with one VM per pod) and binds of
//! host paths.

use crate::backend::{Backend, Created, NewContainer};
use crate::error::{io_err, Error, Result};
use crate::store::Record;
use isola_proto::{Message, MAIN_SESSION};
use isola_runtime_process::oci::from_spec;
use isola_runtime_process::sys::{process_is, process_start_time};
use isola_runtime_process::{Limits, Stdio, Streams};
use isola_runtime_vm::{files, session, Client, Hypervisor, Qemu, Timeouts};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{fork, ForkResult, Pid};
use oci_spec::runtime::Spec;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct VmBackend;

/// Guest RAM for a container without a memory limit.
const DEFAULT_MEMORY_MIB: u64 = 256;
/// Added to a memory limit for the guest kernel and agent.
const MEMORY_OVERHEAD_MIB: u64 = 96;

fn timeouts() -> Timeouts {
    let secs = |var: &str, default: f64| {
        std::env::var(var)
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(default)
    };
    Timeouts {
        boot: Duration::from_secs_f64(secs("ISOLA_VM_BOOT_TIMEOUT", 120.0)),
        response: Duration::from_secs_f64(secs("ISOLA_VM_RESPONSE_TIMEOUT", 10.0)),
    }
}

/// Where the guest kernel and the agent's initramfs are: isola's cache
/// (`ISOLA_CACHE`, default /var/cache/isola), as `isola` finds them.
fn guest_parts() -> Result<(PathBuf, PathBuf)> {
    let cache =
        PathBuf::from(std::env::var("ISOLA_CACHE").unwrap_or_else(|_| "/var/cache/isola".into()));
    let kernel = cache.join("kernel/vmlinux");
    let initrd = cache.join("agent/initrd.img");
    for (what, p, fix) in [
        ("guest kernel", &kernel, "guest/build-kernel.sh"),
        ("agent initramfs", &initrd, "guest/build-initrd.sh"),
    ] {
        if !p.exists() {
            return Err(Error::Invalid(format!(
                "VM mode: the {what} is missing at {}: run {fix} (scripts/setup.sh does)",
                p.display()
            )));
        }
    }
    Ok((kernel, initrd))
}

/// The spec as the guest runs it, or why VM mode cannot run it.
fn guest_spec(spec: &Spec) -> Result<Spec> {
    let mut spec = spec.clone();
    if let Some(linux) = spec.linux() {
        if let Some(ns) = linux
            .namespaces()
            .iter()
            .flatten()
            .find(|n| n.path().is_some())
        {
            return Err(Error::Unsupported(format!(
                "joining the {:?} namespace {} in VM mode (a pod's sandbox namespaces; \
                 run the pod in process mode)",
                ns.typ(),
                ns.path().as_ref().expect("checked").display()
            )));
        }
    }
    for m in spec.mounts().iter().flatten() {
        let bind = m.typ().as_deref() == Some("bind")
            || m.options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind");
        if bind {
            return Err(Error::Unsupported(format!(
                "the bind mount of host path {} on {} in VM mode",
                m.source()
                    .as_ref()
                    .map_or("?".into(), |s| s.display().to_string()),
                m.destination().display()
            )));
        }
    }
    // The agent assembles the root from the VM's disks.
    let mut root = spec.root().clone().unwrap_or_default();
    root.set_path("rootfs".into());
    spec.set_root(Some(root));
    // Checked here, not only in the guest, so a refusal is a create error.
    from_spec(&spec)?;
    Ok(spec)
}

/// A host process that stands for the container: it runs `body` and
/// exits with its result. Returns its PID to the caller.
fn fork_keeper(body: impl FnOnce() -> i32) -> Result<i32> {
    // SAFETY: this program is single-threaded, so the child may allocate
    // and run arbitrary code; it leaves only through `exit`.
    match unsafe { fork() }.map_err(|e| Error::Io {
        context: "fork".into(),
        source: e.into(),
    })? {
        ForkResult::Child => {
            let code = body();
            std::process::exit(code)
        }
        ForkResult::Parent { child } => Ok(child.as_raw()),
    }
}

fn connect(rec: &Record, dir: &Path) -> Result<Client> {
    Ok(Client::connect(dir, timeouts(), &|| rec.alive())?)
}

/// A keeper's exit status: the guest process's, the guest's own code when
/// it could not run it (125/126/127), else `otherwise`; errors on stderr.
fn exit_code(result: isola_runtime_vm::Result<i32>, otherwise: i32) -> i32 {
    match result {
        Ok(code) => code,
        Err(isola_runtime_vm::Error::CommandFailed { code, message }) => {
            eprintln!("isola-runtime: {message}");
            code
        }
        Err(e) => {
            eprintln!("isola-runtime: {e}");
            otherwise
        }
    }
}

/// The container's state directory: the VM's disks, sockets and files.
fn state_dir(rec: &Record) -> PathBuf {
    rec.dir.clone()
}

impl Backend for VmBackend {
    fn create(&self, new: NewContainer<'_>) -> Result<Created> {
        let spec = guest_spec(new.spec)?;
        let (kernel, initrd) = guest_parts()?;
        let (accel, _) = isola_runtime_vm::detect_accel(
            &std::env::var("ISOLA_VM_ACCEL").unwrap_or_else(|_| "auto".into()),
        )
        .map_err(Error::Invalid)?;
        let memory_mib = spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().as_ref())
            .and_then(|r| r.memory().as_ref())
            .and_then(|m| m.limit())
            .filter(|l| *l > 0)
            .map_or(DEFAULT_MEMORY_MIB, |l| {
                (l as u64).div_ceil(1 << 20) + MEMORY_OVERHEAD_MIB
            });
        let root = new.bundle.join(
            new.spec
                .root()
                .as_ref()
                .map_or_else(|| PathBuf::from("rootfs"), |r| r.path().clone()),
        );
        // The root becomes this container's own erofs disk (a bundle's
        // root has no layer identity to share a cached disk by).
        let vm = isola_runtime_vm::prepare(isola_runtime_vm::Plan {
            id: new.id,
            dir: new.dir,
            layers: &[root],
            layer_cache: new.dir,
            spec,
            open_stdin: false,
            wait_for_attach: true,
            accel,
            memory_mib,
            vcpus: 1,
            kernel: &kernel,
            base_initrd: &initrd,
            log_file: new.dir.join("container.log"),
            shares: Vec::new(),
            restart: Default::default(),
            health: None,
        })?;
        let mut qemu = Qemu::find()?.command(&vm);
        let log = std::fs::File::create(new.dir.join(files::VMM_LOG))
            .map_err(io_err("creating the VMM log"))?;
        qemu.stdin(std::process::Stdio::null())
            .stdout(log.try_clone().map_err(io_err("dup"))?)
            .stderr(log);
        // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe; it is the
        // only thing run between fork and exec.
        unsafe {
            qemu.pre_exec(|| {
                nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)
            });
        }
        let (mut ready_r, ready_w) = std::io::pipe().map_err(io_err("pipe"))?;
        let mut keeper_w = ready_w.try_clone().map_err(io_err("dup"))?;
        let fifo = new.dir.join(crate::store::FIFO);
        let dir = new.dir.to_path_buf();
        let stdio = match new.stdio {
            Stdio::Fds {
                stdin: _,
                stdout,
                stderr,
            } => Streams {
                stdin: None,
                stdout: Some(stdout),
                stderr: Some(stderr),
            },
            Stdio::Pty { .. } => {
                return Err(Error::Unsupported(
                    "a terminal (--console-socket) in VM mode".into(),
                ))
            }
        };
        let pid = fork_keeper(move || {
            let child = match qemu.spawn() {
                Ok(c) => c,
                Err(e) => {
                    let _ = write!(keeper_w, "starting QEMU: {e}");
                    return 125;
                }
            };
            let _ = keeper_w.write_all(b"ok");
            drop(keeper_w);
            // Wait for `start`, as a process-mode init does.
            match std::fs::OpenOptions::new().write(true).open(&fifo) {
                Ok(mut f) => {
                    let _ = f.write_all(b"0");
                }
                Err(_) => return 125,
            }
            // A VM that died under it (killed, or a guest panic): 137.
            exit_code(
                session::attach_main(&dir, timeouts(), stdio, false, false, child),
                137,
            )
        })?;
        drop(ready_w);
        // One read, not to EOF: the keeper holds its copy of our write end
        // for as long as it lives.
        let mut buf = [0u8; 512];
        let n = ready_r.read(&mut buf).unwrap_or(0);
        let answer = String::from_utf8_lossy(&buf[..n]);
        if answer != "ok" {
            return Err(Error::Invalid(format!("VM mode: {answer}")));
        }
        Ok(Created {
            pid,
            start_time: process_start_time(pid).unwrap_or(0),
            pty_master: None,
        })
    }

    fn kill(&self, rec: &Record, signal: Signal, _all: bool) -> Result<()> {
        let sent = connect(rec, &state_dir(rec)).and_then(|mut c| {
            match c.call(&Message::Signal {
                session: MAIN_SESSION,
                signal: signal as i32,
            })? {
                Message::Error { message } => Err(Error::Invalid(message)),
                _ => Ok(()),
            }
        });
        match (sent, signal) {
            (Ok(()), _) => Ok(()),
            // A VM that cannot take SIGKILL through its agent is killed
            // whole: its keeper then exits with 137.
            (Err(_), Signal::SIGKILL) => {
                kill_vmm(&state_dir(rec));
                Ok(())
            }
            (Err(e), _) => Err(e),
        }
    }

    fn exec(&self, rec: &Record, spec: &Spec, stdio: Stdio) -> Result<Created> {
        let process = from_spec(&guest_spec(spec)?)?.process;
        let streams = match stdio {
            Stdio::Fds {
                stdin,
                stdout,
                stderr,
            } => Streams {
                stdin: Some(stdin),
                stdout: Some(stdout),
                stderr: Some(stderr),
            },
            Stdio::Pty { .. } => {
                return Err(Error::Unsupported("a terminal for exec in VM mode".into()))
            }
        };
        let client = connect(rec, &state_dir(rec))?;
        let pid =
            fork_keeper(move || exit_code(session::exec(client, process, streams, false), 125))?;
        Ok(Created {
            pid,
            start_time: process_start_time(pid).unwrap_or(0),
            pty_master: None,
        })
    }

    /// The guest's PIDs of the container's processes (the agent's list).
    fn ps(&self, rec: &Record) -> Vec<i32> {
        let Ok(mut c) = connect(rec, &state_dir(rec)) else {
            return Vec::new();
        };
        match c.call(&Message::ListProcesses {}) {
            Ok(Message::Processes { header, rows }) => {
                let Some(col) = header.iter().position(|h| h == "PID") else {
                    return Vec::new();
                };
                rows.iter()
                    .filter_map(|r| r.get(col)?.parse().ok())
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    fn paused(&self, _rec: &Record) -> bool {
        false
    }

    fn freeze(&self, _rec: &Record, _frozen: bool) -> Result<()> {
        Err(Error::Unsupported("pause/resume in VM mode".into()))
    }

    fn update(&self, _rec: &Record, _limits: &Limits) -> Result<()> {
        Err(Error::Unsupported("update in VM mode".into()))
    }

    fn stats(&self, rec: &Record) -> serde_json::Value {
        serde_json::json!({"pids": {"current": self.ps(rec).len()}})
    }

    fn cleanup(&self, rec: &Record) -> Result<()> {
        if rec.pid > 0 && process_is(rec.pid, rec.start_time) {
            let _ = kill(Pid::from_raw(rec.pid), Signal::SIGKILL);
        }
        kill_vmm(&state_dir(rec));
        Ok(())
    }
}

/// SIGKILLs the container's QEMU, found by its pidfile in `dir` and
/// checked to be QEMU (a stale pidfile must not kill a stranger).
fn kill_vmm(dir: &Path) {
    let Some(pid) = std::fs::read_to_string(dir.join(files::PIDFILE))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
    else {
        return;
    };
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.starts_with("qemu") {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        for _ in 0..100 {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
