//! create, start, stop, kill, rm and wait: the container lifecycle as
//! Docker defines it, on top of the state store and the monitor.

use crate::backend::Isolation;
use crate::ids::{new_id, now_rfc3339, validate_name};
use crate::net::{NetworkMode, NetworkOptions, Plan};
use crate::store::{Container, ContainerConfig, HostSettings, RunConfig, Status};
use crate::{io_err, Engine, Error, Result};
use isola_runtime_process::sys::process_is;
use nix::sys::signal::Signal;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// PATH that Docker gives containers whose image sets none.
pub(crate) const DEFAULT_PATH: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const POLL: Duration = Duration::from_millis(20);

/// `isola create` / `run` options, after the CLI parsed them.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub image: String,
    pub name: Option<String>,
    pub command: Vec<String>,
    /// `--entrypoint`; `Some("")` clears the image's entrypoint.
    pub entrypoint: Option<String>,
    /// `KEY=VALUE` entries, overriding the image's.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub tty: bool,
    pub open_stdin: bool,
    pub read_only: bool,
    pub memory: Option<u64>,
    pub nano_cpus: Option<u64>,
    pub pids_limit: Option<i64>,
    /// `--network` and the other networking flags.
    pub network: NetworkOptions,
    /// `--isolation` as given; `None` or `default` take the host default.
    pub isolation: Option<String>,
    pub auto_remove: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub privileged: bool,
    pub security_opt: Vec<String>,
    /// `KEY=VALUE` (or `KEY`, an empty value), `--label-file` lines included.
    pub labels: Vec<String>,
    pub stop_signal: Option<String>,
    pub stop_timeout: Option<i64>,
    pub devices: Vec<String>,
    pub sysctls: Vec<String>,
    pub shm_size: Option<u64>,
    pub ulimits: Vec<String>,
    pub group_add: Vec<String>,
    pub init: bool,
    /// `-v [SRC:]DST[:OPTS]`.
    pub volumes: Vec<String>,
    /// `--mount type=...,...`.
    pub mounts: Vec<String>,
    /// `--tmpfs DST[:OPTS]`.
    pub tmpfs: Vec<String>,
    /// `--restart`.
    pub restart: isola_runtime_process::restart::RestartPolicy,
    /// `--health-*` and `--no-healthcheck`.
    pub health: crate::health::HealthOptions,
    // --- Docker's namespace-sharing and cgroup flags (issue 13) ---
    /// `--pid`, `--ipc`, `--uts`: `host` or `container:NAME` (ipc also
    /// `private`/`shareable`, Docker's defaults).
    pub pid_mode: Option<String>,
    pub ipc_mode: Option<String>,
    pub uts_mode: Option<String>,
    /// `--memory-swap` in bytes, -1 for unlimited.
    pub memory_swap: Option<i64>,
    pub cpu_shares: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub oom_kill_disable: bool,
    /// `--expose PORT[/PROTO]`.
    pub expose: Vec<String>,
}

/// Checks a `--pid`/`--ipc`/`--uts` value and names another container by
/// its id (`container:<id>`), as Docker records it.
fn namespace_mode(
    engine: &Engine,
    flag: &str,
    v: Option<&str>,
    private: &[&str],
) -> Result<String> {
    match v {
        None => Ok(String::new()),
        Some(m) if private.contains(&m) => Ok(String::new()),
        Some("host") => Ok("host".into()),
        Some(m) if flag != "--uts" && m.starts_with("container:") => {
            let other = engine.lookup(&m["container:".len()..])?;
            if !crate::backend::of(other.config.host_config.isolation).shares_namespaces() {
                return Err(Error::Invalid(format!(
                    "{flag} {m}: container {} runs in its own kernel (VM isolation): there is no namespace to join",
                    other.name()
                )));
            }
            // Refused now rather than at start: nothing is made for it.
            if other.state.status != Status::Running {
                return Err(Error::Conflict(format!(
                    "{flag} {m}: cannot join the namespace of container {}: it is not running",
                    other.name()
                )));
            }
            Ok(format!("container:{}", other.id()))
        }
        Some(m) => Err(Error::Invalid(format!(
            "{flag} {m:?}: use host{}",
            if flag == "--uts" {
                ""
            } else {
                " or container:NAME"
            }
        ))),
    }
}

/// Which of the CLI's streams the container gets when started attached
/// (Docker's `-a/--attach`), and whether the CLI forwards the signals it
/// receives to the container (`--sig-proxy`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Attach {
    /// The CLI's stdin feeds the container's.
    pub stdin: bool,
    /// The CLI's stdout receives the container's (and the CLI waits).
    pub stdout: bool,
    /// The CLI's stderr receives the container's.
    pub stderr: bool,
    pub sig_proxy: bool,
}

impl Attach {
    /// Whether the CLI stays attached to some output until the end.
    pub fn output(&self) -> bool {
        self.stdout || self.stderr
    }
}

/// A started container whose monitor is a child of this process.
pub struct Started {
    pub id: String,
    pub pid: i32,
    pub(crate) monitor: std::process::Child,
    /// The container directory.
    pub(crate) dir: std::path::PathBuf,
    pub(crate) isolation: Isolation,
    pub(crate) attach: Attach,
    pub(crate) tty: bool,
    /// The client's streams, where the backend relays them itself.
    pub(crate) streams: Option<crate::Streams>,
    /// The monitor's ready pipe: with a restart policy, it says here when
    /// the first run ended (`{"exit": code}`), where the attached client's
    /// part ends as in Docker; the container goes on without it.
    pub(crate) first_exit: Option<BufReader<fs::File>>,
}

impl Started {
    /// Waits for the container to end, forwarding signals to it (Docker's
    /// sig-proxy) and window-size changes, and returns its exit code.
    pub fn wait(self, engine: &Engine) -> Result<i32> {
        crate::backend::of(self.isolation).wait_attached(engine, self)
    }
}

/// Docker refuses a relative `-w`: it would resolve against whatever the
/// image's working directory happens to be.
pub(crate) fn check_workdir(w: &str) -> Result<()> {
    if w.starts_with('/') {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "the working directory '{w}' is invalid, it needs to be an absolute path: use -w /{w}"
        )))
    }
}

/// Merges `overrides` into `base` by key (`KEY=VALUE`), keeping order.
pub(crate) fn merge_env(base: &[String], overrides: &[String]) -> Vec<String> {
    let key = |e: &str| e.split('=').next().unwrap_or("").to_string();
    let mut env: Vec<String> = base.to_vec();
    for o in overrides {
        match env.iter_mut().find(|e| key(e) == key(o)) {
            Some(slot) => *slot = o.clone(),
            None => env.push(o.clone()),
        }
    }
    env
}

impl Engine {
    /// Creates a container: resolves the image and the isolation mode,
    /// reserves the name and prepares the writable layer.
    pub fn create(&self, opts: CreateOptions) -> Result<Container> {
        if let Some(w) = &opts.workdir {
            check_workdir(w)?;
        }
        // Every flag is checked before anything is created.
        let cap_add = crate::policy::normalize_caps("--cap-add", &opts.cap_add)?;
        let cap_drop = crate::policy::normalize_caps("--cap-drop", &opts.cap_drop)?;
        let security_opt = crate::policy::normalize_security_opts(&opts.security_opt)?;
        let devices = crate::policy::check_devices(&opts.devices)?;
        let requested_network = opts
            .network
            .network
            .clone()
            .unwrap_or_else(|| self.config.default_network.clone());
        let sysctls = crate::policy::check_sysctls(
            &opts.sysctls,
            NetworkMode::parse(&requested_network) == NetworkMode::Host,
        )?;
        let ulimits = crate::policy::check_ulimits(&opts.ulimits)?;
        if opts.auto_remove && !opts.restart.is_none() {
            return Err(Error::Invalid(
                "conflicting options: --restart and --rm: a container removed when it exits cannot be restarted".into(),
            ));
        }
        let mut requests = Vec::new();
        for v in &opts.volumes {
            requests.push(crate::volumes::parse_volume_flag(v)?);
        }
        for m in &opts.mounts {
            requests.push(crate::volumes::parse_mount_flag(m)?);
        }
        for t in &opts.tmpfs {
            requests.push(crate::volumes::parse_tmpfs_flag(t)?);
        }
        if let Some(sig) = &opts.stop_signal {
            crate::signals::parse_signal(sig)
                .map_err(|e| Error::Invalid(format!("--stop-signal: {e}")))?;
        }
        let labels = crate::ids::parse_labels(&opts.labels)?;
        let pid_mode = namespace_mode(self, "--pid", opts.pid_mode.as_deref(), &[""])?;
        let ipc_mode = namespace_mode(
            self,
            "--ipc",
            opts.ipc_mode.as_deref(),
            &["", "private", "shareable"],
        )?;
        let uts_mode = namespace_mode(self, "--uts", opts.uts_mode.as_deref(), &[""])?;
        if uts_mode == "host" && opts.hostname.is_some() {
            return Err(Error::Invalid(
                "conflicting options: --hostname and --uts host: the host's name is used".into(),
            ));
        }
        if let Some(swap) = opts.memory_swap {
            match opts.memory {
                None => {
                    return Err(Error::Invalid(
                        "--memory-swap needs --memory: set both (e.g. -m 64m --memory-swap 128m)"
                            .into(),
                    ))
                }
                Some(m) if swap != -1 && (swap as u64) < m => {
                    return Err(Error::Invalid(
                        "Minimum memoryswap limit should be larger than memory limit, see usage"
                            .into(),
                    ))
                }
                _ => {}
            }
        }
        if let Some(c) = &opts.cpuset_cpus {
            if c.is_empty()
                || !c
                    .chars()
                    .all(|ch| ch.is_ascii_digit() || ch == ',' || ch == '-')
            {
                return Err(Error::Invalid(format!(
                    "--cpuset-cpus {c:?}: use CPU numbers and ranges, e.g. 0-3 or 0,1"
                )));
            }
        }
        let mut expose = Vec::new();
        for e in &opts.expose {
            let (port, proto) = e.split_once('/').unwrap_or((e, "tcp"));
            if port.split('-').any(|p| p.parse::<u16>().is_err())
                || !matches!(proto, "tcp" | "udp" | "sctp")
            {
                return Err(Error::Invalid(format!(
                    "invalid --expose {e:?}: use PORT[/tcp|udp|sctp] or a range START-END"
                )));
            }
            expose.push(format!("{port}/{proto}"));
        }
        // Rules match the image as the user named it, normalised as Docker
        // does (busybox → docker.io/library/busybox:latest).
        let reference =
            isola_image::normalize_reference(&opts.image).unwrap_or_else(|_| opts.image.clone());
        let (isolation, isolation_source) =
            self.config.resolve(opts.isolation.as_deref(), &reference)?;
        self.availability(isolation).map_err(|why| {
            Error::Invalid(format!(
                "{} isolation is unavailable on this host: {why}",
                isolation.as_str()
            ))
        })?;
        crate::backend::of(isolation).check_create(&NetworkMode::parse(&requested_network))?;
        if !crate::backend::of(isolation).shares_namespaces() {
            for (flag, mode) in [
                ("--pid", &pid_mode),
                ("--ipc", &ipc_mode),
                ("--uts", &uts_mode),
            ] {
                if !mode.is_empty() {
                    return Err(Error::Invalid(format!(
                        "{flag} {mode} is not available with --isolation={} (the guest has its own kernel)",
                        isolation.as_str()
                    )));
                }
            }
        }
        let image = self.images.resolve(&opts.image)?;
        let img = image.config.config().clone().unwrap_or_default();
        let mut exposed = img.exposed_ports().clone().unwrap_or_default();
        exposed.extend(expose.iter().cloned());
        let plan = self.plan_network(&opts.network, &exposed)?;
        let image_health = self
            .images
            .raw_config(&image.id)
            .ok()
            .and_then(|v| crate::health::from_image(&v));
        let healthcheck = crate::health::resolve(image_health, &opts.health)?;

        let mut entrypoint = img.entrypoint().clone().unwrap_or_default();
        let mut cmd = img.cmd().clone().unwrap_or_default();
        if let Some(ep) = &opts.entrypoint {
            // Docker: --entrypoint replaces the entrypoint and drops the image's CMD.
            entrypoint = if ep.is_empty() {
                vec![]
            } else {
                vec![ep.clone()]
            };
            cmd = vec![];
        }
        if !opts.command.is_empty() {
            cmd = opts.command.clone();
        }
        let args: Vec<String> = entrypoint.iter().chain(cmd.iter()).cloned().collect();
        if args.is_empty() {
            return Err(Error::Invalid(
                "no command specified: give one after the image name, or use an image with CMD or ENTRYPOINT".into(),
            ));
        }

        let id = new_id();
        // Docker: with the host's network or UTS namespace, the host's name.
        let host_name = || {
            nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok())
        };
        let hostname = opts
            .hostname
            .clone()
            .or_else(|| {
                (plan.mode == NetworkMode::Host || uts_mode == "host")
                    .then(host_name)
                    .flatten()
            })
            .unwrap_or_else(|| id[..12].to_string());
        let mut env = img.env().clone().unwrap_or_default();
        if !env.iter().any(|e| e.starts_with("PATH=")) {
            env.insert(0, DEFAULT_PATH.to_string());
        }
        let mut extra = vec![format!("HOSTNAME={hostname}")];
        if opts.tty {
            extra.push("TERM=xterm".into());
        }
        let env = merge_env(&merge_env(&env, &extra), &opts.env);

        let name = opts.name.as_deref().map(validate_name).transpose()?;
        let image_volumes: Vec<String> = img
            .volumes()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let requests = crate::volumes::plan(requests, &image_volumes)?;
        // Everything is checked; from here on things are made, and undone
        // if the container cannot be written.
        let _volumes_lock = self.volumes.lock()?;
        let mut created_volumes = Vec::new();
        let mounts = self.resolve_mounts(requests, &mut created_volumes);
        let mounts = match mounts {
            Ok(m) => m,
            Err(e) => {
                self.undo_volumes(&created_volumes);
                return Err(e);
            }
        };
        let config = ContainerConfig {
            id: id.clone(),
            name: String::new(), // set once reserved
            created: now_rfc3339(),
            image_id: image.id.clone(),
            path: args[0].clone(),
            args: args[1..].to_vec(),
            config: RunConfig {
                hostname,
                user: opts
                    .user
                    .clone()
                    .unwrap_or_else(|| img.user().clone().unwrap_or_default()),
                env,
                cmd,
                entrypoint,
                working_dir: opts
                    .workdir
                    .clone()
                    .or_else(|| img.working_dir().clone())
                    .filter(|w| !w.is_empty())
                    .unwrap_or_else(|| "/".into()),
                tty: opts.tty,
                open_stdin: opts.open_stdin,
                image: opts.image.clone(),
                labels,
                stop_signal: opts.stop_signal.clone(),
                stop_timeout: opts.stop_timeout,
                healthcheck,
                exposed_ports: exposed
                    .iter()
                    .map(|p| (p.clone(), serde_json::json!({})))
                    .collect(),
            },
            host_config: HostSettings {
                isolation,
                memory: opts.memory.unwrap_or(0),
                nano_cpus: opts.nano_cpus.unwrap_or(0),
                pids_limit: opts.pids_limit.unwrap_or(0),
                network_mode: plan.mode.as_string(),
                readonly_rootfs: opts.read_only,
                auto_remove: opts.auto_remove,
                cap_add,
                cap_drop,
                privileged: opts.privileged,
                security_opt,
                isolation_source,
                devices,
                sysctls,
                shm_size: opts.shm_size,
                ulimits,
                group_add: opts.group_add.clone(),
                init: opts.init,
                networks: Default::default(),
                port_bindings: Vec::new(),
                restart_policy: opts.restart,
                pid_mode,
                ipc_mode,
                uts_mode,
                memory_swap: opts.memory_swap.unwrap_or(0),
                cpu_shares: opts.cpu_shares.unwrap_or(0),
                cpuset_cpus: opts.cpuset_cpus.clone().unwrap_or_default(),
                oom_kill_disable: opts.oom_kill_disable,
            },
            layers: image.layers.clone(),
            mounts,
        };
        let made = self.write_new(config, name.as_deref(), |c| {
            self.reserve_network(c, &plan)?;
            prepare_dir(self, c, &plan)
        });
        if let Ok(c) = &made {
            self.container_event(c, "create", &[]);
        }
        if made.is_err() {
            self.undo_volumes(&created_volumes);
            // Give back what the reservation took at once (a crash here is
            // reclaimed by the next reservation).
            let _ = self.networks.release(&id);
        }
        made
    }

    /// Gives each mount its host source: named volumes are created when
    /// missing (Docker does), anonymous ones always; a `-v` bind's missing
    /// host directory is created. Needs the volumes lock.
    fn resolve_mounts(
        &self,
        requests: Vec<crate::volumes::MountRequest>,
        created: &mut Vec<String>,
    ) -> Result<Vec<crate::volumes::MountPoint>> {
        use crate::volumes::MountType;
        let mut out = Vec::new();
        for r in requests {
            let create_source = r.create_source();
            let mut p = r.point;
            match p.kind {
                MountType::Volume => {
                    let name = (!p.anonymous).then_some(p.name.as_str());
                    let (vol, new) = self.volumes.create_locked(name, Default::default())?;
                    if new {
                        created.push(vol.name.clone());
                    }
                    p.name = vol.name;
                    p.source = vol.mountpoint;
                }
                MountType::Bind if create_source && fs::symlink_metadata(&p.source).is_err() => {
                    fs::create_dir_all(&p.source).map_err(|e| {
                        Error::Invalid(format!(
                            "-v {}: cannot create the host directory {}: {e}",
                            p.spec,
                            p.source.display()
                        ))
                    })?;
                }
                _ => {}
            }
            out.push(p);
        }
        Ok(out)
    }

    fn undo_volumes(&self, names: &[String]) {
        for n in names {
            let _ = self.volumes.delete_locked(n);
        }
    }

    /// Starts the container under a new monitor process. Attached, the
    /// monitor writes to this process's stdout/stderr (and reads its stdin)
    /// and the caller waits with [`Started::wait`]; detached, it returns as
    /// soon as the container's command runs. `Ok(None)`: already running.
    /// `streams` are the attached client's (none when detached): the
    /// monitor holds copies in process mode, the VM backend relays them.
    pub fn start(
        &self,
        c: &Container,
        attach: Attach,
        streams: crate::Streams,
    ) -> Result<Option<Started>> {
        if c.state.status == Status::Running {
            return Ok(None);
        }
        let isolation = c.config.host_config.isolation;
        self.availability(isolation).map_err(Error::Invalid)?;
        if c.state.paused {
            // Left from a run that ended frozen (a killed VM).
            c.clone().update(|s| s.paused = false)?;
        }
        let (ready_r, ready_w) = nix::unistd::pipe().map_err(|e| Error::Io {
            context: "pipe".into(),
            source: e.into(),
        })?;
        // The read end must not leak into the monitor; the write end must.
        nix::fcntl::fcntl(
            ready_r.as_raw_fd(),
            nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
        )
        .map_err(|e| Error::Io {
            context: "fcntl".into(),
            source: e.into(),
        })?;
        let exe = std::env::current_exe().map_err(io_err("finding the isola binary"))?;
        let mut cmd = Command::new(exe);
        cmd.arg("--root")
            .arg(&self.root)
            .arg("__monitor")
            .arg("--ready-fd")
            .arg(ready_w.as_raw_fd().to_string());
        if attach.output() {
            cmd.arg("--attach-output");
        }
        if attach.stdin {
            cmd.arg("--attach-stdin");
        }
        cmd.arg(c.id());
        // A stream not attached goes nowhere (it is still logged).
        let to_monitor = streams.try_clone()?;
        let stdio = |fd: Option<std::os::fd::OwnedFd>| fd.map_or_else(Stdio::null, Stdio::from);
        cmd.stdin(stdio(to_monitor.stdin))
            .stdout(stdio(to_monitor.stdout))
            .stderr(stdio(to_monitor.stderr));
        let mut monitor = cmd
            .spawn()
            .map_err(io_err("starting the container monitor"))?;
        drop(ready_w);

        let mut line = String::new();
        let mut ready_reader = BufReader::new(fs::File::from(ready_r));
        let _ = ready_reader.read_line(&mut line);
        let ready: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if let Some(pid) = ready["pid"].as_i64() {
            if let Err(e) = self.backend(c).started(self, c, pid as i32, attach) {
                let _ = monitor.wait();
                let _ = self.lookup(c.id()); // records how it ended
                return Err(e);
            }
            return Ok(Some(Started {
                id: c.id().to_string(),
                pid: pid as i32,
                monitor,
                dir: c.dir.clone(),
                isolation,
                attach,
                tty: c.config.config.tty,
                streams: Some(streams),
                first_exit: Some(ready_reader),
            }));
        }
        let _ = monitor.wait();
        Err(match ready["error"].as_str() {
            Some(msg) => Error::Runtime(isola_runtime_process::Error::relayed(
                ready["code"].as_i64().unwrap_or(1) as i32,
                msg,
            )),
            None => Error::Conflict(format!(
                "the monitor of container {} exited before the container started",
                c.name()
            )),
        })
    }

    /// Sends `signal` to the container's init. The stop signal and SIGKILL
    /// end it for good, as in Docker: its restart policy no longer applies.
    /// A container waiting to restart takes no signal; those two stop it.
    pub fn kill(&self, c: &Container, signal: Signal) -> Result<()> {
        let restarting = c.state.status == Status::Running && c.state.restarting;
        if c.state.status != Status::Running || !(restarting || c.state.init_alive()) {
            return Err(Error::Conflict(format!(
                "container {} is not running",
                c.name()
            )));
        }
        let stop = signal == Signal::SIGKILL || signal == stop_signal(c);
        if c.is_paused() {
            self.thaw(c)?;
        }
        self.container_event(c, "kill", &[("signal", (signal as i32).to_string())]);
        let mut c = c.clone();
        if stop {
            c.update(|s| s.manually_stopped = true)?;
            self.backend(&c).observe(&mut c);
        }
        if c.state.status != Status::Running || (c.state.restarting && !stop) {
            return Ok(());
        }
        if !c.state.init_alive() {
            return Ok(()); // restarting in process mode: the monitor saw the flag
        }
        self.backend(&c).signal(&c, signal, Duration::MAX, stop)
    }

    /// Docker's stop: SIGTERM, then SIGKILL after `timeout`, then wait until
    /// the monitor has recorded the exit. Bounded whatever the container
    /// does: a VM that does not answer (stopped, hung) is killed outright
    /// once `timeout` has passed. A container waiting to restart stays
    /// stopped; no restart policy starts it again.
    /// `timeout: None` takes the container's `--stop-timeout` (default 10 s).
    pub fn stop(&self, c: &Container, timeout: Option<Duration>) -> Result<()> {
        self.stop_with(c, timeout, None)
    }

    /// [`Engine::stop`] with `signal` instead of the container's stop
    /// signal when given (`restart --signal`).
    pub fn stop_with(
        &self,
        c: &Container,
        timeout: Option<Duration>,
        signal: Option<Signal>,
    ) -> Result<()> {
        if c.state.status != Status::Running {
            return Ok(());
        }
        if c.is_paused() {
            self.thaw(c)?;
        }
        let mut c = c.clone();
        // First, and under the lock: from now on the monitor restarts
        // nothing, and the reloaded state names the process to stop.
        c.update(|s| s.manually_stopped = true)?;
        self.backend(&c).observe(&mut c);
        let c = &c;
        let cfg = &c.config.config;
        let timeout = timeout
            .unwrap_or_else(|| Duration::from_secs(cfg.stop_timeout.unwrap_or(10).max(0) as u64));
        let signal = signal.unwrap_or_else(|| stop_signal(c));
        let backend = self.backend(c);
        let deadline = Instant::now() + timeout;
        self.container_event(c, "kill", &[("signal", (signal as i32).to_string())]);
        if c.state.init_alive() {
            let _ = backend.signal(c, signal, timeout, true);
        }
        if self.wait_not_running(c, deadline.saturating_duration_since(Instant::now())) {
            self.container_event(c, "stop", &[]);
            return Ok(());
        }
        if c.state.init_alive() {
            let _ = backend.signal(c, Signal::SIGKILL, Duration::from_secs(1), true);
        }
        if !self.wait_not_running(c, Duration::from_secs(2)) {
            // The guest (or the process tree) did not obey: kill it outright.
            backend.force_kill(c);
            self.wait_not_running(c, Duration::from_secs(10));
        }
        self.container_event(c, "stop", &[]);
        Ok(())
    }

    /// Polls until the container is no longer running; false on timeout.
    fn wait_not_running(&self, c: &Container, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            match self.lookup(c.id()) {
                Ok(now) if now.state.status == Status::Running => {}
                _ => return true,
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Blocks until the container has exited and returns its exit code.
    pub fn wait(&self, c: &Container) -> Result<i32> {
        loop {
            let now = self.lookup(c.id())?;
            match now.state.status {
                Status::Exited => return Ok(now.state.exit_code),
                Status::Created if now.state.exit_code != 0 => return Ok(now.state.exit_code),
                _ => std::thread::sleep(POLL),
            }
        }
    }

    /// Removes a container; a running one only with `force` (it is killed).
    /// Afterwards nothing of it remains: no process, cgroup, files or name.
    pub fn remove(&self, c: &Container, force: bool, volumes: bool) -> Result<()> {
        if force && c.is_paused() {
            let _ = self.thaw(c);
        }
        self.remove_container(c, force)?;
        self.container_event(c, "destroy", &[]);
        if volumes {
            self.drop_anonymous_volumes(c);
        }
        Ok(())
    }

    fn remove_container(&self, c: &Container, force: bool) -> Result<()> {
        let mut c = c.clone();
        if c.state.status == Status::Dead {
            // Its state cannot be trusted: find what still runs of it by id.
            self.reap(&c);
            return self.delete(&c);
        }
        let restarting = c.state.restarting && c.state.monitor_alive();
        if c.state.status == Status::Running && (c.state.init_alive() || restarting) {
            if !force {
                return Err(Error::Conflict(format!(
                    "cannot remove running container {}: stop it first or use rm -f",
                    c.name()
                )));
            }
            // Best effort: on a full disk this write fails, and removal
            // must still work (it frees space rather than needs it).
            let _ = c.update(|s| s.status = Status::Removing);
            self.backend(&c).force_kill(&c);
        }
        // Let a live monitor finish its own teardown first.
        let deadline = Instant::now() + Duration::from_secs(10);
        while process_is(c.state.monitor_pid, c.state.monitor_start) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        let backend = self.backend(&c);
        backend.force_kill(&c);
        backend.cleanup(&c)?;
        self.delete(&c)
    }

    /// Kills everything of a container whose state file is damaged: its
    /// monitor and hypervisor (found by the id on their command lines),
    /// then whatever the backends hold for it.
    fn reap(&self, c: &Container) {
        let me = std::process::id() as i32;
        for pid in isola_runtime_process::sys::pids_mentioning(c.id()) {
            if pid != me {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        for backend in crate::backend::all() {
            let _ = backend.cleanup(c);
        }
    }
}

/// The signal that stops `c` (`--stop-signal`, else SIGTERM).
fn stop_signal(c: &Container) -> Signal {
    c.config
        .config
        .stop_signal
        .as_deref()
        .and_then(|s| crate::signals::parse_signal(s).ok())
        .unwrap_or(Signal::SIGTERM)
}

/// Files and directories of a new container: the overlay's upper, work and
/// mount point, and the /etc files Docker provides.
fn prepare_dir(engine: &Engine, c: &Container, plan: &Plan) -> Result<()> {
    for d in ["upper", "work", "rootfs"] {
        fs::create_dir_all(c.dir.join(d))
            .map_err(io_err(format!("creating {d} of the container")))?;
    }
    let hostname = &c.config.config.hostname;
    let (hosts, resolv) = match &plan.mode {
        NetworkMode::Host => (
            fs::read_to_string("/etc/hosts").unwrap_or_default(),
            fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        ),
        // Docker: loopback names, and the host's resolvers (or --dns).
        NetworkMode::None => (
            isola_runtime_process::net::LOOPBACK_HOSTS.to_string(),
            crate::net::resolv_file(engine, c, plan)?,
        ),
        // Docker: the other container's files.
        NetworkMode::Container(id) => {
            let other = c.root().join("containers").join(id);
            (
                fs::read_to_string(other.join("hosts")).unwrap_or_default(),
                fs::read_to_string(other.join("resolv.conf")).unwrap_or_default(),
            )
        }
        NetworkMode::Bridge(_) => (
            crate::net::hosts_file(c, &plan.extra_hosts),
            crate::net::resolv_file(engine, c, plan)?,
        ),
    };
    for (name, content) in [
        ("hostname", format!("{hostname}\n")),
        ("hosts", hosts),
        ("resolv.conf", resolv),
    ] {
        fs::write(c.dir.join(name), content).map_err(io_err(format!("writing {name}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_by_key_in_place() {
        let base = vec!["PATH=/bin".to_string(), "A=1".to_string()];
        let merged = merge_env(&base, &["A=2".into(), "B=3".into()]);
        assert_eq!(merged, vec!["PATH=/bin", "A=2", "B=3"]);
    }

    #[test]
    fn network_modes() {
        assert_eq!(NetworkMode::parse("host"), NetworkMode::Host);
        assert_eq!(
            NetworkMode::parse("default"),
            NetworkMode::Bridge("bridge".into())
        );
        assert_eq!(
            NetworkMode::parse("container:x"),
            NetworkMode::Container("x".into())
        );
        assert_eq!(NetworkMode::parse("mynet").as_string(), "mynet");
    }
}
