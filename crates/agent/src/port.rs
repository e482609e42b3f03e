//! The guest's virtio-serial ports: finding them, opening them, telling
//! whether a client is connected on the host side, and writing to them.
//!
//! devtmpfs names virtio-serial ports `/dev/vportNpM`; the friendly
//! `/dev/virtio-ports/<name>` links come from udev, which the guest does not
//! run, so the name is looked up in sysfs instead.
//!
//! What the kernel's virtio_console driver does, which the agent relies on:
//! while nothing is connected on the host side, `poll` reports POLLHUP and
//! POLLIN at once and reads return 0 (after any data still buffered), and
//! writes would block; a connection or disconnection wakes the port's wait
//! queue. There is no fsync: closing the port is the only barrier, since
//! the guest then waits until the host took its "port closed" message.

use crate::error::{Context, Error, Result};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SYSFS_PORTS: &str = "/sys/class/virtio-ports";
/// How long a port's name may take to arrive from QEMU during boot.
const NAME_TIMEOUT: Duration = Duration::from_secs(10);

/// Waits for the port named `name` to appear and opens it non-blocking.
/// The name arrives from the host asynchronously during boot, hence the wait.
pub fn open(name: &str) -> Result<File> {
    let deadline = Instant::now() + NAME_TIMEOUT;
    let path = loop {
        if let Some(p) = find(Path::new(SYSFS_PORTS), name) {
            if p.exists() {
                break p;
            }
        }
        if Instant::now() >= deadline {
            return Err(Error::Missing(format!(
                "no virtio-serial port named {name} after {}s; start the VM with \
                 isola_runtime_vm::Qemu, which adds -device virtserialport,name={name}",
                NAME_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags((OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).bits())
        .open(&path)
        .ctx(|| format!("opening the port {name} ({})", path.display()))
}

/// `/dev/<vportNpM>` of the port whose sysfs `name` is `name`.
fn find(sysfs: &Path, name: &str) -> Option<PathBuf> {
    fs::read_dir(sysfs).ok()?.flatten().find_map(|entry| {
        let port_name = fs::read_to_string(entry.path().join("name")).ok()?;
        (port_name.trim_end() == name).then(|| Path::new("/dev").join(entry.file_name()))
    })
}

/// Whether a client is connected to the host side of `port` right now.
pub fn host_connected(port: &File) -> bool {
    let mut fds = [PollFd::new(port.as_fd(), PollFlags::POLLOUT)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(_) => !fds[0]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)),
        Err(_) => false,
    }
}

/// Writes what `port` takes of `bytes` without blocking; returns how much.
pub fn write_some(mut port: &File, bytes: &[u8]) -> std::io::Result<usize> {
    let mut done = 0;
    while done < bytes.len() {
        match port.write(&bytes[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Writes all of `bytes`, waiting for room until `deadline`; for the few
/// writes that must complete (the exit record, the log's last lines).
pub fn write_all(port: &File, bytes: &[u8], deadline: Instant) -> std::io::Result<()> {
    let mut done = 0;
    loop {
        done += write_some(port, &bytes[done..])?;
        if done == bytes.len() {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        let mut fds = [PollFd::new(port.as_fd(), PollFlags::POLLOUT)];
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_port_by_its_sysfs_name() {
        let dir = tempfile::tempdir().unwrap();
        for (port, name) in [("vport0p0", "other"), ("vport0p1", "org.isola.ctl.1\n")] {
            fs::create_dir(dir.path().join(port)).unwrap();
            fs::write(dir.path().join(port).join("name"), name).unwrap();
        }
        fs::create_dir(dir.path().join("vport1p0")).unwrap(); // no name file
        assert_eq!(
            find(dir.path(), "org.isola.ctl.1"),
            Some(PathBuf::from("/dev/vport0p1"))
        );
        assert_eq!(find(dir.path(), "org.isola.none"), None);
    }

    #[test]
    fn write_all_waits_for_room_and_gives_up_at_the_deadline() {
        let (r, w) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).unwrap();
        let w = File::from(w);
        let big = vec![7u8; 1 << 20];
        let soon = Instant::now() + Duration::from_millis(50);
        let err = write_all(&w, &big, soon).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
        drop(r);
        // With the reader gone the pipe reports the error, not a timeout.
        let err = write_all(&w, b"x", Instant::now() + Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe);
    }
}
