//! What clients send on the control ports: the `Hello` exchange, stdin
//! data and requests. Session 0 is the main process from any port; other
//! session ids name the port's own exec sessions, so clients on different
//! ports never see each other's.

use crate::agent::{Agent, Owner, Phase};
use crate::control::Link;
use crate::procs;
use crate::session::Session;
use isola_proto::{check_hello, ExecConfig, Frame, Message, SessionId, Stream, MAIN_SESSION};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

impl Agent {
    /// Serves the frames that arrived on port `i`.
    pub(crate) fn on_input(&mut self, i: usize) {
        loop {
            let frame = match self.ports[i].next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => return,
                Err(e) => {
                    eprintln!("isola-agent: control port {i}: {e}; ignoring its client");
                    self.ports[i].refuse();
                    self.ports[i].send(&Message::Error {
                        message: format!("isola-agent: {e}; reconnect to talk again"),
                    });
                    return;
                }
            };
            // A client that reconnects at once can have its Hello read while
            // the port still belonged to its predecessor: the virtio console
            // delivers the new client's bytes on the data queue before the
            // old client's "closed" and the new one's "open" on the control
            // queue. The agent answered that Hello, then saw the close and
            // the open, and now waits for a Hello the client already sent.
            // Its next message proves it was greeted: take it as such
            // rather than leave the client waiting forever.
            if self.ports[i].link() == (Link::Up { greeted: false })
                && !matches!(frame, Frame::Control(Message::Hello { .. }))
            {
                self.ports[i].greeted();
            }
            match (self.ports[i].link(), frame) {
                (_, Frame::Control(hello @ Message::Hello { .. })) => self.on_hello(i, &hello),
                (Link::Up { greeted: true }, Frame::Control(msg)) => self.on_message(i, msg),
                (
                    Link::Up { greeted: true },
                    Frame::Data {
                        session,
                        stream,
                        data,
                    },
                ) => self.on_data(i, session, stream, &data),
                (_, other) => {
                    let got = match &other {
                        Frame::Control(m) => m.name(),
                        Frame::Data { .. } => "stream data",
                    };
                    self.reply_error(i, format!("expected Hello first, got {got}"));
                }
            }
        }
    }

    fn on_hello(&mut self, i: usize, hello: &Message) {
        if let Err(e) = check_hello(hello) {
            return self.reply_error(i, format!("isola-agent: {e}"));
        }
        self.ports[i].greeted();
        if i == 0 {
            match self.phase {
                Phase::AwaitingAttach => self.start(),
                Phase::Finishing { .. } => self.send_exited(),
                _ => {}
            }
        }
    }

    fn on_message(&mut self, i: usize, msg: Message) {
        match msg {
            Message::Exec(cfg) => self.exec(i, &cfg),
            Message::Signal { session, signal } => {
                let reply = match self.signal(i, session, signal) {
                    Ok(()) => Message::Ok {},
                    Err(message) => Message::Error { message },
                };
                self.ports[i].send(&reply);
            }
            Message::Resize {
                session,
                rows,
                cols,
            } => {
                if let Some(s) = self.session(owner(i, session)) {
                    s.resize(rows, cols);
                }
            }
            Message::CloseStdin { session } => {
                if let Some(s) = self.session(owner(i, session)) {
                    s.close_stdin();
                }
            }
            Message::ListProcesses {} => {
                let pids = self
                    .container
                    .as_ref()
                    .map(|c| c.cgroup.procs())
                    .unwrap_or_default();
                self.ports[i].send(&Message::Processes {
                    header: procs::HEADER.iter().map(|h| h.to_string()).collect(),
                    rows: procs::table(&pids),
                });
            }
            Message::UpdateLimits { limits, restart } => {
                if let Some(policy) = restart {
                    self.restarter.set_policy(policy);
                }
                let reply = match &self.container {
                    Some(c) => match c.cgroup.update(&limits) {
                        Ok(()) => Message::Ok {},
                        Err(e) => Message::Error {
                            message: e.to_string(),
                        },
                    },
                    None => Message::Error {
                        message: "the container is not running".into(),
                    },
                };
                self.ports[i].send(&reply);
            }
            Message::GetUsage {} => {
                let reply = match &self.container {
                    Some(c) => Message::Usage {
                        usage: Box::new(isola_runtime_process::usage::Usage::sample(
                            &c.cgroup, c.init_pid,
                        )),
                    },
                    None => Message::Error {
                        message: "the container is not running".into(),
                    },
                };
                self.ports[i].send(&reply);
            }
            Message::Shutdown => self.shutdown(),
            Message::EndRestarts {} => {
                self.end_restarts();
                self.ports[i].send(&Message::Ok {});
            }
            Message::Error { message } => {
                eprintln!("isola-agent: the client of port {i} reports: {message}")
            }
            other => self.reply_error(i, format!("unexpected {} from a client", other.name())),
        }
    }

    /// Stdin for a session; the main process's comes from port 0 only.
    fn on_data(&mut self, i: usize, session: SessionId, stream: Stream, data: &[u8]) {
        if stream != Stream::Stdin {
            return self.reply_error(i, format!("only stdin flows to the guest, not {stream:?}"));
        }
        if session == MAIN_SESSION && i != 0 {
            return self.reply_error(i, "the main process's stdin comes from port 0".into());
        }
        // Data for a session that just ended is dropped, as a closed pipe would.
        if let Some(s) = self.session(owner(i, session)) {
            s.queue_stdin(data);
            s.write_stdin();
        }
    }

    fn exec(&mut self, i: usize, cfg: &ExecConfig) {
        let session = cfg.session;
        let running = matches!(self.phase, Phase::Running) && self.main_alive();
        let started = if session == MAIN_SESSION || self.ports[i].execs.contains_key(&session) {
            Err((125, format!("exec session id {session} is already in use")))
        } else {
            match &self.container {
                Some(c) if running => c.exec(cfg).map_err(|e| (e.exit_code(), e.to_string())),
                _ => Err((125, "the container is not running".into())),
            }
        };
        let reply = match started {
            Ok((pid, io)) => {
                self.ports[i]
                    .execs
                    .insert(session, Session::new(session, pid, io));
                Message::ExecStarted { session, pid }
            }
            Err((code, message)) => Message::ExecFailed {
                session,
                code,
                message,
            },
        };
        self.ports[i].send(&reply);
    }

    fn signal(&mut self, i: usize, session: SessionId, signal: i32) -> Result<(), String> {
        let sig =
            Signal::try_from(signal).map_err(|_| format!("invalid signal number {signal}"))?;
        let s = self
            .session(owner(i, session))
            .ok_or_else(|| match session {
                MAIN_SESSION => "the container is not running".to_string(),
                _ => format!("no exec session {session} on this port"),
            })?;
        // An exited process's PID may already be reused.
        if s.exit().is_some() {
            return Err(format!("the process of session {session} has exited"));
        }
        kill(Pid::from_raw(s.pid), sig).map_err(|e| format!("signalling session {session}: {e}"))
    }

    fn main_alive(&self) -> bool {
        self.main.as_ref().is_some_and(|s| s.exit().is_none())
    }

    fn reply_error(&mut self, i: usize, message: String) {
        self.ports[i].send(&Message::Error { message });
    }
}

fn owner(port: usize, session: SessionId) -> Owner {
    match session {
        MAIN_SESSION => Owner::Main,
        id => Owner::Exec(port, id),
    }
}
