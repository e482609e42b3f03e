//! Hijacked connections (`attach`, `exec start`) relayed to a child `isola`
//! process (`isola start -a`, `isola exec`).
//!
//! Why a child process: the engine's exec and attached start fork without
//! exec and handle signals process-wide, which needs a single-threaded
//! caller; this server is multi-threaded. The child is the CLI the user
//! would have typed, so attach and exec behave exactly as with `isola`.
//!
//! With a TTY the child gets the slave of a pseudo-terminal of ours as its
//! controlling terminal: a client's resize sets the master's size and the
//! kernel's SIGWINCH tells the child, which resizes the container's
//! terminal as it does for a user's. Without a TTY it gets pipes, and its
//! stdout and stderr become Docker's multiplexed frames (stdcopy).

use bytes::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use std::os::fd::{AsFd, OwnedFd};
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};

/// A relayed child: its terminal (for resizes) and its exit code once known.
pub(crate) struct Session {
    /// When the child started: a `wait` uses only sessions younger than
    /// itself (an earlier run's code is not the next exit).
    pub created: std::time::Instant,
    pub master: Option<OwnedFd>,
    pub exit: watch::Receiver<Option<i32>>,
}

impl Session {
    pub fn resize(&self, rows: u16, cols: u16) {
        if let Some(m) = &self.master {
            let ws = nix::pty::Winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            isola_runtime_process::sys::set_winsize(m.as_fd(), &ws);
        }
    }

    /// The exit code, once the child has ended.
    pub async fn wait(&self) -> Option<i32> {
        let mut rx = self.exit.clone();
        let code = rx.wait_for(|c| c.is_some()).await.ok()?;
        *code
    }
}

/// The child's ends, as the relay uses them.
pub(crate) enum Ends {
    Pipes {
        stdin: Option<tokio::process::ChildStdin>,
        stdout: tokio::process::ChildStdout,
        stderr: tokio::process::ChildStderr,
    },
    Pty {
        master: tokio::fs::File,
    },
}

/// A started child and what the relay needs of it.
pub(crate) struct Spawned {
    pub child: Child,
    pub ends: Ends,
    pub session: Arc<Session>,
    pub exit_tx: watch::Sender<Option<i32>>,
}

fn io_err(e: nix::Error) -> std::io::Error {
    std::io::Error::from_raw_os_error(e as i32)
}

/// Docker's `ConsoleSize` (`[rows, cols]`), when given and not zero.
pub(crate) fn console_size(v: Option<&Vec<i32>>) -> Option<(u16, u16)> {
    match v.map(Vec::as_slice) {
        Some([h, w]) if *h > 0 && *w > 0 => Some((*h as u16, *w as u16)),
        _ => None,
    }
}

/// Starts `exe args…` with pipes, or with a raw-mode pseudo-terminal as
/// its controlling terminal when `tty`.
pub(crate) fn spawn(
    exe: &std::path::Path,
    args: &[String],
    tty: bool,
    stdin: bool,
    size: Option<(u16, u16)>,
) -> std::io::Result<Spawned> {
    let mut cmd = Command::new(exe);
    cmd.args(args).kill_on_drop(false);
    let (exit_tx, exit_rx) = watch::channel(None);
    if tty {
        // The client's size from the start (Docker's ConsoleSize): the
        // child reads it when it creates the container's terminal, before
        // it listens for SIGWINCH.
        let ws = size.map(|(rows, cols)| nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        });
        let pty = nix::pty::openpty(ws.as_ref(), None).map_err(io_err)?;
        let mut t = nix::sys::termios::tcgetattr(&pty.slave).map_err(io_err)?;
        nix::sys::termios::cfmakeraw(&mut t);
        nix::sys::termios::tcsetattr(&pty.slave, nix::sys::termios::SetArg::TCSANOW, &t)
            .map_err(io_err)?;
        cmd.stdin(Stdio::from(pty.slave.try_clone()?))
            .stdout(Stdio::from(pty.slave.try_clone()?))
            .stderr(Stdio::from(pty.slave));
        // SAFETY: between fork and exec this runs only setsid and ioctl,
        // both async-signal-safe, on the child's own stdin.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid().map_err(io_err)?;
                if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn()?;
        let control = pty.master.try_clone()?;
        let master = tokio::fs::File::from_std(std::fs::File::from(pty.master));
        Ok(Spawned {
            child,
            ends: Ends::Pty { master },
            session: Arc::new(Session {
                created: std::time::Instant::now(),
                master: Some(control),
                exit: exit_rx,
            }),
            exit_tx,
        })
    } else {
        cmd.stdin(if stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        let ends = Ends::Pipes {
            stdin: child.stdin.take(),
            stdout: child.stdout.take().expect("piped"),
            stderr: child.stderr.take().expect("piped"),
        };
        Ok(Spawned {
            child,
            ends,
            session: Arc::new(Session {
                created: std::time::Instant::now(),
                master: None,
                exit: exit_rx,
            }),
            exit_tx,
        })
    }
}

/// One stdcopy frame header: stream (1 stdout, 2 stderr), then the length.
fn frame(stream: u8, data: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(8 + data.len());
    v.extend_from_slice(&[stream, 0, 0, 0]);
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    v.into()
}

/// Copies `r` into `tx` in chunks, framed for `stream` (0: raw).
async fn pump(mut r: impl AsyncRead + Unpin, stream: u8, tx: mpsc::Sender<Bytes>) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return, // EIO: the terminal's last holder closed it
            Ok(n) => {
                let chunk = if stream == 0 {
                    Bytes::copy_from_slice(&buf[..n])
                } else {
                    frame(stream, &buf[..n])
                };
                if tx.send(chunk).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn drain(mut r: impl AsyncRead + Unpin) {
    let _ = tokio::io::copy(&mut r, &mut tokio::io::sink()).await;
}

/// Relays between the client and the child until the child's output ends,
/// then records its exit code. A client that goes away ends the child (the
/// container itself keeps running under its monitor).
pub(crate) async fn relay(
    upgraded: TokioIo<Upgraded>,
    spawned: Spawned,
    stdin: bool,
    stdout: bool,
    stderr: bool,
) -> i32 {
    let Spawned {
        mut child,
        ends,
        exit_tx,
        ..
    } = spawned;
    let (mut client_r, mut client_w) = tokio::io::split(upgraded);
    let (tx, mut rx) = mpsc::channel::<Bytes>(16);
    let mut input: Box<dyn AsyncWrite + Unpin + Send> = match ends {
        Ends::Pipes {
            stdin: child_in,
            stdout: out,
            stderr: err,
        } => {
            // A stream the client did not ask for is drained, not closed:
            // the child must not fail writing it.
            if stdout {
                tokio::spawn(pump(out, 1, tx.clone()));
            } else {
                tokio::spawn(drain(out));
            }
            if stderr {
                tokio::spawn(pump(err, 2, tx.clone()));
            } else {
                tokio::spawn(drain(err));
            }
            match child_in {
                Some(i) => Box::new(i),
                None => Box::new(tokio::io::sink()),
            }
        }
        Ends::Pty { master } => {
            let reader = master.try_clone().await;
            if let Ok(r) = reader {
                tokio::spawn(pump(r, 0, tx.clone()));
            }
            Box::new(master)
        }
    };
    drop(tx);
    // Client → child: ends at the client's EOF (closing the child's stdin).
    let to_child = tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match client_r.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) if stdin => {
                    if input.write_all(&buf[..n]).await.is_err() {
                        return true;
                    }
                    let _ = input.flush().await;
                }
                Ok(_) => {}
            }
        }
    });
    let mut client_gone = false;
    while let Some(chunk) = rx.recv().await {
        if client_w.write_all(&chunk).await.is_err() {
            client_gone = true;
            break;
        }
        let _ = client_w.flush().await;
    }
    if client_gone {
        let _ = child.start_kill();
    }
    let code = child
        .wait()
        .await
        .ok()
        .and_then(|s| s.code())
        .unwrap_or(137);
    let _ = client_w.shutdown().await;
    to_child.abort();
    let _ = exit_tx.send(Some(code));
    code
}

/// Awaits the client's upgrade, then relays; a client gone before the
/// upgrade ends the child (the container runs on, detached). The exit code.
pub(crate) async fn relay_upgraded(
    upgrade: hyper::upgrade::OnUpgrade,
    mut spawned: Spawned,
    stdin: bool,
    stdout: bool,
    stderr: bool,
) -> i32 {
    match upgrade.await {
        Ok(up) => relay(TokioIo::new(up), spawned, stdin, stdout, stderr).await,
        Err(_) => {
            let _ = spawned.child.start_kill();
            let _ = spawned.exit_tx.send(Some(137));
            137
        }
    }
}

/// The error line (`isola: …`) of a child `isola`'s output.
pub(crate) fn error_line(text: &str) -> String {
    text.lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("isola: "))
        .unwrap_or("the container did not start")
        .to_string()
}
