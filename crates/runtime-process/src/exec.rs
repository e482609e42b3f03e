//! `exec`: a new process inside a running container. It joins the
//! container's cgroup and namespaces, then gets the same user, capability
//! and seccomp treatment as the container's own command.

use crate::init::{exec_process, read_report, report};
use crate::spawn::{abandon, ProcessSpec, Spawned};
use crate::stdio::{self, receive_master, ConsoleChannel, Stdio};
use crate::{sys, Cgroup, Context, Error, Result};
use nix::fcntl::OFlag;
use nix::sched::{clone, setns, CloneFlags};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, getpid, pipe2, ForkResult, Pid};
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;

/// Namespaces joined, in order: the mount namespace last, since it changes
/// how paths resolve.
const NAMESPACES: &[(&str, CloneFlags)] = &[
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// Starts `process` inside the container whose init is `init_pid`. The new
/// process is a child of the caller, which can wait for it.
///
/// Must be called while the calling process has a single thread.
pub fn exec(
    init_pid: i32,
    cgroup: &Cgroup,
    process: &ProcessSpec,
    stdio: Stdio,
    seccomp_cache: Option<&std::path::Path>,
) -> Result<Spawned> {
    let filters = crate::seccomp::compile_cached(process.seccomp.as_ref(), seccomp_cache)?;
    let ns: Vec<(File, CloneFlags)> = NAMESPACES
        .iter()
        .map(|(name, flag)| {
            File::open(format!("/proc/{init_pid}/ns/{name}"))
                .map(|f| (f, *flag))
                .map_err(|e| {
                    Error::Setup(format!(
                        "the container is not running ({name} namespace: {e})"
                    ))
                })
        })
        .collect::<Result<_>>()?;
    let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).ctx(|| "pipe".into())?;
    let (pid_r, pid_w) = pipe2(OFlag::O_CLOEXEC).ctx(|| "pipe".into())?;
    let console = ConsoleChannel::for_stdio(&stdio)?;

    // SAFETY: the caller guarantees a single-threaded process, so the child
    // may allocate; it leaves only through `_exit`.
    match unsafe { fork() }.ctx(|| "fork".into())? {
        ForkResult::Child => {
            drop(err_r);
            drop(pid_r);
            let child_end = console.as_ref().map(|c| &c.child);
            let code =
                match join_and_clone(cgroup, &ns, process, &filters, stdio, child_end, &err_w) {
                    Ok(pid) => {
                        let _ = nix::unistd::write(&pid_w, &pid.as_raw().to_le_bytes());
                        0
                    }
                    Err(e) => report(&err_w, &e),
                };
            // SAFETY: _exit ends the forked child without running the
            // parent's atexit handlers or flushing its copied buffers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(err_w);
            drop(pid_w);
            drop(stdio);
            let console = console.map(|c| c.parent);
            let _ = waitpid(child, None);
            let mut buf = Vec::new();
            let _ = File::from(pid_r).read_to_end(&mut buf);
            let grandchild = (buf.len() == 4)
                .then(|| Pid::from_raw(i32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]])));
            let pty_master = match (&console, grandchild) {
                (Some(c), Some(_)) => receive_master(c),
                _ => None,
            };
            if let Some(err) = read_report(err_r) {
                if let Some(pid) = grandchild {
                    abandon(pid);
                }
                return Err(err);
            }
            let pid = grandchild
                .ok_or_else(|| Error::Setup("exec helper exited without a process".into()))?;
            Ok(Spawned {
                pid: pid.as_raw(),
                start_time: sys::process_start_time(pid.as_raw()).unwrap_or(0),
                pty_master,
            })
        }
    }
}

fn join_and_clone(
    cgroup: &Cgroup,
    ns: &[(File, CloneFlags)],
    process: &ProcessSpec,
    filters: &[crate::seccomp::BpfProgram],
    stdio: Stdio,
    console: Option<&OwnedFd>,
    err_w: &OwnedFd,
) -> Result<Pid> {
    // Before joining anything: a non-dumpable process's /proc/PID/exe (the
    // host's isola binary) cannot be opened from the container, and the
    // process it clones into the container inherits the flag.
    sys::set_dumpable(false).ctx(|| "PR_SET_DUMPABLE".into())?;
    cgroup.add(getpid().as_raw())?;
    for (file, flag) in ns {
        setns(file, *flag).ctx(|| format!("joining the container's {flag:?}"))?;
    }
    let mut stdio = Some(stdio);
    let mut stack = vec![0u8; 1 << 20];
    let child = Box::new(|| {
        let stdio = stdio.take().expect("clone callback runs once");
        let err = match stdio::install(stdio, console, false) {
            Ok(()) => exec_process(process, filters, None),
            Err(e) => e,
        };
        report(err_w, &err) as isize
    });
    // SAFETY: as in `spawn`: no CLONE_VM, single-threaded process. With
    // CLONE_PARENT the new process becomes a child of our caller, inside the
    // PID namespace we just joined.
    let pid = unsafe {
        clone(
            child,
            &mut stack,
            CloneFlags::CLONE_PARENT,
            Some(Signal::SIGCHLD as i32),
        )
    }
    .ctx(|| "clone into the container".into())?;
    Ok(pid)
}

/// Waits for an exec'd process and returns its exit code the way a shell
/// reports it (128 + signal number for a killed process).
pub fn wait_exit_code(pid: i32) -> i32 {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => return code,
            Ok(WaitStatus::Signaled(_, sig, _)) => return 128 + sig as i32,
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return 255,
        }
    }
}
