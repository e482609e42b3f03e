//! Child-side steps shared by a container's init and by `exec`: wiring
//! stdio, taking on the user, dropping privileges and executing the command.
//! Errors travel to the parent over a close-on-exec pipe, so the parent
//! learns whether `execve` succeeded (EOF) or why it failed.

use crate::spawn::ProcessSpec;
use crate::{capabilities, seccomp, sys, user, Context, Error, Result};
use nix::unistd::{execve, setgid, setgroups, setuid, Gid, Uid};
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Exit code of a child whose setup failed before the command ran.
pub(crate) const SETUP_FAILED: i32 = 125;

/// Writes `err` to the parent's error pipe as `code` (4 bytes LE) + message.
pub(crate) fn report(pipe: &OwnedFd, err: &Error) -> i32 {
    let code = match err {
        Error::Exec { code, .. } => *code,
        _ => SETUP_FAILED,
    };
    let mut buf = code.to_le_bytes().to_vec();
    buf.extend_from_slice(err.to_string().as_bytes());
    let _ = nix::unistd::write(pipe, &buf);
    code
}

/// The code a gated init sends when it is ready and waits for `start`.
const READY: i32 = i32::MIN;

/// A created container's init: the pipe on which it reports ready, and the
/// gate it then waits at.
pub(crate) struct Gate<'a> {
    pub ready: &'a OwnedFd,
    pub gate: &'a crate::StartGate,
}

/// Reads the child's report: `None` when the pipe closed empty (exec
/// succeeded) or the child reported ready at its start gate, else the
/// error it sent.
pub(crate) fn read_report(pipe: OwnedFd) -> Option<Error> {
    use std::io::Read;
    let mut file = std::fs::File::from(pipe);
    let mut head = [0u8; 4];
    if file.read_exact(&mut head).is_err() {
        return None;
    }
    let code = i32::from_le_bytes(head);
    if code == READY {
        return None;
    }
    let mut buf = Vec::new();
    let _ = file.read_to_end(&mut buf);
    let message = String::from_utf8_lossy(&buf).into_owned();
    Some(Error::relayed(code, &message))
}

/// Takes on the container process's identity, working directory and
/// privileges, then executes it. Returns only on error.
pub(crate) fn exec_process(
    process: &ProcessSpec,
    filters: &[seccomp::BpfProgram],
    gate: Option<Gate<'_>>,
) -> Error {
    match prepare_and_exec(process, filters, gate) {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

fn prepare_and_exec(
    process: &ProcessSpec,
    filters: &[seccomp::BpfProgram],
    gate: Option<Gate<'_>>,
) -> Result<std::convert::Infallible> {
    reset_signals()?;
    let mut id = user::resolve(Path::new("/"), &process.user)?;
    for gid in user::group_ids(Path::new("/"), &process.additional_groups)? {
        if !id.additional_gids.contains(&gid) {
            id.additional_gids.push(gid);
        }
    }
    set_rlimits(&process.rlimits)?;
    if let Some(adj) = process.oom_score_adj {
        // Lowering it needs CAP_SYS_RESOURCE: done while we still have it.
        std::fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| Error::Setup(format!("oomScoreAdj {adj}: {e}")))?;
    }
    let mut env = process.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", id.home));
    }
    let cwd = if process.cwd.is_empty() {
        "/"
    } else {
        &process.cwd
    };
    std::fs::create_dir_all(cwd)
        .map_err(|e| Error::Setup(format!("creating working directory {cwd}: {e}")))?;
    nix::unistd::chdir(cwd).map_err(|e| Error::Exec {
        code: 126,
        message: format!("chdir to working directory {cwd}: {e}"),
    })?;
    let program = find_program(&process.args, &env)?;

    let keep = capabilities::parse(&process.capabilities)?;
    let cstr =
        |s: &str| CString::new(s).map_err(|_| Error::Setup(format!("{s:?} contains a NUL byte")));
    let argv = process
        .args
        .iter()
        .map(|a| cstr(a))
        .collect::<Result<Vec<_>>>()?;
    let envp = env.iter().map(|e| cstr(e)).collect::<Result<Vec<_>>>()?;
    let path = cstr(&program.to_string_lossy())?;

    // The filter goes on first, while we still hold CAP_SYS_ADMIN: the
    // kernel then does not require no_new_privs, which Docker sets only
    // with `--security-opt no-new-privileges` (with it, set-uid programs
    // in images such as `su` or `ping` would not work). Everything below
    // uses only syscalls the policy allows.
    seccomp::apply(filters)?;
    capabilities::drop_bounding(&keep)?;
    let gids: Vec<Gid> = id
        .additional_gids
        .iter()
        .map(|g| Gid::from_raw(*g))
        .collect();
    setgroups(&gids).ctx(|| "setgroups".into())?;
    setgid(Gid::from_raw(id.gid)).ctx(|| format!("setgid {}", id.gid))?;
    setuid(Uid::from_raw(id.uid)).ctx(|| format!("setuid {}", id.uid))?;
    capabilities::set_process(&keep, id.uid == 0)?;
    // The engine runs with whatever umask its caller had; containers get
    // Docker's 0022.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    if process.no_new_privileges {
        nix::sys::prctl::set_no_new_privs().ctx(|| "no_new_privs".into())?;
    }
    // Nothing but stdio may cross into the container (CVE-2024-21626).
    sys::cloexec_from(3);
    if let Some(gate) = gate {
        wait_at_gate(&gate);
        // Nobody reads the error pipe any more: report on stderr.
        let err = exec_error(&process.args[0], execve(&path, &argv, &envp).unwrap_err());
        give_up(&err);
    }
    let err = execve(&path, &argv, &envp).unwrap_err();
    Err(exec_error(&process.args[0], err))
}

/// Reports ready, then blocks until `start` opens the FIFO, and runs the
/// `startContainer` hooks. Like runc, this happens as the container's user
/// with its capabilities and seccomp policy already in force, so nothing
/// the init does after `create` returned runs with more privilege than the
/// command. Errors from here on go to the container's stderr.
fn wait_at_gate(gate: &Gate<'_>) {
    let _ = nix::unistd::write(gate.ready, &READY.to_le_bytes());
    // Our own fd table through the container's /proc: the FIFO's host path
    // is not reachable from inside the new root.
    let path = format!("/proc/self/fd/{}", gate.gate.fifo.as_raw_fd());
    let opened = std::fs::OpenOptions::new().write(true).open(&path);
    if let Err(e) = opened.and_then(|mut f| std::io::Write::write_all(&mut f, b"0")) {
        give_up(&Error::Setup(format!("waiting for start: {e}")));
    }
    for hook in &gate.gate.hooks {
        if let Err(e) = hook.run(&gate.gate.state) {
            give_up(&Error::Setup(format!("startContainer {e}")));
        }
    }
}

/// Ends a gated init whose parent is gone: the message on stderr, the
/// code as its exit status.
fn give_up(err: &Error) -> ! {
    let code = match err {
        Error::Exec { code, .. } => *code,
        _ => SETUP_FAILED,
    };
    eprintln!("isola-runtime: {err}");
    std::process::exit(code)
}

/// `--ulimit` names, as Docker takes them, and their resources.
const RLIMIT_TABLE: &[(&str, nix::sys::resource::Resource)] = {
    use nix::sys::resource::Resource::*;
    &[
        ("core", RLIMIT_CORE),
        ("cpu", RLIMIT_CPU),
        ("data", RLIMIT_DATA),
        ("fsize", RLIMIT_FSIZE),
        ("locks", RLIMIT_LOCKS),
        ("memlock", RLIMIT_MEMLOCK),
        ("msgqueue", RLIMIT_MSGQUEUE),
        ("nice", RLIMIT_NICE),
        ("nofile", RLIMIT_NOFILE),
        ("nproc", RLIMIT_NPROC),
        ("rss", RLIMIT_RSS),
        ("rtprio", RLIMIT_RTPRIO),
        ("rttime", RLIMIT_RTTIME),
        ("sigpending", RLIMIT_SIGPENDING),
        ("stack", RLIMIT_STACK),
        ("as", RLIMIT_AS),
    ]
};

/// Whether `name` is a `--ulimit` this runtime can set.
pub fn is_rlimit(name: &str) -> bool {
    RLIMIT_TABLE.iter().any(|(n, _)| *n == name)
}

/// Applies `--ulimit`s while the process still holds CAP_SYS_RESOURCE.
fn set_rlimits(limits: &[crate::spawn::Rlimit]) -> Result<()> {
    for l in limits {
        let Some((_, resource)) = RLIMIT_TABLE.iter().find(|(n, _)| *n == l.kind) else {
            return Err(Error::Setup(format!("unknown ulimit {:?}", l.kind)));
        };
        nix::sys::resource::setrlimit(*resource, l.soft, l.hard)
            .ctx(|| format!("setting ulimit {}={}:{}", l.kind, l.soft, l.hard))?;
    }
    Ok(())
}

/// Gives the command default signal dispositions and an empty mask: both
/// survive execve, and our parent (a Rust program ignoring SIGPIPE, a
/// monitor blocking SIGCHLD) must not leak its own into the container.
fn reset_signals() -> Result<()> {
    use nix::sys::signal::{signal, SigHandler, SigSet, Signal};
    for sig in Signal::iterator() {
        if sig != Signal::SIGKILL && sig != Signal::SIGSTOP {
            // SAFETY: installing SIG_DFL runs no handler code in this process.
            let _ = unsafe { signal(sig, SigHandler::SigDfl) };
        }
    }
    SigSet::empty()
        .thread_set_mask()
        .ctx(|| "resetting the signal mask".into())
}

/// Finds the executable like Docker does: names with a slash are used as
/// they are, others are looked up in the container's PATH.
fn find_program(args: &[String], env: &[String]) -> Result<PathBuf> {
    let Some(name) = args.first() else {
        return Err(Error::Setup(
            "no command specified: give one after the image name or set CMD in the image".into(),
        ));
    };
    if name.contains('/') {
        return match std::fs::metadata(name) {
            Ok(_) => Ok(PathBuf::from(name)),
            Err(e) => Err(Error::Exec {
                code: 127,
                message: format!(
                    "exec: \"{name}\": stat {name}: {}",
                    nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(0))
                        .desc()
                        .to_lowercase()
                ),
            }),
        };
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
        .ok_or_else(|| Error::Exec {
            code: 127,
            message: format!("exec: \"{name}\": executable file not found in $PATH"),
        })
}

fn exec_error(name: &str, err: nix::Error) -> Error {
    use nix::errno::Errno;
    let code = match err {
        Errno::ENOENT => 127,
        _ => 126,
    };
    Error::Exec {
        code,
        message: format!("exec: \"{name}\": {}", err.desc().to_lowercase()),
    }
}

/// Blocks until the parent writes the go byte; false when the parent died.
pub(crate) fn wait_for_parent(pipe: &OwnedFd) -> bool {
    let mut b = [0u8; 1];
    matches!(nix::unistd::read(pipe.as_fd().as_raw_fd(), &mut b), Ok(1))
}
