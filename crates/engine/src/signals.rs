//! Signal names (`kill -s`) and the attached CLI's wait loop, which proxies
//! signals to the container like Docker's `--sig-proxy`.

use crate::{Error, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;

/// Parses `KILL`, `SIGKILL`, `kill` or `9`.
pub fn parse_signal(s: &str) -> Result<Signal> {
    isola_runtime_process::signal::parse_signal(s).ok_or_else(|| {
        Error::Invalid(format!(
            "invalid signal {s:?}: use a name like TERM or KILL, or a number"
        ))
    })
}

/// Signals an attached CLI forwards to the container.
pub(crate) const PROXIED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

pub(crate) use isola_runtime_process::sys::signalfd;

/// Waits for the monitor (whose exit status is the container's), sending
/// proxied signals to the container's init (with `proxy`), which
/// `current_init` names at that moment (a restart policy replaces it; none
/// while it waits to restart), and SIGWINCH to the monitor. Returns early
/// with the first run's exit code when the monitor says on `first_exit`
/// that the container restarts (Docker's attached `run` returns there).
pub(crate) fn wait_attached(
    mut monitor: std::process::Child,
    current_init: &dyn Fn() -> Option<i32>,
    proxy: bool,
    mut first_exit: Option<BufReader<File>>,
) -> i32 {
    let mut watched = if proxy { PROXIED.to_vec() } else { Vec::new() };
    watched.push(Signal::SIGWINCH);
    let sfd = signalfd(&watched).ok();
    loop {
        if let Ok(Some(status)) = monitor.try_wait() {
            return exit_code(status);
        }
        let Some(sfd) = &sfd else {
            return monitor.wait().map(exit_code).unwrap_or(125);
        };
        let (signalled, told) = {
            let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
            if let Some(r) = &first_exit {
                fds.push(PollFd::new(r.get_ref().as_fd(), PollFlags::POLLIN));
            }
            let buffered = first_exit.as_ref().is_some_and(|r| !r.buffer().is_empty());
            if !buffered {
                match poll(&mut fds, PollTimeout::NONE) {
                    Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                    Err(_) => return monitor.wait().map(exit_code).unwrap_or(125),
                }
            }
            let ready = |i: usize| {
                fds.get(i)
                    .and_then(|f| f.revents())
                    .is_some_and(|r| !r.is_empty())
            };
            (ready(0), buffered || ready(1))
        };
        if told {
            let mut line = String::new();
            match first_exit.as_mut().map(|r| r.read_line(&mut line)) {
                Some(Ok(n)) if n > 0 => {
                    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                    if let Some(code) = v["exit"].as_i64() {
                        return code as i32;
                    }
                }
                // EOF: the monitor is ending; its exit status follows.
                _ => first_exit = None,
            }
        }
        if !signalled {
            continue;
        }
        let Ok(Some(info)) = sfd.read_signal() else {
            continue;
        };
        let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
            continue;
        };
        match sig {
            Signal::SIGCHLD => {}
            Signal::SIGWINCH => {
                let _ = kill(Pid::from_raw(monitor.id() as i32), Signal::SIGWINCH);
            }
            other => {
                if let Some(pid) = current_init() {
                    let _ = kill(Pid::from_raw(pid), other);
                }
            }
        }
    }
}

/// A process's exit status as a shell reports it (128 + signal).
pub(crate) fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_names_and_numbers() {
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
    }
}
