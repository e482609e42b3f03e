//! The runtime boundary: how a container's process is started, entered and
//! listed. `process` runs it on the host kernel; `vm` will run it in a
//! micro-VM behind the same trait, so the lifecycle, monitor, logs and CLI
//! stay the same for both.

mod process;

use crate::store::Container;
use crate::{Error, Result};
use isola_runtime_process::{ProcessSpec, Spawned, Stdio};

pub(crate) use process::{main_process, ProcessBackend};

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

    /// Whether this host can run the mode, and if not, why.
    pub fn availability(self) -> std::result::Result<(), String> {
        match self {
            Isolation::Process => Ok(()),
            Isolation::Vm => Err(
                "VM isolation is not implemented yet in this build of isola: use --isolation=process"
                    .to_string(),
            ),
        }
    }
}

/// What differs between isolation modes.
pub(crate) trait Backend {
    /// Starts the container's main process; called in its monitor, which
    /// becomes the process's parent.
    fn start(&self, c: &Container, stdio: Stdio) -> Result<Spawned>;
    /// Starts another process in the running container; the caller becomes
    /// its parent.
    fn exec(&self, c: &Container, process: &ProcessSpec, stdio: Stdio) -> Result<Spawned>;
    /// Host PIDs of the container's processes, for `top`.
    fn processes(&self, c: &Container) -> Vec<i32>;
    /// Whether the OOM killer struck the container.
    fn oom_killed(&self, c: &Container) -> bool;
    /// Frees what `start` allocated besides the process (cgroups, ...).
    /// Idempotent: also used by `rm -f` after a monitor died.
    fn cleanup(&self, c: &Container) -> Result<()>;
}

/// The backend for a container's isolation mode.
pub(crate) fn for_container(c: &Container) -> Result<Box<dyn Backend>> {
    match c.config.host_config.isolation {
        Isolation::Process => Ok(Box::new(ProcessBackend)),
        Isolation::Vm => Err(Error::Invalid(Isolation::Vm.availability().unwrap_err())),
    }
}
