//! The store-wide lock that serialises mutating operations across processes.

use std::fs::{File, OpenOptions};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::error::{IoContext, Result};

/// An exclusive `flock` on `ROOT/images/lock`, released on drop. The kernel
/// drops it when the process dies, so a crash never leaves the store locked.
pub(crate) struct StoreLock {
    _flock: Flock<File>,
}

impl StoreLock {
    /// Blocks until no other `isola` process is changing the store.
    pub(crate) fn acquire(path: &Path) -> Result<StoreLock> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .context(|| format!("opening lock file {}", path.display()))?;
        loop {
            match Flock::lock(file, FlockArg::LockExclusive) {
                Ok(flock) => return Ok(StoreLock { _flock: flock }),
                Err((unlocked, Errno::EINTR)) => file = unlocked,
                Err((_, errno)) => {
                    return Err(errno).context(|| format!("locking {}", path.display()))
                }
            }
        }
    }
}
