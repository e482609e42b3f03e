//! The container's log: the main process's output in Docker's json-file
//! format (`isola_proto::jsonlog`), written to the log port, which QEMU
//! appends to the container's log file. The guest formats it because no
//! host process reads the output while no client is attached.

use crate::clock;
use crate::error::Result;
use crate::outbox::Outbox;
use crate::port;
use isola_proto::jsonlog::JsonLog;
use isola_proto::layout::LOG_PORT;
use isola_proto::Stream;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Instant;

/// The log port and what is queued for it.
pub struct LogPort {
    /// `None` once closed at the end of the container.
    file: Option<File>,
    lines: JsonLog,
    out: Outbox,
}

impl LogPort {
    pub fn open() -> Result<LogPort> {
        Ok(LogPort {
            file: Some(port::open(LOG_PORT)?),
            lines: JsonLog::default(),
            out: Outbox::default(),
        })
    }

    /// Logs output of the main process.
    pub fn write(&mut self, stream: Stream, data: &[u8]) {
        if self.file.is_some() {
            let time = clock::now_rfc3339();
            self.lines.push(stream, data, &time, self.out.queue());
        }
    }

    /// Bytes not yet taken by the port (for back-pressure).
    pub fn pending(&self) -> usize {
        self.out.pending()
    }

    /// The port while something waits for room in it.
    pub fn waiting_fd(&self) -> Option<BorrowedFd<'_>> {
        self.file
            .as_ref()
            .filter(|_| self.out.pending() > 0)
            .map(|f| f.as_fd())
    }

    /// Writes what the port takes now. A port that fails is given up on
    /// (the output still reaches an attached client).
    pub fn flush(&mut self) {
        let Some(file) = &self.file else { return };
        if let Err(e) = self.out.flush(file) {
            eprintln!("isola-agent: the log port failed ({e}); the rest of the log is lost");
            self.out.clear();
            self.file = None;
        }
    }

    /// At the end of the container: writes the unterminated lines and
    /// everything queued, then closes the port so the host has it all.
    pub fn close(&mut self, deadline: Instant) {
        let Some(file) = self.file.take() else { return };
        let time = clock::now_rfc3339();
        self.lines.finish(&time, self.out.queue());
        if let Err(e) = self.out.drain(&file, deadline) {
            eprintln!("isola-agent: writing the end of the log: {e}");
        }
        self.out.clear();
    }
}
