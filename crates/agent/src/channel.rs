//! The control channel as the event loop uses it: a non-blocking port, an
//! incremental frame decoder for what the host sends, and a queue of
//! encoded frames waiting until the port accepts them.

use anyhow::{Context, Result};
use isola_proto::{encode_data, encode_message, Decoder, Frame, Message, SessionId, Stream};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

/// What one read from the port brought.
pub enum Received {
    /// Bytes were added to the decoder (or none were ready).
    Some,
    /// The host closed its end of the connection.
    HostGone,
}

pub struct Channel {
    port: File,
    decoder: Decoder,
    out: Vec<u8>,
    /// Bytes of `out` already written.
    out_start: usize,
}

impl Channel {
    pub fn new(port: File) -> Channel {
        Channel {
            port,
            decoder: Decoder::new(),
            out: Vec::new(),
            out_start: 0,
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.port.as_fd()
    }

    /// Queues a control message. One too large for a frame (a huge process
    /// table) is replaced by an `Error` saying so, never dropped silently.
    pub fn send(&mut self, msg: &Message) {
        if let Err(e) = encode_message(msg, &mut self.out) {
            let reply = Message::Error {
                message: format!("cannot send {}: {e}", msg.name()),
            };
            encode_message(&reply, &mut self.out).expect("a short error message fits a frame");
        }
    }

    /// Queues stream bytes of a session.
    pub fn send_data(&mut self, session: SessionId, stream: Stream, data: &[u8]) {
        encode_data(session, stream, data, &mut self.out);
    }

    /// Bytes queued for the host and not yet written.
    pub fn pending(&self) -> usize {
        self.out.len() - self.out_start
    }

    /// Writes as much of the queue as the port takes without blocking.
    pub fn flush(&mut self) -> Result<()> {
        while self.pending() > 0 {
            match self.port.write(&self.out[self.out_start..]) {
                Ok(0) => break,
                Ok(n) => self.out_start += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("writing to the control port"),
            }
        }
        if self.out_start == self.out.len() {
            self.out.clear();
            self.out_start = 0;
        } else if self.out_start > (1 << 20) {
            self.out.drain(..self.out_start);
            self.out_start = 0;
        }
        Ok(())
    }

    /// Keeps flushing until the queue is empty or `deadline` passes; used
    /// on the way to power-off, when nothing else needs the loop.
    pub fn flush_until(&mut self, deadline: Instant) {
        while self.pending() > 0 && Instant::now() < deadline {
            if self.flush().is_err() {
                return;
            }
            let mut fds = [PollFd::new(self.port.as_fd(), PollFlags::POLLOUT)];
            let _ = poll(&mut fds, PollTimeout::from(10u8));
        }
    }

    /// Reads what the host sent, once.
    pub fn receive(&mut self) -> Result<Received> {
        let mut buf = [0u8; 64 * 1024];
        loop {
            match self.port.read(&mut buf) {
                // The port reads 0 while no host is connected to its socket.
                Ok(0) => return Ok(Received::HostGone),
                Ok(n) => {
                    self.decoder.feed(&buf[..n]);
                    return Ok(Received::Some);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(Received::Some),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.raw_os_error() == Some(Errno::ENODEV as i32) => {
                    return Ok(Received::HostGone)
                }
                Err(e) => return Err(e).context("reading the control port"),
            }
        }
    }

    /// The next complete frame from the host. An error means the stream
    /// is out of sync and the connection cannot be trusted any more.
    pub fn next_frame(&mut self) -> isola_proto::Result<Option<Frame>> {
        self.decoder.next_frame()
    }
}
