//! A session's standard streams: pipes, or a pseudo-terminal with `tty`.
//! The process gets one end through [`Stdio`]; the agent keeps the other,
//! non-blocking and close-on-exec so no later child inherits it (an
//! inherited write end would keep a client from ever seeing EOF).

use crate::error::{Context, Result};
use isola_proto::{Stream, TtySize};
use isola_runtime_process::Stdio;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::unistd::pipe2;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// The agent's ends of a session's streams.
pub struct SessionIo {
    /// Where stdin data from a client goes; `None` without `-i`.
    pub stdin: Option<OwnedFd>,
    /// Output to forward; with a terminal only stdout (the pty master).
    pub outputs: Vec<(Stream, OwnedFd)>,
    /// The pty master, for window size changes.
    pub terminal: Option<OwnedFd>,
}

/// The process's streams and the agent's ends of them. With a terminal
/// the runtime allocates the pty inside the container; the agent's side
/// is completed by [`SessionIo::attach_terminal`] once it hands back the
/// master.
pub fn create(tty: bool, open_stdin: bool, size: Option<TtySize>) -> Result<(Stdio, SessionIo)> {
    if !tty {
        return with_pipes(open_stdin);
    }
    let size = size.map(|s| libc::winsize {
        ws_row: s.rows,
        ws_col: s.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    });
    let io = SessionIo {
        stdin: None,
        outputs: Vec::new(),
        terminal: None,
    };
    Ok((Stdio::Pty { size }, io))
}

impl SessionIo {
    /// Takes the pty master of a process started with a terminal: output
    /// is read from it, stdin (with `-i`) written to it.
    pub fn attach_terminal(&mut self, master: Option<OwnedFd>, open_stdin: bool) -> Result<()> {
        let Some(master) = master else {
            return Ok(());
        };
        set_nonblocking(master.as_fd())?;
        if open_stdin {
            self.stdin = Some(dup(master.as_fd())?);
        }
        self.terminal = Some(dup(master.as_fd())?);
        self.outputs = vec![(Stream::Stdout, master)];
        Ok(())
    }
}

fn with_pipes(open_stdin: bool) -> Result<(Stdio, SessionIo)> {
    let (child_stdin, stdin) = if open_stdin {
        let (r, w) = pipe2(OFlag::O_CLOEXEC).ctx(|| "stdin pipe".into())?;
        set_nonblocking(w.as_fd())?;
        (r, Some(w))
    } else {
        (dev_null()?, None)
    };
    let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).ctx(|| "stdout pipe".into())?;
    let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).ctx(|| "stderr pipe".into())?;
    set_nonblocking(out_r.as_fd())?;
    set_nonblocking(err_r.as_fd())?;
    let stdio = Stdio::Fds {
        stdin: child_stdin,
        stdout: out_w,
        stderr: err_w,
    };
    let io = SessionIo {
        stdin,
        outputs: vec![(Stream::Stdout, out_r), (Stream::Stderr, err_r)],
        terminal: None,
    };
    Ok((stdio, io))
}

/// Sets a session terminal's size; the kernel sends SIGWINCH to its
/// foreground process group.
pub fn resize(terminal: BorrowedFd<'_>, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    isola_runtime_process::sys::set_winsize(terminal, &ws);
}

fn dev_null() -> Result<OwnedFd> {
    // std opens with O_CLOEXEC.
    let file = std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .ctx(|| "opening /dev/null".into())?;
    Ok(OwnedFd::from(file))
}

fn dup(fd: BorrowedFd<'_>) -> Result<OwnedFd> {
    fd.try_clone_to_owned().ctx(|| "dup".into())
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> Result<()> {
    let flags = fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL).ctx(|| "F_GETFL".into())?;
    let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags)).ctx(|| "F_SETFL O_NONBLOCK".into())?;
    Ok(())
}
