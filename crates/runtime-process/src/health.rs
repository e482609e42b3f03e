//! Health checks as Docker runs them: a command executed in the running
//! container every interval, its result kept (the last five), and a status
//! that is `starting` until the first success, `healthy` after one, and
//! `unhealthy` after `retries` failures in a row (failures within the start
//! period do not count while still `starting`).
//!
//! [`Prober`] is the mechanism, driven by a supervisor's own event loop (the
//! host's monitor in process mode, the guest agent in VM mode): it says
//! when it must be woken, which fd carries the check's output, starts
//! checks through a callback (the supervisor's `exec`) and takes their exit
//! statuses from the supervisor's reaping. It never blocks.

use crate::spawn::{ProcessSpec, Spawned};
use crate::stdio::Stdio;
use crate::Result;
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant, SystemTime};

/// Results kept in [`Health::log`], as Docker keeps them.
pub const MAX_LOG: usize = 5;
/// Output kept of one check (stdout and stderr together), as Docker.
pub const MAX_OUTPUT: usize = 4096;

/// A health check ready to run: what the engine resolved from the image's
/// HEALTHCHECK, the flags and Docker's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// The check's process (its `args` already wrapped in the shell for
    /// `CMD-SHELL`); the rest as the container's own process.
    pub process: ProcessSpec,
    pub interval_ns: u64,
    pub timeout_ns: u64,
    pub start_period_ns: u64,
    pub retries: u32,
}

impl Probe {
    fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval_ns)
    }
    fn timeout(&self) -> Duration {
        Duration::from_nanos(self.timeout_ns)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    #[default]
    Starting,
    Healthy,
    Unhealthy,
}

impl HealthStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// Docker's `State.Health`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: HealthStatus,
    pub failing_streak: u32,
    pub log: Vec<HealthResult>,
}

/// One check's result, as `inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthResult {
    pub start: String,
    pub end: String,
    /// 0 healthy, anything else a failure; -1 when it could not run or
    /// exceeded its timeout.
    pub exit_code: i32,
    pub output: String,
}

/// A check in flight.
struct Running {
    pid: i32,
    out: Option<OwnedFd>,
    buf: Vec<u8>,
    start: String,
    at: Instant,
}

/// Runs one container's health checks.
pub struct Prober {
    probe: Probe,
    health: Health,
    /// When the container (re)started, for the start period.
    started: Instant,
    next: Instant,
    running: Option<Running>,
    /// Checks killed at their timeout and not reaped yet.
    killed: Vec<i32>,
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(SystemTime::now()).to_string()
}

impl Prober {
    /// Starts watching a container that started at `now`. Its status is
    /// `starting` again; the results of an earlier run stay in the log.
    pub fn new(probe: Probe, previous: Option<Health>, now: Instant) -> Prober {
        let mut health = previous.unwrap_or_default();
        health.status = HealthStatus::Starting;
        health.failing_streak = 0;
        Prober {
            next: now + probe.interval(),
            probe,
            health,
            started: now,
            running: None,
            killed: Vec::new(),
        }
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// When [`Prober::tick`] must run next.
    pub fn deadline(&self) -> Instant {
        match &self.running {
            Some(r) => r.at + self.probe.timeout(),
            None => self.next,
        }
    }

    /// The running check's output, to poll for reading.
    pub fn output_fd(&self) -> Option<BorrowedFd<'_>> {
        self.running
            .as_ref()
            .and_then(|r| r.out.as_ref())
            .map(|f| f.as_fd())
    }

    /// Reads what the running check wrote, keeping the first
    /// [`MAX_OUTPUT`] bytes.
    pub fn read_output(&mut self) {
        let Some(r) = &mut self.running else { return };
        drain(r);
    }

    /// Processes of checks the supervisor should reap (it passes their
    /// statuses to [`Prober::exited`]).
    pub fn children(&self) -> Vec<i32> {
        self.running
            .iter()
            .map(|r| r.pid)
            .chain(self.killed.iter().copied())
            .collect()
    }

    /// Starts a check that is due (with `start`, the supervisor's exec),
    /// or fails one past its timeout. True when the health changed.
    pub fn tick(
        &mut self,
        now: Instant,
        start: impl FnOnce(&ProcessSpec, Stdio) -> Result<Spawned>,
    ) -> bool {
        if let Some(r) = &self.running {
            if now < r.at + self.probe.timeout() {
                return false;
            }
            let r = self.running.take().expect("checked");
            let _ = kill(Pid::from_raw(r.pid), Signal::SIGKILL);
            self.killed.push(r.pid);
            let output = format!(
                "Health check exceeded timeout ({})",
                humantime::format_duration(self.probe.timeout())
            );
            self.record(r.start, -1, output, now);
            return true;
        }
        if now < self.next {
            return false;
        }
        let begin = now_rfc3339();
        match spawn_check(&self.probe.process, start) {
            Ok(running) => {
                self.running = Some(Running {
                    start: begin,
                    at: now,
                    ..running
                });
                false
            }
            Err(e) => {
                self.record(begin, -1, e.to_string(), now);
                true
            }
        }
    }

    /// Process `pid` ended with `code` (the supervisor reaped it). True
    /// when that was the running check and the health changed.
    pub fn exited(&mut self, pid: i32, code: i32, now: Instant) -> bool {
        self.killed.retain(|p| *p != pid);
        if self.running.as_ref().map(|r| r.pid) != Some(pid) {
            return false;
        }
        let mut r = self.running.take().expect("checked");
        drain(&mut r);
        let output = String::from_utf8_lossy(&r.buf).into_owned();
        self.record(r.start, code, output, now);
        true
    }

    /// Ends a running check (the container is going away).
    pub fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = kill(Pid::from_raw(r.pid), Signal::SIGKILL);
            self.killed.push(r.pid);
        }
    }

    /// Docker's `handleProbeResult`.
    fn record(&mut self, start: String, code: i32, output: String, now: Instant) {
        let h = &mut self.health;
        h.log.push(HealthResult {
            start,
            end: now_rfc3339(),
            exit_code: code,
            output,
        });
        if h.log.len() > MAX_LOG {
            let extra = h.log.len() - MAX_LOG;
            h.log.drain(..extra);
        }
        if code == 0 {
            h.failing_streak = 0;
            h.status = HealthStatus::Healthy;
        } else {
            let in_start_period = h.status == HealthStatus::Starting
                && now.saturating_duration_since(self.started)
                    < Duration::from_nanos(self.probe.start_period_ns);
            if !in_start_period {
                h.failing_streak += 1;
                if h.failing_streak >= self.probe.retries.max(1) {
                    h.status = HealthStatus::Unhealthy;
                }
            }
        }
        self.next = now + self.probe.interval();
    }
}

/// Starts the check with /dev/null as stdin and one pipe for its output.
fn spawn_check(
    process: &ProcessSpec,
    start: impl FnOnce(&ProcessSpec, Stdio) -> Result<Spawned>,
) -> Result<Running> {
    use crate::Context;
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).ctx(|| "pipe".into())?;
    let flags = fcntl(r.as_raw_fd(), FcntlArg::F_GETFL).ctx(|| "fcntl".into())?;
    fcntl(
        r.as_raw_fd(),
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )
    .ctx(|| "fcntl".into())?;
    let null = std::fs::File::open("/dev/null")
        .map_err(|e| crate::Error::Setup(format!("opening /dev/null: {e}")))?;
    let stderr = w
        .try_clone()
        .map_err(|e| crate::Error::Setup(format!("dup: {e}")))?;
    let spawned = start(
        process,
        Stdio::Fds {
            stdin: null.into(),
            stdout: w,
            stderr,
        },
    )?;
    Ok(Running {
        pid: spawned.pid,
        out: Some(r),
        buf: Vec::new(),
        start: String::new(),
        at: Instant::now(),
    })
}

fn drain(r: &mut Running) {
    let Some(fd) = &r.out else { return };
    let mut chunk = [0u8; 4096];
    loop {
        match nix::unistd::read(fd.as_raw_fd(), &mut chunk) {
            Ok(0) => {
                r.out = None;
                return;
            }
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(r.buf.len());
                r.buf.extend_from_slice(&chunk[..n.min(room)]);
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => return,
            Err(_) => {
                r.out = None;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(retries: u32, start_period: Duration) -> Probe {
        Probe {
            process: ProcessSpec::default(),
            interval_ns: 1_000_000,
            timeout_ns: 1_000_000_000,
            start_period_ns: start_period.as_nanos() as u64,
            retries,
        }
    }

    #[test]
    fn healthy_then_unhealthy_after_retries_failures() {
        let now = Instant::now();
        let mut p = Prober::new(probe(2, Duration::ZERO), None, now);
        assert_eq!(p.health().status, HealthStatus::Starting);
        p.record("s".into(), 0, "ok".into(), now);
        assert_eq!(p.health().status, HealthStatus::Healthy);
        p.record("s".into(), 1, "".into(), now);
        assert_eq!(p.health().status, HealthStatus::Healthy);
        assert_eq!(p.health().failing_streak, 1);
        p.record("s".into(), 1, "".into(), now);
        assert_eq!(p.health().status, HealthStatus::Unhealthy);
        for _ in 0..5 {
            p.record("s".into(), 1, "".into(), now);
        }
        assert_eq!(p.health().log.len(), MAX_LOG);
        let again = Prober::new(probe(2, Duration::ZERO), Some(p.health().clone()), now);
        assert_eq!(again.health().status, HealthStatus::Starting);
        assert_eq!(
            again.health().log.len(),
            MAX_LOG,
            "the log survives a restart"
        );
    }

    /// Runs a check as a plain host process (the supervisors exec it into
    /// the container; the prober does not care how). The test reaps it by
    /// PID, as the supervisors do, not through `Child`.
    #[allow(clippy::zombie_processes)]
    fn host_start(p: &ProcessSpec, stdio: Stdio) -> Result<Spawned> {
        let Stdio::Fds {
            stdin,
            stdout,
            stderr,
        } = stdio
        else {
            unreachable!("checks get pipes")
        };
        let child = std::process::Command::new(&p.args[0])
            .args(&p.args[1..])
            .stdin(stdin)
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .unwrap();
        Ok(Spawned {
            pid: child.id() as i32,
            start_time: 0,
            pty_master: None,
        })
    }

    fn wait(pid: i32) -> i32 {
        crate::wait_exit_code(pid)
    }

    #[test]
    fn a_check_runs_when_due_and_its_output_and_status_are_kept() {
        let mut probe = probe(1, Duration::ZERO);
        probe.process.args = vec![
            "sh".into(),
            "-c".into(),
            "echo out; echo err >&2; exit 1".into(),
        ];
        let t0 = Instant::now();
        let mut p = Prober::new(probe, None, t0);
        assert!(!p.tick(t0, host_start), "not due before the interval");
        assert!(p.children().is_empty());
        let due = p.deadline();
        assert!(!p.tick(due, host_start));
        let pid = p.children()[0];
        assert!(p.output_fd().is_some());
        let code = wait(pid);
        assert!(p.exited(pid, code, Instant::now()));
        let h = p.health();
        assert_eq!(h.status, HealthStatus::Unhealthy);
        assert_eq!(h.log[0].exit_code, 1);
        assert_eq!(h.log[0].output, "out\nerr\n");
        assert!(p.children().is_empty());
    }

    #[test]
    fn a_check_past_its_timeout_is_killed_and_fails() {
        let mut probe = probe(1, Duration::ZERO);
        probe.process.args = vec!["sleep".into(), "30".into()];
        probe.timeout_ns = 50_000_000;
        let t0 = Instant::now();
        let mut p = Prober::new(probe, None, t0);
        p.tick(p.deadline(), host_start);
        let pid = p.children()[0];
        assert!(p.tick(p.deadline(), host_start), "the timeout is a result");
        let h = p.health().clone();
        assert_eq!(h.status, HealthStatus::Unhealthy);
        assert_eq!(h.log[0].exit_code, -1);
        assert_eq!(h.log[0].output, "Health check exceeded timeout (50ms)");
        assert_eq!(p.children(), vec![pid], "killed, to be reaped");
        assert_eq!(wait(pid), 128 + 9);
        assert!(!p.exited(pid, 137, Instant::now()), "already recorded");
        assert!(p.children().is_empty());
    }

    #[test]
    fn a_check_that_cannot_start_fails_with_the_reason() {
        let t0 = Instant::now();
        let mut p = Prober::new(probe(3, Duration::ZERO), None, t0);
        let changed = p.tick(p.deadline(), |_, _| {
            Err(crate::Error::Setup("the container is not running".into()))
        });
        assert!(changed);
        assert_eq!(p.health().failing_streak, 1);
        assert!(p.health().log[0].output.contains("not running"));
    }

    #[test]
    fn failures_in_the_start_period_do_not_count() {
        let now = Instant::now();
        let mut p = Prober::new(probe(1, Duration::from_secs(60)), None, now);
        p.record("s".into(), 1, "".into(), now);
        assert_eq!(p.health().failing_streak, 0);
        assert_eq!(p.health().status, HealthStatus::Starting);
    }
}
