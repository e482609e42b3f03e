//! Creating a container: clone into new namespaces, join the cgroup, build
//! the root file system, exec. The caller (the per-container monitor)
//! becomes the parent of the container's init, so it can reap it and
//! record its exit status.

use crate::init::{exec_process, read_report, report, wait_for_parent, Gate};
use crate::stdio::{self, receive_master, ConsoleChannel, Stdio};
use crate::{mounts, net, sys, Cgroup, Context, Error, Result};
use nix::fcntl::OFlag;
use nix::sched::{clone, unshare, CloneFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{pipe2, sethostname, Pid};
use oci_spec::runtime::LinuxNamespaceType;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

/// The container's root: an overlay of read-only image layers and a
/// per-container writable directory.
#[derive(Debug, Clone)]
pub struct Rootfs {
    /// Layer directories, top-most first (overlayfs `lowerdir` order).
    pub lower: Vec<PathBuf>,
    pub upper: PathBuf,
    pub work: PathBuf,
    /// Where the overlay is mounted, inside the container's mount namespace.
    pub target: PathBuf,
    pub readonly: bool,
}

/// The process to run, as Docker's Config describes it.
/// Shared with the guest agent through `isola-proto`, so host and guest
/// describe a process with one type.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ProcessSpec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    /// `--user` as given (`name`, `uid`, `uid:gid`, `name:group`).
    pub user: String,
    /// The capabilities the process keeps (bounding, permitted and
    /// effective sets), by name (`CAP_CHOWN`, ...).
    pub capabilities: Vec<String>,
    /// The seccomp policy; `None` runs unconfined.
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    /// Set `no_new_privs` (Docker's `--security-opt no-new-privileges`).
    pub no_new_privileges: bool,
    /// Resource limits (`--ulimit`).
    pub rlimits: Vec<Rlimit>,
    /// Supplementary groups by name or number (`--group-add`), resolved in
    /// the container's /etc/group.
    pub additional_groups: Vec<String>,
    /// The OOM killer's preference (`process.oomScoreAdj`).
    pub oom_score_adj: Option<i32>,
}

/// One `setrlimit`: `kind` as Docker names it (`nofile`, `nproc`, ...).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rlimit {
    pub kind: String,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Network {
    /// A fresh network namespace with only loopback, up.
    None,
    /// The host's network namespace.
    Host,
    /// The network namespace bound at this path (a container network the
    /// engine set up, or another container's namespace).
    Join(PathBuf),
}

#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub rootfs: Rootfs,
    pub process: ProcessSpec,
    pub hostname: String,
    pub network: Network,
    /// The user's mounts and the engine's file binds (hosts, hostname,
    /// resolv.conf), made in this order after Docker's standard mounts.
    pub mounts: Vec<crate::UserMount>,
    pub linux: crate::LinuxSettings,
    /// Where compiled seccomp programs are kept between starts (`None`:
    /// compile every time, as the guest agent does).
    pub seccomp_cache: Option<PathBuf>,
    /// The create/start split of an OCI runtime: set up everything, report
    /// ready, then wait for `start` before executing the command (`None`:
    /// execute at once).
    pub start_gate: Option<StartGate>,
    /// Namespaces (ipc, uts, pid) joined by path instead of created: a
    /// Kubernetes pod's containers share its sandbox's.
    pub join_namespaces: Vec<(oci_spec::runtime::LinuxNamespaceType, PathBuf)>,
}

/// Where a created container's init waits for `start`, and what it runs
/// then: the gate is an `O_PATH` fd of a FIFO (runc's `exec.fifo`); the
/// init opens it for writing, which blocks until `start` opens it for
/// reading, so the PID exists (and can be signalled) between the two.
#[derive(Debug, Clone)]
pub struct StartGate {
    pub fifo: std::sync::Arc<OwnedFd>,
    /// The spec's `startContainer` hooks: run in the container's
    /// namespaces after `start`, before the command, with the state on stdin.
    pub hooks: Vec<crate::hooks::Hook>,
    /// The container's OCI state, the hooks' stdin.
    pub state: String,
}

/// A started process: its host PID and start time (which together survive
/// PID reuse as an identity), and its terminal's master side if it has one.
#[derive(Debug)]
pub struct Spawned {
    pub pid: i32,
    pub start_time: u64,
    pub pty_master: Option<OwnedFd>,
}

const STACK_SIZE: usize = 1 << 20;

/// Starts the container. Returns once its command has been executed, or
/// with the reason it could not be ([`Error::Exec`] carries Docker's 126/127).
///
/// Must be called while the calling process has a single thread: the child
/// is a copy of it that allocates before it executes.
pub fn spawn(spec: &ContainerSpec, cgroup: &Cgroup, stdio: Stdio) -> Result<Spawned> {
    let filters = crate::seccomp::compile_cached(
        spec.process.seccomp.as_ref(),
        spec.seccomp_cache.as_deref(),
    )?;
    let (sync_r, sync_w) = pipe2(OFlag::O_CLOEXEC).ctx(|| "pipe".into())?;
    let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).ctx(|| "pipe".into())?;
    let mut flags = CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if spec.network == Network::None {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    let mut joins = Vec::new();
    for (typ, path) in &spec.join_namespaces {
        if path.as_os_str().is_empty() {
            // The runtime's own namespace (`--pid host`): not a new one.
            flags.remove(match *typ {
                LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
                LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
                _ => CloneFlags::CLONE_NEWIPC,
            });
            continue;
        }
        let file = std::fs::File::open(path)
            .map_err(|e| Error::Setup(format!("opening the namespace {}: {e}", path.display())))?;
        if *typ == LinuxNamespaceType::Pid {
            // A PID namespace is entered by the children of the process
            // that joins it: join it here, clone into it below. This
            // changes where this process's later children go, so only a
            // runtime that exits after starting one container may ask.
            nix::sched::setns(&file, CloneFlags::CLONE_NEWPID)
                .ctx(|| format!("joining the PID namespace {}", path.display()))?;
            flags.remove(CloneFlags::CLONE_NEWPID);
        } else {
            joins.push((file, *typ, path));
        }
    }
    let console = ConsoleChannel::for_stdio(&stdio)?;
    let mut stdio = Some(stdio);
    let mut stack = vec![0u8; STACK_SIZE];
    let child_end = console.as_ref().map(|c| &c.child);
    let child = Box::new(|| {
        let stdio = stdio.take().expect("clone callback runs once");
        let err = match container_init(spec, &filters, stdio, child_end, &sync_r, &err_w, &joins) {
            Ok(never) => match never {},
            Err(e) => e,
        };
        report(&err_w, &err) as isize
    });
    // SAFETY: the callback only touches data copied into the child (no
    // CLONE_VM), and the caller guarantees a single-threaded process, so
    // allocation in the child cannot deadlock on a lock held by another thread.
    let pid = unsafe { clone(child, &mut stack, flags, Some(Signal::SIGCHLD as i32)) }
        .ctx(|| "clone into new namespaces".into())?;
    drop(sync_r);
    drop(err_w);
    drop(stdio);
    let console = console.map(|c| c.parent);

    if let Err(e) = cgroup.add(pid.as_raw()) {
        abandon(pid);
        return Err(e);
    }
    nix::unistd::write(&sync_w, &[1]).ctx(|| "releasing the container init".into())?;
    drop(sync_w);
    let pty_master = console.as_ref().and_then(receive_master);
    if let Some(err) = read_report(err_r) {
        let _ = waitpid(pid, None);
        return Err(err);
    }
    let start_time = sys::process_start_time(pid.as_raw()).unwrap_or(0);
    Ok(Spawned {
        pid: pid.as_raw(),
        start_time,
        pty_master,
    })
}

fn container_init(
    spec: &ContainerSpec,
    filters: &[crate::seccomp::BpfProgram],
    stdio: Stdio,
    console: Option<&OwnedFd>,
    sync: &OwnedFd,
    err_w: &OwnedFd,
    joins: &[(std::fs::File, LinuxNamespaceType, &PathBuf)],
) -> Result<std::convert::Infallible> {
    // Until it executes the command, this process is a copy of the host's
    // isola binary inside the container's namespaces.
    sys::set_dumpable(false).ctx(|| "PR_SET_DUMPABLE".into())?;
    if !wait_for_parent(sync) {
        return Err(Error::Setup("the monitor went away before start".into()));
    }
    // Now that the parent moved us into the container's cgroup, make it our
    // cgroup namespace root.
    unshare(CloneFlags::CLONE_NEWCGROUP).ctx(|| "new cgroup namespace".into())?;
    // The host's UTS namespace (`--uts host`) keeps the host's name.
    let mut own_uts = !spec
        .join_namespaces
        .iter()
        .any(|(t, p)| *t == LinuxNamespaceType::Uts && p.as_os_str().is_empty());
    for (file, typ, path) in joins {
        let flag = match typ {
            LinuxNamespaceType::Uts => {
                own_uts = false;
                CloneFlags::CLONE_NEWUTS
            }
            _ => CloneFlags::CLONE_NEWIPC,
        };
        nix::sched::setns(file, flag)
            .ctx(|| format!("joining the {typ:?} namespace {}", path.display()))?;
    }
    // Without a hostname the container keeps the one it was created with
    // (the spec's rule); a joined UTS namespace keeps its owner's.
    if own_uts && !spec.hostname.is_empty() {
        sethostname(&spec.hostname).ctx(|| "sethostname".into())?;
    }
    match &spec.network {
        Network::None => net::loopback_up()?,
        Network::Join(path) => {
            // Still in the host's mount namespace's view: the path resolves.
            let ns = std::fs::File::open(path)
                .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0)))
                .ctx(|| format!("opening {}", path.display()))?;
            nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET)
                .ctx(|| format!("joining the network namespace {}", path.display()))?;
            net::loopback_up()?;
        }
        Network::Host => {}
    }
    mounts::enter_rootfs(spec)?;
    stdio::install(stdio, console, true)?;
    let gate = spec.start_gate.as_ref().map(|g| Gate {
        ready: err_w,
        gate: g,
    });
    if spec.linux.init.is_some() {
        // The init runs the command as its child, reaps zombies and
        // forwards signals.
        let mut process = spec.process.clone();
        process.args = [crate::linux::INIT_PATH.to_string(), "--".into()]
            .into_iter()
            .chain(process.args)
            .collect();
        return Err(exec_process(&process, filters, gate));
    }
    Err(exec_process(&spec.process, filters, gate))
}

/// Kills and reaps a child we started but will not hand out.
pub(crate) fn abandon(pid: Pid) {
    let _ = kill(pid, Signal::SIGKILL);
    let _ = waitpid(pid, None);
}
