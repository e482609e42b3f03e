//! `-it` through a real terminal: raw mode, window-size propagation and
//! Ctrl-C reaching the container, driven from a pty like a person would.

use isola_e2e::*;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

fn set_size(fd: &OwnedFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from a valid pointer.
    assert_eq!(
        unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) },
        0
    );
}

/// Reads from the terminal until `needle` shows up (or 20 s pass).
fn expect(master: &mut std::fs::File, seen: &mut String, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    while !seen.contains(needle) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {needle:?}; screen: {seen:?}"
        );
        match master.read(&mut buf) {
            Ok(n) if n > 0 => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let at = seen.find(needle).unwrap() + needle.len();
    seen.drain(..at);
}

#[test]
fn interactive_terminal_resizes_and_ctrl_c() {
    let i = Isola::new();
    let (mut master_fd, mut slave_fd) = (0, 0);
    // SAFETY: openpty fills two fds; no name, termios or size pointers passed.
    let rc = unsafe {
        libc::openpty(
            &mut master_fd,
            &mut slave_fd,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0);
    // SAFETY: both fds were just opened and are owned here.
    let (master, slave) = unsafe {
        (
            OwnedFd::from_raw_fd(master_fd),
            OwnedFd::from_raw_fd(slave_fd),
        )
    };
    set_size(&master, 33, 101);
    let mut cmd = i.cmd(&["run", "-it", "--rm", "busybox", "sh"]);
    let slave_raw = slave.as_raw_fd();
    cmd.stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave.try_clone().unwrap());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::setsid();
            libc::ioctl(slave_raw, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    drop(slave);
    // SAFETY: the flags call only changes this fd's file status.
    unsafe { libc::fcntl(master.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    let mut term = std::fs::File::from(master.try_clone().unwrap());
    let mut seen = String::new();

    term.write_all(b"stty size\r").unwrap();
    expect(&mut term, &mut seen, "33 101");
    set_size(&master, 40, 120);
    // The CLI got SIGWINCH as the terminal's foreground process; give the
    // resize a moment to travel CLI -> monitor -> container pty.
    std::thread::sleep(Duration::from_millis(300));
    term.write_all(b"stty size\r").unwrap();
    expect(&mut term, &mut seen, "40 120");
    // Ctrl-C interrupts the foreground job in the container, not the CLI.
    term.write_all(b"sleep 100\r").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    term.write_all(b"\x03").unwrap();
    expect(&mut term, &mut seen, "^C");
    term.write_all(b"echo after-$?\r").unwrap();
    expect(&mut term, &mut seen, "after-130");
    term.write_all(b"exit 5\r").unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(5));
}
