//! The container engine: what a container is on disk, how it is created,
//! started, stopped and removed, and the small per-container monitor that
//! owns its stdio and exit status. There is no daemon: the state directory
//! (written atomically, under locks) is the truth, and each running
//! container has exactly one monitor process.

mod attach;
mod backend;
mod config;
mod copy;
mod events;
mod exec;
mod filters;
mod health;
mod ids;
mod info;
mod inspect;
mod lifecycle;
mod logs;
mod manage;
mod monitor;
mod net;
mod policy;
mod prune;
mod pump;
mod signals;
mod spec;
mod stats;
mod store;
mod volumes;

pub use backend::{Isolation, Top};
/// The Docker Engine API's models (bollard-stubs), shared by the CLI and the API.
pub use bollard_stubs::models as docker;
pub use config::HostConfig as EngineConfig;
pub use copy::{CommitRequest, HostEnd};
// Events, rename/restart/pause/update and stats (issue 13's verbs).
pub use attach::{parse_detach_keys, AttachEnd, AttachOptions, DEFAULT_DETACH_KEYS};
pub use events::{now_nanos, parse_time, Actor, Event, EventFilter};
pub use exec::ExecOptions;
pub use filters::Filters;
pub use health::HealthOptions;
pub use ids::{human_duration, since};
pub use info::Info;
pub use isola_network::{Network, NewNetwork, PortMapping};
pub use isola_runtime_process::health::{Health, HealthStatus};
pub use isola_runtime_process::restart::{RestartName, RestartPolicy};
/// A client's streams (see `isola_runtime_process::Streams`).
pub use isola_runtime_process::Streams;
pub use lifecycle::{Attach, CreateOptions, Started};
pub use logs::LogOptions;
pub use manage::UpdateOptions;
pub use monitor::MonitorOptions;
pub use net::{ports_text, Endpoint, NetworkMode, NetworkOptions};
pub use prune::{dir_size, DiskUsage, DiskUsageRow, HistoryItem, PruneFilter, Pruned};
pub use signals::parse_signal;
pub use stats::Stats;
pub use store::{Container, Status};
pub use volumes::{MountPoint, MountType, Volume};

use std::path::{Path, PathBuf};

/// Errors of the engine. Messages are one line, name what was wrong and,
/// where the user can act, what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Image(#[from] isola_image::Error),
    #[error(transparent)]
    Runtime(#[from] isola_runtime_process::Error),
    #[error(transparent)]
    Vm(#[from] isola_runtime_vm::Error),
    #[error("no such container: {0}: list containers with 'isola ps -a'")]
    NoSuchContainer(String),
    #[error("container id prefix {0:?} is ambiguous: give more characters of the id")]
    AmbiguousId(String),
    #[error("the container name \"{name}\" is already in use by container \"{id}\": remove that container or choose another name")]
    NameInUse { name: String, id: String },
    #[error("{0}")]
    Invalid(String),
    /// A named object (network, volume) that does not exist; the API
    /// answers 404 for it as Docker does.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl Error {
    /// The exit code the CLI reports for this error, following Docker:
    /// 126/127 when the container's command could not be run, else 125.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Runtime(isola_runtime_process::Error::Exec { code, .. }) => *code,
            _ => 125,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// Marks every descriptor above stdio close-on-exec: what the caller of
/// isola held open must never reach a monitor, container or hypervisor.
/// Call first thing in every isola process.
pub fn close_inherited_fds() {
    isola_runtime_process::sys::cloexec_from(3);
}

/// Re-executes this process from a sealed in-memory copy of its binary,
/// for commands that join a running container's namespaces.
pub fn run_from_sealed_binary() -> Result<()> {
    Ok(isola_runtime_process::exe::reexec_sealed()?)
}

/// The engine over one state directory (`--root`).
pub struct Engine {
    root: PathBuf,
    images: isola_image::Store,
    config: config::HostConfig,
    volumes: volumes::Volumes,
    networks: isola_network::Networks,
}

impl Engine {
    /// Opens (creating if needed) the state directory `root`, and gives
    /// it and everything below it private permissions (see
    /// [`store::ROOT_MODE`]); a root made by an older isola is tightened
    /// the first time.
    pub fn open(root: &Path) -> Result<Engine> {
        std::fs::create_dir_all(root).map_err(io_err(format!(
            "creating state directory {}",
            root.display()
        )))?;
        let upgrade = {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(root).map_or(true, |m| {
                m.permissions().mode() & 0o7777 != store::ROOT_MODE
            })
        };
        store::secure_dir(root, store::ROOT_MODE)?;
        for dir in [
            "containers",
            "names",
            "images",
            "vm",
            "cache",
            "volumes",
            "networks",
            "netns",
        ] {
            store::secure_dir(&root.join(dir), store::PRIVATE_DIR)?;
        }
        let images = isola_image::Store::open(&root.join("images"))?;
        let config = config::HostConfig::load(root)?;
        let networks = isola_network::Networks::open(root, &config.default_subnet)?;
        let engine = Engine {
            root: root.to_path_buf(),
            images,
            config,
            volumes: volumes::Volumes::new(root),
            networks,
        };
        if upgrade {
            engine.secure_existing();
        }
        Ok(engine)
    }

    pub fn images(&self) -> &isola_image::Store {
        &self.images
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Registries the host config allows over plain HTTP or unverified TLS.
    pub fn insecure_registries(&self) -> &[String] {
        &self.config.insecure_registries
    }
}
