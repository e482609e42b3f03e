//! Moves bytes between a container's streams and their consumers: the log,
//! the attached CLI's terminal or pipes. One thread, one poll loop: the
//! container side is non-blocking so a container that does not read its
//! stdin can never stall its output (no deadlock on `cat` with 100 MB).

use crate::logs::{LogWriter, Stream};
use crate::signals::signalfd;
use crate::Streams;
use crate::{Error, Result};
use isola_runtime_process::sys::{get_winsize, set_winsize};
use isola_runtime_process::Stdio;
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{pipe2, Pid};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

const BUF: usize = 64 * 1024;

/// How the container's stdin is fed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Input {
    /// From our own fd 0.
    Forward,
    /// An open pipe nobody writes to (`-d -i`: stdin stays open).
    Hold,
    /// /dev/null.
    Null,
}

/// Our ends of the container's streams.
pub(crate) struct Ends {
    /// stdout, or the pty master.
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    /// Where stdin goes (pipe write end, or a dup of the master).
    input: Option<OwnedFd>,
    tty: bool,
    /// How a pty's input is fed, until the master arrives.
    mode: Input,
}

impl Ends {
    /// Completes a terminal's ends with the master the runtime sent back.
    pub(crate) fn with_master(mut self, master: Option<OwnedFd>) -> Result<Ends> {
        let Some(master) = master else {
            return Ok(self);
        };
        set_nonblocking(&master)?;
        if self.mode == Input::Forward || self.mode == Input::Hold {
            self.input = Some(master.try_clone().map_err(io("dup"))?);
        }
        self.out = Some(master);
        Ok(self)
    }
}

fn sys(what: &str) -> impl FnOnce(Errno) -> Error + '_ {
    move |e| Error::Io {
        context: what.to_string(),
        source: e.into(),
    }
}

fn set_nonblocking(fd: &OwnedFd) -> Result<()> {
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL).map_err(sys("fcntl"))?;
    fcntl(
        fd.as_raw_fd(),
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .map_err(sys("fcntl"))?;
    Ok(())
}

/// Creates the container's stdio: a pty (sized like the client's terminal,
/// `size_from`, if it is one; its master arrives after start, see
/// [`Ends::with_master`]) or pipes.
pub(crate) fn make_stdio(
    tty: bool,
    input: Input,
    size_from: Option<BorrowedFd<'_>>,
) -> Result<(Stdio, Ends)> {
    if tty {
        let size = size_from.and_then(get_winsize);
        let ends = Ends {
            out: None,
            err: None,
            input: None,
            tty: true,
            mode: input,
        };
        return Ok((Stdio::Pty { size }, ends));
    }
    let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
    let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
    let (stdin, input) = match input {
        Input::Null => (
            std::fs::File::open("/dev/null")
                .map_err(io("/dev/null"))?
                .into(),
            None,
        ),
        Input::Forward | Input::Hold => {
            let (r, w) = pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
            set_nonblocking(&w)?;
            (r, Some(w))
        }
    };
    set_nonblocking(&out_r)?;
    set_nonblocking(&err_r)?;
    Ok((
        Stdio::Fds {
            stdin,
            stdout: out_w,
            stderr: err_w,
        },
        Ends {
            out: Some(out_r),
            err: Some(err_r),
            input,
            tty: false,
            mode: Input::Null,
        },
    ))
}

fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io {
        context: what.to_string(),
        source,
    }
}

/// Where output goes besides the log, and where input comes from.
pub(crate) struct Sinks {
    pub log: Option<LogWriter>,
    /// The client's streams: output is copied to its stdout and stderr,
    /// its stdin feeds the container's.
    pub streams: Streams,
    /// Forward these signals to the child (exec's sig-proxy).
    pub proxy: bool,
}

/// Work a supervisor does in the pump's loop while the child runs (the
/// monitor's health checks): woken at its deadline, when its fd is
/// readable, and on every other event (SIGCHLD included).
pub(crate) trait Sidecar {
    fn deadline(&self) -> Option<std::time::Instant>;
    fn fd(&self) -> Option<BorrowedFd<'_>>;
    fn wake(&mut self, now: std::time::Instant);
    /// The child exited: end what runs.
    fn stop(&mut self);
}

/// Runs the loop until `child` has exited and its output is drained;
/// returns its exit code (128 + signal when killed).
pub(crate) fn pump(
    ends: Ends,
    mut sinks: Sinks,
    child: Pid,
    mut side: Option<&mut dyn Sidecar>,
) -> Result<i32> {
    let proxied = [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGWINCH,
    ];
    let sfd = signalfd(&proxied).map_err(sys("signalfd"))?;
    let Ends {
        mut out,
        mut err,
        mut input,
        tty,
        ..
    } = ends;
    let mut pending: Vec<u8> = Vec::new();
    let mut stdin_open = sinks.streams.stdin.is_some() && input.is_some();
    let mut exit: Option<i32> = None;
    let mut buf = vec![0u8; BUF];
    let client_in = sinks.streams.stdin.take();

    loop {
        if exit.is_none() {
            exit = reap(child);
            if let Some(s) = side.as_deref_mut() {
                if exit.is_some() {
                    s.stop();
                } else {
                    s.wake(std::time::Instant::now());
                }
            }
            if exit.is_some() {
                side = None;
            }
        }
        if exit.is_some() && out.is_none() && err.is_none() {
            break;
        }
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        let side_fd = side.as_deref().and_then(|s| s.fd());
        if let Some(fd) = side_fd {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        let out_i = out.as_ref().map(|f| {
            fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let err_i = err.as_ref().map(|f| {
            fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let in_i = (stdin_open && pending.is_empty()).then(|| {
            let fd = client_in.as_ref().expect("stdin_open implies a stdin");
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let dst_i = match (&input, pending.is_empty()) {
            (Some(dst), false) => {
                fds.push(PollFd::new(dst.as_fd(), PollFlags::POLLOUT));
                Some(fds.len() - 1)
            }
            _ => None,
        };
        // After the child exits, give its output a moment to drain; a
        // stray process still holding the stream must not keep us forever.
        let timeout = if exit.is_some() {
            PollTimeout::from(200u16)
        } else {
            match side.as_deref().and_then(|s| s.deadline()) {
                // +1 ms: poll truncates to milliseconds.
                Some(d) => PollTimeout::try_from(
                    d.saturating_duration_since(std::time::Instant::now())
                        + std::time::Duration::from_millis(1),
                )
                .unwrap_or(PollTimeout::MAX),
                None => PollTimeout::NONE,
            }
        };
        match poll(&mut fds, timeout) {
            Ok(0) if exit.is_none() => continue,
            Ok(0) => break,
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(sys("poll")(e)),
        }
        let ready = |i: Option<usize>| {
            i.and_then(|i| fds[i].revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (sig_ready, out_ready, err_ready, in_ready, dst_ready) = (
            ready(Some(0)),
            ready(out_i),
            ready(err_i),
            ready(in_i),
            ready(dst_i),
        );
        drop(fds);

        if sig_ready {
            if let Ok(Some(info)) = sfd.read_signal() {
                match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGWINCH) if tty => {
                        let size = client_in.as_ref().and_then(|i| get_winsize(i.as_fd()));
                        if let (Some(ws), Some(o)) = (size, &out) {
                            set_winsize(o.as_fd(), &ws);
                        }
                    }
                    Ok(Signal::SIGCHLD) | Ok(Signal::SIGWINCH) => {}
                    Ok(sig) if sinks.proxy => {
                        let _ = nix::sys::signal::kill(child, sig);
                    }
                    _ => {}
                }
            }
        }
        if out_ready && !drain(&mut out, Stream::Stdout, &mut buf, &mut sinks, tty) {
            out = None;
            if tty {
                input = None;
            }
        }
        if err_ready && !drain(&mut err, Stream::Stderr, &mut buf, &mut sinks, tty) {
            err = None;
        }
        if in_ready {
            let fd = client_in.as_ref().expect("polled, so present");
            match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
                Ok(0) | Err(_) => {
                    stdin_open = false;
                    if !tty {
                        input = None; // EOF: close the container's stdin
                    }
                }
                Ok(n) => pending.extend_from_slice(&buf[..n]),
            }
        }
        if dst_ready {
            if let Some(dst) = &input {
                match nix::unistd::write(dst, &pending) {
                    Ok(n) => {
                        pending.drain(..n);
                    }
                    Err(Errno::EAGAIN) => {}
                    Err(_) => {
                        pending.clear();
                        stdin_open = false;
                        input = None;
                    }
                }
            }
        }
        if !stdin_open && pending.is_empty() && !tty {
            input = None;
        }
    }
    if let Some(log) = &mut sinks.log {
        log.finish();
    }
    Ok(exit.unwrap_or_else(|| wait_blocking(child)))
}

/// Reads what is available from `src`; false at end of stream.
fn drain(
    src: &mut Option<OwnedFd>,
    stream: Stream,
    buf: &mut [u8],
    sinks: &mut Sinks,
    tty: bool,
) -> bool {
    let Some(fd) = src else { return false };
    loop {
        match nix::unistd::read(fd.as_raw_fd(), buf) {
            Ok(0) => return false,
            Ok(n) => {
                if let Some(log) = &mut sinks.log {
                    log.write(stream, &buf[..n]);
                }
                let client = match stream {
                    Stream::Stderr => &mut sinks.streams.stderr,
                    _ => &mut sinks.streams.stdout,
                };
                if let Some(fd) = client {
                    if write_all(fd.as_fd(), &buf[..n]).is_err() {
                        // The attached reader went away: keep logging.
                        *client = None;
                    }
                }
            }
            Err(Errno::EAGAIN) => return true,
            Err(Errno::EINTR) => continue,
            // EIO: the pty's last slave closed.
            Err(Errno::EIO) if tty => return false,
            Err(_) => return false,
        }
    }
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> nix::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => {
                let mut p = [PollFd::new(fd, PollFlags::POLLOUT)];
                let _ = poll(&mut p, PollTimeout::NONE);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The child's exit code if it has exited.
fn reap(child: Pid) -> Option<i32> {
    match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Some(code),
        Ok(WaitStatus::Signaled(_, sig, _)) => Some(128 + sig as i32),
        Err(Errno::ECHILD) => Some(255),
        _ => None,
    }
}

fn wait_blocking(child: Pid) -> i32 {
    isola_runtime_process::wait_exit_code(child.as_raw())
}
