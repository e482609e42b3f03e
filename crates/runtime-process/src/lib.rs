//! Runs one container process on the host kernel: namespaces, cgroups, an
//! overlayfs root entered with pivot_root, Docker's default capabilities and
//! seccomp policy (no_new_privs only when asked, as in Docker).
//!
//! We deliberately wrote this layer ourselves instead of embedding youki's
//! `libcontainer`:
//! - the per-container monitor must own the container's stdio (pipes or a
//!   pty) and be the direct parent of the container init, while libcontainer
//!   brings its own process tree, state directory and console-socket protocol;
//! - the guest agent of VM mode runs the very same code statically linked
//!   inside the guest, so it must be pure Rust (seccompiler instead of
//!   libseccomp) and small;
//! - libcontainer's v1 cgroup removal left empty directories behind on this
//!   project's reference host, and leaving nothing behind is a requirement.
//!
//! The root filesystem is mounted inside the container's own mount namespace,
//! so no mount of a container is ever visible on the host and the kernel
//! tears it down when the container's last process exits.

pub mod capabilities;
pub mod cgroups;
pub mod devices;
pub mod exe;
mod exec;
pub mod fsop;
pub mod health;
pub mod hooks;
mod init;
pub mod linux;
mod mounts;
pub use mounts::make_private;
pub mod net;
pub mod oci;
pub mod restart;
pub mod seccomp;
pub mod signal;
mod spawn;
mod stdio;
mod streams;
pub mod sys;
mod syscalls;
#[doc(hidden)]
pub mod testing;
pub mod usage;
pub mod user;
pub mod volume;

pub use cgroups::{Cgroup, CgroupStats, CgroupVersion, Limits};
pub use exec::{exec, wait_exit_code};
pub use init::is_rlimit;
pub use linux::{DeviceNode, LinuxSettings};
pub use spawn::{spawn, ContainerSpec, Network, ProcessSpec, Rlimit, Rootfs, Spawned, StartGate};
pub use stdio::{send_fd, Stdio};
pub use streams::Streams;
pub use volume::{MountKind, Propagation, UserMount};

/// Errors of the process runtime. Each message names what failed and, where
/// the user can act, what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The container's command could not be executed; `code` follows
    /// Docker: 127 when it was not found, 126 when it is not executable.
    #[error("{message}")]
    Exec { code: i32, message: String },
    #[error("cgroup {path}: {source}")]
    Cgroup {
        path: String,
        source: std::io::Error,
    },
    #[error("setting up the container failed: {0}")]
    Setup(String),
    #[error("{context}: {source}")]
    Sys { context: String, source: nix::Error },
    #[error("seccomp: {0}")]
    Seccomp(String),
    #[error("capabilities: {0}")]
    Capabilities(String),
}

impl Error {
    /// The error another process reported as `code` (126/127: the command
    /// could not run) and its message. A report relayed through several
    /// processes (init, monitor, guest agent) carries each one's "setting up
    /// the container failed: "; it is said once.
    pub fn relayed(code: i32, message: &str) -> Error {
        let mut message = message;
        while let Some(rest) = message.strip_prefix("setting up the container failed: ") {
            message = rest;
        }
        let message = message.to_string();
        match code {
            126 | 127 => Error::Exec { code, message },
            _ => Error::Setup(message),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Attaches a description of what was being done to a nix error.
pub(crate) trait Context<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for nix::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Sys {
            context: what(),
            source,
        })
    }
}

impl<T> Context<T> for std::io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Sys {
            context: what(),
            source: e
                .raw_os_error()
                .map_or(nix::Error::EIO, nix::Error::from_raw),
        })
    }
}
