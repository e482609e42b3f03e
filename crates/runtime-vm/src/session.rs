//! A client's session with a VM container's guest agent: relaying a
//! client's streams and signals to the main process (attach) or to a new
//! one (exec) over a control port, and waiting for a guest to come up.
//! The engine's VM backend calls these; nothing here knows the engine's
//! state store.

use crate::client::{Client, Timeouts};
use crate::{io_err, Error, Result};
use isola_proto::{
    ExecConfig, Frame, FrameReader, FrameWriter, Message, ProcessSpec, Stream, TtySize,
    MAIN_SESSION,
};
use isola_runtime_process::sys::{get_winsize, signalfd};
use isola_runtime_process::Streams;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A unique session id for an exec from this process.
pub fn new_session() -> u32 {
    let mut b = [0u8; 4];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    u32::from_le_bytes(b).max(1)
}

/// The size of the client's terminal, if its stdin is one.
pub fn tty_size(stdin: Option<&OwnedFd>) -> Option<TtySize> {
    get_winsize(stdin?.as_fd()).map(|w| TtySize {
        rows: w.ws_row,
        cols: w.ws_col,
    })
}

/// Runs `process` in the guest as a new session on `client`, attached to
/// `streams`; returns its exit code.
pub fn exec(mut client: Client, process: ProcessSpec, streams: Streams, tty: bool) -> Result<i32> {
    let session = new_session();
    client.send(&Message::Exec(Box::new(ExecConfig {
        session,
        process,
        tty,
        stdin: streams.stdin.is_some(),
        tty_size: if tty {
            tty_size(streams.stdin.as_ref())
        } else {
            None
        },
        fs_op: None,
    })))?;
    relay(client, session, streams, true, tty)
}

/// Runs a file operation in the guest's container (see
/// `isola_runtime_process::fsop`) on `streams`; returns its exit code.
pub fn fs_op(
    mut client: Client,
    op: isola_runtime_process::fsop::FsOp,
    streams: Streams,
) -> Result<i32> {
    let session = new_session();
    client.send(&Message::Exec(Box::new(ExecConfig {
        session,
        process: ProcessSpec::default(),
        tty: false,
        stdin: streams.stdin.is_some(),
        tty_size: None,
        fs_op: Some(op),
    })))?;
    relay(client, session, streams, false, false)
}

/// Relays the client's `streams` to a session in the guest until it exits;
/// returns its exit code. With `sig_proxy`, signals to this process go to
/// the session; SIGWINCH becomes a resize.
pub fn relay(
    client: Client,
    session: u32,
    streams: Streams,
    sig_proxy: bool,
    tty: bool,
) -> Result<i32> {
    relay_until(client, session, streams, sig_proxy, tty).map(|end| end.code)
}

/// How a relayed session's part ended.
struct End {
    code: i32,
    /// The main process restarts (its policy): the VM goes on.
    restarting: bool,
}

fn relay_until(
    client: Client,
    session: u32,
    streams: Streams,
    sig_proxy: bool,
    tty: bool,
) -> Result<End> {
    let Streams {
        stdin,
        stdout,
        stderr,
    } = streams;
    let size_fd = match &stdin {
        Some(fd) => Some(fd.try_clone().map_err(io_err("dup"))?),
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
    let result = pump_frames(&mut reader, &writer, session, &mut out, &mut err);
    // The signal and stdin threads hold the socket's other half: shut the
    // connection so the guest and QEMU see this client leave now, and the
    // port takes the next client (a `cp` runs several sessions in a row).
    let _ = reader.get_ref().shutdown(std::net::Shutdown::Both);
    result
}

fn pump_frames(
    reader: &mut FrameReader<UnixStream>,
    writer: &Arc<Mutex<FrameWriter<UnixStream>>>,
    session: u32,
    out: &mut Option<std::fs::File>,
    err: &mut Option<std::fs::File>,
) -> Result<End> {
    // The main session runs from boot: nothing to start.
    let mut started = session == MAIN_SESSION;
    loop {
        match reader.read_frame()? {
            Frame::Data {
                session: s,
                stream,
                data,
            } if s == session => {
                let client = if stream == Stream::Stderr {
                    &mut *err
                } else {
                    &mut *out
                };
                if let Some(w) = client {
                    let _ = w.write_all(&data);
                }
            }
            Frame::Control(Message::Exited {
                session: s, code, ..
            }) if s == session => {
                if session == MAIN_SESSION {
                    send(writer, &Message::Shutdown);
                }
                return Ok(End {
                    code,
                    restarting: false,
                });
            }
            Frame::Control(Message::Restarting { session: s, code }) if s == session => {
                return Ok(End {
                    code,
                    restarting: true,
                });
            }
            Frame::Control(Message::StartFailed { code, message })
            | Frame::Control(Message::ExecFailed { code, message, .. }) => {
                return Err(Error::CommandFailed { code, message });
            }
            Frame::Control(Message::ExecStarted { session: s, .. }) if s == session => {
                started = true;
            }
            // Before its ExecStarted, an Error answers the Exec itself: the
            // guest refused it and no Exited will come. (After it, Errors
            // answer forwarded signals, e.g. to a process that just ended.)
            Frame::Control(Message::Error { message }) if !started => {
                return Err(Error::Unreachable(message));
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

/// The attached client's side of `run`/`start -a` in VM mode: relays its
/// streams to the main process over control port 0, then waits for the VM
/// to end.
pub fn attach_main(
    dir: &Path,
    timeouts: Timeouts,
    streams: Streams,
    sig_proxy: bool,
    tty: bool,
    mut vmm: std::process::Child,
) -> Result<i32> {
    let pid = vmm.id() as i32;
    let result = Client::attach(dir, timeouts, &|| vmm_alive(pid))
        .and_then(|client| relay_until(client, MAIN_SESSION, streams, sig_proxy, tty));
    if let Ok(End {
        code,
        restarting: true,
    }) = result
    {
        // The container restarts inside the VM, which outlives us.
        return Ok(code);
    }
    let result = result.map(|end| end.code);
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
pub fn vmm_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| !r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Waits until the guest of a just-started detached container answers, so
/// `run -d` reports a VM that never comes up (and kills it).
pub fn await_boot(dir: &Path, timeouts: Timeouts, pid: i32) -> Result<()> {
    match Client::connect(dir, timeouts, &|| vmm_alive(pid)) {
        Ok(_) => Ok(()),
        Err(e) => {
            // As in attach_main: a guest that died is left to end on its own.
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while vmm_alive(pid) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            Err(e)
        }
    }
}
