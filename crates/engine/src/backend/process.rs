//! Process isolation: the container is a tree of host processes in their
//! own namespaces and cgroup (see `isola-runtime-process`).

use super::Backend;
use crate::store::Container;
use crate::Result;
use isola_runtime_process::{
    spawn, Cgroup, ContainerSpec, Limits, Network, ProcessSpec, Rootfs, Spawned, Stdio,
};

pub(crate) struct ProcessBackend;

fn limits(c: &Container) -> Limits {
    let h = &c.config.host_config;
    Limits {
        memory_bytes: (h.memory > 0).then_some(h.memory),
        nano_cpus: (h.nano_cpus > 0).then_some(h.nano_cpus),
        pids: (h.pids_limit != 0).then_some(h.pids_limit),
    }
}

/// The container's main process as the runtime wants it.
pub(crate) fn main_process(c: &Container) -> ProcessSpec {
    let cfg = &c.config.config;
    ProcessSpec {
        args: std::iter::once(c.config.path.clone())
            .chain(c.config.args.iter().cloned())
            .collect(),
        env: cfg.env.clone(),
        cwd: cfg.working_dir.clone(),
        user: cfg.user.clone(),
    }
}

impl Backend for ProcessBackend {
    fn start(&self, c: &Container, stdio: Stdio) -> Result<Spawned> {
        let cgroup = Cgroup::create(&c.cgroup_name(), &limits(c))?;
        let spec = ContainerSpec {
            rootfs: Rootfs {
                lower: c.config.layers.iter().rev().cloned().collect(),
                upper: c.dir.join("upper"),
                work: c.dir.join("work"),
                target: c.dir.join("rootfs"),
                readonly: c.config.host_config.readonly_rootfs,
            },
            process: main_process(c),
            hostname: c.config.config.hostname.clone(),
            network: if c.config.host_config.network_mode == "host" {
                Network::Host
            } else {
                Network::None
            },
            bind_files: ["hostname", "hosts", "resolv.conf"]
                .iter()
                .map(|f| (c.dir.join(f), format!("/etc/{f}")))
                .collect(),
        };
        spawn(&spec, &cgroup, stdio).map_err(|e| {
            let _ = cgroup.remove();
            e.into()
        })
    }

    fn exec(&self, c: &Container, process: &ProcessSpec, stdio: Stdio) -> Result<Spawned> {
        let cgroup = Cgroup::of(&c.cgroup_name());
        Ok(isola_runtime_process::exec(
            c.state.pid,
            &cgroup,
            process,
            stdio,
        )?)
    }

    fn processes(&self, c: &Container) -> Vec<i32> {
        Cgroup::of(&c.cgroup_name()).procs()
    }

    fn oom_killed(&self, c: &Container) -> bool {
        Cgroup::of(&c.cgroup_name()).oom_killed()
    }

    fn cleanup(&self, c: &Container) -> Result<()> {
        Ok(Cgroup::of(&c.cgroup_name()).remove()?)
    }
}
