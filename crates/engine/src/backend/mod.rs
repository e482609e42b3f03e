//! The runtime boundary: everything that differs between isolation modes,
//! from the monitor process (which starts and supervises the container,
//! or in VM mode becomes its hypervisor) through attaching, entering,
//! listing, signalling and cleaning up. `process` runs a container on the
//! host kernel, `vm` in a micro-VM; the lifecycle, state store, logs and
//! CLI are shared and never ask which mode a container is in.

mod process;
mod vm;

use crate::lifecycle::{Attach, Started};
use crate::monitor::MonitorOptions;
use crate::net::NetworkMode;
use crate::store::Container;
use crate::{Engine, Error, Result};
use isola_runtime_process::ProcessSpec;
use nix::sys::signal::Signal;
use std::time::Duration;

pub(crate) use process::{limits, main_process, ProcessBackend};
pub(crate) use vm::{VmBackend, VmSettings};

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
    /// Runs another process in the running container, attached to the
    /// client's `streams`; returns its exit code.
    fn exec(
        &self,
        c: &Container,
        process: &ProcessSpec,
        streams: crate::Streams,
        tty: bool,
    ) -> Result<i32>;
    /// Runs a file operation (`cp`, `export`) in the container's file
    /// system, running or stopped, on the client's `streams` (the tar goes
    /// through stdin/stdout); returns its exit code (see `fsop`).
    fn fs_op(
        &self,
        c: &Container,
        op: &isola_runtime_process::fsop::FsOp,
        streams: crate::Streams,
    ) -> Result<i32>;
    /// The container's processes.
    fn top(&self, c: &Container, ps_args: &[String]) -> Result<Top>;
    /// Sends `signal` to the container's main process, giving up after
    /// `within` (at most) if the container does not take it. `stop`: the
    /// user stops or kills it, so its restart policy must not start it
    /// again (process mode's monitor reads that from the state instead).
    fn signal(&self, c: &Container, signal: Signal, within: Duration, stop: bool) -> Result<()>;
    /// Adds to a running container's state what its supervisor reports
    /// elsewhere (VM mode: the guest's status records). In memory only.
    fn observe(&self, _c: &mut Container) {}
    /// Kills the whole container now (`rm -f`, stop's last resort).
    fn force_kill(&self, c: &Container);
    /// How the container ended, once its monitor is gone without having
    /// recorded it.
    fn ending(&self, c: &Container) -> Ending;
    /// Frees what the container held outside its directory (cgroups, its
    /// network namespace and links, ...). Idempotent: also used by `rm -f`
    /// after a monitor died.
    fn cleanup(&self, c: &Container) -> Result<()>;

    /// Freezes every process of the running container (`pause`).
    fn pause(&self, c: &Container) -> Result<()>;
    /// Thaws a paused container (`unpause`, and before `stop`/`kill`).
    fn unpause(&self, c: &Container) -> Result<()>;
    /// Applies changed limits to the running container (`update`): only
    /// the limits `changed` sets, and a new restart policy if given (the
    /// process-mode monitor rereads it from the configuration).
    fn update(
        &self,
        c: &Container,
        changed: &isola_runtime_process::Limits,
        restart: Option<isola_runtime_process::restart::RestartPolicy>,
    ) -> Result<()>;
    /// One sample of what the running container uses (`stats`).
    fn usage(&self, c: &Container) -> Result<isola_runtime_process::usage::Usage>;

    /// Whether a running container can get or lose a network interface
    /// (`network connect/disconnect`).
    fn check_hotplug(&self) -> Result<()> {
        Ok(())
    }
    /// How many networks a container can be on at once.
    fn max_networks(&self) -> usize {
        usize::MAX
    }
    /// Refuses settings this mode cannot offer, before anything is created.
    fn check_create(&self, _network: &NetworkMode) -> Result<()> {
        Ok(())
    }
    /// Whether its containers can share PID/IPC/UTS namespaces with the
    /// host or with each other (`--pid host`, `--ipc container:`): only
    /// where they run on the host's kernel.
    fn shares_namespaces(&self) -> bool {
        true
    }
    /// In the container's monitor process: starts the container and
    /// supervises it to its end; returns its exit code. (VM mode: becomes
    /// the hypervisor, returning only on failure.)
    fn run_monitor(
        &self,
        engine: &Engine,
        c: &mut Container,
        opts: MonitorOptions,
        ready: &mut Option<std::fs::File>,
    ) -> Result<i32>;
    /// In the starting CLI, once the monitor reported the container
    /// running (VM mode: a detached guest must also answer).
    fn started(&self, _engine: &Engine, _c: &Container, _pid: i32, _attach: Attach) -> Result<()> {
        Ok(())
    }
    /// The attached CLI's side until the container ends: relays its
    /// streams and signals, returns its exit code.
    fn wait_attached(&self, engine: &Engine, s: Started) -> Result<i32>;
}

/// Every backend, for cleaning up after a container whose isolation mode
/// is no longer known (its config file is damaged).
pub(crate) fn all() -> [Box<dyn Backend>; 2] {
    [Box::new(ProcessBackend), Box::new(VmBackend)]
}

/// The backend of an isolation mode.
pub(crate) fn of(isolation: Isolation) -> Box<dyn Backend> {
    match isolation {
        Isolation::Process => Box::new(ProcessBackend),
        Isolation::Vm => Box::new(VmBackend),
    }
}

impl Engine {
    /// The backend for a container's isolation mode.
    pub(crate) fn backend(&self, c: &Container) -> Box<dyn Backend> {
        of(c.config.host_config.isolation)
    }

    /// Whether this host can run `mode`, and if not, why.
    pub fn availability(&self, mode: Isolation) -> std::result::Result<String, String> {
        match mode {
            Isolation::Process => Ok("host kernel namespaces and cgroups".into()),
            Isolation::Vm => self.config.vm.check().map(|a| a.reason),
        }
    }
}
