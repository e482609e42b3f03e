//! A client's side of a container's stdio. Exec and attach take the
//! streams they are handed instead of writing to the calling process's own
//! stdio, so one process (an API server) can serve many clients: the CLI
//! hands in copies of its terminal or pipes, a server its sockets.

use crate::{Error, Result};
use std::os::fd::{AsFd, OwnedFd};

/// Where a container's output goes and its input comes from; a stream
/// that is `None` is not attached.
#[derive(Debug, Default)]
pub struct Streams {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

impl Streams {
    /// Copies of this process's own stdio, for the streams asked for.
    pub fn own(stdin: bool, stdout: bool, stderr: bool) -> Result<Streams> {
        let dup = |wanted: bool, fd: std::os::fd::BorrowedFd<'_>| -> Result<Option<OwnedFd>> {
            wanted
                .then(|| fd.try_clone_to_owned().map_err(dup_err))
                .transpose()
        };
        Ok(Streams {
            stdin: dup(stdin, std::io::stdin().as_fd())?,
            stdout: dup(stdout, std::io::stdout().as_fd())?,
            stderr: dup(stderr, std::io::stderr().as_fd())?,
        })
    }

    /// Copies of the same streams.
    pub fn try_clone(&self) -> Result<Streams> {
        let dup = |fd: &Option<OwnedFd>| -> Result<Option<OwnedFd>> {
            fd.as_ref()
                .map(|f| f.try_clone().map_err(dup_err))
                .transpose()
        };
        Ok(Streams {
            stdin: dup(&self.stdin)?,
            stdout: dup(&self.stdout)?,
            stderr: dup(&self.stderr)?,
        })
    }
}

fn dup_err(e: std::io::Error) -> Error {
    Error::Setup(format!("duplicating a client stream: {e}"))
}
