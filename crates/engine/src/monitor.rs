//! The per-container monitor: a small process (`isola __monitor`) that
//! starts the container, owns its stdio, writes its log, records its exit
//! status and cleans up after it. It outlives the CLI that started it, so
//! no daemon is needed; with `--rm` it also removes the container.

use crate::backend::{Backend, ProcessBackend};
use crate::ids::now_rfc3339;
use crate::logs::LogWriter;
use crate::pump::{make_stdio, pump, Input, Sidecar, Sinks};
use crate::store::Container;
use crate::store::Status;
use crate::{Engine, Error, Result};
use isola_runtime_process::health::Prober;
use isola_runtime_process::restart::Restarter;
use isola_runtime_process::sys::process_start_time;
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::unistd::Pid;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::fd::{FromRawFd, RawFd};
use std::time::{Duration, Instant};

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
    /// relays and logs its streams, runs its health check, records how it
    /// ended and, as its restart policy says, starts it again.
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
        // the streams it was started with). With a restart policy, an
        // attached client follows the first run only, as Docker's.
        let mut streams =
            crate::Streams::own(opts.attach_stdin, opts.attach_output, opts.attach_output)?;
        let attached = opts.attach_stdin || opts.attach_output;
        // Where an attached client hears that the first run ended.
        let mut first_exit: Option<File> = None;
        let mut restarter = Restarter::new(c.config.host_config.restart_policy);
        let probe = crate::health::probe(c);
        let me = std::process::id() as i32;
        let mut last_code = 0;
        for run in 0u64.. {
            let first = run == 0;
            let size_from = streams.stdin.as_ref().map(|f| f.as_fd());
            let (stdio, ends) = make_stdio(c.config.config.tty, input, size_from)?;
            let log = LogWriter::open(c)?;
            // A restart is decided and done under the container's lock, so
            // a `stop` either sees it done (and stops the new process) or
            // prevents it.
            let lock = if first {
                None
            } else {
                let l = c.lock()?;
                c.reload()?;
                if c.state.status == Status::Removing {
                    let _ = backend.cleanup(c);
                    return Ok(last_code);
                }
                if c.state.manually_stopped {
                    let _ = backend.cleanup(c);
                    c.state.restarting = false;
                    c.state.status = Status::Exited;
                    c.save_state()?;
                    return Ok(last_code);
                }
                Some(l)
            };
            let mut spawned = match backend.start(c, stdio) {
                Ok(s) => s,
                Err(e) => {
                    let _ = backend.cleanup(c);
                    let code = e.exit_code();
                    drop(lock);
                    let _ = c.update(|s| {
                        s.exit_code = code;
                        s.error = e.to_string();
                        if !first {
                            s.status = Status::Exited;
                            s.restarting = false;
                            s.pid = 0;
                            s.finished_at = Some(now_rfc3339());
                        }
                    });
                    if c.config.host_config.auto_remove {
                        let _ = self.delete(c);
                        self.drop_anonymous_volumes(c);
                    }
                    return if first { Err(e) } else { Ok(code) };
                }
            };
            let started = Instant::now();
            let health = probe
                .clone()
                .map(|p| Prober::new(p, c.state.health.take(), started));
            let record = |s: &mut crate::store::State| {
                s.status = Status::Running;
                s.pid = spawned.pid;
                s.pid_start = spawned.start_time;
                s.restarting = false;
                s.started_at = Some(now_rfc3339());
                s.finished_at = None;
                s.health = health.as_ref().map(|h| h.health().clone());
                // As Docker's: a running container has no exit code yet.
                s.exit_code = 0;
                s.error.clear();
                s.oom_killed = false;
                if first {
                    s.monitor_pid = me;
                    s.monitor_start = process_start_time(me).unwrap_or(0);
                    s.restart_count = 0;
                    s.manually_stopped = false;
                }
            };
            match lock {
                Some(l) => {
                    record(&mut c.state);
                    c.save_state()?;
                    drop(l);
                }
                None => c.update(record)?,
            }
            // Here, not in the starting CLI: before its end can be recorded.
            self.container_event(c, "start", &[]);
            if let Some(mut r) = ready.take() {
                let _ = writeln!(r, "{}", serde_json::json!({"pid": spawned.pid}));
                first_exit = attached.then_some(r);
            }

            let ends = ends.with_master(spawned.pty_master.take())?;
            let sinks = Sinks {
                log: Some(log),
                streams: streams.try_clone()?,
                proxy: false,
            };
            let mut side = health.map(|prober| HealthCheck {
                prober,
                c: c.clone(),
                init_pid: spawned.pid,
                cgroup: isola_runtime_process::Cgroup::of(&c.cgroup_name()),
                seccomp_cache: c.seccomp_cache(),
            });
            let side_ref = side.as_mut().map(|s| s as &mut dyn Sidecar);
            let code = pump(ends, sinks, Pid::from_raw(spawned.pid), side_ref).unwrap_or(255);
            last_code = code;

            let oom = backend.oom_killed(c);
            // The run's cgroup goes; the network stays for a restart.
            let _ = backend.end_run(c);
            let lock = c.lock()?;
            c.reload()?;
            if c.state.status == Status::Removing {
                let _ = backend.cleanup(c);
                return Ok(code); // `rm -f` owns the rest
            }
            // Its name and restart policy may have changed since it
            // started (`rename`, `update --restart`).
            let _ = c.reload_config();
            restarter.set_policy(c.config.host_config.restart_policy);
            let delay = if c.config.host_config.auto_remove {
                None
            } else {
                restarter.next(code, c.state.manually_stopped, started.elapsed())
            };
            c.state.exit_code = code;
            c.state.oom_killed = oom;
            c.state.finished_at = Some(now_rfc3339());
            c.state.pid = 0;
            if oom {
                self.container_event(c, "oom", &[]);
            }
            self.container_event(c, "die", &[("exitCode", code.to_string())]);
            let Some(delay) = delay else {
                let _ = backend.cleanup(c);
                c.state.status = Status::Exited;
                c.state.restarting = false;
                // On a full disk the write fails; --rm must still remove.
                let saved = c.save_state();
                drop(lock);
                if c.config.host_config.auto_remove {
                    self.delete(c)?;
                    self.drop_anonymous_volumes(c);
                    self.container_event(c, "destroy", &[]);
                    return Ok(code);
                }
                return saved.map(|()| code);
            };
            c.state.restarting = true;
            c.state.restart_count = restarter.count;
            c.save_state()?;
            drop(lock);
            if let Some(mut tell) = first_exit.take() {
                // The attached client's part ends: it returns this code and
                // later runs are only logged.
                let _ = writeln!(tell, "{}", serde_json::json!({"exit": code}));
                streams = crate::Streams::default();
                detach_stdio();
            }
            self.restart_delay(c, delay);
        }
        unreachable!("the loop only ends by returning")
    }

    /// Waits out a restart's back-off, ending early when the user stops
    /// or removes the container (then the next run's check ends it).
    fn restart_delay(&self, c: &mut Container, delay: Duration) {
        let until = Instant::now() + delay;
        while Instant::now() < until {
            std::thread::sleep(RESTART_POLL.min(until - Instant::now()));
            if c.reload().is_err() || c.state.manually_stopped || c.state.status == Status::Removing
            {
                return;
            }
        }
    }
}

/// How often a monitor waiting to restart its container looks for a
/// `stop` or `rm -f`.
const RESTART_POLL: Duration = Duration::from_millis(100);

/// The health check of a process-mode container, run by its monitor in
/// the pump's loop; each result is written to the container's state.
struct HealthCheck {
    prober: Prober,
    c: Container,
    init_pid: i32,
    cgroup: isola_runtime_process::Cgroup,
    seccomp_cache: std::path::PathBuf,
}

impl Sidecar for HealthCheck {
    fn deadline(&self) -> Option<Instant> {
        Some(self.prober.deadline())
    }

    fn fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.prober.output_fd()
    }

    fn wake(&mut self, now: Instant) {
        self.prober.read_output();
        let mut changed = false;
        for pid in self.prober.children() {
            if let Some(code) = try_reap(pid) {
                changed |= self.prober.exited(pid, code, now);
            }
        }
        let (pid, cgroup, cache) = (self.init_pid, &self.cgroup, &self.seccomp_cache);
        changed |= self.prober.tick(now, |process, stdio| {
            isola_runtime_process::exec(pid, cgroup, process, stdio, Some(cache))
        });
        if changed {
            let health = self.prober.health().clone();
            if self.c.state.health.as_ref().map(|h| h.status) != Some(health.status) {
                // Docker's event when the health status changes.
                let action = format!("health_status: {}", health.status.as_str());
                let root = self.c.dir.parent().and_then(std::path::Path::parent);
                if let Some(root) = root {
                    let event = crate::events::container_event(&self.c, &action, &[]);
                    let _ = crate::events::append(root, &event);
                }
            }
            let _ = self.c.update(|s| {
                if s.pid == pid {
                    s.health = Some(health);
                }
            });
        }
    }

    fn stop(&mut self) {
        self.prober.stop();
        for pid in self.prober.children() {
            let code = isola_runtime_process::wait_exit_code(pid);
            self.prober.exited(pid, code, Instant::now());
        }
    }
}

/// Points this monitor's own stdin, stdout and stderr (the attached
/// client's terminal or pipes) at /dev/null, so a client that left is not
/// held open (`out=$(isola run ...)` must see its end of file).
fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        use std::os::fd::AsRawFd;
        for fd in 0..3 {
            let _ = nix::unistd::dup2(null.as_raw_fd(), fd);
        }
    }
}

/// The exit code of child `pid` if it has ended.
fn try_reap(pid: i32) -> Option<i32> {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    match waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Some(code),
        Ok(WaitStatus::Signaled(_, sig, _)) => Some(128 + sig as i32),
        Err(_) => Some(255),
        _ => None,
    }
}
