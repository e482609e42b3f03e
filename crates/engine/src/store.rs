//! Containers on disk. Each container is a directory `ROOT/containers/<id>`
//! with `config.json` (written once at create) and `state.json` (rewritten
//! atomically under the container's lock); names are reserved by creating
//! `ROOT/names/<name>` exclusively, so two concurrent creates can never get
//! the same name.

use crate::backend::Isolation;
use crate::{io_err, Engine, Error, Result};
use isola_runtime_process::sys::process_is;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Docker's `Config` of a container: what runs, as the user asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    pub hostname: String,
    pub user: String,
    pub env: Vec<String>,
    pub cmd: Vec<String>,
    pub entrypoint: Vec<String>,
    pub working_dir: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub image: String,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// `--stop-signal` (Docker's default: SIGTERM).
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// `--stop-timeout` in seconds (Docker's default: 10).
    #[serde(default)]
    pub stop_timeout: Option<i64>,
    /// The image's HEALTHCHECK merged with the `--health-*` flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<crate::health::HealthConfig>,
    /// The image's exposed ports and `--expose`d ones, as Docker records
    /// them (`{"80/tcp": {}}`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub exposed_ports: std::collections::BTreeMap<String, serde_json::Value>,
}

/// Docker's `HostConfig`: how the host runs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostSettings {
    pub isolation: Isolation,
    pub memory: u64,
    pub nano_cpus: u64,
    pub pids_limit: i64,
    pub network_mode: String,
    pub readonly_rootfs: bool,
    pub auto_remove: bool,
    #[serde(default)]
    pub cap_add: Vec<String>,
    #[serde(default)]
    pub cap_drop: Vec<String>,
    #[serde(default)]
    pub privileged: bool,
    /// `--security-opt` as Docker records it, with `seccomp=FILE` replaced
    /// by the profile's content, read once at create.
    #[serde(default)]
    pub security_opt: Vec<String>,
    /// What chose the isolation mode: `--isolation`, an isolation rule of
    /// the host configuration, or the host default.
    #[serde(default)]
    pub isolation_source: String,
    #[serde(default)]
    pub devices: Vec<isola_runtime_process::DeviceNode>,
    #[serde(default)]
    pub sysctls: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    pub shm_size: Option<u64>,
    #[serde(default)]
    pub ulimits: Vec<isola_runtime_process::Rlimit>,
    #[serde(default)]
    pub group_add: Vec<String>,
    /// `--init`: a small init (tini) as PID 1.
    #[serde(default)]
    pub init: bool,
    /// The container's place on each bridge network it is attached to.
    #[serde(default)]
    pub networks: std::collections::BTreeMap<String, crate::net::Endpoint>,
    /// Published ports (`-p`, `-P`), host ports chosen.
    #[serde(default)]
    pub port_bindings: Vec<isola_network::PortMapping>,
    /// `--restart`.
    #[serde(default)]
    pub restart_policy: isola_runtime_process::restart::RestartPolicy,
    // --- Docker's namespace-sharing and cgroup flags (issue 13) ---
    /// `--pid`: "" (its own), `host` or `container:<id>`.
    #[serde(default)]
    pub pid_mode: String,
    /// `--ipc`: "" (its own), `host` or `container:<id>`.
    #[serde(default)]
    pub ipc_mode: String,
    /// `--uts`: "" (its own) or `host`.
    #[serde(default)]
    pub uts_mode: String,
    /// `--memory-swap` in bytes (0: Docker's default, twice --memory; -1: unlimited).
    #[serde(default)]
    pub memory_swap: i64,
    /// `--cpu-shares` (0: the default weight).
    #[serde(default)]
    pub cpu_shares: u64,
    /// `--cpuset-cpus` ("" : all).
    #[serde(default)]
    pub cpuset_cpus: String,
    #[serde(default)]
    pub oom_kill_disable: bool,
}

/// Everything fixed at create time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerConfig {
    pub id: String,
    pub name: String,
    pub created: String,
    pub image_id: String,
    /// The command: entrypoint + cmd, resolved at create.
    pub path: String,
    pub args: Vec<String>,
    pub config: RunConfig,
    pub host_config: HostSettings,
    /// Unpacked image layers, bottom first.
    pub layers: Vec<PathBuf>,
    /// Binds, volumes and tmpfs mounts, parents first.
    #[serde(default)]
    pub mounts: Vec<crate::volumes::MountPoint>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
    /// `rm -f` is tearing it down; the monitor must not write it back.
    Removing,
    /// Its state or config file is damaged: shown so that `rm -f` can
    /// kill whatever still runs of it and free its name.
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
            Status::Removing => "removing",
            Status::Dead => "dead",
        }
    }
}

/// What changes while the container lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    /// Host PID of the container's init (0 when not running).
    pub pid: i32,
    pub pid_start: u64,
    pub monitor_pid: i32,
    pub monitor_start: u64,
    pub exit_code: i32,
    pub error: String,
    pub oom_killed: bool,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// The VM of a VM-isolated container, while it has one.
    #[serde(default)]
    pub vm: Option<VmInfo>,
    /// Waiting to be started again by its restart policy (its process has
    /// ended; the status stays `Running`, as Docker's `Running` does).
    #[serde(default)]
    pub restarting: bool,
    /// Restarts since the user last started it (Docker's `RestartCount`).
    #[serde(default)]
    pub restart_count: u32,
    /// The user stopped or killed it (Docker's `HasBeenManuallyStopped`):
    /// its restart policy no longer applies, and `unless-stopped` keeps it
    /// down at boot.
    #[serde(default)]
    pub manually_stopped: bool,
    /// The health check's state, for containers that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<isola_runtime_process::health::Health>,
    /// `isola pause` froze it (Docker's `State.Paused`); only meaningful
    /// while it runs.
    #[serde(default)]
    pub paused: bool,
}

/// What `inspect` shows of a container's VM.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VmInfo {
    pub accelerator: String,
    /// The guest kernel's release.
    pub kernel: String,
    pub memory_mib: u64,
    pub vcpus: u32,
}

impl State {
    /// The state of a container whose files are damaged.
    fn dead(why: String) -> State {
        State {
            status: Status::Dead,
            error: why,
            ..State::new()
        }
    }

    fn new() -> State {
        State {
            status: Status::Created,
            pid: 0,
            pid_start: 0,
            monitor_pid: 0,
            monitor_start: 0,
            exit_code: 0,
            error: String::new(),
            oom_killed: false,
            started_at: None,
            finished_at: None,
            vm: None,
            restarting: false,
            restart_count: 0,
            manually_stopped: false,
            health: None,
            paused: false,
        }
    }

    /// Whether the container's init is alive (and is the one we started).
    pub fn init_alive(&self) -> bool {
        process_is(self.pid, self.pid_start)
    }

    pub fn monitor_alive(&self) -> bool {
        process_is(self.monitor_pid, self.monitor_start)
    }
}

/// One container: its fixed config and its current state.
#[derive(Debug, Clone)]
pub struct Container {
    pub config: ContainerConfig,
    pub state: State,
    pub dir: PathBuf,
}

impl Container {
    /// Docker's `State.Status`: `restarting` while its restart policy
    /// waits to start it again.
    pub fn status_name(&self) -> &'static str {
        if self.state.status == Status::Running && self.state.restarting {
            "restarting"
        } else if self.is_paused() {
            "paused"
        } else {
            self.state.status.as_str()
        }
    }

    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// Whether it runs frozen (`isola pause`).
    pub fn is_paused(&self) -> bool {
        self.state.status == Status::Running && self.state.paused
    }

    /// Writes config.json atomically; hold `lock()` and start from a fresh
    /// [`Container::reload_config`] (rename, update, network connect).
    pub(crate) fn save_config(&self) -> Result<()> {
        write_json_atomic(&self.dir.join("config.json"), &self.config)
    }

    /// Rereads config.json from disk.
    pub(crate) fn reload_config(&mut self) -> Result<()> {
        self.config = read_json(&self.dir.join("config.json"))?;
        Ok(())
    }

    /// Docker's STATUS column ("Up 5 seconds", "Exited (0) 3 minutes ago").
    pub fn status_text(&self) -> String {
        use crate::ids::{human_duration, since};
        let s = &self.state;
        match s.status {
            Status::Running if s.restarting => format!(
                "Restarting ({}) {} ago",
                s.exit_code,
                human_duration(since(s.finished_at.as_deref().unwrap_or_default()))
            ),
            Status::Running => {
                let up = human_duration(since(s.started_at.as_deref().unwrap_or_default()));
                if self.is_paused() {
                    return format!("Up {up} (Paused)");
                }
                match s.health.as_ref().map(|h| h.status) {
                    Some(crate::HealthStatus::Starting) => format!("Up {up} (health: starting)"),
                    Some(h) => format!("Up {up} ({})", h.as_str()),
                    None => format!("Up {up}"),
                }
            }
            Status::Exited => format!(
                "Exited ({}) {} ago",
                s.exit_code,
                human_duration(since(s.finished_at.as_deref().unwrap_or_default()))
            ),
            Status::Created => "Created".into(),
            Status::Removing => "Removal In Progress".into(),
            Status::Dead => "Dead".into(),
        }
    }

    /// Whether a host boot brings it back (`isola start --all-restartable`),
    /// as Docker's daemon does at its start: a stopped container with
    /// `always`, or with `unless-stopped` unless the user stopped it.
    pub fn restarts_at_boot(&self) -> bool {
        use isola_runtime_process::restart::RestartName;
        self.state.status == Status::Exited
            && match self.config.host_config.restart_policy.name {
                RestartName::Always => true,
                RestartName::UnlessStopped => !self.state.manually_stopped,
                _ => false,
            }
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("{}-json.log", self.config.id))
    }

    /// Where compiled seccomp programs are kept: `ROOT/cache/seccomp`.
    pub(crate) fn seccomp_cache(&self) -> PathBuf {
        let root = self
            .dir
            .parent()
            .and_then(Path::parent)
            .unwrap_or(&self.dir);
        root.join("cache").join("seccomp")
    }

    pub(crate) fn cgroup_name(&self) -> String {
        format!("isola/{}", self.config.id)
    }

    /// Takes the container's lock; state read-modify-writes happen under it.
    pub(crate) fn lock(&self) -> Result<Flock<File>> {
        lock_file(&self.dir.join("lock"))
    }

    /// Rereads the state from disk.
    pub(crate) fn reload(&mut self) -> Result<()> {
        self.state = read_json(&self.dir.join("state.json"))?;
        Ok(())
    }

    /// Writes the state atomically (temp file + rename); hold `lock()`.
    pub(crate) fn save_state(&self) -> Result<()> {
        write_json_atomic(&self.dir.join("state.json"), &self.state)
    }

    /// Updates the state under the lock with fresh data from disk.
    pub(crate) fn update(&mut self, f: impl FnOnce(&mut State)) -> Result<()> {
        let _lock = self.lock()?;
        self.reload()?;
        f(&mut self.state);
        self.save_state()
    }
}

/// Takes an exclusive flock on `path` (created if missing).
pub(crate) fn lock_file(path: &Path) -> Result<Flock<File>> {
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(io_err(format!("opening lock {}", path.display())))?;
    Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| Error::Io {
        context: format!("locking {}", path.display()),
        source: e.into(),
    })
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let data = fs::read(path).map_err(io_err(format!("reading {}", path.display())))?;
    serde_json::from_slice(&data).map_err(|e| Error::Io {
        context: format!("parsing {}", path.display()),
        source: e.into(),
    })
}

/// Writes `value` as JSON to `path` atomically (temp file + rename), mode
/// 0600: config and state carry the container's environment, which often
/// holds secrets (CVE-2021-41091 class).
pub(crate) fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let data = serde_json::to_vec_pretty(value).expect("state serializes");
    let write = || -> std::io::Result<()> {
        let mut f = private_file(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_err(format!("writing {}", path.display()))(e)
    })
}

/// Creates (truncating) a file only root can read.
pub(crate) fn private_file(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// Permission bits of the state directories, as Docker sets them: the root
/// 0710 (traversable by a configured group, listable by none), everything
/// below it 0700, so no other host user can read a container's config or
/// logs or execute a set-uid file a container made (CVE-2021-41091).
pub(crate) const ROOT_MODE: u32 = 0o710;
pub(crate) const PRIVATE_DIR: u32 = 0o700;

/// Creates `dir` if needed and gives it exactly `mode`.
pub(crate) fn secure_dir(dir: &Path, mode: u32) -> Result<()> {
    match fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err(format!("creating {}", dir.display()))(e)),
    }
    let meta = fs::metadata(dir).map_err(io_err(format!("reading {}", dir.display())))?;
    if meta.permissions().mode() & 0o7777 != mode {
        fs::set_permissions(dir, fs::Permissions::from_mode(mode))
            .map_err(io_err(format!("securing {}", dir.display())))?;
    }
    Ok(())
}

/// Takes the lock at `path` if nobody holds it; `None` when it is held
/// or cannot be opened. Does not create the file.
fn try_lock_existing(path: &Path) -> Option<Flock<File>> {
    let f = OpenOptions::new().write(true).open(path).ok()?;
    Flock::lock(f, FlockArg::LockExclusiveNonblock).ok()
}

impl Engine {
    pub(crate) fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    fn names_dir(&self) -> PathBuf {
        self.root.join("names")
    }

    /// Reserves `name` for `id`; fails if another container has it.
    /// Reserves `name` for container `id`, whose staging directory exists.
    /// The name file appears with its content in one step (a hard link of
    /// a file written in the staging directory): a create killed half-way
    /// never leaves an empty name file that no one could tell from a
    /// reservation in progress.
    pub(crate) fn reserve_name(&self, name: &str, id: &str) -> Result<()> {
        let staging = self.containers_dir().join(format!(".new-{id}"));
        self.reserve_name_from(name, id, &staging)
    }

    /// [`Engine::reserve_name`], writing the name's content first in `dir`
    /// (the container's own directory, for `rename`).
    pub(crate) fn reserve_name_from(&self, name: &str, id: &str, dir: &Path) -> Result<()> {
        let path = self.names_dir().join(name);
        let tmp = dir.join(".name");
        fs::write(&tmp, id).map_err(io_err(format!("writing {}", tmp.display())))?;
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::AlreadyExists && self.free_stale_name(name) => {
                self.reserve_name_from(name, id, dir)
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let owner = fs::read_to_string(&path).unwrap_or_default();
                Err(Error::NameInUse {
                    name: name.to_string(),
                    id: owner,
                })
            }
            Err(e) => Err(io_err(format!("reserving name {name}"))(e)),
        }
    }

    pub(crate) fn release_name(&self, name: &str, id: &str) {
        let path = self.names_dir().join(name);
        if fs::read_to_string(&path).is_ok_and(|owner| owner == id) {
            let _ = fs::remove_file(path);
        }
    }

    /// Writes a new container's directory, crash-safely. Everything is
    /// prepared in `containers/.new-<id>` while the creator holds the lock
    /// `containers/.new-<id>.lock`; then the name is reserved, config.json
    /// written and the directory renamed into place. A creator killed at
    /// any point leaves either nothing visible or a staging directory whose
    /// lock is free, which the next command that meets it rolls back
    /// ([`Engine::collect_abandoned`]), freeing the name with it.
    /// `name: None` picks a free generated name.
    pub(crate) fn write_new(
        &self,
        config: ContainerConfig,
        name: Option<&str>,
        prepare: impl FnOnce(&mut Container) -> Result<()>,
    ) -> Result<Container> {
        let id = config.id.clone();
        let containers = self.containers_dir();
        let lock_path = containers.join(format!(".new-{id}.lock"));
        let staging = containers.join(format!(".new-{id}"));
        let lock = lock_file(&lock_path)?;
        let mut c = Container {
            config: config.clone(),
            state: State::new(),
            dir: staging.clone(),
        };
        let built = (|| {
            secure_dir(&staging, PRIVATE_DIR)?;
            c.save_state()?;
            prepare(&mut c)?;
            let name = match name {
                Some(n) => {
                    self.reserve_name(n, &id)?;
                    n.to_string()
                }
                None => self.reserve_generated_name(&id)?,
            };
            c.config.name = name.clone();
            let done = write_json_atomic(&staging.join("config.json"), &c.config).and_then(|()| {
                let dir = containers.join(&id);
                fs::rename(&staging, &dir)
                    .map_err(io_err(format!("creating {}", dir.display())))?;
                c.dir = dir;
                Ok(())
            });
            if done.is_err() {
                self.release_name(&name, &id);
            }
            done
        })();
        if built.is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
        let _ = fs::remove_file(&lock_path);
        drop(lock);
        built.map(|()| c)
    }

    fn reserve_generated_name(&self, id: &str) -> Result<String> {
        for _ in 0..64 {
            let n = crate::ids::new_name();
            match self.reserve_name(&n, id) {
                Ok(()) => return Ok(n),
                Err(Error::NameInUse { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict(
            "could not find a free container name: pass --name".into(),
        ))
    }

    /// Tightens the containers of a root written by an older isola: each
    /// container directory 0700 and its files 0600.
    pub(crate) fn secure_existing(&self) {
        let Ok(entries) = fs::read_dir(self.containers_dir()) else {
            return;
        };
        for e in entries.flatten() {
            let dir = e.path();
            let _ = fs::set_permissions(&dir, fs::Permissions::from_mode(PRIVATE_DIR));
            for f in fs::read_dir(&dir).into_iter().flatten().flatten() {
                // Not hosts, hostname, resolv.conf: they are bind-mounted
                // into the container for its users to read.
                let n = f.file_name().to_string_lossy().into_owned();
                if n.ends_with(".json") || n.ends_with(".log") {
                    let _ = fs::set_permissions(f.path(), fs::Permissions::from_mode(0o600));
                }
            }
        }
    }

    /// Whether the container `id` that a name points to exists or is being
    /// created right now; false for the leftovers of a killed create.
    fn id_is_live(&self, id: &str) -> bool {
        let containers = self.containers_dir();
        let lock_path = containers.join(format!(".new-{id}.lock"));
        if lock_path.exists() && try_lock_existing(&lock_path).is_none() {
            return true; // a create holds it
        }
        // Checked after the lock: a create that just finished has renamed
        // its directory into place before giving the lock up.
        containers.join(id).join("config.json").exists()
            || (containers.join(id).exists()
                && try_lock_existing(&containers.join(id).join("lock")).is_none())
    }

    /// Rolls back what killed creates and removes left behind: staging
    /// directories whose creator is gone, container directories without
    /// config.json (a removal cut short), and names that point at nothing.
    /// Cheap when there is nothing to do: one directory listing.
    pub(crate) fn collect_abandoned(&self) {
        let containers = self.containers_dir();
        let Ok(entries) = fs::read_dir(&containers) else {
            return;
        };
        let mut gone = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let id = if let Some(rest) = name.strip_prefix(".new-") {
                rest.trim_end_matches(".lock").to_string()
            } else if name.len() == 64 && !e.path().join("config.json").exists() {
                name.clone()
            } else {
                continue;
            };
            if gone.contains(&id) || self.id_is_live(&id) {
                continue;
            }
            let _ = fs::remove_dir_all(containers.join(format!(".new-{id}")));
            if let Some(_l) = try_lock_existing(&containers.join(&id).join("lock")) {
                let _ = fs::remove_dir_all(containers.join(&id));
            }
            let _ = fs::remove_file(containers.join(format!(".new-{id}.lock")));
            gone.push(id);
        }
        if gone.is_empty() {
            return;
        }
        if let Ok(names) = fs::read_dir(self.names_dir()) {
            for n in names.flatten() {
                if fs::read_to_string(n.path()).is_ok_and(|owner| gone.contains(&owner)) {
                    let _ = fs::remove_file(n.path());
                }
            }
        }
    }

    /// Frees `name` if it points at a container that does not exist (the
    /// leftover of a killed create); true if it did.
    pub(crate) fn free_stale_name(&self, name: &str) -> bool {
        let path = self.names_dir().join(name);
        let Ok(owner) = fs::read_to_string(&path) else {
            return false;
        };
        // A name file without a whole id (left by an older isola killed
        // between creating and writing it) names no container.
        let whole = owner.len() == 64 && owner.bytes().all(|b| b.is_ascii_hexdigit());
        if whole && self.id_is_live(&owner) {
            return false;
        }
        self.collect_abandoned();
        let _ = fs::remove_file(&path);
        true
    }

    fn load(&self, id: &str) -> Result<Container> {
        let dir = self.containers_dir().join(id);
        let config_path = dir.join("config.json");
        if !config_path.exists() {
            return Err(Error::NoSuchContainer(id.to_string()));
        }
        let config: ContainerConfig = match read_json(&config_path) {
            Ok(c) => c,
            Err(e) => {
                return Ok(Container {
                    config: self.placeholder_config(id),
                    state: State::dead(format!("{e}: remove it with 'isola rm -f'")),
                    dir,
                })
            }
        };
        let state = match read_json(&dir.join("state.json")) {
            Ok(s) => s,
            Err(e) => State::dead(format!("{e}: remove it with 'isola rm -f'")),
        };
        let mut c = Container { config, state, dir };
        if c.state.status == Status::Running {
            self.backend(&c).observe(&mut c);
        }
        // A failed write (a full disk) must not hide the container.
        let _ = self.reconcile(&mut c);
        if !c.dir.exists() {
            return Err(Error::NoSuchContainer(id.to_string())); // --rm took it
        }
        Ok(c)
    }

    /// What can still be said of a container whose config.json is damaged:
    /// its id and the name that points to it.
    fn placeholder_config(&self, id: &str) -> ContainerConfig {
        let name = fs::read_dir(self.names_dir())
            .into_iter()
            .flatten()
            .flatten()
            .find(|n| fs::read_to_string(n.path()).is_ok_and(|o| o == id))
            .map(|n| n.file_name().to_string_lossy().into_owned())
            .unwrap_or_default();
        ContainerConfig {
            id: id.to_string(),
            name,
            created: String::new(),
            image_id: String::new(),
            path: String::new(),
            args: Vec::new(),
            config: RunConfig {
                hostname: String::new(),
                user: String::new(),
                env: Vec::new(),
                cmd: Vec::new(),
                entrypoint: Vec::new(),
                working_dir: String::new(),
                tty: false,
                open_stdin: false,
                image: String::new(),
                labels: Default::default(),
                stop_signal: None,
                stop_timeout: None,
                healthcheck: None,
                exposed_ports: Default::default(),
            },
            host_config: HostSettings {
                isolation: Isolation::Process,
                memory: 0,
                nano_cpus: 0,
                pids_limit: 0,
                network_mode: String::new(),
                readonly_rootfs: false,
                auto_remove: false,
                cap_add: Vec::new(),
                cap_drop: Vec::new(),
                privileged: false,
                security_opt: Vec::new(),
                isolation_source: String::new(),
                devices: Vec::new(),
                sysctls: Default::default(),
                shm_size: None,
                ulimits: Vec::new(),
                group_add: Vec::new(),
                init: false,
                networks: Default::default(),
                port_bindings: Vec::new(),
                restart_policy: Default::default(),
                pid_mode: String::new(),
                ipc_mode: String::new(),
                uts_mode: String::new(),
                memory_swap: 0,
                cpu_shares: 0,
                cpuset_cpus: String::new(),
                oom_kill_disable: false,
            },
            layers: Vec::new(),
            mounts: Vec::new(),
        }
    }

    /// Finds a container by full id, name, or unique id prefix.
    pub fn lookup(&self, key: &str) -> Result<Container> {
        // A key is a name or an id, never a path: `names/../x` would read,
        // and as a stale name even delete, a file outside the names
        // directory (keys reach here from API request bodies too).
        if key.is_empty() || key.contains('/') || key == "." || key == ".." {
            return Err(Error::NoSuchContainer(key.to_string()));
        }
        if let Ok(id) = fs::read_to_string(self.names_dir().join(key)) {
            if let Ok(c) = self.load(&id) {
                return Ok(c);
            }
            if self.free_stale_name(key) {
                return Err(Error::NoSuchContainer(key.to_string()));
            }
        }
        let ids = self.ids()?;
        let matches: Vec<&String> = ids.iter().filter(|id| id.starts_with(key)).collect();
        match matches.as_slice() {
            [one] => self.load(one),
            [] => Err(Error::NoSuchContainer(key.to_string())),
            _ => Err(Error::AmbiguousId(key.to_string())),
        }
    }

    fn ids(&self) -> Result<Vec<String>> {
        let dir = self.containers_dir();
        let entries = fs::read_dir(&dir).map_err(io_err(format!("reading {}", dir.display())))?;
        Ok(entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.len() == 64)
            .collect())
    }

    /// All containers, newest first.
    pub fn list(&self) -> Result<Vec<Container>> {
        self.collect_abandoned();
        let mut all: Vec<Container> = self
            .ids()?
            .iter()
            .filter_map(|id| self.load(id).ok())
            .collect();
        all.sort_by(|a, b| b.config.created.cmp(&a.config.created));
        Ok(all)
    }

    /// Records the end of a container whose monitor is gone without having
    /// done so: a killed process-mode monitor, or a VM whose hypervisor (its
    /// monitor) exited after the guest wrote its exit record. `--rm`
    /// containers are then removed.
    fn reconcile(&self, c: &mut Container) -> Result<()> {
        if c.state.status != Status::Running || c.state.monitor_alive() || c.state.init_alive() {
            return Ok(());
        }
        let backend = self.backend(c);
        {
            let _lock = c.lock()?;
            c.reload()?;
            if c.state.status != Status::Running || c.state.monitor_alive() || c.state.init_alive()
            {
                return Ok(());
            }
            backend.observe(c);
            let ending = backend.ending(c);
            c.state.status = Status::Exited;
            c.state.exit_code = ending.code;
            c.state.oom_killed = ending.oom_killed;
            c.state.error = ending.error;
            c.state.pid = 0;
            c.state.restarting = false;
            c.state.finished_at = Some(crate::ids::now_rfc3339());
            c.state.paused = false;
            // Keep going on a full disk: the end is known in memory, and
            // cleanup and --rm free space rather than need it.
            let _ = c.save_state();
        }
        if c.state.oom_killed {
            self.container_event(c, "oom", &[]);
        }
        self.container_event(c, "die", &[("exitCode", c.state.exit_code.to_string())]);
        let _ = backend.cleanup(c);
        if c.config.host_config.auto_remove {
            self.delete(c)?;
            self.drop_anonymous_volumes(c);
            self.container_event(c, "destroy", &[]);
        }
        Ok(())
    }

    /// Deletes the container's directory and name; the last step of `rm`.
    /// Needs no free space (it only unlinks), so it works on a full disk.
    pub(crate) fn delete(&self, c: &Container) -> Result<()> {
        // Under the lock, so that a removal cut short is recognisable (a
        // directory without config.json whose lock is free) and finished by
        // collect_abandoned.
        let _lock = lock_file(&c.dir.join("lock")).ok();
        // Drop config.json first: from then on the container is gone for lookups.
        let _ = fs::remove_file(c.dir.join("config.json"));
        self.release_name(&c.config.name, &c.config.id);
        let _ = self.networks.release(&c.config.id);
        let mut last = None;
        for _ in 0..20 {
            match fs::remove_dir_all(&c.dir) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                // A monitor finishing at the same moment may add a file.
                Err(e) => last = Some(e),
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        Err(io_err(format!("removing {}", c.dir.display()))(
            last.expect("an error was recorded"),
        ))
    }
}
