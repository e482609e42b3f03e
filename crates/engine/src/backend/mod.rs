//! The runtime boundary: what differs between isolation modes once a
//! container exists — entering it, listing its processes, signalling it,
//! learning how it ended. `process` runs it on the host kernel, `vm` in a
//! micro-VM; the lifecycle, monitor, logs and CLI are shared.

mod process;
mod vm;

use crate::store::Container;
use crate::{Engine, Error, Result};
use isola_runtime_process::ProcessSpec;
use nix::sys::signal::Signal;
use std::time::Duration;

pub(crate) use process::{limits, main_process, ProcessBackend};
pub(crate) use vm::{attach_main, await_boot, VmBackend, VmSettings};

/// Isolation mode of one container (`--isolation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    Process,
    Vm,
}

impl Isolation {
    /// Parses `process`, `vm` or its alias `hyperv` (Windows' name).
    pub fn parse(v: &str) -> Result<Isolation> {
        match v {
            "process" => Ok(Isolation::Process),
            "vm" | "hyperv" => Ok(Isolation::Vm),
            _ => Err(Error::Invalid(format!(
                "invalid isolation {v:?}: use process, vm, hyperv or default"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Isolation::Process => "process",
            Isolation::Vm => "vm",
        }
    }
}

/// `top`'s answer in Docker's API shape: column titles and rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Top {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// How a container ended, as its backend learned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ending {
    pub code: i32,
    pub oom_killed: bool,
    pub error: String,
}

/// What differs between isolation modes.
pub(crate) trait Backend {
    /// Runs another process in the running container, attached to this
    /// process's stdio; returns its exit code.
    fn exec(&self, c: &Container, process: &ProcessSpec, stdin: bool, tty: bool) -> Result<i32>;
    /// The container's processes.
    fn top(&self, c: &Container, ps_args: &[String]) -> Result<Top>;
    /// Sends `signal` to the container's main process, giving up after
    /// `within` (at most) if the container does not take it.
    fn signal(&self, c: &Container, signal: Signal, within: Duration) -> Result<()>;
    /// Kills the whole container now (`rm -f`, stop's last resort).
    fn force_kill(&self, c: &Container);
    /// How the container ended, once its monitor is gone without having
    /// recorded it.
    fn ending(&self, c: &Container) -> Ending;
    /// Frees what the container held outside its directory (cgroups, ...).
    /// Idempotent: also used by `rm -f` after a monitor died.
    fn cleanup(&self, c: &Container) -> Result<()>;
}

/// Every backend, for cleaning up after a container whose isolation mode
/// is no longer known (its config file is damaged).
pub(crate) fn all() -> [Box<dyn Backend>; 2] {
    [Box::new(ProcessBackend), Box::new(VmBackend)]
}

impl Engine {
    /// The backend for a container's isolation mode.
    pub(crate) fn backend(&self, c: &Container) -> Box<dyn Backend> {
        match c.config.host_config.isolation {
            Isolation::Process => Box::new(ProcessBackend),
            Isolation::Vm => Box::new(VmBackend),
        }
    }

    /// Whether this host can run `mode`, and if not, why.
    pub fn availability(&self, mode: Isolation) -> std::result::Result<String, String> {
        match mode {
            Isolation::Process => Ok("host kernel namespaces and cgroups".into()),
            Isolation::Vm => self.config.vm.check().map(|a| a.reason),
        }
    }
}
