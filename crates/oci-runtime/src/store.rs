//! The runtime's state under `--root`: one directory per container with
//! `state.json` (what `state` reports), `config.json` (the spec it was
//! created from, for `exec`, `update` and the hooks run after the bundle
//! may be gone) and, between create and start, `exec.fifo`.
//!
//! Status is derived, never stored: the init's PID *and* start time say
//! whether the container still runs (a PID alone may have been reused),
//! the FIFO whether it was started, the freezer whether it is paused.

use crate::error::{io_err, Error, Result};
use isola_runtime_process::sys::process_is;
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const FIFO: &str = "exec.fifo";
const STATE: &str = "state.json";
const CONFIG: &str = "config.json";

/// Which isolation runs the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    Process,
    Vm,
}

/// An OCI status (runtime-spec "state").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// What the runtime keeps about one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    /// Its state directory (VM mode keeps the VM's files there).
    pub dir: PathBuf,
    pub bundle: PathBuf,
    /// The container's PID as reported (process mode: its init; VM mode:
    /// the host process that lives as long as the VM's container); 0 while
    /// it is being created.
    pub pid: i32,
    pub start_time: u64,
    /// The `create` that made this record, while it is at work.
    pub creator: i32,
    pub creator_start_time: u64,
    pub created: String,
    /// The cgroup, relative to the cgroup root.
    pub cgroup: String,
    pub isolation: Isolation,
    pub annotations: BTreeMap<String, String>,
}

/// The state root (`--root`).
pub struct Store {
    pub root: PathBuf,
}

/// Container ids become directory names: nothing that could leave the root.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && id != "."
        && id != ".."
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid container id {id:?}: use letters, digits, '_', '+', '-' and '.'"
        )))
    }
}

impl Store {
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Reserves `id`: fails if a container of that name exists.
    pub fn reserve(&self, id: &str) -> Result<PathBuf> {
        check_id(id)?;
        std::fs::create_dir_all(&self.root).map_err(io_err(format!(
            "creating the state root {}",
            self.root.display()
        )))?;
        let dir = self.dir(id);
        match std::fs::create_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Err(Error::Exists(id.to_string()))
            }
            Err(e) => Err(io_err(format!("creating {}", dir.display()))(e)),
        }
    }

    pub fn load(&self, id: &str) -> Result<Record> {
        check_id(id)?;
        let path = self.dir(id).join(STATE);
        let data = match std::fs::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotFound(id.to_string()))
            }
            Err(e) => return Err(io_err(format!("reading {}", path.display()))(e)),
        };
        serde_json::from_slice(&data)
            .map_err(|e| Error::Invalid(format!("{} is damaged: {e}", path.display())))
    }

    /// Writes the record atomically (a reader never sees half of it).
    pub fn save(&self, r: &Record) -> Result<()> {
        let dir = self.dir(&r.id);
        let tmp = dir.join(".state.json.tmp");
        let data = serde_json::to_vec(r).expect("record serializes");
        std::fs::write(&tmp, data).map_err(io_err(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, dir.join(STATE)).map_err(io_err("saving the container state"))
    }

    pub fn save_config(&self, id: &str, spec: &Spec) -> Result<()> {
        let data = serde_json::to_vec(spec).expect("spec serializes");
        let path = self.dir(id).join(CONFIG);
        std::fs::write(&path, data).map_err(io_err(format!("writing {}", path.display())))
    }

    pub fn config(&self, id: &str) -> Result<Spec> {
        let path = self.dir(id).join(CONFIG);
        Spec::load(&path).map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))
    }

    pub fn remove(&self, id: &str) -> Result<()> {
        match std::fs::remove_dir_all(self.dir(id)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(format!("removing {}", self.dir(id).display()))(e)),
        }
    }

    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().join(STATE).exists())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        ids.sort();
        ids
    }
}

impl Record {
    pub fn alive(&self) -> bool {
        process_is(self.pid, self.start_time)
    }

    /// The container's status; `paused` is asked of the backend.
    pub fn status(&self, store: &Store, paused: impl FnOnce() -> bool) -> Status {
        if self.pid == 0 {
            return if process_is(self.creator, self.creator_start_time) {
                Status::Creating
            } else {
                // Its `create` died half-way: only `delete` is left.
                Status::Stopped
            };
        }
        if !self.alive() {
            Status::Stopped
        } else if store.dir(&self.id).join(FIFO).exists() {
            Status::Created
        } else if paused() {
            Status::Paused
        } else {
            Status::Running
        }
    }

    /// The OCI state JSON (runtime-spec "State"), with runc's `created`.
    pub fn state_json(&self, status: Status) -> serde_json::Value {
        let pid = match status {
            Status::Stopped | Status::Creating => 0,
            _ => self.pid,
        };
        serde_json::json!({
            "ociVersion": "1.0.2",
            "id": self.id,
            "status": status.as_str(),
            "pid": pid,
            "bundle": self.bundle,
            "rootfs": self.bundle.join("rootfs"),
            "created": self.created,
            "owner": "",
            "annotations": self.annotations,
        })
    }
}

/// Writes `pid` to `path` atomically, as containerd reads it.
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("isola-tmp");
    std::fs::write(&tmp, pid.to_string()).map_err(io_err(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(io_err(format!("writing {}", path.display())))
}
