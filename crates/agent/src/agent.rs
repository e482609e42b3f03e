//! The agent's event loop: one `poll` over the control ports, the watcher
//! of idle ports, the log port, the SIGCHLD signalfd and every session's
//! stdio, in a single thread (the process runtime forks and clones, which
//! is only safe single-threaded). What clients ask is in
//! [`crate::requests`], the container's start and end in
//! [`crate::lifecycle`].
//!
//! Back-pressure runs both ways: output is not read while much of it is
//! queued for a port (the log port, or port 0's client for the main
//! process: a slow attached client slows the container, as in Docker), and
//! a port is not read while a process it feeds does not take its stdin, so
//! a slow peer stalls a stream instead of growing the agent's memory in a
//! small VM.

use crate::container::Container;
use crate::control::{ControlPort, Input, Link};
use crate::error::{Context, Result};
use crate::log::LogPort;
use crate::reaper::Reaper;
use crate::rootfs::Mounts;
use crate::session::{Output, Session};
use crate::status::StatusPort;
use crate::watch::Watcher;
use isola_proto::layout::{BootConfig, CONTROL_PORTS};
use isola_proto::{SessionId, Stream, MAIN_SESSION};
use isola_runtime_process::health::Prober;
use isola_runtime_process::restart::Restarter;
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// Output queued for a port above which the output feeding it is not read.
pub const OUT_HIGH_WATER: usize = 1 << 20;
/// Stdin backlog above which the port feeding it is not read.
pub const IN_HIGH_WATER: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for a client to greet on port 0 before starting.
    AwaitingAttach,
    Running,
    /// `Shutdown` arrived while running and everything was killed: the
    /// container ends as usual, or at `deadline` regardless.
    Stopping {
        deadline: Instant,
    },
    /// The main process ended and its restart policy starts it again at
    /// `at`; `code` is how it ended.
    Restarting {
        at: Instant,
        code: i32,
    },
    /// The exit record is written and port 0's client was sent `Exited`;
    /// waiting until `deadline` for its `Shutdown`.
    Finishing {
        deadline: Instant,
    },
    /// Power off.
    Done,
}

/// Whose stdio an fd is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Main,
    /// An exec session of a control port.
    Exec(usize, SessionId),
}

/// What a ready fd in the poll set belongs to.
#[derive(Debug, Clone, Copy)]
enum Token {
    Watcher,
    Children,
    Log,
    Port(usize),
    Output(Owner, Stream),
    Stdin(Owner),
    /// The running health check's output.
    Probe,
}

pub struct Agent {
    pub(crate) boot: BootConfig,
    pub(crate) ports: Vec<ControlPort>,
    watcher: Watcher,
    pub(crate) log: LogPort,
    reaper: Reaper,
    pub(crate) container: Option<Container>,
    pub(crate) main: Option<Session>,
    pub(crate) mounts: Mounts,
    pub(crate) phase: Phase,
    /// A client asked for `Shutdown`: nobody needs to be waited for.
    pub(crate) shutdown_requested: bool,
    /// The main process's exit code and OOM kill, once it ended.
    pub(crate) ended: Option<(i32, bool)>,
    /// `--restart`, applied when the main process ends.
    pub(crate) restarter: Restarter,
    /// A client said `EndRestarts`: the user stopped the container.
    pub(crate) restarts_ended: bool,
    /// The health check, once the container started.
    pub(crate) prober: Option<Prober>,
    pub(crate) status: StatusPort,
    /// When the current run of the main process started.
    pub(crate) run_started: Instant,
    pub(crate) started_at: String,
    pub(crate) finished_at: String,
}

impl Agent {
    /// Opens every port; the control ports start out watched for clients.
    pub fn new(boot: BootConfig) -> Result<Agent> {
        let ports = (0..CONTROL_PORTS)
            .map(ControlPort::open)
            .collect::<Result<Vec<_>>>()?;
        let watcher = Watcher::new()?;
        for p in &ports {
            watcher.add(p.file(), p.index)?;
        }
        Ok(Agent {
            ports,
            watcher,
            log: LogPort::open()?,
            reaper: Reaper::new()?,
            container: None,
            main: None,
            mounts: Mounts::default(),
            phase: Phase::AwaitingAttach,
            shutdown_requested: false,
            ended: None,
            restarter: Restarter::new(boot.container.restart),
            restarts_ended: false,
            prober: None,
            status: StatusPort::default(),
            run_started: Instant::now(),
            started_at: String::new(),
            finished_at: String::new(),
            boot,
        })
    }

    /// Runs the container to its end and serves clients meanwhile, then
    /// stops what is left and releases the disks. The caller powers off.
    pub fn run(mut self) -> Result<()> {
        if !self.boot.wait_for_attach {
            self.start();
        }
        let result = self.serve();
        self.power_down();
        result
    }

    fn serve(&mut self) -> Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        while self.phase != Phase::Done {
            self.flush();
            for (token, revents) in self.wait(Instant::now())? {
                self.handle(token, revents, &mut buf)?;
            }
            self.advance(Instant::now());
        }
        Ok(())
    }

    /// Writes what the ports take without blocking.
    fn flush(&mut self) {
        self.log.flush();
        for i in 0..self.ports.len() {
            if self.ports[i].link() != Link::Down && self.ports[i].pending() > 0 {
                if let Input::Gone = self.ports[i].flush() {
                    self.disconnected(i);
                }
            }
        }
    }

    /// Polls everything the loop waits for; returns the ready fds.
    fn wait(&self, now: Instant) -> Result<Vec<(Token, PollFlags)>> {
        let mut tokens = vec![Token::Watcher, Token::Children];
        let mut fds = vec![
            PollFd::new(self.watcher.fd(), PollFlags::POLLIN),
            PollFd::new(self.reaper.fd(), PollFlags::POLLIN),
        ];
        if let Some(fd) = self.log.waiting_fd() {
            tokens.push(Token::Log);
            fds.push(PollFd::new(fd, PollFlags::POLLOUT));
        }
        for p in self.ports.iter().filter(|p| p.link() != Link::Down) {
            // Always in the set, for POLLHUP, even when not read.
            let mut events = PollFlags::empty();
            if !self.stdin_backlogged(p.index) {
                events |= PollFlags::POLLIN;
            }
            if p.pending() > 0 {
                events |= PollFlags::POLLOUT;
            }
            tokens.push(Token::Port(p.index));
            fds.push(PollFd::new(p.file().as_fd(), events));
        }
        if let Some(fd) = self.prober.as_ref().and_then(|p| p.output_fd()) {
            tokens.push(Token::Probe);
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        let main = self
            .main
            .iter()
            .map(|s| (Owner::Main, s, self.main_readable()));
        let execs = self.ports.iter().flat_map(|p| {
            let readable = p.pending() < OUT_HIGH_WATER;
            p.execs
                .values()
                .map(move |s| (Owner::Exec(p.index, s.id), s, readable))
        });
        for (owner, s, readable) in main.chain(execs) {
            if readable {
                for (stream, fd) in s.outputs() {
                    tokens.push(Token::Output(owner, stream));
                    fds.push(PollFd::new(fd, PollFlags::POLLIN));
                }
            }
            if let Some(fd) = s.stdin_to_write() {
                tokens.push(Token::Stdin(owner));
                fds.push(PollFd::new(fd, PollFlags::POLLOUT));
            }
        }
        let timeout = match self.next_deadline(now) {
            // +1 ms: poll truncates to milliseconds and must not wake early.
            Some(d) => PollTimeout::try_from(d.saturating_duration_since(now) + ms(1))
                .unwrap_or(PollTimeout::MAX),
            None => PollTimeout::NONE,
        };
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e).ctx(|| "poll".into()),
        }
        Ok(tokens
            .into_iter()
            .zip(&fds)
            .filter_map(|(t, fd)| fd.revents().filter(|r| !r.is_empty()).map(|r| (t, r)))
            .collect())
    }

    /// Whether the main process's output may be read: neither the log nor
    /// an attached client is behind.
    fn main_readable(&self) -> bool {
        self.log.pending() < OUT_HIGH_WATER
            && (!self.ports[0].is_greeted() || self.ports[0].pending() < OUT_HIGH_WATER)
    }

    /// Whether a process fed by port `index` has too much stdin pending.
    fn stdin_backlogged(&self, index: usize) -> bool {
        let main = self.main.as_ref().filter(|_| index == 0);
        self.ports[index]
            .execs
            .values()
            .chain(main)
            .any(|s| s.stdin_backlog() >= IN_HIGH_WATER)
    }

    /// The earliest future moment something must happen without an fd
    /// event: an output grace period, the wait for exec sessions, a phase's
    /// deadline.
    fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let phase = match self.phase {
            Phase::Stopping { deadline } | Phase::Finishing { deadline } => Some(deadline),
            Phase::Restarting { at, .. } => Some(at),
            Phase::Running => self.prober.as_ref().map(Prober::deadline),
            _ => None,
        };
        let main = self.main.as_ref();
        let exec_wait = main
            .and_then(Session::exit)
            .map(|(_, at)| at + crate::lifecycle::EXEC_WAIT);
        let sessions = self
            .ports
            .iter()
            .flat_map(|p| p.execs.values())
            .chain(main)
            .filter_map(Session::deadline);
        sessions
            .chain(phase)
            .chain(exec_wait)
            .filter(|d| *d > now)
            .min()
    }

    fn handle(&mut self, token: Token, revents: PollFlags, buf: &mut [u8]) -> Result<()> {
        match token {
            Token::Watcher => {
                for i in self.watcher.events()? {
                    let port = &mut self.ports[i];
                    if port.link() == Link::Down && crate::port::host_connected(port.file()) {
                        self.watcher.remove(port.file(), i)?;
                        port.connected();
                    }
                }
            }
            Token::Children => self.reap(),
            Token::Log => self.log.flush(),
            Token::Port(i) => {
                if revents.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
                    match self.ports[i].read(buf) {
                        Input::Gone => self.disconnected(i),
                        Input::Bytes => self.on_input(i),
                    }
                }
            }
            Token::Output(owner, stream) => self.on_output(owner, stream, buf),
            Token::Stdin(owner) => {
                if let Some(s) = self.session(owner) {
                    s.write_stdin();
                }
            }
            Token::Probe => {
                if let Some(p) = &mut self.prober {
                    p.read_output();
                }
            }
        }
        Ok(())
    }

    /// The client of port `i` left: its exec sessions die, the port waits
    /// for the next client.
    fn disconnected(&mut self, i: usize) {
        let port = &mut self.ports[i];
        port.disconnected();
        if let Err(e) = self.watcher.add(port.file(), i) {
            eprintln!("isola-agent: {e}; port {i} takes no more clients");
        }
    }

    fn reap(&mut self) {
        let now = Instant::now();
        let mut health_changed = false;
        for (pid, code) in self.reaper.reap() {
            if let Some(p) = &mut self.prober {
                health_changed |= p.exited(pid, code, now);
            }
            let main = self.main.iter_mut();
            let execs = self.ports.iter_mut().flat_map(|p| p.execs.values_mut());
            if let Some(s) = main
                .chain(execs)
                .find(|s| s.pid == pid && s.exit().is_none())
            {
                s.set_exited(code, now);
            }
        }
        if health_changed {
            self.report();
        }
    }

    /// Output of a session: the main process's goes to the log and to an
    /// attached client, an exec's to its port.
    fn on_output(&mut self, owner: Owner, stream: Stream, buf: &mut [u8]) {
        let Some(s) = self.session(owner) else { return };
        let Output::Data(n) = s.read_output(stream, buf) else {
            return;
        };
        let data = &buf[..n];
        match owner {
            Owner::Main => {
                self.log.write(stream, data);
                if self.ports[0].is_greeted() {
                    self.ports[0].send_data(MAIN_SESSION, stream, data);
                }
            }
            Owner::Exec(port, id) => self.ports[port].send_data(id, stream, data),
        }
    }

    pub(crate) fn session(&mut self, owner: Owner) -> Option<&mut Session> {
        match owner {
            Owner::Main => self.main.as_mut(),
            Owner::Exec(port, id) => self.ports[port].execs.get_mut(&id),
        }
    }

    /// Kills what is left, sends what is still queued within a bound, and
    /// unmounts the disks so the writable layer is left clean.
    fn power_down(&mut self) {
        let deadline = Instant::now() + POWER_DOWN_WAIT;
        if let Some(c) = &self.container {
            c.kill_all();
        }
        self.main = None;
        self.log.close(deadline);
        for p in &mut self.ports {
            p.drain(deadline);
            p.disconnected();
        }
        crate::reaper::wait_all_children(deadline);
        if let Some(c) = &self.container {
            let _ = c.cgroup.remove();
        }
        self.mounts.unmount_all();
    }
}

/// On the way out: time for the container to die and queues to drain.
const POWER_DOWN_WAIT: Duration = Duration::from_secs(2);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
