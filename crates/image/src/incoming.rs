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
    /// Repositories ("registry:5000/team/app") the image was pulled from:
    /// a push to the same registry can mount blobs from them.
    pub pulled_from: Vec<String>,
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
        let repos = self.repositories()?;
        let found = repos.find(reference)?;
        let mut pulled_from: Vec<String> = repos
            .digests(&found.id)
            .iter()
            .filter_map(|d| d.split_once('@').map(|(name, _)| name.to_string()))
            .collect();
        pulled_from.dedup();
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
            pulled_from,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{gzip, layer, sha256, snapshot, temp_store, TestImage};
    use serde_json::json;

    fn manifest(image: &TestImage) -> Vec<u8> {
        let layers: Vec<_> = image
            .layers
            .iter()
            .map(|l| json!({"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": sha256(l), "size": l.len()}))
            .collect();
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": image.id(), "size": image.config.len()},
            "layers": layers,
        }))
        .unwrap()
    }

    fn downloads(store: &Store, image: &TestImage) -> Vec<Option<PathBuf>> {
        let dir = store.downloads_dir().unwrap();
        image
            .layers
            .iter()
            .map(|l| {
                let path = dir.join(format!("{}.partial", &sha256(l)[7..]));
                fs::write(&path, l).unwrap();
                Some(path)
            })
            .collect()
    }

    #[test]
    fn adds_a_verified_image_and_skips_known_layers() {
        let (_tmp, store) = temp_store();
        let base = gzip(&layer("base", b"b"));
        let image = TestImage::new(vec![base.clone(), gzip(&layer("top", b"t"))], &["sh"]);
        let manifest_bytes = manifest(&image);
        let repo_digest = format!("registry:5000/app@{}", sha256(&manifest_bytes));
        let id = store
            .add_incoming(IncomingImage {
                name: Some("registry:5000/app:v1"),
                repo_digest: Some(&repo_digest),
                manifest: &manifest_bytes,
                config: &image.config,
                layers: downloads(&store, &image),
            })
            .unwrap();
        assert_eq!(id, image.id());
        let resolved = store.resolve("registry:5000/app:v1").unwrap();
        assert_eq!(resolved.layers.len(), 2);
        assert_eq!(store.resolve(&repo_digest).unwrap().id, id);
        assert_eq!(store.list().unwrap()[0].digests, [repo_digest]);
        // The stored manifest is the registry's, byte for byte.
        assert_eq!(
            store.outgoing("registry:5000/app:v1").unwrap().manifest,
            manifest_bytes
        );
        let diff_ids = image.config_diff_ids();
        assert!(store.has_layer(&sha256(&base), &diff_ids[0]));

        // A second image on the same base needs only its own layer.
        let other = TestImage::new(vec![base.clone(), gzip(&layer("other", b"o"))], &["sh"]);
        let mut layers = downloads(&store, &other);
        layers[0] = None;
        let other_manifest = manifest(&other);
        store
            .add_incoming(IncomingImage {
                name: Some("registry:5000/other:v1"),
                repo_digest: None,
                manifest: &other_manifest,
                config: &other.config,
                layers,
            })
            .unwrap();
        assert_eq!(
            store
                .resolve("registry:5000/other:v1")
                .unwrap()
                .layers
                .len(),
            2
        );
    }

    #[test]
    fn refuses_mismatches_without_storing_anything() {
        let (tmp, store) = temp_store();
        let image = TestImage::new(vec![gzip(&layer("a", b"a"))], &["sh"]);
        let manifest_bytes = manifest(&image);
        let before = snapshot(tmp.path());
        // A layer whose bytes are not what the manifest says.
        let mut layers = downloads(&store, &image);
        fs::write(layers[0].as_ref().unwrap(), gzip(&layer("a", b"evil"))).unwrap();
        let err = store
            .add_incoming(IncomingImage {
                name: Some("app:v1"),
                repo_digest: None,
                manifest: &manifest_bytes,
                config: &image.config,
                layers: layers.clone(),
            })
            .unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        // A config that is not the manifest's.
        layers = downloads(&store, &image);
        let other = TestImage::new(vec![gzip(&layer("a", b"a"))], &["other"]);
        let err = store
            .add_incoming(IncomingImage {
                name: Some("app:v1"),
                repo_digest: None,
                manifest: &manifest_bytes,
                config: &other.config,
                layers: layers.clone(),
            })
            .unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        // A layer neither downloaded nor stored.
        let err = store
            .add_incoming(IncomingImage {
                name: Some("app:v1"),
                repo_digest: None,
                manifest: &manifest_bytes,
                config: &image.config,
                layers: vec![None],
            })
            .unwrap_err();
        assert!(matches!(err, Error::Corrupt(_)), "{err}");
        assert!(store.list().unwrap().is_empty());
        for path in layers.iter().flatten() {
            let _ = fs::remove_file(path);
        }
        let after: Vec<String> = snapshot(tmp.path())
            .into_iter()
            .filter(|p| !p.contains("downloads") && !p.contains("lock"))
            .collect();
        let before: Vec<String> = before
            .into_iter()
            .filter(|p| !p.contains("downloads") && !p.contains("lock"))
            .collect();
        assert_eq!(after, before);
    }
}
