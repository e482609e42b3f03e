//! One control port as the event loop sees it: whether a client is there
//! and has greeted, the decoder of what it sends, what waits to be sent to
//! it, and the exec sessions it started (which die when it leaves).

use crate::error::Result;
use crate::outbox::Outbox;
use crate::port;
use crate::session::Session;
use isola_proto::{
    encode_data, encode_message, layout, Decoder, Frame, Message, SessionId, Stream, VERSION,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{ErrorKind, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// No client; the port is in the [`crate::watch::Watcher`].
    Down,
    /// A client is connected; `greeted` once its `Hello` arrived.
    Up { greeted: bool },
    /// The client's byte stream is out of sync (a malformed frame): its
    /// input is discarded until it leaves.
    Refused,
}

/// What one read from the port brought.
pub enum Input {
    /// Bytes were added to the decoder (or none were ready).
    Bytes,
    /// The client left.
    Gone,
}

pub struct ControlPort {
    pub index: usize,
    file: File,
    link: Link,
    decoder: Decoder,
    out: Outbox,
    /// Exec sessions of this port's client, by the ids it chose.
    pub execs: BTreeMap<SessionId, Session>,
}

impl ControlPort {
    pub fn open(index: usize) -> Result<ControlPort> {
        Ok(ControlPort {
            index,
            file: port::open(&layout::control_port(index))?,
            link: Link::Down,
            decoder: Decoder::new(),
            out: Outbox::default(),
            execs: BTreeMap::new(),
        })
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn link(&self) -> Link {
        self.link
    }

    pub fn is_greeted(&self) -> bool {
        self.link == Link::Up { greeted: true }
    }

    /// A client connected: greet it (it greets us at the same time).
    pub fn connected(&mut self) {
        self.reset();
        self.link = Link::Up { greeted: false };
        self.send_hello();
    }

    /// The client's `Hello` arrived. A second one means a new client that
    /// connected before the agent noticed the old one leave: it gets a
    /// fresh port and its own `Hello`.
    pub fn greeted(&mut self) {
        if self.is_greeted() {
            self.reset();
            self.send_hello();
        }
        self.link = Link::Up { greeted: true };
    }

    /// The client left: its exec sessions are killed and the port waits
    /// for the next one.
    pub fn disconnected(&mut self) {
        self.reset();
        self.link = Link::Down;
    }

    /// Stops decoding the client's input (see [`Link::Refused`]) and ends
    /// its exec sessions; messages can still be sent to it.
    pub fn refuse(&mut self) {
        self.reset();
        self.link = Link::Refused;
    }

    /// SIGKILLs the port's exec sessions and forgets everything about its
    /// conversation. The processes are reaped later by the reaper, which
    /// then finds no session for them.
    fn reset(&mut self) {
        for s in self.execs.values().filter(|s| s.exit().is_none()) {
            let _ = kill(Pid::from_raw(s.pid), Signal::SIGKILL);
        }
        self.execs.clear();
        self.decoder = Decoder::new();
        self.out.clear();
    }

    fn send_hello(&mut self) {
        self.send(&Message::Hello {
            version: VERSION,
            software: format!("isola-agent {}", env!("CARGO_PKG_VERSION")),
        });
    }

    /// Queues a control message for the client (dropped without one). One
    /// too large for a frame (a huge process table) is replaced by an
    /// `Error` saying so, never dropped silently.
    pub fn send(&mut self, msg: &Message) {
        if self.link == Link::Down {
            return;
        }
        if let Err(e) = encode_message(msg, self.out.queue()) {
            let reply = Message::Error {
                message: format!("cannot send {}: {e}", msg.name()),
            };
            encode_message(&reply, self.out.queue()).expect("a short error message fits a frame");
        }
    }

    /// Queues stream bytes of a session for the client.
    pub fn send_data(&mut self, session: SessionId, stream: Stream, data: &[u8]) {
        if self.link != Link::Down {
            encode_data(session, stream, data, self.out.queue());
        }
    }

    /// Bytes queued for the client and not yet taken by the port.
    pub fn pending(&self) -> usize {
        self.out.pending()
    }

    /// Writes what the port takes now. On an error other than "full" the
    /// client is treated as gone.
    pub fn flush(&mut self) -> Input {
        match self.out.flush(&self.file) {
            Ok(()) => Input::Bytes,
            Err(e) => {
                eprintln!("isola-agent: control port {}: {e}", self.index);
                Input::Gone
            }
        }
    }

    /// Keeps writing until everything is sent or `deadline`; for the way
    /// to power-off, when nothing else needs the loop.
    pub fn drain(&mut self, deadline: std::time::Instant) {
        if self.link != Link::Down && self.out.pending() > 0 {
            let _ = self.out.drain(&self.file, deadline);
        }
    }

    /// Reads what the client sent, once.
    pub fn read(&mut self, buf: &mut [u8]) -> Input {
        loop {
            match (&self.file).read(buf) {
                // Reads return 0 once the client left and its data is read.
                Ok(0) => return Input::Gone,
                Ok(n) => {
                    if self.link != Link::Refused {
                        self.decoder.feed(&buf[..n]);
                    }
                    return Input::Bytes;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Input::Bytes,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("isola-agent: reading control port {}: {e}", self.index);
                    return Input::Gone;
                }
            }
        }
    }

    /// The next complete frame from the client. An error means the stream
    /// is out of sync: the caller refuses the port.
    pub fn next_frame(&mut self) -> isola_proto::Result<Option<Frame>> {
        if self.link == Link::Refused {
            return Ok(None);
        }
        self.decoder.next_frame()
    }
}
