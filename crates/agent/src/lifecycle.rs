//! The container's life in the VM: started at boot (or once a client
//! attached), ended when its main process is over or a client says
//! `Shutdown`. Its end is told exactly once, in this order: the log's last
//! lines, the exit record, then `Exited` to an attached client, whose
//! `Shutdown` (or departure, or 10 s) lets the VM power off. Clients that
//! look at `exit.json` after `Exited` thus always find it.
//!
//! With a restart policy the main process's end is not the container's:
//! after Docker's back-off the process starts again in the same root and
//! cgroup (no reboot), until the policy says no or a client says
//! `EndRestarts` (the user's stop) or `Shutdown`. Restarts and health-check
//! results go to the host as status records (see [`crate::status`]).

use crate::agent::{Agent, Phase};
use crate::clock;
use crate::container::Container;
use crate::record;
use crate::session::Session;
use isola_proto::layout::StatusRecord;
use isola_proto::{Message, SessionId, MAIN_SESSION};
use isola_runtime_process::health::Prober;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// How long exec sessions may outlive the main process. They run in its
/// PID namespace, so the kernel kills them with it; this bounds the wait
/// for their last output.
pub const EXEC_WAIT: Duration = Duration::from_secs(1);
/// How long an attached client has to acknowledge the main `Exited`.
const ACK_TIMEOUT: Duration = Duration::from_secs(10);
/// After `Shutdown` killed everything: how long the main process may take
/// to be reaped before the VM goes down regardless.
const STOP_WAIT: Duration = Duration::from_secs(2);
/// How long the host may take to accept the log's last lines.
const LOG_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// The exit code of a process ended by SIGKILL.
const KILLED: i32 = 128 + Signal::SIGKILL as i32;

impl Agent {
    /// Starts the container. On failure the exit record says why, port 0's
    /// client (if any) gets `StartFailed`, and the VM powers off.
    pub(crate) fn start(&mut self) {
        match Container::start(&self.boot.container, &mut self.mounts) {
            Ok((container, io)) => {
                self.main = Some(Session::new(MAIN_SESSION, container.init_pid, io));
                self.container = Some(container);
                self.phase = Phase::Running;
                self.run_began(Instant::now());
            }
            Err(e) => {
                let (code, message) = (e.exit_code(), e.to_string());
                eprintln!("isola-agent: the container could not start: {message}");
                record::write(code, false, &message);
                if self.ports[0].is_greeted() {
                    self.ports[0].send(&Message::StartFailed { code, message });
                }
                self.phase = Phase::Done;
            }
        }
    }

    /// A client asked to stop everything (or acknowledged `Exited`).
    pub(crate) fn shutdown(&mut self) {
        self.shutdown_requested = true;
        match self.phase {
            Phase::AwaitingAttach => {
                record::write(KILLED, false, "");
                self.phase = Phase::Done;
            }
            Phase::Running => {
                if let Some(c) = &self.container {
                    c.kill_all();
                }
                self.phase = Phase::Stopping {
                    deadline: Instant::now() + STOP_WAIT,
                };
            }
            Phase::Restarting { code, .. } => self.end(code, Instant::now()),
            Phase::Finishing { .. } => self.phase = Phase::Done,
            Phase::Stopping { .. } | Phase::Done => {}
        }
    }

    /// `EndRestarts`: the user stops the container; its restart policy no
    /// longer applies, and one waiting to restart ends now.
    pub(crate) fn end_restarts(&mut self) {
        self.restarts_ended = true;
        if let Phase::Restarting { code, .. } = self.phase {
            self.end(code, Instant::now());
        }
    }

    /// A run of the main process began: its health check starts over
    /// (`starting`, keeping the last results) and the host is told.
    fn run_began(&mut self, now: Instant) {
        self.run_started = now;
        self.started_at = clock::now_rfc3339();
        if let Some(probe) = self.boot.container.health.clone() {
            let previous = self.prober.take().map(|p| p.health().clone());
            self.prober = Some(Prober::new(probe, previous, now));
        }
        if !self.restarter.policy().is_none() || self.prober.is_some() {
            self.report();
        }
    }

    /// Writes the current status record for the host.
    pub(crate) fn report(&mut self) {
        let (restarting, exit_code) = match self.phase {
            Phase::Restarting { code, .. } => (true, code),
            _ => (false, 0),
        };
        let record = StatusRecord {
            restart_count: self.restarter.count,
            restarting,
            exit_code,
            started_at: self.started_at.clone(),
            finished_at: self.finished_at.clone(),
            health: self.prober.as_ref().map(|p| p.health().clone()),
        };
        self.status.write(&record);
    }

    /// The main process ended with `code`: its restart policy starts it
    /// again after the back-off, unless the user stopped it; otherwise the
    /// container ends.
    fn run_ended(&mut self, code: i32, now: Instant) {
        let may_restart = matches!(self.phase, Phase::Running)
            && !self.restarts_ended
            && !self.shutdown_requested;
        let ran_for = now.saturating_duration_since(self.run_started);
        let delay = may_restart
            .then(|| self.restarter.next(code, false, ran_for))
            .flatten();
        let Some(delay) = delay else {
            return self.end(code, now);
        };
        self.end_execs();
        self.main = None;
        if let Some(p) = &mut self.prober {
            p.stop();
        }
        self.finished_at = clock::now_rfc3339();
        self.phase = Phase::Restarting {
            at: now + delay,
            code,
        };
        self.report();
        // An attached client's part ends with the first run, as in Docker;
        // the port waits for the next client.
        if self.ports[0].is_greeted() {
            self.ports[0].send(&Message::Restarting {
                session: MAIN_SESSION,
                code,
            });
        }
    }

    /// Starts the main process again, in the same root and cgroup.
    fn restart(&mut self, code: i32, now: Instant) {
        let Some(c) = &mut self.container else {
            return self.end(code, now);
        };
        match c.spawn(&self.boot.container) {
            Ok(io) => {
                self.main = Some(Session::new(MAIN_SESSION, c.init_pid, io));
                self.phase = Phase::Running;
                self.run_began(now);
            }
            Err(e) => {
                let (code, message) = (e.exit_code(), e.to_string());
                eprintln!("isola-agent: the container could not restart: {message}");
                record::write(code, false, &message);
                self.end(code, now);
            }
        }
    }

    /// Starts a health check that is due, or fails one that ran too long.
    fn check_health(&mut self, now: Instant) {
        let alive = self.main.as_ref().is_some_and(|s| s.exit().is_none());
        let (Some(p), Some(c), true) = (&mut self.prober, &self.container, alive) else {
            return;
        };
        let (pid, cgroup) = (c.init_pid, &c.cgroup);
        if p.tick(now, |process, stdio| {
            isola_runtime_process::exec(pid, cgroup, process, stdio, None)
        }) {
            self.report();
        }
    }

    /// Moves on with what time and the last events made due: ended exec
    /// sessions, the container's end, the end of the wait for the ack.
    pub(crate) fn advance(&mut self, now: Instant) {
        self.finish_execs(now);
        match self.phase {
            Phase::Running | Phase::Stopping { .. } => {
                if let Some(code) = self.main_result(now) {
                    self.run_ended(code, now);
                } else if self.phase == Phase::Running {
                    self.check_health(now);
                }
            }
            Phase::Restarting { at, code } => {
                if now >= at {
                    self.restart(code, now);
                }
            }
            Phase::Finishing { deadline } => {
                if !self.ports[0].is_greeted() || now >= deadline {
                    self.phase = Phase::Done;
                }
            }
            Phase::AwaitingAttach | Phase::Done => {}
        }
    }

    /// Sends `Exited` for exec sessions whose process ended and whose
    /// output is drained.
    fn finish_execs(&mut self, now: Instant) {
        for port in &mut self.ports {
            let done: Vec<(SessionId, i32)> = port
                .execs
                .values()
                .filter_map(|s| s.finished(now).map(|code| (s.id, code)))
                .collect();
            for (session, code) in done {
                port.execs.remove(&session);
                port.send(&Message::Exited {
                    session,
                    code,
                    oom_killed: false,
                });
            }
        }
    }

    /// The main process's exit code once the container is over: it exited,
    /// its output is drained and the exec sessions ended (or had
    /// [`EXEC_WAIT`]); or the wait after `Shutdown` ran out.
    fn main_result(&self, now: Instant) -> Option<i32> {
        let exit = self.main.as_ref().and_then(Session::exit);
        if let Phase::Stopping { deadline } = self.phase {
            if now >= deadline {
                return Some(exit.map_or(KILLED, |(code, _)| code));
            }
        }
        let code = self.main.as_ref()?.finished(now)?;
        let (_, exited_at) = exit?;
        let execs_left = self.ports.iter().any(|p| !p.execs.is_empty());
        (!execs_left || now >= exited_at + EXEC_WAIT).then_some(code)
    }

    /// Tells the container's end: the log's last lines, the exit record,
    /// then `Exited` to an attached client.
    fn end(&mut self, code: i32, now: Instant) {
        self.end_execs();
        if let Some(p) = &mut self.prober {
            p.stop();
        }
        self.main = None;
        let oom_killed = self
            .container
            .as_ref()
            .is_some_and(|c| c.cgroup.oom_killed());
        self.log.close(now + LOG_CLOSE_TIMEOUT);
        record::write(code, oom_killed, "");
        self.ended = Some((code, oom_killed));
        self.phase = if self.ports[0].is_greeted() && !self.shutdown_requested {
            Phase::Finishing {
                deadline: Instant::now() + ACK_TIMEOUT,
            }
        } else {
            Phase::Done
        };
        self.send_exited();
    }

    /// Ends every exec session, telling its client how.
    fn end_execs(&mut self) {
        for port in &mut self.ports {
            for (session, s) in std::mem::take(&mut port.execs) {
                let code = match s.exit() {
                    Some((code, _)) => code,
                    None => {
                        let _ = kill(Pid::from_raw(s.pid), Signal::SIGKILL);
                        KILLED
                    }
                };
                port.send(&Message::Exited {
                    session,
                    code,
                    oom_killed: false,
                });
            }
        }
    }

    /// Tells port 0's client how the container ended, once it has.
    pub(crate) fn send_exited(&mut self) {
        if let Some((code, oom_killed)) = self.ended {
            if self.ports[0].is_greeted() {
                self.ports[0].send(&Message::Exited {
                    session: MAIN_SESSION,
                    code,
                    oom_killed,
                });
            }
        }
    }
}
