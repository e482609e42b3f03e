//! The guest's own file systems, set up once at boot: what a distribution's
//! init and udev would do, reduced to what the container runtime needs.

use crate::error::{Context, Result};
use nix::fcntl::{open, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, chroot, dup2};
use std::fs;

/// Where the agent keeps its mounts and generated files.
pub const RUN_DIR: &str = "/run/isola";

pub fn setup() -> Result<()> {
    leave_initramfs_root()?;
    mount_fs("devtmpfs", "/dev", MsFlags::MS_NOSUID, Some("mode=0755"))?;
    attach_console();
    let hidden = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount_fs("proc", "/proc", hidden, None)?;
    mount_fs("sysfs", "/sys", hidden, None)?;
    mount_fs(
        "devpts",
        "/dev/pts",
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("mode=0620,ptmxmode=0666,gid=5"),
    )?;
    let scratch = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount_fs("tmpfs", "/dev/shm", scratch, Some("mode=1777"))?;
    mount_fs("tmpfs", "/tmp", scratch, Some("mode=1777"))?;
    mount_fs("tmpfs", "/run", scratch, Some("mode=0755"))?;
    mount_fs("cgroup2", "/sys/fs/cgroup", hidden, None)?;
    fs::create_dir_all(RUN_DIR).ctx(|| format!("creating {RUN_DIR}"))?;
    Ok(isola_runtime_process::net::loopback_up()?)
}

/// Moves the agent's root from the initramfs onto a bind mount of itself.
///
/// The kernel refuses `pivot_root` while the caller's root is the initial
/// rootfs (it has no parent mount), and the process runtime enters every
/// container with `pivot_root`. A bind mount of `/` moved over `/` and
/// chroot'ed into — what `switch_root` does with a real root — has a parent,
/// so containers started from it can pivot.
fn leave_initramfs_root() -> Result<()> {
    const NEW_ROOT: &str = "/.isola-root";
    fs::create_dir_all(NEW_ROOT).ctx(|| format!("creating {NEW_ROOT}"))?;
    mount(
        Some("/"),
        NEW_ROOT,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| "bind-mounting the initramfs root".into())?;
    chdir(NEW_ROOT).ctx(|| "entering the root bind mount".into())?;
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .ctx(|| "moving the root bind mount over /".into())?;
    chroot(".").ctx(|| "chroot into the root bind mount".into())?;
    chdir("/").ctx(|| "chdir /".into())?;
    let _ = fs::remove_dir(NEW_ROOT);
    Ok(())
}

/// Makes /dev/console the agent's stdin, stdout and stderr, so fatal
/// errors reach the serial console even when the initramfs had no
/// /dev/console for the kernel to open.
fn attach_console() {
    let Ok(fd) = open(
        "/dev/console",
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        Mode::empty(),
    ) else {
        return;
    };
    for target in 0..=2 {
        if fd != target {
            let _ = dup2(fd, target);
        }
    }
    if fd > 2 {
        let _ = nix::unistd::close(fd);
    }
}

fn mount_fs(fstype: &str, target: &str, flags: MsFlags, data: Option<&str>) -> Result<()> {
    fs::create_dir_all(target).ctx(|| format!("creating {target}"))?;
    mount(Some(fstype), target, Some(fstype), flags, data)
        .ctx(|| format!("mounting {fstype} on {target}"))
}
