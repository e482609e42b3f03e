//! The crate's single error type.

use std::io;

/// Everything that can go wrong in the image store. Each message names what
/// was wrong and what the user can do about it, because the CLI prints it
/// verbatim.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "image {0:?} not found: list images with 'isola images' or load one with 'isola load'"
    )]
    NotFound(String),

    #[error("image id prefix {prefix:?} matches {count} images: give more characters of the id")]
    AmbiguousId { prefix: String, count: usize },

    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference {
        reference: String,
        reason: &'static str,
    },

    #[error("invalid change {change:?}: {reason}")]
    InvalidChange { change: String, reason: String },

    #[error("refusing layer entry {entry:?}: {reason}; the layer is unsafe, nothing was stored")]
    UnsafeEntry { entry: String, reason: &'static str },

    #[error("cannot load archive: {0}; create archives with 'isola save' or 'docker save'")]
    InvalidArchive(String),

    #[error(
        "{0}-compressed input is not supported: decompress it or recompress it with gzip or zstd"
    )]
    UnsupportedCompression(&'static str),

    #[error("digest mismatch for {what}: expected {expected}, got {actual}; the archive is corrupt or was tampered with, get a fresh copy")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },

    #[error("image {reference:?} is in use by a container: use -f or remove the container first")]
    InUse { reference: String },

    #[error("image {id} has several tags ({tags}): use -f to remove it with all its tags, or remove the tags one by one")]
    MultipleTags { id: String, tags: String },

    #[error("cannot import {path:?}: {reason}")]
    Unimportable { path: String, reason: &'static str },

    #[error("image store is damaged: {0}; remove the affected image with 'isola rmi -f' and load it again, or delete the images directory if that fails")]
    Corrupt(String),

    #[error("encoding {what} as JSON failed: {source}; this is a bug in isola, please report it")]
    Encode {
        what: &'static str,
        source: serde_json::Error,
    },

    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
}

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches "what we were doing" to low-level I/O errors so the user sees
/// which file failed, not just "No such file or directory".
pub(crate) trait IoContext<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<io::Error>> IoContext<T> for std::result::Result<T, E> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Io {
            context: what(),
            source: e.into(),
        })
    }
}

/// Serializes our own data structures; failure is a bug, not a user error.
pub(crate) fn to_json(what: &'static str, value: &impl serde::Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|source| Error::Encode { what, source })
}
