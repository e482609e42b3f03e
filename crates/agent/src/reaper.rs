//! Reaping children, which PID 1 must do for every orphan in the guest.
//! SIGCHLD is blocked and read from a signalfd, so child exits become one
//! more readable fd in the event loop instead of an asynchronous handler.

use crate::error::{Context, Result};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

pub struct Reaper {
    fd: SignalFd,
}

impl Reaper {
    /// Blocks SIGCHLD for the agent. Children inherit the mask; the process
    /// runtime resets it before executing container processes.
    pub fn new() -> Result<Reaper> {
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        mask.thread_block().ctx(|| "blocking SIGCHLD".into())?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
            .ctx(|| "creating the SIGCHLD signalfd".into())?;
        Ok(Reaper { fd })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Consumes pending SIGCHLD notifications and reaps every child that
    /// exited, returning (pid, exit code) with 128 + signal for a killed one.
    pub fn reap(&mut self) -> Vec<(i32, i32)> {
        while let Ok(Some(_)) = self.fd.read_signal() {}
        reap_exited()
    }
}

/// Reaps every exited child without blocking.
pub fn reap_exited() -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => out.push((pid.as_raw(), code)),
            Ok(WaitStatus::Signaled(pid, sig, _)) => out.push((pid.as_raw(), 128 + sig as i32)),
            Ok(WaitStatus::StillAlive) | Err(_) => return out,
            Ok(_) => continue,
        }
    }
}

/// Reaps children until none is left or `deadline` passes.
pub fn wait_all_children(deadline: Instant) {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Err(_) => return, // ECHILD: no children left
            Ok(WaitStatus::StillAlive) if Instant::now() >= deadline => return,
            Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(10)),
            Ok(_) => {}
        }
    }
}
