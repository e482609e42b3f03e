//! Process isolation: the container is a tree of host processes in their
//! own namespaces and cgroup (see `isola-runtime-process`).

use super::{Backend, Ending, Top};
use crate::pump::{make_stdio, pump, Input, Sinks};
use crate::store::Container;
use crate::{io_err, Error, Result};
use isola_runtime_process::fsop::{FsOp, FsRoot};
use isola_runtime_process::{
    spawn, wait_exit_code, Cgroup, ContainerSpec, Limits, ProcessSpec, Rootfs, Spawned, Stdio,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::process::Command;

pub(crate) struct ProcessBackend;

/// `--init` in process mode: Debian's statically linked tini, bound into
/// the container (a dynamic binary would need the image's libraries).
const HOST_INIT: &str = "/usr/bin/tini-static";

/// The container's resource limits as the runtime takes them.
pub(crate) fn limits(c: &Container) -> Limits {
    let h = &c.config.host_config;
    Limits {
        memory_bytes: (h.memory > 0).then_some(h.memory),
        nano_cpus: (h.nano_cpus > 0).then_some(h.nano_cpus),
        pids: (h.pids_limit != 0).then_some(h.pids_limit),
        memory_swap: (h.memory_swap != 0).then_some(h.memory_swap),
        cpu_shares: (h.cpu_shares != 0).then_some(h.cpu_shares),
        cpuset_cpus: (!h.cpuset_cpus.is_empty()).then(|| h.cpuset_cpus.clone()),
        oom_kill_disable: h.oom_kill_disable,
    }
}

/// The container's main process as the runtime wants it.
pub(crate) fn main_process(c: &Container) -> ProcessSpec {
    let cfg = &c.config.config;
    let h = &c.config.host_config;
    let capabilities = crate::policy::capabilities(h);
    ProcessSpec {
        args: std::iter::once(c.config.path.clone())
            .chain(c.config.args.iter().cloned())
            .collect(),
        env: cfg.env.clone(),
        cwd: cfg.working_dir.clone(),
        user: cfg.user.clone(),
        seccomp: crate::policy::seccomp(h, &capabilities),
        capabilities,
        no_new_privileges: crate::policy::no_new_privileges(h),
        rlimits: h.ulimits.clone(),
        additional_groups: h.group_add.clone(),
        oom_score_adj: None,
    }
}

fn cgroup(c: &Container) -> Cgroup {
    Cgroup::of(&c.cgroup_name())
}

/// The client's streams as the process's 0, 1 and 2 (/dev/null where the
/// client has none).
fn fds(streams: crate::Streams) -> Result<Stdio> {
    let null = || -> Result<OwnedFd> {
        Ok(std::fs::File::open("/dev/null")
            .map_err(io_err("/dev/null"))?
            .into())
    };
    Ok(Stdio::Fds {
        stdin: streams.stdin.map_or_else(null, Ok)?,
        stdout: streams.stdout.map_or_else(null, Ok)?,
        stderr: streams.stderr.map_or_else(null, Ok)?,
    })
}

/// Where the process runtime finds the container's parts on the host.
fn placement(c: &Container) -> crate::spec::Placement {
    crate::spec::Placement {
        root: c.dir.join("rootfs"),
        binds: ["hostname", "hosts", "resolv.conf"]
            .iter()
            .map(|f| (c.dir.join(f), format!("/etc/{f}")))
            .collect(),
        shares: None,
        init: c.config.host_config.init.then(|| HOST_INIT.into()),
        vm_guest: false,
    }
}

/// The overlay is the engine's own affair: OCI runtimes get a prepared
/// root, this one assembles it from the layers.
fn rootfs(c: &Container, target: PathBuf, readonly: bool) -> Rootfs {
    Rootfs {
        lower: c.config.layers.iter().rev().cloned().collect(),
        upper: c.dir.join("upper"),
        work: c.dir.join("work"),
        target,
        readonly,
    }
}

impl ProcessBackend {
    /// Starts the container's init; called in its monitor, which becomes
    /// its parent. Must be called while the process has a single thread.
    pub(crate) fn start(&self, c: &Container, stdio: Stdio) -> Result<Spawned> {
        // The contract: the container's OCI spec, written as its bundle's
        // config.json and run from that file, as runc would.
        let path = crate::spec::write_bundle(c, &crate::spec::build(c, &placement(c))?)?;
        let run = isola_runtime_process::oci::from_spec(&crate::spec::read_bundle(&path)?)?;
        let cgroup = Cgroup::create(
            &c.cgroup_name(),
            &run.limits,
            &run.linux.device_allow_list()?,
        )?;
        let spec = ContainerSpec {
            // The overlay is the engine's own affair: OCI runtimes get a
            // prepared root, this one assembles it from the layers.
            rootfs: rootfs(c, run.root, run.readonly),
            process: run.process,
            hostname: run.hostname,
            network: run.network,
            mounts: run.mounts,
            linux: run.linux,
            seccomp_cache: Some(c.seccomp_cache()),
            start_gate: None,
            join_namespaces: run.join_namespaces.clone(),
        };
        spawn(&spec, &cgroup, stdio).map_err(|e| {
            let _ = cgroup.remove();
            e.into()
        })
    }

    pub(crate) fn oom_killed(&self, c: &Container) -> bool {
        cgroup(c).oom_killed()
    }

    /// Frees what one run of the container held (its cgroup), keeping what
    /// its next run under a restart policy reuses (its network namespace);
    /// [`Backend::cleanup`] frees everything.
    pub(crate) fn end_run(&self, c: &Container) -> Result<()> {
        Ok(cgroup(c).remove()?)
    }
}

impl Backend for ProcessBackend {
    fn run_monitor(
        &self,
        engine: &crate::Engine,
        c: &mut Container,
        opts: crate::MonitorOptions,
        ready: &mut Option<std::fs::File>,
    ) -> Result<i32> {
        engine.supervise_process(c, opts, ready)
    }

    /// The monitor is our child and holds our stdio: wait for it,
    /// forwarding signals to the container's init.
    fn wait_attached(&self, engine: &crate::Engine, s: crate::Started) -> Result<i32> {
        let current_init = || {
            engine
                .lookup(&s.id)
                .ok()
                .filter(|c| c.state.status == crate::Status::Running && c.state.init_alive())
                .map(|c| c.state.pid)
        };
        Ok(crate::signals::wait_attached(
            s.monitor,
            &current_init,
            s.attach.sig_proxy,
            s.first_exit,
        ))
    }

    fn exec(
        &self,
        c: &Container,
        process: &ProcessSpec,
        streams: crate::Streams,
        tty: bool,
    ) -> Result<i32> {
        let cgroup = cgroup(c);
        let cache = c.seccomp_cache();
        let start =
            |stdio| isola_runtime_process::exec(c.state.pid, &cgroup, process, stdio, Some(&cache));
        if tty {
            let input = if streams.stdin.is_some() {
                Input::Forward
            } else {
                Input::Null
            };
            let size_from = streams.stdin.as_ref().map(|f| f.as_fd());
            let (stdio, ends) = make_stdio(true, input, size_from)?;
            let mut spawned = start(stdio)?;
            let ends = ends.with_master(spawned.pty_master.take())?;
            let sinks = Sinks {
                log: None,
                streams,
                proxy: true,
            };
            return pump(ends, sinks, Pid::from_raw(spawned.pid), None);
        }
        // Without a terminal the process gets the client's streams directly.
        let spawned = start(fds(streams)?)?;
        Ok(wait_exit_code(spawned.pid))
    }

    /// Runs the host's `ps` (default `-ef`) and keeps the container's rows,
    /// so the PIDs are host PIDs, like `docker top`.
    fn fs_op(&self, c: &Container, op: &FsOp, streams: crate::Streams) -> Result<i32> {
        let running = (c.state.status == crate::Status::Running && c.state.init_alive())
            .then_some(c.state.pid);
        // Stopped: its root and mounts as it would run, assembled in the
        // operation's own mount namespace (gone when it ends).
        let stopped = || -> isola_runtime_process::Result<FsRoot> {
            let spec = crate::spec::build(c, &placement(c))
                .map_err(|e| isola_runtime_process::Error::Setup(e.to_string()))?;
            let run = isola_runtime_process::oci::from_spec(&spec)?;
            Ok(FsRoot::Stopped {
                rootfs: rootfs(c, run.root, false),
                mounts: run.mounts,
            })
        };
        let lowers: Vec<PathBuf> = c.config.layers.iter().rev().cloned().collect();
        let (root, op) = op
            .clone()
            .placed(running, stopped, &c.dir.join("upper"), &lowers)?;
        let spawned = isola_runtime_process::fsop::spawn(&root, &op, fds(streams)?)?;
        Ok(wait_exit_code(spawned.pid))
    }

    fn top(&self, c: &Container, ps_args: &[String]) -> Result<Top> {
        let pids = cgroup(c).procs();
        let args: Vec<String> = if ps_args.is_empty() {
            vec!["-ef".into()]
        } else {
            ps_args.to_vec()
        };
        let out = Command::new("ps")
            .args(&args)
            .output()
            .map_err(io_err("running ps (install procps)"))?;
        if !out.status.success() {
            return Err(Error::Invalid(format!(
                "ps {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let titles: Vec<String> = lines
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let Some(col) = titles.iter().position(|h| h == "PID") else {
            return Err(Error::Invalid(format!(
                "ps {} printed no PID column: include pid in the ps options",
                args.join(" ")
            )));
        };
        // Like Docker: split into as many fields as titles, the last one
        // keeping the rest of the line (the command with its spaces).
        let processes = lines
            .map(|l| split_fields(l, titles.len()))
            .filter(|f| {
                f.get(col)
                    .and_then(|p| p.parse::<i32>().ok())
                    .is_some_and(|p| pids.contains(&p))
            })
            .collect();
        Ok(Top { titles, processes })
    }

    fn signal(
        &self,
        c: &Container,
        signal: Signal,
        _within: std::time::Duration,
        _stop: bool,
    ) -> Result<()> {
        kill(Pid::from_raw(c.state.pid), signal).map_err(|e| Error::Io {
            context: format!("signalling container {}", c.name()),
            source: e.into(),
        })
    }

    fn pause(&self, c: &Container) -> Result<()> {
        Ok(cgroup(c).freeze()?)
    }

    fn unpause(&self, c: &Container) -> Result<()> {
        Ok(cgroup(c).thaw()?)
    }

    fn update(
        &self,
        c: &Container,
        changed: &Limits,
        _restart: Option<isola_runtime_process::restart::RestartPolicy>,
    ) -> Result<()> {
        Ok(cgroup(c).update(changed)?)
    }

    fn usage(&self, c: &Container) -> Result<isola_runtime_process::usage::Usage> {
        Ok(isola_runtime_process::usage::Usage::sample(
            &cgroup(c),
            c.state.pid,
        ))
    }

    fn force_kill(&self, c: &Container) {
        if c.state.init_alive() {
            let _ = kill(Pid::from_raw(c.state.pid), Signal::SIGKILL);
        }
    }

    fn ending(&self, _c: &Container) -> Ending {
        Ending {
            code: 255,
            oom_killed: false,
            error: "the container's monitor exited unexpectedly".into(),
        }
    }

    fn cleanup(&self, c: &Container) -> Result<()> {
        crate::net::network_down(c);
        Ok(cgroup(c).remove()?)
    }
}

/// Splits `line` into at most `n` whitespace-separated fields.
fn split_fields(line: &str, n: usize) -> Vec<String> {
    let mut fields = Vec::with_capacity(n);
    let mut rest = line.trim_start();
    while fields.len() + 1 < n {
        let Some(end) = rest.find(char::is_whitespace) else {
            break;
        };
        fields.push(rest[..end].to_string());
        rest = rest[end..].trim_start();
    }
    if !rest.is_empty() {
        fields.push(rest.to_string());
    }
    fields
}

#[cfg(test)]
mod tests {
    #[test]
    fn last_field_keeps_spaces() {
        assert_eq!(
            super::split_fields("root  1  0 ping localhost", 4),
            vec!["root", "1", "0", "ping localhost"]
        );
    }
}
