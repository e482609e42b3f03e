//! One backend per isolation mode; the verbs in `commands` are the same
//! for both and never branch on the mode themselves.

use crate::error::Result;
use crate::store::{Isolation, Record};
use isola_runtime_process::hooks::Hook;
use isola_runtime_process::{Limits, Stdio};
use nix::sys::signal::Signal;
use oci_spec::runtime::Spec;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;

/// What `create` hands a backend.
pub struct NewContainer<'a> {
    #[allow(dead_code)] // VM mode names its VM after it
    pub id: &'a str,
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    /// The container's state directory.
    #[allow(dead_code)] // VM mode keeps its VM's files there
    pub dir: &'a Path,
    pub cgroup: &'a str,
    /// `O_PATH` fd of the exec FIFO: the container waits on it for `start`.
    pub fifo: Arc<OwnedFd>,
    pub start_hooks: Vec<Hook>,
    /// The OCI state, for the `startContainer` hooks.
    pub state: String,
    pub stdio: Stdio,
}

/// A process the backend started: the PID reported to the caller.
pub struct Created {
    pub pid: i32,
    pub start_time: u64,
    pub pty_master: Option<OwnedFd>,
}

pub trait Backend {
    /// Creates the container up to the point where it waits for `start`.
    fn create(&self, new: NewContainer<'_>) -> Result<Created>;
    fn kill(&self, rec: &Record, signal: Signal, all: bool) -> Result<()>;
    /// Starts `spec`'s process (the container's spec with the exec'd
    /// process in it) in the running container.
    fn exec(&self, rec: &Record, spec: &Spec, stdio: Stdio) -> Result<Created>;
    /// Host PIDs of the container's processes.
    fn ps(&self, rec: &Record) -> Vec<i32>;
    fn paused(&self, rec: &Record) -> bool;
    fn freeze(&self, rec: &Record, frozen: bool) -> Result<()>;
    fn update(&self, rec: &Record, limits: &Limits) -> Result<()>;
    fn stats(&self, rec: &Record) -> serde_json::Value;
    /// Frees everything the container held; idempotent, and safe on a
    /// container whose `create` died half-way.
    fn cleanup(&self, rec: &Record) -> Result<()>;
}

pub fn of(isolation: Isolation) -> Box<dyn Backend> {
    match isolation {
        Isolation::Process => Box::new(crate::process::ProcessBackend),
        Isolation::Vm => Box::new(crate::vm::VmBackend),
    }
}
