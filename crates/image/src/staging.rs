//! All-or-nothing writes into the store.
//!
//! Incoming blobs and unpacked layers are first written and verified in a
//! private directory under `tmp/`. Only `commit` moves them into `blobs/`
//! and `layers/` (a rename, so a layer directory exists only once complete)
//! and then rewrites `repositories.json`. Dropping a `Staging` without
//! committing removes everything it wrote, so a failed import or load leaves
//! the store exactly as it was.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::json;

use crate::compression::{decompress, Compression};
use crate::digest::Hashing;
use crate::error::{to_json, Error, IoContext, Result};
use crate::repositories::Repositories;
use crate::store::Store;
use crate::unpack::unpack_layer;

/// A file written into the staging area, with its digest and size.
pub(crate) struct StagedFile {
    pub(crate) path: PathBuf,
    pub(crate) digest: String,
    pub(crate) size: u64,
}

pub(crate) struct Staging<'a> {
    store: &'a Store,
    dir: PathBuf,
    next: u64,
    /// Blob digest -> staged file to move into `blobs/sha256/`.
    blobs: BTreeMap<String, PathBuf>,
    /// Diff-id -> unpacked directory to move into `layers/`.
    layers: BTreeMap<String, PathBuf>,
}

impl<'a> Staging<'a> {
    /// Creates the staging directory; call with the store lock held.
    pub(crate) fn new(store: &'a Store) -> Result<Staging<'a>> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "staging-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = store.tmp_dir().join(name);
        fs::create_dir(&dir).context(|| format!("creating {}", dir.display()))?;
        Ok(Staging {
            store,
            dir,
            next: 0,
            blobs: BTreeMap::new(),
            layers: BTreeMap::new(),
        })
    }

    fn scratch_path(&mut self) -> PathBuf {
        self.next += 1;
        self.dir.join(self.next.to_string())
    }

    /// Writes a new staged file through `fill`, hashing it on the way.
    pub(crate) fn write_file(
        &mut self,
        fill: impl FnOnce(&mut dyn Write) -> Result<()>,
    ) -> Result<StagedFile> {
        let path = self.scratch_path();
        let file = File::create(&path).context(|| format!("creating {}", path.display()))?;
        let mut out = Hashing::new(BufWriter::new(file));
        fill(&mut out)?;
        let (buffered, digest, size) = out.finish();
        buffered
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
            .context(|| format!("writing {}", path.display()))?;
        Ok(StagedFile { path, digest, size })
    }

    pub(crate) fn write_bytes(&mut self, bytes: &[u8]) -> Result<StagedFile> {
        self.write_file(|out| {
            out.write_all(bytes)
                .context(|| "writing staged file".to_string())
        })
    }

    /// Queues a staged file to become a blob, unless the store has it.
    pub(crate) fn add_blob(&mut self, file: &StagedFile) -> Result<()> {
        if !self.blobs.contains_key(&file.digest) && !self.store.blob_path(&file.digest)?.exists() {
            self.blobs.insert(file.digest.clone(), file.path.clone());
        }
        Ok(())
    }

    /// Verifies a layer blob (any compression) against its `expected`
    /// diff-id and queues its unpacked directory. A layer the store already
    /// has is only hashed, so each diff-id is unpacked once.
    pub(crate) fn add_layer(
        &mut self,
        blob: &StagedFile,
        expected: Option<&str>,
    ) -> Result<(String, Compression)> {
        let file = File::open(&blob.path).context(|| format!("reading layer {}", blob.digest))?;
        let (compression, tar) = decompress(BufReader::new(file))?;
        let known = match expected {
            Some(diff_id) => {
                self.layers.contains_key(diff_id) || self.store.layer_path(diff_id)?.is_dir()
            }
            None => false,
        };
        let diff_id = if known {
            let mut hashing = Hashing::new(tar);
            io::copy(&mut hashing, &mut io::sink())
                .context(|| format!("reading layer {}", blob.digest))?;
            hashing.finish().1
        } else {
            let dest = self.scratch_path();
            let diff_id = unpack_layer(tar, &dest)?;
            if !self.layers.contains_key(&diff_id) && !self.store.layer_path(&diff_id)?.is_dir() {
                self.layers.insert(diff_id.clone(), dest);
            }
            diff_id
        };
        match expected {
            Some(expected) if expected != diff_id => Err(Error::DigestMismatch {
                what: format!("the uncompressed content of layer {}", blob.digest),
                expected: expected.to_string(),
                actual: diff_id,
            }),
            _ => Ok((diff_id, compression)),
        }
    }

    /// Queues a layer some other step of the store unpacked and verified
    /// (a [`crate::PreparedLayer`]), unless the store has it: `commit`
    /// renames it into `layers/` like one unpacked here.
    pub(crate) fn adopt_layer(&mut self, diff_id: &str, dir: &Path) -> Result<()> {
        if !self.layers.contains_key(diff_id) && !self.store.layer_path(diff_id)?.is_dir() {
            self.layers.insert(diff_id.to_string(), dir.to_path_buf());
        }
        Ok(())
    }

    /// Writes and queues the OCI image manifest for a config and its
    /// layers (bottom first); returns the manifest digest.
    pub(crate) fn add_manifest(
        &mut self,
        config: &StagedFile,
        layers: &[(&StagedFile, Compression)],
    ) -> Result<String> {
        let descriptor = |media_type: String, file: &StagedFile| json!({"mediaType": media_type, "digest": file.digest, "size": file.size});
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": oci_spec::image::MediaType::ImageManifest.to_string(),
            "config": descriptor(oci_spec::image::MediaType::ImageConfig.to_string(), config),
            "layers": layers
                .iter()
                .map(|(file, compression)| descriptor(compression.layer_media_type().to_string(), file))
                .collect::<Vec<_>>(),
        });
        let manifest = self.write_bytes(&to_json("image manifest", &manifest)?)?;
        self.add_blob(&manifest)?;
        Ok(manifest.digest)
    }

    /// Makes everything durable, moves it into place and saves `repos`; on
    /// failure, moves back what was already moved.
    pub(crate) fn commit(self, repos: &Repositories) -> Result<()> {
        File::open(&self.dir)
            .and_then(|dir| nix::unistd::syncfs(dir.as_raw_fd()).map_err(io::Error::from))
            .context(|| "flushing staged files to disk".to_string())?;
        let mut moved = Vec::new();
        let result = self.publish(repos, &mut moved);
        if result.is_err() {
            for (from, to) in moved.iter().rev() {
                let _ = fs::rename(to, from);
            }
        }
        result
    }

    fn publish(&self, repos: &Repositories, moved: &mut Vec<(PathBuf, PathBuf)>) -> Result<()> {
        let layers = self
            .layers
            .iter()
            .map(|(d, p)| (p, self.store.layer_path(d)));
        let blobs = self.blobs.iter().map(|(d, p)| (p, self.store.blob_path(d)));
        for (from, to) in layers.chain(blobs) {
            let to = to?;
            fs::rename(from, &to).context(|| format!("moving {} into place", to.display()))?;
            moved.push((from.clone(), to));
        }
        for dir in [self.store.layers_dir(), self.store.blobs_dir()] {
            sync_dir(&dir).context(|| format!("flushing {}", dir.display()))?;
        }
        repos.save(&self.store.repositories_path())
    }
}

impl Drop for Staging<'_> {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Makes renames into `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
