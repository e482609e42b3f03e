//! Thin wrappers over the few ioctls and /proc reads that nix does not
//! cover. This module (with `net`) holds the crate's raw syscalls so the
//! rest stays safe code.

use std::os::fd::{AsRawFd, BorrowedFd};

/// Terminal window size, as `struct winsize`.
pub type Winsize = libc::winsize;

/// The kernel's start time of `pid` (clock ticks since boot, field 22 of
/// /proc/PID/stat). Together with the PID it identifies a process across
/// PID reuse, so a stale state file never makes us signal a stranger.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces and ')': skip past the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether `pid` is alive and is the process that started at `start_time`.
pub fn process_is(pid: i32, start_time: u64) -> bool {
    pid > 0 && process_start_time(pid) == Some(start_time)
}

/// The window size of terminal `fd`, if it is one.
pub fn get_winsize(fd: BorrowedFd<'_>) -> Option<Winsize> {
    let mut ws: Winsize = Winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` into the valid, owned `ws`.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) };
    (rc == 0).then_some(ws)
}

/// Sets the window size of terminal `fd` (the pty master), which sends
/// SIGWINCH to the foreground process group on the slave side.
pub fn set_winsize(fd: BorrowedFd<'_>, ws: &Winsize) {
    // SAFETY: TIOCSWINSZ reads one `struct winsize` from the valid `ws`.
    unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, ws) };
}

/// Makes terminal `fd` the controlling terminal of the calling session leader.
pub fn set_controlling_tty(fd: BorrowedFd<'_>) -> nix::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument (0: do not steal).
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0) };
    nix::errno::Errno::result(rc).map(drop)
}
