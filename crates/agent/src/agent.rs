//! The agent's event loop: one `poll` over the control port, the SIGCHLD
//! signalfd and every session's stdio, in a single thread (the process
//! runtime forks and clones, which is only safe single-threaded).
//!
//! Back-pressure runs both ways: container output is not read while much
//! is queued for the host, and the port is not read while a process does
//! not take its stdin, so a slow peer stalls a stream instead of growing
//! the agent's memory in a small VM.

use crate::channel::{Channel, Received};
use crate::container::{Container, StartError};
use crate::reaper::{self, Reaper};
use crate::rootfs::Mounts;
use crate::session::{Output, Session};
use crate::{clock, procs};
use anyhow::{bail, Context, Result};
use isola_proto::{
    check_hello, ContainerConfig, ExecConfig, Frame, Message, SessionId, Stream, MAIN_SESSION,
    VERSION,
};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::fs::File;
use std::time::{Duration, Instant};

/// How long the host has to answer our Hello.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long to wait for the host's `Shutdown` after the container ended.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the main session's `Exited` waits for exec sessions to end
/// (they die with the container's PID namespace).
const EXEC_WAIT: Duration = Duration::from_secs(2);
/// Output queued for the host above which container output is not read.
const OUT_HIGH_WATER: usize = 1 << 20;
/// Stdin backlog above which the port is not read.
const IN_HIGH_WATER: usize = 1 << 20;
/// On the way out: time for the container to die and the queue to drain.
const POWER_DOWN_WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Hello sent, waiting for the host's.
    Handshake {
        deadline: Instant,
    },
    /// Waiting for `CreateContainer`.
    Ready,
    Running,
    /// The container ended or failed to start; waiting for `Shutdown`.
    Finishing {
        deadline: Instant,
    },
}

/// What a ready fd in the poll set belongs to.
#[derive(Debug, Clone, Copy)]
enum Token {
    Port,
    Children,
    Output(SessionId, Stream),
    Stdin(SessionId),
}

pub struct Agent {
    chan: Channel,
    reaper: Reaper,
    phase: Phase,
    sessions: BTreeMap<SessionId, Session>,
    container: Option<Container>,
    mounts: Mounts,
    host_connected: bool,
    done: bool,
}

impl Agent {
    pub fn new(port: File) -> Result<Agent> {
        Ok(Agent {
            chan: Channel::new(port),
            reaper: Reaper::new()?,
            phase: Phase::Handshake {
                deadline: Instant::now() + HANDSHAKE_TIMEOUT,
            },
            sessions: BTreeMap::new(),
            container: None,
            mounts: Mounts::default(),
            host_connected: true,
            done: false,
        })
    }

    /// Serves the host until the conversation ends, then stops the
    /// container and releases its disks. The caller powers off.
    pub fn run(mut self) -> Result<()> {
        self.chan.send(&Message::Hello {
            version: VERSION,
            software: format!("isola-agent {}", env!("CARGO_PKG_VERSION")),
        });
        let result = self.serve();
        if let Err(e) = &result {
            self.chan.send(&Message::Error {
                message: format!("isola-agent: fatal: {e:#}"),
            });
        }
        self.power_down();
        result
    }

    fn serve(&mut self) -> Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        while !self.done {
            self.chan.flush()?;
            let now = Instant::now();
            match self.phase {
                Phase::Handshake { deadline } if now >= deadline => {
                    bail!(
                        "the host sent no Hello within {}s",
                        HANDSHAKE_TIMEOUT.as_secs()
                    )
                }
                Phase::Finishing { deadline } if now >= deadline => {
                    eprintln!("isola-agent: no Shutdown from the host; powering off");
                    return Ok(());
                }
                _ => {}
            }
            for (token, revents) in self.wait(now)? {
                self.handle(token, revents, &mut buf)?;
                if self.done {
                    break;
                }
            }
            self.finish_sessions(Instant::now());
        }
        Ok(())
    }

    /// Polls everything the loop waits for; returns the ready fds.
    fn wait(&self, now: Instant) -> Result<Vec<(Token, PollFlags)>> {
        let mut tokens = Vec::new();
        let mut fds = Vec::new();
        let mut port = PollFlags::empty();
        if self
            .sessions
            .values()
            .all(|s| s.stdin_backlog() < IN_HIGH_WATER)
        {
            port |= PollFlags::POLLIN;
        }
        if self.chan.pending() > 0 {
            port |= PollFlags::POLLOUT;
        }
        tokens.push(Token::Port);
        fds.push(PollFd::new(self.chan.fd(), port));
        tokens.push(Token::Children);
        fds.push(PollFd::new(self.reaper.fd(), PollFlags::POLLIN));
        let read_output = self.chan.pending() < OUT_HIGH_WATER;
        for s in self.sessions.values() {
            if read_output {
                for (stream, fd) in s.outputs() {
                    tokens.push(Token::Output(s.id, stream));
                    fds.push(PollFd::new(fd, PollFlags::POLLIN));
                }
            }
            if let Some(fd) = s.stdin_to_write() {
                tokens.push(Token::Stdin(s.id));
                fds.push(PollFd::new(fd, PollFlags::POLLOUT));
            }
        }
        let timeout = match self.next_deadline() {
            // +1 ms: poll truncates to milliseconds and must not wake early.
            Some(d) => PollTimeout::try_from(d.saturating_duration_since(now) + ms(1))
                .unwrap_or(PollTimeout::MAX),
            None => PollTimeout::NONE,
        };
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e).context("poll"),
        }
        Ok(tokens
            .into_iter()
            .zip(&fds)
            .filter_map(|(t, fd)| fd.revents().filter(|r| !r.is_empty()).map(|r| (t, r)))
            .collect())
    }

    fn next_deadline(&self) -> Option<Instant> {
        let phase = match self.phase {
            Phase::Handshake { deadline } | Phase::Finishing { deadline } => Some(deadline),
            _ => None,
        };
        let main_wait = self
            .sessions
            .get(&MAIN_SESSION)
            .and_then(Session::exit)
            .map(|(_, at)| at + EXEC_WAIT);
        self.sessions
            .values()
            .filter_map(Session::deadline)
            .chain(phase)
            .chain(main_wait)
            .min()
    }

    fn handle(&mut self, token: Token, revents: PollFlags, buf: &mut [u8]) -> Result<()> {
        match token {
            Token::Port => {
                if revents.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
                    match self.chan.receive()? {
                        Received::HostGone => self.host_gone(),
                        Received::Some => self.dispatch_frames()?,
                    }
                }
            }
            Token::Children => {
                let now = Instant::now();
                for (pid, code) in self.reaper.reap() {
                    let live = self
                        .sessions
                        .values_mut()
                        .find(|s| s.pid == pid && s.exit().is_none());
                    if let Some(s) = live {
                        s.set_exited(code, now);
                    }
                }
            }
            Token::Output(id, stream) => {
                if let Some(s) = self.sessions.get_mut(&id) {
                    if let Output::Data(n) = s.read_output(stream, buf) {
                        self.chan.send_data(id, stream, &buf[..n]);
                    }
                }
            }
            Token::Stdin(id) => {
                if let Some(s) = self.sessions.get_mut(&id) {
                    s.write_stdin();
                }
            }
        }
        Ok(())
    }

    fn host_gone(&mut self) {
        self.host_connected = false;
        self.done = true;
        if !matches!(self.phase, Phase::Finishing { .. }) {
            eprintln!("isola-agent: the host closed the control channel; powering off");
        }
    }

    fn dispatch_frames(&mut self) -> Result<()> {
        while !self.done {
            let frame = match self.chan.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => bail!("the host sent a malformed frame: {e}"),
            };
            match frame {
                Frame::Control(msg) => self.on_message(msg)?,
                Frame::Data {
                    session,
                    stream: Stream::Stdin,
                    data,
                } => {
                    // Data for a session that just ended is dropped, as a
                    // closed pipe would.
                    if let Some(s) = self.sessions.get_mut(&session) {
                        s.queue_stdin(&data);
                        s.write_stdin();
                    }
                }
                Frame::Data { stream, .. } => {
                    self.reply_error(format!(
                        "the host sent {stream:?} data; only stdin flows to the guest"
                    ));
                }
            }
        }
        Ok(())
    }

    fn on_message(&mut self, msg: Message) -> Result<()> {
        if let Phase::Handshake { .. } = self.phase {
            if let Err(e) = check_hello(&msg) {
                bail!("handshake with the host failed: {e}");
            }
            self.phase = Phase::Ready;
            return Ok(());
        }
        match msg {
            Message::CreateContainer(cfg) => self.create(&cfg),
            Message::Exec(cfg) => self.exec(&cfg),
            Message::Signal { session, signal } => self.signal(session, signal),
            Message::Resize {
                session,
                rows,
                cols,
            } => match self.sessions.get(&session) {
                Some(s) if s.resize(rows, cols) => {}
                Some(_) => self.reply_error(format!("session {session} has no terminal")),
                None => {}
            },
            Message::CloseStdin { session } => {
                if let Some(s) = self.sessions.get_mut(&session) {
                    s.close_stdin();
                }
            }
            Message::ListProcesses {} => {
                let pids = self
                    .container
                    .as_ref()
                    .map(|c| c.cgroup.procs())
                    .unwrap_or_default();
                self.chan.send(&Message::Processes {
                    header: procs::HEADER.iter().map(|h| h.to_string()).collect(),
                    rows: procs::table(&pids),
                });
            }
            Message::Shutdown => self.done = true,
            Message::Error { message } => eprintln!("isola-agent: the host reports: {message}"),
            other => self.reply_error(format!("unexpected {} from the host", other.name())),
        }
        Ok(())
    }

    fn create(&mut self, cfg: &ContainerConfig) {
        if self.phase != Phase::Ready {
            return self.reply_error("this VM already has a container".into());
        }
        if let Err(e) = clock::set_realtime(cfg.time_ns) {
            eprintln!("isola-agent: warning: {e:#}");
        }
        match Container::start(cfg, &mut self.mounts) {
            Ok((container, io)) => {
                let pid = container.init_pid;
                self.sessions
                    .insert(MAIN_SESSION, Session::new(MAIN_SESSION, pid, io));
                self.container = Some(container);
                self.phase = Phase::Running;
                self.chan.send(&Message::Started { pid });
            }
            Err(StartError { code, message }) => {
                self.phase = Phase::Finishing {
                    deadline: Instant::now() + ACK_TIMEOUT,
                };
                self.chan.send(&Message::StartFailed { code, message });
            }
        }
    }

    fn exec(&mut self, cfg: &ExecConfig) {
        let session = cfg.session;
        let failed = |code: i32, message: String| Message::ExecFailed {
            session,
            code,
            message,
        };
        let main_alive = self
            .sessions
            .get(&MAIN_SESSION)
            .is_some_and(|s| s.exit().is_none());
        let reply = match &self.container {
            _ if session == MAIN_SESSION || self.sessions.contains_key(&session) => {
                failed(125, format!("exec session id {session} is already in use"))
            }
            Some(c) if main_alive => match c.exec(cfg) {
                Ok((pid, io)) => {
                    self.sessions
                        .insert(session, Session::new(session, pid, io));
                    Message::ExecStarted { session, pid }
                }
                Err(StartError { code, message }) => failed(code, message),
            },
            _ => failed(125, "the container is not running".into()),
        };
        self.chan.send(&reply);
    }

    fn signal(&mut self, session: SessionId, signal: i32) {
        let sig = match Signal::try_from(signal) {
            Ok(s) => s,
            Err(_) => return self.reply_error(format!("invalid signal number {signal}")),
        };
        let Some(s) = self.sessions.get(&session) else {
            return self.reply_error(format!("no session {session}"));
        };
        // An exited process's PID may already be reused.
        if s.exit().is_none() {
            if let Err(e) = kill(Pid::from_raw(s.pid), sig) {
                self.reply_error(format!("signalling session {session}: {e}"));
            }
        }
    }

    /// Sends `Exited` for sessions whose process ended and whose output is
    /// drained. The main session goes last: its `Exited` tells the host
    /// that everything was sent.
    fn finish_sessions(&mut self, now: Instant) {
        let finished: Vec<(SessionId, i32)> = self
            .sessions
            .values()
            .filter(|s| s.id != MAIN_SESSION)
            .filter_map(|s| s.finished(now).map(|code| (s.id, code)))
            .collect();
        for (session, code) in finished {
            self.sessions.remove(&session);
            self.chan.send(&Message::Exited {
                session,
                code,
                oom_killed: false,
            });
        }
        let Some(main) = self.sessions.get(&MAIN_SESSION) else {
            return;
        };
        let (Some(code), Some((_, exited_at))) = (main.finished(now), main.exit()) else {
            return;
        };
        if self.sessions.len() > 1 && now < exited_at + EXEC_WAIT {
            return;
        }
        // Exec sessions still open past the wait died with the container.
        let stragglers: Vec<(SessionId, i32)> = self
            .sessions
            .values()
            .filter(|s| s.id != MAIN_SESSION)
            .map(|s| (s.id, s.exit().map_or(128 + Signal::SIGKILL as i32, |e| e.0)))
            .collect();
        for (session, code) in stragglers {
            self.chan.send(&Message::Exited {
                session,
                code,
                oom_killed: false,
            });
        }
        self.sessions.clear();
        let oom_killed = self
            .container
            .as_ref()
            .is_some_and(|c| c.cgroup.oom_killed());
        self.chan.send(&Message::Exited {
            session: MAIN_SESSION,
            code,
            oom_killed,
        });
        self.phase = Phase::Finishing {
            deadline: now + ACK_TIMEOUT,
        };
    }

    fn reply_error(&mut self, message: String) {
        self.chan.send(&Message::Error { message });
    }

    /// Kills what is left of the container, sends what is still queued
    /// and unmounts its disks so a writable layer is left clean.
    fn power_down(&mut self) {
        let deadline = Instant::now() + POWER_DOWN_WAIT;
        if let Some(c) = &self.container {
            c.kill_all();
            reaper::wait_all_children(deadline);
            let _ = c.cgroup.remove();
        }
        self.sessions.clear();
        if self.host_connected {
            self.chan.flush_until(deadline);
        }
        self.mounts.unmount_all();
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
