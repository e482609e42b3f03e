//! Finding and opening the control port, and waiting for the host.
//!
//! devtmpfs names virtio-serial ports `/dev/vportNpM`; the friendly
//! `/dev/virtio-ports/<name>` links come from udev, which the guest does not
//! run, so the name is looked up in sysfs instead.

use anyhow::{bail, Context, Result};
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::fs::{self, File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The port name the host gives the control channel
/// (`-device virtserialport,name=org.isola.ctl`).
pub const CONTROL_PORT: &str = "org.isola.ctl";
const SYSFS_PORTS: &str = "/sys/class/virtio-ports";

/// Waits for the port named `name` to appear and opens it non-blocking.
/// The name arrives from the host asynchronously during boot, hence the wait.
pub fn open(name: &str, timeout: Duration) -> Result<File> {
    let deadline = Instant::now() + timeout;
    let path = loop {
        if let Some(p) = find(Path::new(SYSFS_PORTS), name) {
            if p.exists() {
                break p;
            }
        }
        if Instant::now() >= deadline {
            bail!(
                "no virtio-serial port named {name} after {}s; start QEMU with \
                 -device virtio-serial-device -device virtserialport,name={name},chardev=...",
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags((OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).bits())
        .open(&path)
        .with_context(|| format!("opening the control port {}", path.display()))
}

/// `/dev/<vportNpM>` of the port whose sysfs `name` is `name`.
fn find(sysfs: &Path, name: &str) -> Option<PathBuf> {
    fs::read_dir(sysfs).ok()?.flatten().find_map(|entry| {
        let port_name = fs::read_to_string(entry.path().join("name")).ok()?;
        (port_name.trim_end() == name).then(|| Path::new("/dev").join(entry.file_name()))
    })
}

/// Waits until a host program is connected to the port's socket.
///
/// While nobody is connected the port reports POLLHUP (and POLLIN with
/// reads of 0) at once, so `poll` cannot wait for the connection; it shows
/// as POLLOUT becoming set, which this checks every 10 ms.
pub fn wait_for_host(port: &File, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut fds = [PollFd::new(port.as_fd(), PollFlags::POLLOUT)];
        poll(&mut fds, PollTimeout::ZERO).context("polling the control port")?;
        if fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLOUT))
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "no host connected to the control port within {}s",
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_port_by_its_sysfs_name() {
        let dir = tempfile::tempdir().unwrap();
        for (port, name) in [("vport0p0", "other"), ("vport0p1", "org.isola.ctl\n")] {
            fs::create_dir(dir.path().join(port)).unwrap();
            fs::write(dir.path().join(port).join("name"), name).unwrap();
        }
        fs::create_dir(dir.path().join("vport1p0")).unwrap(); // no name file
        assert_eq!(
            find(dir.path(), CONTROL_PORT),
            Some(PathBuf::from("/dev/vport0p1"))
        );
        assert_eq!(find(dir.path(), "org.isola.none"), None);
    }
}
