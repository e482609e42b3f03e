//! One process whose stdio the channel carries: the container's main
//! process or an exec. The session buffers stdin the process has not read
//! yet, and outlives its process until its output has been drained.

use crate::stdio::{self, SessionIo};
use isola_proto::{SessionId, Stream};
use nix::errno::Errno;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

/// How long output may still arrive after the process exited: a child it
/// left in the background may hold the stream open forever.
pub const OUTPUT_GRACE: Duration = Duration::from_secs(1);

/// What reading one output stream brought.
pub enum Output {
    Data(usize),
    /// Nothing ready (spurious wake-up).
    Nothing,
    /// The stream ended and was closed.
    Closed,
}

pub struct Session {
    pub id: SessionId,
    pub pid: i32,
    stdin: Option<OwnedFd>,
    stdin_buf: Vec<u8>,
    /// CloseStdin arrived: close once `stdin_buf` is written.
    stdin_closing: bool,
    outputs: Vec<(Stream, OwnedFd)>,
    terminal: Option<OwnedFd>,
    /// Exit code and when it was reaped.
    exit: Option<(i32, Instant)>,
}

impl Session {
    pub fn new(id: SessionId, pid: i32, io: SessionIo) -> Session {
        Session {
            id,
            pid,
            stdin: io.stdin,
            stdin_buf: Vec::new(),
            stdin_closing: false,
            outputs: io.outputs,
            terminal: io.terminal,
            exit: None,
        }
    }

    /// Buffers stdin bytes from a client; dropped when the session has no
    /// stdin (no `-i`) or the process stopped reading it.
    pub fn queue_stdin(&mut self, data: &[u8]) {
        if self.stdin.is_some() && !self.stdin_closing {
            self.stdin_buf.extend_from_slice(data);
        }
    }

    pub fn close_stdin(&mut self) {
        self.stdin_closing = true;
        if self.stdin_buf.is_empty() {
            self.stdin = None;
        }
    }

    /// Stdin bytes the process has not taken yet (for back-pressure).
    pub fn stdin_backlog(&self) -> usize {
        self.stdin_buf.len()
    }

    /// The stdin fd while there is something to write to it.
    pub fn stdin_to_write(&self) -> Option<BorrowedFd<'_>> {
        self.stdin
            .as_ref()
            .filter(|_| !self.stdin_buf.is_empty())
            .map(|fd| fd.as_fd())
    }

    /// Writes buffered stdin without blocking.
    pub fn write_stdin(&mut self) {
        let Some(fd) = &self.stdin else { return };
        while !self.stdin_buf.is_empty() {
            match nix::unistd::write(fd, &self.stdin_buf) {
                Ok(n) => {
                    self.stdin_buf.drain(..n);
                }
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return,
                // EPIPE: the process closed its stdin; what it did not read is lost.
                Err(_) => {
                    self.stdin = None;
                    self.stdin_buf = Vec::new();
                    return;
                }
            }
        }
        if self.stdin_closing {
            self.stdin = None;
        }
    }

    /// The output streams still open.
    pub fn outputs(&self) -> impl Iterator<Item = (Stream, BorrowedFd<'_>)> {
        self.outputs.iter().map(|(s, fd)| (*s, fd.as_fd()))
    }

    /// Reads what `stream` has into `buf`, closing it at its end.
    pub fn read_output(&mut self, stream: Stream, buf: &mut [u8]) -> Output {
        let Some(i) = self.outputs.iter().position(|(s, _)| *s == stream) else {
            return Output::Nothing;
        };
        loop {
            match nix::unistd::read(self.outputs[i].1.as_raw_fd(), buf) {
                Ok(0) => break,
                Ok(n) => return Output::Data(n),
                Err(Errno::EINTR) => continue,
                Err(Errno::EAGAIN) => return Output::Nothing,
                // EIO: a pty master once every slave fd is closed.
                Err(_) => break,
            }
        }
        self.outputs.remove(i);
        Output::Closed
    }

    pub fn resize(&self, rows: u16, cols: u16) -> bool {
        match &self.terminal {
            Some(t) => {
                stdio::resize(t.as_fd(), rows, cols);
                true
            }
            None => false,
        }
    }

    pub fn set_exited(&mut self, code: i32, now: Instant) {
        self.exit.get_or_insert((code, now));
        // Nobody will read stdin any more.
        self.stdin = None;
        self.stdin_buf = Vec::new();
    }

    /// Exit code and when it was reaped, once the process exited.
    pub fn exit(&self) -> Option<(i32, Instant)> {
        self.exit
    }

    /// The exit code once the process exited and its output is drained
    /// (or the grace period for that ran out).
    pub fn finished(&self, now: Instant) -> Option<i32> {
        let (code, at) = self.exit?;
        (self.outputs.is_empty() || now >= at + OUTPUT_GRACE).then_some(code)
    }

    /// When `finished` may turn true without any fd event.
    pub fn deadline(&self) -> Option<Instant> {
        self.exit.map(|(_, at)| at + OUTPUT_GRACE)
    }
}
