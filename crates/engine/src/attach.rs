//! `isola attach`: a client joins a running container's output, proxies
//! its signals to it and leaves with the detach keys (Docker's Ctrl-P
//! Ctrl-Q) or when the container ends, with its exit code.
//!
//! The output comes from the container's log, which the monitor (process
//! mode) or the guest (VM mode) writes whatever the isolation mode, so
//! this needs nothing of the backends. The client's input is read only
//! for the detach keys: a container started detached has no input channel
//! to join (its monitor's stdin is closed), so anything else typed is
//! dropped, and the CLI says so.

use crate::store::{Container, Status};
use crate::{Engine, Error, LogOptions, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use std::io::Read;
use std::os::fd::AsFd;

/// How an attached client behaves.
#[derive(Debug, Clone)]
pub struct AttachOptions {
    /// The byte sequence that detaches (`--detach-keys`).
    pub detach_keys: Vec<u8>,
    /// Read the client's input (for the detach keys).
    pub stdin: bool,
    /// Forward the client's SIGINT, SIGTERM, ... to the container.
    pub sig_proxy: bool,
}

/// How an attachment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachEnd {
    /// The container ended with this code.
    Exited(i32),
    /// The client typed the detach keys; the container goes on.
    Detached,
}

/// Docker's default detach keys.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// Parses `--detach-keys` as Docker does: comma-separated keys, each a
/// single character or `ctrl-X` (X a letter or one of `@[\]^_`).
pub fn parse_detach_keys(s: &str) -> Result<Vec<u8>> {
    let bad = || {
        Error::Invalid(format!(
            "invalid detach keys {s:?}: give keys such as ctrl-p,ctrl-q or ctrl-a,x"
        ))
    };
    let mut out = Vec::new();
    for key in s.split(',') {
        match key.strip_prefix("ctrl-") {
            Some(rest) if rest.len() == 1 => {
                let c = rest.as_bytes()[0].to_ascii_uppercase();
                if !(b'@'..=b'_').contains(&c) {
                    return Err(bad());
                }
                out.push(c & 0x1f);
            }
            None if key.len() == 1 => out.push(key.as_bytes()[0]),
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

impl Engine {
    /// Attaches `streams` to running container `c` until it ends or the
    /// client detaches.
    pub fn attach(
        &self,
        c: &Container,
        opts: &AttachOptions,
        streams: crate::Streams,
    ) -> Result<AttachEnd> {
        if c.state.status != Status::Running || !c.state.init_alive() {
            return Err(Error::Conflict(format!(
                "you cannot attach to a stopped container {}: start it first",
                c.name()
            )));
        }
        if c.is_paused() {
            return Err(Error::Conflict(format!(
                "you cannot attach to a paused container {}: unpause it first",
                c.name()
            )));
        }
        // Blocked before the output thread exists, so that it inherits
        // the mask and the signals come to the signalfd only.
        let signals = if opts.sig_proxy {
            crate::signals::signalfd(crate::signals::PROXIED).ok()
        } else {
            None
        };
        self.container_event(c, "attach", &[]);
        let root = self.root.clone();
        let target = c.clone();
        let crate::Streams {
            stdin,
            stdout,
            stderr,
        } = streams;
        let output = std::thread::spawn(move || {
            let sink = |fd: Option<std::os::fd::OwnedFd>| -> Box<dyn std::io::Write + Send> {
                match fd {
                    Some(fd) => Box::new(std::fs::File::from(fd)),
                    None => Box::new(std::io::sink()),
                }
            };
            let (mut out, mut err) = (sink(stdout), sink(stderr));
            if let Ok(engine) = Engine::open(&root) {
                let follow = LogOptions {
                    follow: true,
                    tail: Some(0),
                    ..LogOptions::default()
                };
                let _ = engine.logs(&target, &follow, &mut out, &mut err);
            }
        });
        let mut input = if opts.stdin {
            stdin.map(std::fs::File::from)
        } else {
            None
        };
        let mut matched = 0;
        while !output.is_finished() {
            let mut fds = Vec::new();
            if let Some(f) = &input {
                fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
            }
            if let Some(s) = &signals {
                fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
            }
            let _ = poll(&mut fds, PollTimeout::from(100u16));
            let ready: Vec<bool> = fds
                .iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect();
            drop(fds);
            let mut at = 0;
            if input.is_some() {
                if ready[0] {
                    let mut buf = [0u8; 256];
                    match input.as_mut().map(|f| f.read(&mut buf)) {
                        Some(Ok(n)) if n > 0 => {
                            for b in &buf[..n] {
                                // A terminal in raw mode sends Ctrl-C as a
                                // byte: the container's terminal would
                                // have made it SIGINT.
                                if *b == 0x03 && opts.sig_proxy && c.config.config.tty {
                                    let _ = self.kill(&self.lookup(c.id())?, Signal::SIGINT);
                                }
                                matched = if *b == opts.detach_keys[matched] {
                                    matched + 1
                                } else {
                                    usize::from(*b == opts.detach_keys[0])
                                };
                                if matched == opts.detach_keys.len() {
                                    self.container_event(c, "detach", &[]);
                                    return Ok(AttachEnd::Detached);
                                }
                            }
                        }
                        // End of input: only the output is left to follow.
                        _ => input = None,
                    }
                }
                at = 1;
            }
            if let (Some(s), Some(true)) = (&signals, ready.get(at)) {
                if let Ok(Some(info)) = s.read_signal() {
                    if let Ok(sig) = Signal::try_from(info.ssi_signo as i32) {
                        if sig != Signal::SIGCHLD {
                            let _ = self.kill(&self.lookup(c.id())?, sig);
                        }
                    }
                }
            }
        }
        let _ = output.join();
        Ok(AttachEnd::Exited(self.wait(c)?))
    }
}
