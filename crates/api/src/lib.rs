//! The Docker Engine API (1.47, clients from 1.24) on a Unix socket, so that
//! the real `docker` CLI, docker-compose and SDKs drive isola.
//!
//! The service is not an owner of containers: every request goes to the
//! same [`isola_engine::Engine`] over the same `--root` as the CLI, and each
//! container keeps its own monitor process, so stopping the service stops
//! no container and `isola ps` and `docker ps` agree.
//!
//! Two engine operations fork without exec and need a single-threaded
//! caller (exec into a container, attached starts that proxy signals and
//! relay a VM's streams); this server is multi-threaded, so it runs those
//! as child processes of the `isola` binary itself (`isola start -a`,
//! `isola exec`) and relays their stdio to the hijacked connection (see
//! [`streams`]). Everything else calls the engine on tokio's blocking pool.

mod containers;
mod exec;
mod http;
mod images;
mod resources;
mod routes;
mod server;
mod streams;
mod system;

use std::path::PathBuf;
use std::time::Duration;

/// The API version served, and the oldest one accepted in a path.
pub const API_VERSION: &str = "1.47";
pub const MIN_API_VERSION: &str = "1.24";

/// Errors that stop the service (request errors become HTTP replies).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Engine(#[from] isola_engine::Error),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// `isola system service` options.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The state directory shared with the CLI.
    pub root: PathBuf,
    /// The socket to listen on (ignored under systemd socket activation).
    pub socket: PathBuf,
    /// Exit after this long without a connection; `None` serves forever.
    pub idle_timeout: Option<Duration>,
}

/// Serves the API until a signal (SIGINT/SIGTERM) or the idle timeout.
/// Must be called before any other thread exists: the socket is created
/// under a umask, which is per process.
pub fn serve(opts: ServeOptions) -> Result<(), Error> {
    let engine = isola_engine::Engine::open(&opts.root)?;
    let listener = server::listen(&opts.socket)?;
    let exe = std::env::current_exe().map_err(io_err("finding the isola binary"))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io_err("starting the async runtime"))?;
    let state = routes::State::new(engine, exe, opts.root.clone());
    rt.block_on(server::run(listener, state, opts.idle_timeout))
}
