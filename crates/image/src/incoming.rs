//! Images arriving from a registry: the registry client downloads and
//! verifies blobs into `downloads/`, then hands them over here, where they
//! are verified again, staged and committed like any other image. The store
//! never trusts a caller's claim about a blob's digest.
//!
//! `downloads/` keeps partial blobs (`<hex>.partial`) between attempts, so
//! an interrupted pull resumes where it stopped. A complete blob is
//! verified and unpacked there too ([`Store::prepare_layer`], into
//! `<hex>.unpacked/`), outside the store lock and while the other layers
//! still download; the commit then only renames. (Not in `tmp/`: every
//! taker of the store lock empties `tmp/` as a crashed writer's leftovers.)
//! The caller holds the blob's download lock throughout, so no other pull
//! touches these files.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix::fcntl::{Flock, FlockArg};
use oci_spec::image::ImageManifest;

use crate::compression::decompress;
use crate::digest::{sha256_hex, Hashing};
use crate::error::{Error, IoContext, Result};
use crate::reference::normalize_reference;
use crate::staging::{StagedFile, Staging};
use crate::store::{parse_config, Store};
use crate::unpack::unpack_layer;

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
    /// One entry per manifest layer: the downloaded blob as
    /// [`Store::prepare_layer`] verified and unpacked it, or `None` when
    /// [`Store::has_layer`] said the store has it. A blob listed twice is
    /// prepared once, for its first entry.
    pub layers: Vec<Option<PreparedLayer>>,
}

/// A downloaded layer blob the store has verified (blob digest and
/// diff-id) and unpacked, waiting to be adopted by
/// [`Store::add_incoming`]. Only the store makes one, so `add_incoming`
/// trusts it without hashing again. Dropped, it removes what the commit
/// did not take: its unpacked directory and the downloaded blob.
pub struct PreparedLayer {
    blob: StagedFile,
    diff_id: String,
    /// `None` when the store already had the unpacked layer.
    dir: Option<PathBuf>,
}

impl PreparedLayer {
    /// The blob's digest ("sha256:…").
    pub fn digest(&self) -> &str {
        &self.blob.digest
    }
}

impl Drop for PreparedLayer {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = fs::remove_dir_all(dir);
        }
        let _ = fs::remove_file(&self.blob.path);
    }
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
    /// Where the registry client keeps downloads between attempts. What
    /// abandoned pulls left there more than [`KEEP_DOWNLOADS`] ago is
    /// removed on the way.
    pub fn downloads_dir(&self) -> Result<PathBuf> {
        let dir = self.root().join("downloads");
        fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
        collect_downloads(&dir, KEEP_DOWNLOADS);
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

    /// Verifies the downloaded layer blob at `blob` (a file in
    /// [`Store::downloads_dir`], under the caller's download lock) against
    /// `digest` and, decompressed, against `diff_id`, unpacking it beside
    /// the blob unless the store has the layer. Takes no store lock, so
    /// several layers are prepared at once and while others download.
    pub fn prepare_layer(&self, blob: &Path, digest: &str, diff_id: &str) -> Result<PreparedLayer> {
        let layer_known = self.layer_path(diff_id)?.is_dir();
        // The prepared layer owns the blob and `dir` from here: any error
        // below removes them (a refused blob is fetched anew).
        let mut prepared = PreparedLayer {
            blob: StagedFile {
                path: blob.to_path_buf(),
                digest: String::new(),
                size: 0,
            },
            diff_id: String::new(),
            dir: (!layer_known).then(|| blob.with_extension("unpacked")),
        };
        // One read of the blob gives both digests: the compressed bytes are
        // hashed below the decompressor, the tar above it.
        let file = File::open(blob).context(|| format!("reading layer {digest}"))?;
        let mut compressed = Hashing::new(file);
        let (_, tar) = decompress(io::BufReader::new(&mut compressed))?;
        let actual = match &prepared.dir {
            None => {
                let mut hashing = Hashing::new(tar);
                io::copy(&mut hashing, &mut io::sink())
                    .context(|| format!("reading layer {digest}"))?;
                hashing.finish().1
            }
            Some(dir) => {
                // Left by a pull that crashed: this one holds the lock now.
                if dir.exists() {
                    fs::remove_dir_all(dir).context(|| format!("removing {}", dir.display()))?;
                }
                unpack_layer(tar, dir)?
            }
        };
        // Whatever follows the compressed stream counts for the digest too.
        io::copy(&mut compressed, &mut io::sink()).context(|| format!("reading layer {digest}"))?;
        let (_, blob_digest, size) = compressed.finish();
        verify(&blob_digest, digest, "a layer")?;
        verify(
            &actual,
            diff_id,
            &format!("the uncompressed content of layer {digest}"),
        )?;
        prepared.blob.digest = blob_digest;
        prepared.blob.size = size;
        prepared.diff_id = actual;
        Ok(prepared)
    }

    /// Verifies an incoming image against its own manifest (config digest,
    /// every layer blob digest, every diff-id), adopts its prepared layers
    /// and commits it all at once; on any error nothing is stored. Returns
    /// the image id.
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
        let mut prepared: Vec<&PreparedLayer> = Vec::new();
        for ((descriptor, diff_id), layer) in
            manifest.layers().iter().zip(diff_ids).zip(&image.layers)
        {
            let digest = descriptor.digest().to_string();
            let layer = layer.as_ref().or_else(|| {
                prepared
                    .iter()
                    .copied()
                    .find(|p| p.blob.digest == digest && p.diff_id == *diff_id)
            });
            match layer {
                Some(layer) => {
                    verify(&layer.blob.digest, &digest, "a layer")?;
                    verify(&layer.diff_id, diff_id, "a layer's uncompressed content")?;
                    if let Some(dir) = &layer.dir {
                        staging.adopt_layer(diff_id, dir)?;
                    }
                    staging.add_blob(&layer.blob)?;
                    prepared.push(layer);
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

/// How long a download an interrupted or failed pull left is kept for a
/// later pull to resume. Docker keeps nothing (moby#26146); isola keeps
/// it a week, then takes the space back.
pub const KEEP_DOWNLOADS: Duration = Duration::from_secs(7 * 24 * 3600);

/// Removes the downloads (`<hex>.partial`, `<hex>.unpacked/`) not written
/// for `keep`, with their `<hex>.lock`, unless a pull holds that lock now.
/// Best effort: what cannot be removed is left for the next time.
fn collect_downloads(dir: &Path, keep: Duration) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    let stale: std::collections::BTreeSet<String> = entries
        .flatten()
        .filter(|e| {
            e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > keep)
        })
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let (hex, ext) = name.split_once('.')?;
            matches!(ext, "partial" | "unpacked" | "lock").then(|| hex.to_string())
        })
        .collect();
    for hex in stale {
        let lock_path = dir.join(format!("{hex}.lock"));
        // The pull protocol: lock `<hex>.lock`, and unlink it only while
        // holding it (a waiter then finds the file gone and starts anew).
        let lock = match File::options().write(true).open(&lock_path) {
            Ok(file) => match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => Some(lock),
                Err(_) => continue, // A pull is using it.
            },
            Err(_) => None,
        };
        let _ = fs::remove_file(dir.join(format!("{hex}.partial")));
        let _ = fs::remove_dir_all(dir.join(format!("{hex}.unpacked")));
        if lock.is_some() {
            let _ = fs::remove_file(&lock_path);
        }
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

    /// Writes `bytes` as a finished download of blob `digest`.
    fn download(store: &Store, bytes: &[u8]) -> PathBuf {
        let path = store
            .downloads_dir()
            .unwrap()
            .join(format!("{}.partial", &sha256(bytes)[7..]));
        fs::write(&path, bytes).unwrap();
        path
    }

    fn downloads(store: &Store, image: &TestImage) -> Vec<Option<PreparedLayer>> {
        image
            .layers
            .iter()
            .zip(image.config_diff_ids())
            .map(|(l, diff_id)| {
                let path = download(store, l);
                Some(store.prepare_layer(&path, &sha256(l), &diff_id).unwrap())
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
        let diff_id = &image.config_diff_ids()[0];
        let before = snapshot(tmp.path());
        // A layer whose bytes are not what the manifest says.
        let evil = download(&store, &gzip(&layer("a", b"evil")));
        let err = store
            .prepare_layer(&evil, &sha256(&image.layers[0]), diff_id)
            .err()
            .unwrap();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        assert!(
            !evil.exists(),
            "a refused blob is removed to be fetched anew"
        );
        // Bytes that match their digest but not the config's diff-id: the
        // unpacked directory goes with the refused download.
        let evil = download(&store, &gzip(&layer("a", b"evil")));
        let err = store
            .prepare_layer(&evil, &sha256(&gzip(&layer("a", b"evil"))), diff_id)
            .err()
            .unwrap();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        assert!(!evil.exists() && !evil.with_extension("unpacked").exists());
        // A config that is not the manifest's.
        let other = TestImage::new(vec![gzip(&layer("a", b"a"))], &["other"]);
        let err = store
            .add_incoming(IncomingImage {
                name: Some("app:v1"),
                repo_digest: None,
                manifest: &manifest_bytes,
                config: &other.config,
                layers: downloads(&store, &image),
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
        // Refused images leave nothing behind, in downloads/ either.
        let after: Vec<String> = snapshot(tmp.path())
            .into_iter()
            .filter(|p| *p != "images/downloads/" && !p.contains("lock"))
            .collect();
        let before: Vec<String> = before.into_iter().filter(|p| !p.contains("lock")).collect();
        assert_eq!(after, before);
    }

    #[test]
    fn abandoned_downloads_are_collected_after_a_while() {
        let (_tmp, store) = temp_store();
        let dir = store.downloads_dir().unwrap();
        let old = SystemTime::now() - KEEP_DOWNLOADS - Duration::from_secs(60);
        let write = |name: &str, age: SystemTime| {
            let file = File::create(dir.join(name)).unwrap();
            file.set_modified(age).unwrap();
        };
        write("aa.partial", old); // abandoned: goes
        write("bb.partial", SystemTime::now()); // recent: kept to resume
        write("cc.partial", old); // old, but a pull holds its lock: kept
        write("cc.lock", old);
        let held = Flock::lock(
            File::options()
                .write(true)
                .open(dir.join("cc.lock"))
                .unwrap(),
            FlockArg::LockExclusive,
        )
        .unwrap();
        fs::create_dir(dir.join("dd.unpacked")).unwrap();
        File::open(dir.join("dd.unpacked"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        store.downloads_dir().unwrap();
        let mut left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["bb.partial", "cc.lock", "cc.partial"]);
        drop(held);
        store.downloads_dir().unwrap();
        assert!(!dir.join("cc.partial").exists() && !dir.join("cc.lock").exists());
    }

    #[test]
    fn a_blob_listed_twice_is_prepared_once_and_a_crashed_unpack_is_redone() {
        let (_tmp, store) = temp_store();
        let blob = gzip(&layer("same", b"s"));
        let image = TestImage::new(vec![blob.clone(), blob.clone()], &["sh"]);
        let diff_id = image.config_diff_ids()[0].clone();
        let path = download(&store, &blob);
        // What a pull that died mid-unpack left.
        let stale = path.with_extension("unpacked");
        fs::create_dir_all(stale.join("junk")).unwrap();
        let prepared = store
            .prepare_layer(&path, &sha256(&blob), &diff_id)
            .unwrap();
        assert!(!stale.join("junk").exists() && stale.join("same").is_file());
        let manifest_bytes = manifest(&image);
        let id = store
            .add_incoming(IncomingImage {
                name: Some("twice:v1"),
                repo_digest: None,
                manifest: &manifest_bytes,
                config: &image.config,
                layers: vec![Some(prepared), None],
            })
            .unwrap();
        let resolved = store.resolve("twice:v1").unwrap();
        assert_eq!(resolved.id, id);
        // Stacked once: overlayfs refuses the same lower directory twice.
        assert_eq!(resolved.layers.len(), 1);
        assert!(store.has_layer(&sha256(&blob), &diff_id));
        assert!(!stale.exists() && !path.exists());
    }
}
