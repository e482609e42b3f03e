//! Helpers for tests that must run code under a seccomp filter or with
//! dropped capabilities: in a forked child, so the test harness keeps its
//! own privileges. Public (but hidden) so the engine's policy tests can run
//! Docker's profile against the real kernel too.

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult};

/// Fails the test unless it runs as root: a test that needs root must
/// never pass silently without it.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (containers need namespaces, cgroups and seccomp): run it as root"
    );
}

/// Runs `f` in a forked child and returns its exit code, or 128 + the
/// signal that killed it. The child never returns into the test harness: a
/// panic becomes exit code 101. A child still running after 30 s (say,
/// deadlocked on a lock another harness thread held at fork time) is
/// killed, so a broken filter fails the test instead of hanging it.
pub fn in_child(f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child only runs `f` and then `_exit`s; it never returns
    // into the harness's threads or runs atexit handlers.
    let child = match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
            // SAFETY: `_exit` ends the child at once, as a forked child must.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match waitpid(child, Some(WaitPidFlag::WNOHANG)).expect("waitpid") {
            WaitStatus::Exited(_, code) => return code,
            WaitStatus::Signaled(_, sig, _) => return 128 + sig as i32,
            WaitStatus::StillAlive if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            WaitStatus::StillAlive => {
                let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
                let _ = waitpid(child, None);
                panic!("the test child hung and was killed");
            }
            other => panic!("unexpected child status {other:?}"),
        }
    }
}

/// The errno of a raw syscall result, or 0 if it succeeded.
pub fn errno_of(rc: libc::c_long) -> i32 {
    if rc < 0 {
        nix::errno::Errno::last_raw()
    } else {
        0
    }
}
