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
/// A zombie is not alive: it has exited and only waits to be reaped, which
/// an init that is slow to reap (or a dead parent) can delay indefinitely.
pub fn process_is(pid: i32, start_time: u64) -> bool {
    if pid <= 0 {
        return false;
    }
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
        return false;
    };
    let mut fields = rest.split_whitespace();
    let state = fields.next().unwrap_or("");
    state != "Z" && state != "X" && fields.nth(18).and_then(|t| t.parse().ok()) == Some(start_time)
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

/// Marks every file descriptor from `from` up close-on-exec, so nothing the
/// caller of isola held open (without CLOEXEC) reaches a container or the
/// hypervisor: CVE-2024-21626 let a container walk the host's file system
/// through such a leaked directory fd. `close_range(CLOSE_RANGE_CLOEXEC)`
/// (Linux 5.11) does it in one call and allocates nothing, so it is safe
/// in a forked child; older kernels fall back to walking /proc/self/fd.
pub fn cloexec_from(from: i32) {
    // SAFETY: close_range only changes descriptor flags of this process; it
    // reads no memory.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            from as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC as libc::c_uint,
        )
    };
    if rc == 0 {
        return;
    }
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= from)
        .collect();
    for fd in fds {
        let _ = nix::fcntl::fcntl(
            fd,
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        );
    }
}

/// Makes the calling process non-dumpable (or dumpable again). A
/// non-dumpable process's `/proc/PID/exe`, `mem`, `fd/` and `environ` can
/// only be opened with `CAP_SYS_PTRACE` in the initial user namespace, so a
/// container cannot reach the host's isola binary through a helper that
/// joins its namespaces (CVE-2019-5736). `execve` of the container's
/// command resets the flag for the command itself.
pub fn set_dumpable(dumpable: bool) -> nix::Result<()> {
    // SAFETY: PR_SET_DUMPABLE takes a flag and reads no memory.
    let rc = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, dumpable as libc::c_ulong, 0, 0, 0) };
    nix::errno::Errno::result(rc).map(drop)
}

/// PIDs of the processes whose command line contains `needle` (a
/// container id): how a container whose state is lost is still found.
pub fn pids_mentioning(needle: &str) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmd| cmd.windows(needle.len()).any(|w| w == needle.as_bytes()))
        })
        .collect()
}

/// Blocks SIGCHLD and `extra` for the calling thread and returns a
/// signalfd that reads them: how isola's relays (attached CLIs, monitors)
/// take signals without handlers.
pub fn signalfd(extra: &[nix::sys::signal::Signal]) -> nix::Result<nix::sys::signalfd::SignalFd> {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGCHLD);
    for s in extra {
        set.add(*s);
    }
    set.thread_block()?;
    nix::sys::signalfd::SignalFd::new(&set)
}
