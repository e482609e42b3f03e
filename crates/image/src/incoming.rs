//! Images arriving from a registry: the registry client downloads and
//! verifies blobs into `downloads/`, then hands them over here, where they
//! are verified again, staged and committed like any other image. The store
//! never trusts a caller's claim about a blob's digest.
//!
//! `downloads/` keeps partial blobs (`<hex>.partial`) between attempts, so
//! an interrupted pull resumes where it stopped.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use oci_spec::image::ImageManifest;

use crate::digest::{sha256_hex, Hashing};
use crate::error::{Error, IoContext, Result};
use crate::reference::normalize_reference;
use crate::staging::{StagedFile, Staging};
use crate::store::{parse_config, Store};

/// An image whose manifest and config were fetched and whose missing
/// layer blobs were downloaded.
pub struct IncomingImage<'a> {
    /// Tag to give the image ("registry:5000/app:v1"); `None` for a pull by
    /// digest.
    pub name: Option<&'a str>,
    /// "name@sha256:…" the image was pulled by (the manifest or index
    /// digest), shown by `images --digests`.
    pub repo_digest: Option<&'a str>,
    /// The image manifest exactly as the registry served it.
    pub manifest: &'a [u8],
    /// The config blob exactly as the registry served it.
    pub config: &'a [u8],
    /// One entry per manifest layer: the downloaded compressed blob, or
    /// `None` when [`Store::has_layer`] said the store has it.
    pub layers: Vec<Option<PathBuf>>,
}

/// What `push` sends: an image's blobs as stored.
pub struct OutgoingImage {
    pub manifest: Vec<u8>,
    pub manifest_media_type: String,
    pub config_digest: String,
    pub config: Vec<u8>,
    /// Layer blob digest, size and path, bottom first.
    pub layers: Vec<(String, u64, PathBuf)>,
}

impl Store {
    /// Where the registry client keeps downloads between attempts.
    pub fn downloads_dir(&self) -> Result<PathBuf> {
        let dir = self.root().join("downloads");
        fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// Whether the store has layer blob `digest`, unpacked with `diff_id`,
    /// so a pull can skip downloading it.
    pub fn has_layer(&self, digest: &str, diff_id: &str) -> bool {
        matches!(
            (self.blob_path(digest), self.layer_path(diff_id)),
            (Ok(blob), Ok(layer)) if blob.is_file() && layer.is_dir()
        )
    }

    /// Verifies an incoming image against its own manifest (config digest,
    /// every layer blob digest, every diff-id), unpacks its new layers and
    /// commits it all at once; on any error nothing is stored. Returns the
    /// image id.
    pub fn add_incoming(&self, image: IncomingImage) -> Result<String> {
        let manifest: ImageManifest = serde_json::from_slice(image.manifest)
            .map_err(|e| Error::InvalidArchive(format!("the image manifest is invalid ({e})")))?;
        let config_digest = manifest.config().digest().to_string();
        let config = parse_config(image.config).map_err(|e| {
            Error::InvalidArchive(format!("config {config_digest} is invalid ({e})"))
        })?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != manifest.layers().len() || image.layers.len() != diff_ids.len() {
            return Err(Error::InvalidArchive(format!(
                "the manifest lists {} layers but config {config_digest} has {} diff-ids",
                manifest.layers().len(),
                diff_ids.len()
            )));
        }
        let name = image.name.map(normalize_reference).transpose()?;
        let _lock = self.lock()?;
        let mut staging = Staging::new(self)?;
        let manifest_file = staging.write_bytes(image.manifest)?;
        staging.add_blob(&manifest_file)?;
        let config_file = staging.write_bytes(image.config)?;
        verify(&config_file.digest, &config_digest, "the image config")?;
        staging.add_blob(&config_file)?;
        for ((descriptor, diff_id), path) in
            manifest.layers().iter().zip(diff_ids).zip(&image.layers)
        {
            let digest = descriptor.digest().to_string();
            match path {
                Some(path) => {
                    let file = hash_file(path)?;
                    verify(&file.digest, &digest, "a layer")?;
                    staging.add_layer(&file, Some(diff_id))?;
                    staging.add_blob(&file)?;
                }
                None if self.has_layer(&digest, diff_id) => {}
                None => {
                    return Err(Error::Corrupt(format!(
                        "layer {digest} was not downloaded and is not in the store"
                    )))
                }
            }
        }
        let mut repos = self.repositories()?;
        let id = config_digest;
        repos.add_image(&id, manifest_file.digest.clone());
        if let Some(name) = name {
            repos.set_tag(name, &id);
        }
        if let Some(repo_digest) = image.repo_digest {
            repos.add_repo_digest(&id, repo_digest)?;
        }
        staging.commit(&repos)?;
        Ok(id)
    }

    /// The stored blobs of the image `reference` resolves to, for `push`.
    pub fn outgoing(&self, reference: &str) -> Result<OutgoingImage> {
        let found = self.repositories()?.find(reference)?;
        let manifest_bytes = self.read_blob(&found.manifest)?;
        let manifest = self.manifest(&found.manifest)?;
        let manifest_media_type = manifest
            .media_type()
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_else(|| oci_spec::image::MediaType::ImageManifest.to_string());
        let config_digest = manifest.config().digest().to_string();
        let layers = manifest
            .layers()
            .iter()
            .map(|l| {
                let digest = l.digest().to_string();
                let path = self.blob_path(&digest)?;
                if !path.is_file() {
                    return Err(Error::Corrupt(format!(
                        "layer blob {digest} of image {} is missing",
                        found.id
                    )));
                }
                Ok((digest, l.size(), path))
            })
            .collect::<Result<_>>()?;
        Ok(OutgoingImage {
            config: self.read_blob(&config_digest)?,
            manifest: manifest_bytes,
            manifest_media_type,
            config_digest,
            layers,
        })
    }
}

fn verify(actual: &str, expected: &str, what: &str) -> Result<()> {
    if sha256_hex(expected).is_none() {
        return Err(Error::InvalidArchive(format!(
            "{what} has digest {expected:?}; only sha256 is supported"
        )));
    }
    if actual != expected {
        return Err(Error::DigestMismatch {
            what: what.to_string(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

/// Hashes a downloaded file in place.
fn hash_file(path: &Path) -> Result<StagedFile> {
    let file = File::open(path).context(|| format!("reading {}", path.display()))?;
    let mut hashing = Hashing::new(io::BufReader::new(file));
    let mut buf = vec![0; 1 << 16];
    loop {
        match hashing.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return Err(e).context(|| format!("reading {}", path.display())),
        }
    }
    let (_, digest, size) = hashing.finish();
    Ok(StagedFile {
        path: path.to_path_buf(),
        digest,
        size,
    })
}
