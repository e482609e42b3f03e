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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
    /// `rm -f` is tearing it down; the monitor must not write it back.
    Removing,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
            Status::Removing => "removing",
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
    pub fn id(&self) -> &str {
        &self.config.id
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join(format!("{}-json.log", self.config.id))
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

pub(crate) fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let data = serde_json::to_vec_pretty(value).expect("state serializes");
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(&data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(io_err(format!("writing {}", path.display())))
}

impl Engine {
    pub(crate) fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    fn names_dir(&self) -> PathBuf {
        self.root.join("names")
    }

    /// Reserves `name` for `id`; fails if another container has it.
    pub(crate) fn reserve_name(&self, name: &str, id: &str) -> Result<()> {
        let path = self.names_dir().join(name);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => f
                .write_all(id.as_bytes())
                .map_err(io_err(format!("writing {}", path.display()))),
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

    /// Writes a new container's directory. The config is written last, so
    /// a directory without `config.json` is an unfinished create.
    pub(crate) fn write_new(&self, config: ContainerConfig) -> Result<Container> {
        let dir = self.containers_dir().join(&config.id);
        fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        let c = Container {
            config,
            state: State::new(),
            dir,
        };
        c.save_state()?;
        write_json_atomic(&c.dir.join("config.json"), &c.config)?;
        Ok(c)
    }

    fn load(&self, id: &str) -> Result<Container> {
        let dir = self.containers_dir().join(id);
        let config: ContainerConfig = read_json(&dir.join("config.json"))
            .map_err(|_| Error::NoSuchContainer(id.to_string()))?;
        let state = read_json(&dir.join("state.json"))?;
        let mut c = Container { config, state, dir };
        self.reconcile(&mut c)?;
        if !c.dir.exists() {
            return Err(Error::NoSuchContainer(id.to_string())); // --rm took it
        }
        Ok(c)
    }

    /// Finds a container by full id, name, or unique id prefix.
    pub fn lookup(&self, key: &str) -> Result<Container> {
        if key.is_empty() {
            return Err(Error::NoSuchContainer(key.to_string()));
        }
        if let Ok(id) = fs::read_to_string(self.names_dir().join(key)) {
            if let Ok(c) = self.load(&id) {
                return Ok(c);
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
            let ending = backend.ending(c);
            c.state.status = Status::Exited;
            c.state.exit_code = ending.code;
            c.state.oom_killed = ending.oom_killed;
            c.state.error = ending.error;
            c.state.pid = 0;
            c.state.finished_at = Some(crate::ids::now_rfc3339());
            c.save_state()?;
        }
        let _ = backend.cleanup(c);
        if c.config.host_config.auto_remove {
            self.delete(c)?;
        }
        Ok(())
    }

    /// Deletes the container's directory and name; the last step of `rm`.
    pub(crate) fn delete(&self, c: &Container) -> Result<()> {
        // Drop config.json first: from then on the container is gone for lookups.
        let _ = fs::remove_file(c.dir.join("config.json"));
        self.release_name(&c.config.name, &c.config.id);
        match fs::remove_dir_all(&c.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(format!("removing {}", c.dir.display()))(e)),
        }
    }
}
