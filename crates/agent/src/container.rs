//! The one container of this VM: started from the boot configuration with
//! the same process runtime as host mode (namespaces, cgroup, overlayfs
//! root, capabilities, seccomp), entered again for each `Exec`.

use crate::error::{Context, Result};
use crate::rootfs::{self, Mounts};
use crate::stdio::{self, SessionIo};
use crate::system::RUN_DIR;
use isola_proto::{ContainerConfig, ExecConfig};
use isola_runtime_process::{Cgroup, ContainerSpec, LinuxSettings, UserMount};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};

/// The cgroup of the container inside the guest.
const CGROUP: &str = "isola/container";

pub struct Container {
    pub init_pid: i32,
    pub cgroup: Cgroup,
    /// The root's layers, for `diff` and `commit`.
    pub rootfs: isola_runtime_process::Rootfs,
    /// What starts the main process, kept for restarts: the root stays
    /// assembled and the cgroup stays, only the process is new.
    spec: ContainerSpec,
    terminal: bool,
}

impl Container {
    /// Assembles the root, creates the cgroup and starts the main process.
    /// Mounts made on the way are recorded in `mounts` even on failure.
    /// [`crate::error::Error::exit_code`] of an error is Docker's code.
    pub fn start(cfg: &ContainerConfig, mounts: &mut Mounts) -> Result<(Container, SessionIo)> {
        // The same translation of the spec as on the host.
        let run = isola_runtime_process::oci::from_spec(&cfg.spec)?;
        let rootfs = rootfs::assemble(&cfg.rootfs.layers, &cfg.rootfs.upper, run.readonly, mounts)?;
        if cfg.shares {
            rootfs::mount_shares(mounts)?;
        }
        let guest_network = cfg
            .spec
            .annotations()
            .as_ref()
            .and_then(|a| a.get(isola_runtime_process::oci::ANNOTATION_GUEST_NETWORK))
            .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok());
        if let Some(net) = &guest_network {
            configure_network(net)?;
        }
        let mut mounts: Vec<UserMount> = network_files(&run.hostname, guest_network.as_ref())
            .ctx(|| format!("writing /etc/hostname and /etc/hosts under {RUN_DIR}"))?
            .into_iter()
            .map(|(src, dst)| {
                // --read-only: these are read-only too, as in Docker.
                let mut m = UserMount::bind(src, dst);
                m.readonly = run.readonly;
                m
            })
            .collect();
        // The spec's own mounts (volumes and binds on the shares, tmpfs).
        mounts.extend(run.mounts.iter().cloned());
        let cgroup = Cgroup::create(CGROUP, &run.limits, &run.linux.device_allow_list()?)?;
        let spec = ContainerSpec {
            rootfs: rootfs.clone(),
            process: run.process.clone(),
            hostname: run.hostname.clone(),
            network: run.network,
            mounts,
            linux: LinuxSettings {
                // The virtio-serial ports carry this agent's protocol, the
                // log and the exit record: not even a privileged container
                // gets them.
                exclude_devices: vec!["vport".into()],
                ..run.linux.clone()
            },
            // Each guest boots fresh: nothing to keep compiled programs in.
            seccomp_cache: None,
            start_gate: None,
            join_namespaces: run.join_namespaces.clone(),
        };
        let mut container = Container {
            init_pid: 0,
            cgroup,
            rootfs,
            spec,
            terminal: run.terminal,
        };
        match container.spawn(cfg) {
            Ok(io) => Ok((container, io)),
            Err(e) => {
                let _ = container.cgroup.remove();
                Err(e)
            }
        }
    }

    /// Starts the main process (again, for a restart policy) in the root
    /// and cgroup made by [`Container::start`].
    pub fn spawn(&mut self, cfg: &ContainerConfig) -> Result<SessionIo> {
        // An init that died takes its PID namespace with it; anything left
        // (a check, an exec) goes too, as with a new container.
        self.kill_all();
        let (child_stdio, mut io) = stdio::create(self.terminal, cfg.open_stdin, cfg.tty_size)?;
        let spawned = isola_runtime_process::spawn(&self.spec, &self.cgroup, child_stdio)?;
        self.init_pid = spawned.pid;
        if let Err(e) = io.attach_terminal(spawned.pty_master, cfg.open_stdin) {
            self.kill_all();
            return Err(e);
        }
        Ok(io)
    }

    /// Starts an exec session's process; it becomes the agent's child.
    pub fn exec(&self, cfg: &ExecConfig) -> Result<(i32, SessionIo)> {
        let (child_stdio, mut io) = stdio::create(cfg.tty, cfg.stdin, cfg.tty_size)?;
        let spawned = match &cfg.fs_op {
            // The same file operations as on the host, in the container's
            // mount namespace (the host's `cp` and `export` in VM mode).
            Some(op) => {
                let (root, op) = op.clone().placed(
                    Some(self.init_pid),
                    || unreachable!("the guest's container runs"),
                    &self.rootfs.upper,
                    &self.rootfs.lower,
                )?;
                isola_runtime_process::fsop::spawn(&root, &op, child_stdio)?
            }
            None => isola_runtime_process::exec(
                self.init_pid,
                &self.cgroup,
                &cfg.process,
                child_stdio,
                None,
            )?,
        };
        if let Err(e) = io.attach_terminal(spawned.pty_master, cfg.stdin) {
            let _ = kill(Pid::from_raw(spawned.pid), Signal::SIGKILL);
            return Err(e);
        }
        Ok((spawned.pid, io))
    }

    /// SIGKILLs every process of the container. The cgroup lists only
    /// live ones, so an init already reaped (its PID maybe reused) is safe;
    /// killing a live init takes its whole PID namespace with it.
    pub fn kill_all(&self) {
        for pid in self.cgroup.procs() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// The guest's NICs as the engine described them (the same address, MAC
/// and gateway as the container's veth on the host, whose traffic the
/// host redirects to this NIC).
fn configure_network(net: &serde_json::Value) -> Result<()> {
    let interfaces = net["interfaces"].as_array().cloned().unwrap_or_default();
    for (n, i) in interfaces.iter().enumerate() {
        let name = format!("eth{n}");
        let (ip, prefix) = i["address"]
            .as_str()
            .and_then(|a| a.split_once('/'))
            .and_then(|(ip, p)| Some((ip.parse().ok()?, p.parse().ok()?)))
            .ok_or_else(|| {
                crate::error::Error::Invalid(format!("bad guest network address: {i}"))
            })?;
        // Only the first interface carries the default route.
        let gateway = i["gateway"]
            .as_str()
            .and_then(|g| g.parse().ok())
            .filter(|_| n == 0);
        isola_runtime_process::net::configure_interface(&name, ip, prefix, gateway)?;
    }
    Ok(())
}

/// /etc/hostname, /etc/hosts (and with a network /etc/resolv.conf) for
/// the container, as Docker writes them; without a network, loopback only.
fn network_files(
    hostname: &str,
    net: Option<&serde_json::Value>,
) -> std::io::Result<Vec<(PathBuf, String)>> {
    let dir = Path::new(RUN_DIR).join("etc");
    std::fs::create_dir_all(&dir)?;
    let hostname_file = dir.join("hostname");
    std::fs::write(&hostname_file, format!("{hostname}\n"))?;
    let hosts = dir.join("hosts");
    let hosts_text = net
        .and_then(|n| n["hosts"].as_str())
        .unwrap_or(isola_runtime_process::net::LOOPBACK_HOSTS);
    std::fs::write(&hosts, hosts_text)?;
    let mut files = vec![
        (hostname_file, "/etc/hostname".into()),
        (hosts, "/etc/hosts".into()),
    ];
    if let Some(resolv_text) = net.and_then(|n| n["resolv"].as_str()) {
        let resolv = dir.join("resolv.conf");
        std::fs::write(&resolv, resolv_text)?;
        files.push((resolv, "/etc/resolv.conf".into()));
    }
    Ok(files)
}
