//! The container's life in the VM: started at boot (or once a client
//! attached), ended when its main process is over or a client says
//! `Shutdown`. Its end is told exactly once, in this order: the log's last
//! lines, the exit record, then `Exited` to an attached client, whose
//! `Shutdown` (or departure, or 10 s) lets the VM power off. Clients that
//! look at `exit.json` after `Exited` thus always find it.

use crate::agent::{Agent, Phase};
use crate::container::Container;
use crate::record;
use crate::session::Session;
use isola_proto::{Message, SessionId, MAIN_SESSION};
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
            Phase::Finishing { .. } => self.phase = Phase::Done,
            Phase::Stopping { .. } | Phase::Done => {}
        }
    }

    /// Moves on with what time and the last events made due: ended exec
    /// sessions, the container's end, the end of the wait for the ack.
    pub(crate) fn advance(&mut self, now: Instant) {
        self.finish_execs(now);
        match self.phase {
            Phase::Running | Phase::Stopping { .. } => {
                if let Some(code) = self.main_result(now) {
                    self.end(code, now);
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
