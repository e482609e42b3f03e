//! Persistent network namespaces, as `ip netns add` makes them: a new
//! namespace bind-mounted on a file, so that it outlives every process in
//! it (a `kill -9`ed monitor or hypervisor included) until `remove`.
//! netavark configures it by that path; the container joins it.

use crate::{io_err, Error, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use std::path::Path;

/// `NSFS_MAGIC`: the file system type of a namespace file.
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// Whether `path` is a bound network namespace.
pub fn is_bound(path: &Path) -> bool {
    nix::sys::statfs::statfs(path).is_ok_and(|s| s.filesystem_type().0 == NSFS_MAGIC)
}

/// Creates a new network namespace bound at `path` (its directory must
/// exist). Already bound: nothing to do.
pub fn create(path: &Path) -> Result<()> {
    if is_bound(path) {
        return Ok(());
    }
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io_err(format!("creating {}", path.display())))?;
    let target = path.to_path_buf();
    // The network namespace is a per-thread attribute: a short-lived
    // thread enters a new one and binds it, leaving the caller's alone
    // (and the caller single-threaded afterwards, as the runtime needs).
    let made = std::thread::spawn(move || -> Result<()> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(|e| Error::Io {
            context: "creating a network namespace".into(),
            source: e.into(),
        })?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| Error::Io {
            context: format!("binding the network namespace on {}", target.display()),
            source: e.into(),
        })
    })
    .join()
    .unwrap_or_else(|_| Err(Error::Invalid("network namespace thread panicked".into())));
    if made.is_err() {
        let _ = std::fs::remove_file(path);
    }
    made
}

/// Unbinds and removes `path`; the namespace goes when its last process
/// does. Missing: nothing to do.
pub fn remove(path: &Path) -> Result<()> {
    while is_bound(path) {
        umount2(path, MntFlags::MNT_DETACH).map_err(|e| Error::Io {
            context: format!("unmounting {}", path.display()),
            source: e.into(),
        })?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(format!("removing {}", path.display()))(e)),
    }
}
