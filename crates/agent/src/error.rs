//! The agent's one error type. Every message names what failed, because it
//! ends up in the container's exit record or on the serial console, the
//! only places a user can read it.

use isola_runtime_process::Error as RuntimeError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{context}: {source}")]
    Sys { context: String, source: nix::Error },
    /// `/isola/config.json` is missing or not a valid boot configuration.
    #[error("the boot configuration {path}: {reason}")]
    Config { path: String, reason: String },
    /// A device the host should have attached is not there.
    #[error("{0}")]
    Missing(String),
    /// A configuration the agent cannot act on.
    #[error("{0}")]
    Invalid(String),
    /// The process runtime could not start a process.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl Error {
    /// Docker's exit code for a process that could not be started because
    /// of this error: 127 not found, 126 not executable, else 125.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Runtime(RuntimeError::Exec { code, .. }) => *code,
            _ => 125,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Attaches a description of what was being done to an OS error.
pub trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: what(),
            source,
        })
    }
}

impl<T> Context<T> for nix::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Sys {
            context: what(),
            source,
        })
    }
}
