//! Process isolation: the container's init is a host process in its own
//! namespaces and cgroup, made by `isola-runtime-process` exactly as the
//! engine's process mode makes it, from the bundle's `config.json`.

use crate::backend::{Backend, Created, NewContainer};
use crate::error::{Error, Result};
use crate::store::Record;
use isola_runtime_process::oci::from_spec;
use isola_runtime_process::{spawn, Cgroup, ContainerSpec, Limits, Rootfs, StartGate};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oci_spec::runtime::Spec;

pub struct ProcessBackend;

impl Backend for ProcessBackend {
    fn create(&self, new: NewContainer<'_>) -> Result<Created> {
        let run = from_spec(new.spec)?;
        let root = new.bundle.join(&run.root);
        let cgroup = Cgroup::create(new.cgroup, &run.limits, &run.linux.device_allow_list()?)?;
        let spec = ContainerSpec {
            rootfs: Rootfs {
                lower: Vec::new(),
                upper: Default::default(),
                work: Default::default(),
                target: root,
                readonly: run.readonly,
            },
            process: run.process,
            hostname: run.hostname,
            network: run.network,
            mounts: run.mounts,
            linux: run.linux,
            seccomp_cache: None,
            start_gate: Some(StartGate {
                fifo: new.fifo,
                hooks: new.start_hooks,
                state: new.state,
            }),
            join_namespaces: run.join_namespaces,
        };
        let spawned = spawn(&spec, &cgroup, new.stdio).inspect_err(|_| {
            let _ = cgroup.remove();
        })?;
        Ok(Created {
            pid: spawned.pid,
            start_time: spawned.start_time,
            pty_master: spawned.pty_master,
        })
    }

    fn kill(&self, rec: &Record, signal: Signal, all: bool) -> Result<()> {
        let targets = if all { self.ps(rec) } else { vec![rec.pid] };
        for pid in targets {
            kill(Pid::from_raw(pid), signal)
                .map_err(|e| Error::Invalid(format!("signalling {pid}: {e}")))?;
        }
        Ok(())
    }

    fn exec(
        &self,
        rec: &Record,
        spec: &Spec,
        stdio: isola_runtime_process::Stdio,
    ) -> Result<Created> {
        let run = from_spec(spec)?;
        let spawned = isola_runtime_process::exec(
            rec.pid,
            &Cgroup::of(&rec.cgroup),
            &run.process,
            stdio,
            None,
        )?;
        Ok(Created {
            pid: spawned.pid,
            start_time: spawned.start_time,
            pty_master: spawned.pty_master,
        })
    }

    fn ps(&self, rec: &Record) -> Vec<i32> {
        Cgroup::of(&rec.cgroup).procs()
    }

    fn paused(&self, rec: &Record) -> bool {
        Cgroup::of(&rec.cgroup).frozen()
    }

    fn freeze(&self, rec: &Record, frozen: bool) -> Result<()> {
        let cg = Cgroup::of(&rec.cgroup);
        Ok(if frozen { cg.freeze() } else { cg.thaw() }?)
    }

    fn update(&self, rec: &Record, limits: &Limits) -> Result<()> {
        Ok(Cgroup::of(&rec.cgroup).update(limits)?)
    }

    fn stats(&self, rec: &Record) -> serde_json::Value {
        let s = Cgroup::of(&rec.cgroup).stats();
        serde_json::json!({
            "cpu": {"usage": {"total": s.cpu_total_ns, "user": s.cpu_user_ns, "kernel": s.cpu_system_ns}},
            "memory": {"usage": {"usage": s.memory_usage, "limit": s.memory_limit}},
            "pids": {"current": s.pids_current, "limit": s.pids_limit},
            "blkio": {"read": s.io_read_bytes, "write": s.io_write_bytes},
        })
    }

    fn cleanup(&self, rec: &Record) -> Result<()> {
        let cg = Cgroup::of(&rec.cgroup);
        // A frozen task cannot die: thaw before the cgroup's removal kills.
        if cg.frozen() {
            let _ = cg.thaw();
        }
        Ok(cg.remove()?)
    }
}
