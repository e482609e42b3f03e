//! Registry client for isola: `pull`, `push`, `login` and `logout` over the
//! OCI distribution protocol, as Docker registries, the CNCF distribution
//! registry, Harbor, GHCR and the like speak it.
//!
//! # Why `oci-client`
//! The protocol itself (the `WWW-Authenticate` challenge and the Bearer
//! token dance, Basic auth, manifest and blob requests, monolithic and
//! chunked uploads, cross-repository mounts) comes from `oci-client`, the
//! ORAS project's client, which is kept up to date against real
//! registries. isola keeps for itself what `oci-client` does not do the way
//! an engine needs it:
//! - manifest list / OCI index platform selection (`--platform`, variants):
//!   `oci-client`'s resolver only sees the index entries and cannot report
//!   why nothing matched, so isola fetches manifests raw and chooses;
//! - downloads: each layer is streamed into `ROOT/images/downloads`,
//!   hashed on the way, resumed with an HTTP range after a cut connection
//!   or an interrupted pull, retried with back-off, a few in parallel, and
//!   handed to the store to verify and unpack as soon as it is complete
//!   (while the others still download);
//! - Docker's rules for plain HTTP (`localhost`, 127.0.0.0/8 and the
//!   `insecure_registries` of the isola config: HTTPS first, HTTP if the
//!   registry does not speak TLS) and per-registry CAs from `certs.d`;
//! - credentials: read through `docker_credential` (Docker's `config.json`
//!   with `auths`, `credsStore` and `credHelpers`), written by `login` to
//!   `auths` in the same file, so `docker login` and `isola login` agree.
//!
//! Pushes use `oci-client`'s HEAD check, its cross-repository mount (from
//! the repository the image was pulled from, if on the same registry) and
//! its monolithic upload fed by a stream from disk: one PUT per blob, no
//! layer held in memory. (`oci-client`'s chunked upload is not used: it
//! costs a request per chunk, and the distribution registry takes
//! monolithic PUTs; other registries are untested.)
//!
//! Everything async stays inside this crate: each public function runs a
//! current-thread tokio runtime and blocks.
//!
//! Not done (yet): `search`, pushing indexes, compressing uncompressed
//! layers on push (blobs go as stored).
//!
//! Every blob is verified against its digest twice before anything is
//! committed: while downloading (a mismatch deletes the download) and by
//! the image store when it stages the image; the store commits the image
//! atomically or not at all.

mod auth;
mod client;
mod error;
mod platform;
mod progress;
mod pull;
mod push;

pub use auth::{login, logout};
pub use error::{Error, Result};
pub use platform::Platform;
pub use progress::Progress;
pub use pull::{pull, pull_all_tags, Pulled};
pub use push::push;

use std::path::PathBuf;

/// How to reach registries: from the isola config and the command line.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `host[:port]` registries allowed over plain HTTP (besides localhost).
    pub insecure_registries: Vec<String>,
    /// Directories laid out as `<dir>/<host[:port]>/*.crt` with CAs to
    /// trust for that registry, in addition to the system's.
    pub certs_dirs: Vec<PathBuf>,
    pub progress: Progress,
}

impl Options {
    /// The standard CA directories: `ROOT/certs.d`, `/etc/isola/certs.d`
    /// and Docker's `/etc/docker/certs.d`.
    pub fn default_certs_dirs(root: &std::path::Path) -> Vec<PathBuf> {
        vec![
            root.join("certs.d"),
            PathBuf::from("/etc/isola/certs.d"),
            PathBuf::from("/etc/docker/certs.d"),
        ]
    }
}

/// Runs `future` to completion on a fresh current-thread runtime.
fn block_on<F: std::future::Future>(future: F) -> Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Local(format!("starting the network runtime: {e}")))?;
    Ok(runtime.block_on(future))
}
