//! The per-container monitor: a small process (`isola __monitor`) that
//! starts the container, owns its stdio, writes its log, records its exit
//! status and cleans up after it. It outlives the CLI that started it, so
//! no daemon is needed; with `--rm` it also removes the container.

use crate::backend::{Backend, ProcessBackend};
use crate::ids::now_rfc3339;
use crate::logs::LogWriter;
use crate::pump::{make_stdio, pump, Input, Sinks};
use crate::store::Container;
use crate::store::Status;
use crate::{Engine, Error, Result};
use isola_runtime_process::sys::process_start_time;
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::unistd::Pid;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::fd::{FromRawFd, RawFd};

/// How the monitor was asked to run.
#[derive(Debug, Clone, Copy)]
pub struct MonitorOptions {
    /// Write end of the pipe on which the starting CLI waits for "started".
    pub ready_fd: RawFd,
    pub attach_output: bool,
    pub attach_stdin: bool,
}

impl Engine {
    /// The monitor's main; returns the process exit code (the container's).
    pub fn run_monitor(&self, id: &str, opts: MonitorOptions) -> i32 {
        // SAFETY: the CLI passed us this fd, open and owned by no one else here.
        let mut ready = Some(unsafe { File::from_raw_fd(opts.ready_fd) });
        let _ = nix::unistd::setsid();
        for sig in [
            Signal::SIGINT,
            Signal::SIGHUP,
            Signal::SIGTERM,
            Signal::SIGQUIT,
        ] {
            // SAFETY: SIG_IGN runs no handler code; the container resets it.
            let _ = unsafe { signal(sig, SigHandler::SigIgn) };
        }
        match self.monitor(id, opts, &mut ready) {
            Ok(code) => code,
            Err(e) => {
                if let Some(mut r) = ready {
                    let msg = serde_json::json!({"error": e.to_string(), "code": e.exit_code()});
                    let _ = writeln!(r, "{msg}");
                }
                e.exit_code()
            }
        }
    }

    fn monitor(&self, id: &str, opts: MonitorOptions, ready: &mut Option<File>) -> Result<i32> {
        let mut c = self.lookup(id)?;
        {
            let _lock = c.lock()?;
            c.reload()?;
            if c.state.status == Status::Running && c.state.monitor_alive() {
                return Err(Error::Conflict(format!(
                    "container {} is already running",
                    c.name()
                )));
            }
        }
        // Both modes start in the container's network namespace, set up
        // here; the backend's cleanup takes it down.
        if let Err(e) = self.network_up(&c) {
            let _ = c.update(|s| {
                s.exit_code = 125;
                s.error = e.to_string();
            });
            return Err(e);
        }
        let result = self.backend(&c).run_monitor(self, &mut c, opts, ready);
        if result.is_err() {
            // A start that failed (VM mode: before the hypervisor ran)
            // leaves no namespace, link or rule behind.
            crate::net::network_down(&c);
        }
        result
    }

    /// Process mode's monitor: spawns the container's init as its child,
    /// relays and logs its streams, records how it ended.
    pub(crate) fn supervise_process(
        &self,
        c: &mut Container,
        opts: MonitorOptions,
        ready: &mut Option<File>,
    ) -> Result<i32> {
        let backend = ProcessBackend;
        let input = if opts.attach_stdin {
            Input::Forward
        } else if c.config.config.open_stdin {
            Input::Hold
        } else {
            Input::Null
        };
        // The monitor's own stdio is the attached CLI's (handed to it as
        // the streams it was started with).
        let streams =
            crate::Streams::own(opts.attach_stdin, opts.attach_output, opts.attach_output)?;
        let size_from = streams.stdin.as_ref().map(|f| f.as_fd());
        let (stdio, ends) = make_stdio(c.config.config.tty, input, size_from)?;
        let log = LogWriter::open(c)?;
        let mut spawned = match backend.start(c, stdio) {
            Ok(s) => s,
            Err(e) => {
                let _ = backend.cleanup(c);
                let code = e.exit_code();
                let _ = c.update(|s| {
                    s.exit_code = code;
                    s.error = e.to_string();
                });
                if c.config.host_config.auto_remove {
                    let _ = self.delete(c);
                    self.drop_anonymous_volumes(c);
                }
                return Err(e);
            }
        };
        let me = std::process::id() as i32;
        c.update(|s| {
            s.status = Status::Running;
            s.pid = spawned.pid;
            s.pid_start = spawned.start_time;
            s.monitor_pid = me;
            s.monitor_start = process_start_time(me).unwrap_or(0);
            s.exit_code = 0;
            s.error.clear();
            s.oom_killed = false;
            s.started_at = Some(now_rfc3339());
            s.finished_at = None;
        })?;
        if let Some(mut r) = ready.take() {
            let _ = writeln!(r, "{}", serde_json::json!({"pid": spawned.pid}));
        }

        let ends = ends.with_master(spawned.pty_master.take())?;
        let sinks = Sinks {
            log: Some(log),
            streams,
            proxy: false,
        };
        let code = pump(ends, sinks, Pid::from_raw(spawned.pid)).unwrap_or(255);

        let oom = backend.oom_killed(c);
        let _ = backend.cleanup(c);
        let _lock = c.lock()?;
        c.reload()?;
        if c.state.status == Status::Removing {
            return Ok(code); // `rm -f` owns the rest
        }
        c.state.status = Status::Exited;
        c.state.exit_code = code;
        c.state.oom_killed = oom;
        c.state.finished_at = Some(now_rfc3339());
        c.state.pid = 0;
        // On a full disk the write fails; --rm must still remove.
        let saved = c.save_state();
        drop(_lock);
        if c.config.host_config.auto_remove {
            self.delete(c)?;
            self.drop_anonymous_volumes(c);
            return Ok(code);
        }
        saved.map(|()| code)
    }
}
