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

/// A connected, greeted control port.
pub struct Client {
    pub reader: FrameReader<UnixStream>,
    pub writer: FrameWriter<UnixStream>,
    _lock: Flock<File>,
}

impl Client {
    /// Connects to port 0, the main process's attach port. Gives up at
    /// `timeout` or as soon as `alive` says the VM is gone.
    pub fn attach(dir: &Path, timeout: Duration, alive: &dyn Fn() -> bool) -> Result<Client> {
        Client::first_free(dir, 0..1, timeout, alive)
    }

    /// Connects to any free port other than 0 (see [`Client::attach`]).
    pub fn connect(dir: &Path, timeout: Duration, alive: &dyn Fn() -> bool) -> Result<Client> {
        Client::first_free(dir, 1..CONTROL_PORTS, timeout, alive)
    }

    fn first_free(
        dir: &Path,
        ports: std::ops::Range<usize>,
        timeout: Duration,
        alive: &dyn Fn() -> bool,
    ) -> Result<Client> {
        let deadline = Instant::now() + timeout;
        loop {
            for n in ports.clone() {
                if let Some(c) = Client::try_port(dir, n, deadline, timeout)? {
                    return Ok(c);
                }
            }
            if !alive() {
                return Err(Error::Unreachable(
                    "the VM exited; see its console.log".into(),
                ));
            }
            if Instant::now() >= deadline {
                return Err(Error::Unreachable(format!(
                    "the VM did not come up within {:.1} s; see its console.log",
                    timeout.as_secs_f64()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn try_port(
        dir: &Path,
        n: usize,
        deadline: Instant,
        timeout: Duration,
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
        let Ok(stream) = UnixStream::connect(short) else {
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
                Error::Unreachable(format!(
                    "the VM did not come up within {:.1} s; see its console.log",
                    timeout.as_secs_f64()
                ))
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

    /// Sends `request` and returns the next control message.
    pub fn call(&mut self, request: &Message) -> Result<Message> {
        self.send(request)?;
        loop {
            if let Frame::Control(m) = self.recv()? {
                return Ok(m);
            }
        }
    }
}
