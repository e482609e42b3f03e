//! Bytes waiting until a non-blocking port takes them. The event loop
//! never blocks on a port: it queues here, writes what the port accepts,
//! and polls for POLLOUT while something is left.

use crate::port;
use std::fs::File;
use std::time::Instant;

/// Consumed space is reclaimed once it exceeds this.
const COMPACT_AT: usize = 1 << 20;

#[derive(Debug, Default)]
pub struct Outbox {
    buf: Vec<u8>,
    /// Bytes of `buf` already written.
    start: usize,
}

impl Outbox {
    /// The buffer to append encoded bytes to.
    pub fn queue(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Bytes queued and not yet written.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.start = 0;
    }

    /// Writes as much as `port` takes without blocking.
    pub fn flush(&mut self, port: &File) -> std::io::Result<()> {
        let written = port::write_some(port, &self.buf[self.start..]);
        if let Ok(n) = written {
            self.consumed(n);
        }
        written.map(drop)
    }

    /// Writes everything, waiting for room until `deadline`.
    pub fn drain(&mut self, port: &File, deadline: Instant) -> std::io::Result<()> {
        port::write_all(port, &self.buf[self.start..], deadline)?;
        self.clear();
        Ok(())
    }

    fn consumed(&mut self, n: usize) {
        self.start += n;
        if self.start == self.buf.len() {
            self.clear();
        } else if self.start > COMPACT_AT {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::fcntl::OFlag;
    use std::io::Read;

    #[test]
    fn flushes_what_the_port_takes_and_keeps_the_rest_in_order() {
        let (r, w) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).unwrap();
        let (mut r, w) = (File::from(r), File::from(w));
        let data: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
        let mut out = Outbox::default();
        out.queue().extend_from_slice(&data);
        out.flush(&w).unwrap();
        assert!(out.pending() > 0 && out.pending() < data.len());
        let mut got = Vec::new();
        let mut buf = vec![0; 1 << 16];
        while out.pending() > 0 {
            let n = r.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
            out.flush(&w).unwrap();
        }
        drop(w);
        r.read_to_end(&mut got).unwrap();
        assert_eq!(got, data);
    }
}
