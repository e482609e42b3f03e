//! Verbs that change a container that already exists: rename, restart,
//! pause/unpause and update. Mechanism (freezing, writing limits) is the
//! backends'; this is the state, the checks and the events.

use crate::ids::validate_name;
use crate::lifecycle::Attach;
use crate::store::{Container, Status};
use crate::{Engine, Error, Result};
use isola_runtime_process::restart::RestartPolicy;
use isola_runtime_process::Limits;
use nix::sys::signal::Signal;
use std::time::Duration;

/// `isola update`'s flags; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct UpdateOptions {
    pub memory: Option<u64>,
    /// Memory plus swap, -1 unlimited.
    pub memory_swap: Option<i64>,
    pub nano_cpus: Option<u64>,
    pub cpu_shares: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub pids_limit: Option<i64>,
    pub restart: Option<RestartPolicy>,
}

/// Docker's smallest `--memory`.
const MIN_MEMORY: u64 = 6 << 20;

impl Engine {
    /// Renames a container, running or not. The new name is reserved
    /// first (exclusively: a taken name is refused), then config.json is
    /// rewritten, then the old name freed, all under the container's lock,
    /// so a name always points at its container and a crash between the
    /// steps leaves at worst an extra name that lookup frees.
    pub fn rename(&self, c: &Container, new: &str) -> Result<()> {
        let new = validate_name(new)?;
        let mut c = c.clone();
        let _lock = c.lock()?;
        c.reload_config()?;
        let old = c.config.name.clone();
        if new == old {
            return Err(Error::Invalid(format!(
                "renaming a container with the same name as its current name ({old}): choose another name"
            )));
        }
        self.reserve_name_from(&new, c.id(), &c.dir)?;
        c.config.name = new.clone();
        if let Err(e) = c.save_config() {
            self.release_name(&new, c.id());
            return Err(e);
        }
        self.release_name(&old, c.id());
        self.container_event(&c, "rename", &[("oldName", format!("/{old}"))]);
        Ok(())
    }

    /// Docker's restart: stop (as `stop`, with `signal` instead of the
    /// stop signal if given) then start again detached, keeping the id.
    pub fn restart(
        &self,
        c: &Container,
        timeout: Option<Duration>,
        signal: Option<Signal>,
    ) -> Result<()> {
        if c.state.status == Status::Running {
            self.stop_with(c, timeout, signal)?;
        }
        let c = self.lookup(c.id())?;
        self.start(&c, Attach::default(), crate::Streams::default())?;
        self.container_event(&c, "restart", &[]);
        Ok(())
    }

    /// Freezes a running container (`pause`).
    pub fn pause(&self, c: &Container) -> Result<()> {
        let mut c = c.clone();
        let _lock = c.lock()?;
        c.reload()?;
        if c.state.status != Status::Running || !c.state.init_alive() {
            return Err(Error::Conflict(format!(
                "container {} is not running",
                c.name()
            )));
        }
        if c.state.restarting {
            return Err(Error::Conflict(format!(
                "container {} is restarting: wait until it runs",
                c.name()
            )));
        }
        if c.state.paused {
            return Err(Error::Conflict(format!(
                "container {} is already paused",
                c.name()
            )));
        }
        self.backend(&c).pause(&c)?;
        c.state.paused = true;
        if let Err(e) = c.save_state() {
            let _ = self.backend(&c).unpause(&c);
            return Err(e);
        }
        self.container_event(&c, "pause", &[]);
        Ok(())
    }

    /// Thaws a paused container (`unpause`).
    pub fn unpause(&self, c: &Container) -> Result<()> {
        if !c.is_paused() {
            return Err(Error::Conflict(format!(
                "container {} is not paused",
                c.name()
            )));
        }
        self.thaw(c)?;
        self.container_event(c, "unpause", &[]);
        Ok(())
    }

    /// Thaws `c` and records it; `stop`, `kill` and `rm -f` do this
    /// first, as Docker does, so the signal reaches a process that runs.
    pub(crate) fn thaw(&self, c: &Container) -> Result<()> {
        let mut c = c.clone();
        let _lock = c.lock()?;
        c.reload()?;
        if !c.is_paused() {
            return Ok(());
        }
        self.backend(&c).unpause(&c)?;
        c.state.paused = false;
        c.save_state()
    }

    /// Changes a container's limits and restart policy (`update`): written
    /// to its cgroup at once when it runs (VM mode: the cgroup in the
    /// guest; the VM's RAM stays what it booted with), and kept in its
    /// configuration for its next start and for `inspect`.
    pub fn update(&self, c: &Container, u: &UpdateOptions) -> Result<()> {
        let mut c = c.clone();
        let _lock = c.lock()?;
        c.reload_config()?;
        c.reload()?;
        let h = &c.config.host_config;
        if let Some(m) = u.memory {
            if m != 0 && m < MIN_MEMORY {
                return Err(Error::Invalid(
                    "minimum memory limit allowed is 6MB: give --memory 6m or more".into(),
                ));
            }
        }
        let memory = u.memory.unwrap_or(h.memory);
        let swap = u.memory_swap.unwrap_or(h.memory_swap);
        if swap > 0 && memory > 0 && (swap as u64) < memory {
            return Err(Error::Invalid(
                "minimum memoryswap limit should be larger than memory limit: see --memory-swap"
                    .into(),
            ));
        }
        if swap > 0 && memory == 0 {
            return Err(Error::Invalid(
                "you should always set the memory limit when using the memoryswap limit: add --memory".into(),
            ));
        }
        if let Some(s) = u.cpu_shares {
            if s != 0 && !(2..=262_144).contains(&s) {
                return Err(Error::Invalid(format!(
                    "invalid --cpu-shares {s}: use 2 to 262144"
                )));
            }
        }
        if let Some(cpus) = &u.cpuset_cpus {
            check_cpuset(cpus)?;
        }
        if let Some(r) = &u.restart {
            if !r.is_none() && h.auto_remove {
                return Err(Error::Invalid(
                    "restart policy cannot be updated because AutoRemove is enabled".into(),
                ));
            }
        }
        let changed = Limits {
            memory_bytes: u.memory.filter(|m| *m > 0),
            nano_cpus: u.nano_cpus.filter(|n| *n > 0),
            pids: u.pids_limit,
            // A new memory limit without --memory-swap keeps Docker's
            // default (twice the memory) unless a swap limit was set.
            memory_swap: u
                .memory_swap
                .or((u.memory.is_some() && h.memory_swap != 0).then_some(h.memory_swap)),
            cpu_shares: u.cpu_shares.filter(|s| *s > 0),
            cpuset_cpus: u.cpuset_cpus.clone(),
            // Not updatable (as in Docker): the cgroup keeps its setting.
            oom_kill_disable: false,
        };
        if c.state.status == Status::Running
            && c.state.init_alive()
            && (changed != Limits::default() || u.restart.is_some())
        {
            self.backend(&c).update(&c, &changed, u.restart)?;
        }
        let h = &mut c.config.host_config;
        if let Some(m) = u.memory {
            h.memory = m;
        }
        if let Some(s) = u.memory_swap {
            h.memory_swap = s;
        }
        if let Some(n) = u.nano_cpus {
            h.nano_cpus = n;
        }
        if let Some(s) = u.cpu_shares {
            h.cpu_shares = s;
        }
        if let Some(cpus) = &u.cpuset_cpus {
            h.cpuset_cpus = cpus.clone();
        }
        if let Some(p) = u.pids_limit {
            h.pids_limit = p;
        }
        if let Some(r) = &u.restart {
            h.restart_policy = *r;
        }
        c.save_config()?;
        self.container_event(&c, "update", &[]);
        Ok(())
    }
}

/// `--cpuset-cpus`: a list of CPU numbers and ranges (`0-2,4`) that exist.
fn check_cpuset(cpus: &str) -> Result<()> {
    let online = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let bad = || {
        Error::Invalid(format!(
            "invalid --cpuset-cpus {cpus:?}: give CPUs 0 to {} as a list such as 0-1,3",
            online - 1
        ))
    };
    for part in cpus.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: u32 = a.trim().parse().map_err(|_| bad())?;
        let b: u32 = b.trim().parse().map_err(|_| bad())?;
        if a > b || b >= online {
            return Err(bad());
        }
    }
    Ok(())
}
