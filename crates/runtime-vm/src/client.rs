//! The host side of the agent channel: one connection to one control port.
//! A QEMU socket chardev serves a single client, so ports are reserved
//! with a lock file; port 0 belongs to the CLI attached to the container's
//! main process, the others to `exec`, `top`, `kill` and `stop`.

use crate::{io_err, Error, Result};
use isola_proto::layout::CONTROL_PORTS;
use isola_proto::{check_hello, Frame, FrameReader, FrameWriter, Message, VERSION};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The socket file name of control port `n`, relative to the container
/// directory: Unix socket paths are limited to 108 bytes, which a deep
/// `--root` and a 64-digit id overflow, so QEMU binds it relative to its
/// working directory and clients connect through /proc/self/fd.
pub fn control_socket(n: usize) -> PathBuf {
    PathBuf::from(format!("ctl-{n}.sock"))
}

/// How long clients wait for the guest.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// For the first greeting of a VM that may still be booting.
    pub boot: Duration,
    /// For any answer of an agent that has already greeted a client once:
    /// a VM that is stopped, hung or overloaded must not hang `stop`,
    /// `kill`, `exec` or `top`.
    pub response: Duration,
}

/// A connected, greeted control port.
pub struct Client {
    pub reader: FrameReader<UnixStream>,
    pub writer: FrameWriter<UnixStream>,
    response: Duration,
    _lock: Flock<File>,
}

/// Connects without blocking: a stopped or hung QEMU never accepts, and
/// once its listen backlog is full a blocking `connect` would wait forever.
/// `None` when the port does not take the connection now.
fn connect_nonblocking(path: &Path) -> Option<UnixStream> {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )
    .ok()?;
    let addr = UnixAddr::new(path).ok()?;
    connect(fd.as_raw_fd(), &addr).ok()?;
    let stream = UnixStream::from(fd);
    stream.set_nonblocking(false).ok()?;
    Some(stream)
}

impl Client {
    /// Connects to port 0, the main process's attach port. Gives up at
    /// `timeout` or as soon as `alive` says the VM is gone.
    pub fn attach(dir: &Path, timeouts: Timeouts, alive: &dyn Fn() -> bool) -> Result<Client> {
        Client::first_free(dir, 0..1, timeouts, alive)
    }

    /// Connects to any free port other than 0 (see [`Client::attach`]).
    pub fn connect(dir: &Path, timeouts: Timeouts, alive: &dyn Fn() -> bool) -> Result<Client> {
        Client::first_free(dir, 1..CONTROL_PORTS, timeouts, alive)
    }

    fn first_free(
        dir: &Path,
        ports: std::ops::Range<usize>,
        timeouts: Timeouts,
        alive: &dyn Fn() -> bool,
    ) -> Result<Client> {
        let booted = dir.join(crate::files::BOOTED).exists();
        let timeout = if booted {
            timeouts.response
        } else {
            timeouts.boot
        };
        let late = || {
            Error::Unreachable(if booted {
                format!(
                    "it is not responding (no answer from its agent within {:.1} s; isola stop or rm -f kills it)",
                    timeout.as_secs_f64()
                )
            } else {
                format!(
                    "the VM did not come up within {:.1} s",
                    timeout.as_secs_f64()
                )
            })
        };
        let deadline = Instant::now() + timeout;
        loop {
            for n in ports.clone() {
                if let Some(mut c) = Client::try_port(dir, n, deadline, &late)? {
                    c.response = timeouts.response;
                    if !booted {
                        let _ = File::create(dir.join(crate::files::BOOTED));
                    }
                    return Ok(c);
                }
            }
            if !alive() {
                return Err(Error::Unreachable("the VM exited".into()));
            }
            if Instant::now() >= deadline {
                return Err(late());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn try_port(
        dir: &Path,
        n: usize,
        deadline: Instant,
        late: &dyn Fn() -> Error,
    ) -> Result<Option<Client>> {
        let lock_path = dir.join(format!("ctl-{n}.lock"));
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(format!("opening {}", lock_path.display())))?;
        let Ok(lock) = Flock::lock(f, FlockArg::LockExclusiveNonblock) else {
            return Ok(None);
        };
        let dir_fd = File::open(dir).map_err(io_err(format!("opening {}", dir.display())))?;
        let short = Path::new("/proc/self/fd")
            .join(dir_fd.as_raw_fd().to_string())
            .join(control_socket(n));
        let Some(stream) = connect_nonblocking(&short) else {
            return Ok(None);
        };
        // The guest greets once it has booted: bound the wait for it.
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        stream
            .set_read_timeout(Some(left))
            .map_err(io_err("socket timeout"))?;
        let writer_half = stream.try_clone().map_err(io_err("dup socket"))?;
        let mut c = Client {
            reader: FrameReader::new(stream),
            writer: FrameWriter::new(writer_half),
            response: Duration::ZERO,
            _lock: lock,
        };
        c.writer.send(&Message::Hello {
            version: VERSION,
            software: format!("isola {}", env!("CARGO_PKG_VERSION")),
        })?;
        let hello = c.read_hello().map_err(|e| match e {
            isola_proto::Error::Io(ref io)
                if matches!(io.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                late()
            }
            other => other.into(),
        })?;
        check_hello(&hello)?;
        c.reader
            .get_ref()
            .set_read_timeout(None)
            .map_err(io_err("socket timeout"))?;
        Ok(Some(c))
    }

    /// The agent's Hello, skipping what a previous client left unread.
    fn read_hello(&mut self) -> isola_proto::Result<Message> {
        loop {
            if let Frame::Control(m @ Message::Hello { .. }) = self.reader.read_frame()? {
                return Ok(m);
            }
        }
    }

    pub fn send(&mut self, msg: &Message) -> Result<()> {
        Ok(self.writer.send(msg)?)
    }

    pub fn recv(&mut self) -> Result<Frame> {
        Ok(self.reader.read_frame()?)
    }

    /// Sends `request` and returns the next control message, waiting at
    /// most the response timeout for it.
    pub fn call(&mut self, request: &Message) -> Result<Message> {
        let timeout = self.response.max(Duration::from_millis(1));
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout))
            .map_err(io_err("socket timeout"))?;
        self.send(request)?;
        let answer = loop {
            match self.recv() {
                Ok(Frame::Control(m)) => break Ok(m),
                Ok(_) => continue,
                Err(Error::Protocol(isola_proto::Error::Io(io)))
                    if matches!(io.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    break Err(Error::Unreachable(format!(
                        "it is not responding (no answer from its agent within {:.1} s; isola stop or rm -f kills it)",
                        timeout.as_secs_f64()
                    )))
                }
                Err(e) => break Err(e),
            }
        };
        let _ = self.reader.get_ref().set_read_timeout(None);
        answer
    }
}
