//! The listener: a Unix socket only (no TCP), mode 0660 and root-owned, or
//! the socket systemd passes (socket activation); HTTP/1.1 with upgrades.

use crate::routes::State;
use crate::{io_err, Error};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A client must send its request head within this time (slow-loris
/// clients are disconnected, not waited for).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 1024;
const SOCKET_MODE: u32 = 0o660;

pub(crate) struct Listener {
    listener: UnixListener,
    /// The socket file we created (removed on exit); `None` when systemd
    /// owns it.
    path: Option<PathBuf>,
}

/// The socket systemd passed (`LISTEN_FDS`, fd 3), if it is for us.
fn activated() -> Option<UnixListener> {
    let pid: u32 = std::env::var("LISTEN_PID").ok()?.parse().ok()?;
    let fds: u32 = std::env::var("LISTEN_FDS").ok()?.parse().ok()?;
    if pid != std::process::id() || fds < 1 {
        return None;
    }
    const SD_LISTEN_FDS_START: RawFd = 3;
    // SAFETY: systemd hands this process fd 3 as a listening socket and
    // nothing else in this process owns it.
    Some(unsafe { UnixListener::from_raw_fd(SD_LISTEN_FDS_START) })
}

pub(crate) fn listen(path: &Path) -> Result<Listener, Error> {
    if let Some(listener) = activated() {
        return Ok(Listener {
            listener,
            path: None,
        });
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(Error::Invalid(format!(
                "{} exists and is not a socket: remove it or choose another path",
                path.display()
            )));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(Error::Invalid(format!(
                "{} is already served by another process: stop it first or choose another path",
                path.display()
            )));
        }
        let _ = std::fs::remove_file(path); // stale, from a service that died
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    }
    // Created under a umask so that it is never reachable by others, not
    // even between bind and chmod.
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o117));
    let bound = UnixListener::bind(path);
    nix::sys::stat::umask(old);
    let listener = bound.map_err(io_err(format!("listening on {}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))
        .map_err(io_err(format!("setting the mode of {}", path.display())))?;
    Ok(Listener {
        listener,
        path: Some(path.to_path_buf()),
    })
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(p) = &self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}

pub(crate) async fn run(
    listener: Listener,
    state: State,
    idle: Option<Duration>,
) -> Result<(), Error> {
    listener
        .listener
        .set_nonblocking(true)
        .map_err(io_err("socket"))?;
    let accept = tokio::net::UnixListener::from_std(
        listener
            .listener
            .try_clone()
            .map_err(io_err("listening socket"))?,
    )
    .map_err(io_err("listening socket"))?;
    let state = Arc::new(state);
    let active = Arc::new(AtomicUsize::new(0));
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(io_err("signals"))?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(io_err("signals"))?;
    let mut last_activity = tokio::time::Instant::now();
    loop {
        let idle_check = async {
            match idle {
                Some(d) => tokio::time::sleep(Duration::from_millis(500).min(d)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = idle_check => {
                if active.load(Ordering::SeqCst) > 0 {
                    last_activity = tokio::time::Instant::now();
                } else if idle.is_some_and(|d| last_activity.elapsed() >= d) {
                    break;
                }
            }
            conn = accept.accept() => {
                let Ok((stream, _)) = conn else { continue };
                last_activity = tokio::time::Instant::now();
                let Ok(permit) = slots.clone().acquire_owned().await else { continue };
                let state = state.clone();
                let active = active.clone();
                active.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, std::convert::Infallible>(crate::routes::handle(state, req).await) }
                    });
                    let _ = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(HEADER_TIMEOUT)
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                    active.fetch_sub(1, Ordering::SeqCst);
                    drop(permit);
                });
            }
        }
    }
    drop(listener);
    Ok(())
}
