//! The on-disk store and the read-mostly operations on it: open, list,
//! resolve, tag and remove (with garbage collection).
//!
//! Layout under `ROOT/images`:
//! - `blobs/sha256/<hex>`: manifests, configs and layer blobs exactly as
//!   received, so digests stay valid and `save` round-trips.
//! - `layers/<diff-id hex>/`: each layer unpacked once, shared by images.
//! - `tmp/`: staging for the operation holding the lock.
//! - `repositories.json`: names and images (see `repositories`).
//! - `lock`: flocked by every mutating operation.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use oci_spec::image::{ImageConfiguration, ImageManifest};

use crate::digest::sha256_hex;
use crate::error::{Error, IoContext, Result};
use crate::lock::StoreLock;
use crate::reference::{normalize_reference, split_tag};
use crate::repositories::{Found, Repositories};
use crate::walk::walk;

/// The image store rooted at `ROOT/images`.
#[derive(Clone)]
pub struct Store {
    root: PathBuf,
}

/// One row of `isola images`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSummary {
    pub repository: String,
    pub tag: String,
    /// `sha256:<hex>` image id.
    pub id: String,
    pub created: Option<SystemTime>,
    /// Bytes of the unpacked layers.
    pub size: u64,
    /// "name@sha256:…" digests the image was pulled by.
    pub digests: Vec<String>,
    /// The image config's labels (for `images --filter label=`).
    pub labels: std::collections::BTreeMap<String, String>,
}

/// What a container needs from its image.
#[derive(Clone, Debug)]
pub struct Image {
    /// `sha256:<hex>` config digest.
    pub id: String,
    pub repo_tags: Vec<String>,
    pub config: ImageConfiguration,
    /// Unpacked layer directories to stack, bottom first (overlayfs
    /// `lowerdir` wants top first: the caller reverses). A layer the image
    /// lists twice appears once, at its upper place: overlayfs refuses the
    /// same directory twice (ELOOP), and the upper copy already provides
    /// and hides everything the lower one would, so the root is the same.
    pub layers: Vec<PathBuf>,
}

impl Store {
    /// Opens (creating dirs if needed) the store at `dir` (= ROOT/images).
    pub fn open(dir: &Path) -> Result<Store> {
        let store = Store {
            root: dir.to_path_buf(),
        };
        for sub in [store.blobs_dir(), store.layers_dir(), store.tmp_dir()] {
            fs::create_dir_all(&sub)
                .context(|| format!("creating image store directory {}", sub.display()))?;
        }
        Ok(store)
    }

    /// One row per tag; untagged images appear as `<none>:<none>`. Newest first.
    pub fn list(&self) -> Result<Vec<ImageSummary>> {
        let repos = self.repositories()?;
        let mut rows = Vec::new();
        for (id, manifest) in &repos.images {
            let config = self.config(&self.manifest(manifest)?)?;
            let created = config
                .created()
                .as_deref()
                .and_then(|c| humantime::parse_rfc3339_weak(c).ok());
            let size = self.image_size(&config)?;
            let labels: std::collections::BTreeMap<String, String> = config
                .config()
                .as_ref()
                .and_then(|c| c.labels().clone())
                .map(|l| l.into_iter().collect())
                .unwrap_or_default();
            let row = |repository: &str, tag: &str| ImageSummary {
                repository: repository.to_string(),
                tag: tag.to_string(),
                id: id.clone(),
                created,
                size,
                digests: repos.digests(id),
                labels: labels.clone(),
            };
            let tags = repos.tags(id);
            if tags.is_empty() {
                // Pulled by digest: Docker shows the repository, no tag.
                let digests = repos.digests(id);
                let names: HashSet<&str> = digests
                    .iter()
                    .filter_map(|d| d.split_once('@').map(|(name, _)| name))
                    .collect();
                if names.is_empty() {
                    rows.push(row("<none>", "<none>"));
                }
                let mut names: Vec<&str> = names.into_iter().collect();
                names.sort_unstable();
                for name in names {
                    rows.push(row(name, "<none>"));
                }
            }
            for reference in tags {
                let (repository, tag) = split_tag(&reference);
                rows.push(row(repository, tag.unwrap_or_default()));
            }
        }
        rows.sort_by(|a, b| {
            b.created
                .cmp(&a.created)
                .then_with(|| (&a.repository, &a.tag).cmp(&(&b.repository, &b.tag)))
        });
        Ok(rows)
    }

    /// Resolves "name", "name:tag", "registry:5000/a/b:tag", a full
    /// "sha256:<hex>" id, or a unique id prefix (>= 1 hex char, with or
    /// without "sha256:"); an ambiguous prefix is an error.
    pub fn resolve(&self, reference: &str) -> Result<Image> {
        let repos = self.repositories()?;
        let found = repos.find(reference)?;
        let config = self.config(&self.manifest(&found.manifest)?)?;
        let layers = config
            .rootfs()
            .diff_ids()
            .iter()
            .map(|diff_id| {
                let dir = self.layer_path(diff_id)?;
                if dir.is_dir() {
                    Ok(dir)
                } else {
                    Err(Error::Corrupt(format!(
                        "layer {diff_id} of image {} is missing",
                        found.id
                    )))
                }
            })
            .collect::<Result<Vec<PathBuf>>>()?;
        let mut seen = std::collections::HashSet::new();
        let mut layers: Vec<PathBuf> = layers
            .into_iter()
            .rev()
            .filter(|dir| seen.insert(dir.clone()))
            .collect();
        layers.reverse();
        Ok(Image {
            repo_tags: repos.tags(&found.id),
            id: found.id,
            config,
            layers,
        })
    }

    /// Gives the image `source` resolves to the additional name `target`
    /// (moving `target` away from any image it named before).
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let target = normalize_reference(target)?;
        let _lock = self.lock()?;
        let mut repos = self.repositories()?;
        let found = repos.find(source)?;
        repos.set_tag(target, &found.id);
        repos.save(&self.repositories_path())
    }

    /// `isola rmi [-f]`: `in_use(image_id)` tells whether a container uses
    /// the image. Without force, refuses to remove an image in use and to
    /// remove by id an image with several tags (like Docker). Untags; when
    /// no tag is left and the image is not in use, deletes it and
    /// garbage-collects blobs and layers no remaining image references. With
    /// force and in use: untag only (the image stays, dangling). Returns
    /// Docker-style lines: "Untagged: busybox:latest", "Deleted: sha256:…".
    pub fn remove(
        &self,
        reference: &str,
        force: bool,
        in_use: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<String>> {
        let _lock = self.lock()?;
        let mut repos = self.repositories()?;
        let Found { id, tag, .. } = repos.find(reference)?;
        let tags = repos.tags(&id);
        let untag = match tag {
            Some(tag) => vec![tag],
            None if tags.len() > 1 && !force => {
                return Err(Error::MultipleTags {
                    id,
                    tags: tags.join(", "),
                })
            }
            None => tags.clone(),
        };
        let last_tag = untag.len() == tags.len();
        let used = last_tag && in_use(&id);
        if used && !force {
            return Err(Error::InUse {
                reference: reference.to_string(),
            });
        }
        let mut lines = Vec::new();
        for tag in untag {
            repos.references.remove(&tag);
            lines.push(format!("Untagged: {tag}"));
        }
        let delete = last_tag && !used;
        if delete {
            repos.images.remove(&id);
            lines.push(format!("Deleted: {id}"));
        }
        if !lines.is_empty() {
            repos.save(&self.repositories_path())?;
        }
        if delete {
            self.collect_garbage(&repos)?;
        }
        Ok(lines)
    }

    /// Deletes every blob and layer directory that no image in `repos`
    /// references, including leftovers of interrupted removals.
    fn collect_garbage(&self, repos: &Repositories) -> Result<()> {
        let mut live_blobs = HashSet::new();
        let mut live_layers = HashSet::new();
        for manifest_digest in repos.images.values() {
            let manifest = self.manifest(manifest_digest)?;
            live_blobs.insert(manifest_digest.clone());
            live_blobs.insert(manifest.config().digest().to_string());
            live_blobs.extend(manifest.layers().iter().map(|l| l.digest().to_string()));
            live_layers.extend(self.config(&manifest)?.rootfs().diff_ids().iter().cloned());
        }
        let sweep = |dir: PathBuf,
                     live: &HashSet<String>,
                     remove: &dyn Fn(&Path) -> std::io::Result<()>| {
            let entries = fs::read_dir(&dir).context(|| format!("reading {}", dir.display()))?;
            for entry in entries {
                let entry = entry.context(|| format!("reading {}", dir.display()))?;
                let digest = format!("sha256:{}", entry.file_name().to_string_lossy());
                if !live.contains(&digest) {
                    remove(&entry.path())
                        .context(|| format!("removing {}", entry.path().display()))?;
                }
            }
            Ok::<_, Error>(())
        };
        sweep(self.blobs_dir(), &live_blobs, &|path| fs::remove_file(path))?;
        // Move a layer out of layers/ first: a layer directory that exists
        // must always be complete.
        sweep(self.layers_dir(), &live_layers, &|path| {
            let doomed = self.tmp_dir().join(path.file_name().unwrap_or_default());
            fs::rename(path, &doomed)?;
            fs::remove_dir_all(&doomed)
        })
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs/sha256")
    }

    pub(crate) fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub(crate) fn repositories_path(&self) -> PathBuf {
        self.root.join("repositories.json")
    }

    pub(crate) fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        let hex = sha256_hex(digest)
            .ok_or_else(|| Error::Corrupt(format!("{digest:?} is not a sha256 digest")))?;
        Ok(self.blobs_dir().join(hex))
    }

    pub(crate) fn layer_path(&self, diff_id: &str) -> Result<PathBuf> {
        let hex = sha256_hex(diff_id)
            .ok_or_else(|| Error::Corrupt(format!("{diff_id:?} is not a sha256 diff-id")))?;
        Ok(self.layers_dir().join(hex))
    }

    /// Takes the store lock. Only lock holders use `tmp/`, so whatever is
    /// there now was left by a crashed process and is removed.
    pub(crate) fn lock(&self) -> Result<StoreLock> {
        let lock = StoreLock::acquire(&self.root.join("lock"))?;
        let tmp = self.tmp_dir();
        let entries = fs::read_dir(&tmp).context(|| format!("reading {}", tmp.display()))?;
        for entry in entries {
            let path = entry
                .context(|| format!("reading {}", tmp.display()))?
                .path();
            let removed = match fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_dir() => fs::remove_dir_all(&path),
                _ => fs::remove_file(&path),
            };
            removed.context(|| format!("removing stale {}", path.display()))?;
        }
        Ok(lock)
    }

    pub(crate) fn repositories(&self) -> Result<Repositories> {
        Repositories::load(&self.repositories_path())
    }

    /// The `config` object of image `id`'s configuration as stored, for
    /// Docker's fields that the OCI configuration type drops (`Healthcheck`).
    pub fn raw_config(&self, id: &str) -> Result<serde_json::Value> {
        let mut v: serde_json::Value = serde_json::from_slice(&self.read_blob(id)?)
            .map_err(|e| Error::Corrupt(format!("config {id} is invalid ({e})")))?;
        Ok(v.get_mut("config")
            .map(serde_json::Value::take)
            .unwrap_or_default())
    }

    pub(crate) fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(digest)?;
        fs::read(&path).map_err(|e| Error::Corrupt(format!("blob {digest} is unreadable ({e})")))
    }

    pub(crate) fn manifest(&self, digest: &str) -> Result<ImageManifest> {
        serde_json::from_slice(&self.read_blob(digest)?)
            .map_err(|e| Error::Corrupt(format!("manifest {digest} is invalid ({e})")))
    }

    pub(crate) fn config(&self, manifest: &ImageManifest) -> Result<ImageConfiguration> {
        let digest = manifest.config().digest().to_string();
        parse_config(&self.read_blob(&digest)?)
            .map_err(|e| Error::Corrupt(format!("config {digest} is invalid ({e})")))
    }

    /// Bytes of regular files in the image's unpacked layers, each inode
    /// counted once.
    pub(crate) fn image_size(&self, config: &ImageConfiguration) -> Result<u64> {
        let mut layers = HashSet::new();
        let mut inodes = HashSet::new();
        let mut size = 0;
        for diff_id in config.rootfs().diff_ids() {
            if layers.insert(diff_id) {
                walk(&self.layer_path(diff_id)?, &mut |_, meta| {
                    if meta.is_file() && inodes.insert((meta.dev(), meta.ino())) {
                        size += meta.len();
                    }
                    Ok(())
                })?;
            }
        }
        Ok(size)
    }
}

/// Parses an image config, tolerating a missing `history` (optional in the
/// OCI spec, required by `oci_spec`'s type).
pub(crate) fn parse_config(bytes: &[u8]) -> serde_json::Result<ImageConfiguration> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes)?;
    if let Some(object) = value.as_object_mut() {
        object
            .entry("history")
            .or_insert_with(|| serde_json::json!([]));
    }
    serde_json::from_value(value)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::test_support::{docker_archive, layer, snapshot, temp_store, TestImage};

    fn load(store: &Store, image: &TestImage, tags: &[&str]) {
        store
            .load(&mut docker_archive(&[(image, tags)]).as_slice())
            .unwrap();
    }

    fn names(dir: PathBuf) -> HashSet<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| format!("sha256:{}", e.unwrap().file_name().to_string_lossy()))
            .collect()
    }

    #[test]
    fn resolves_short_ids_and_reports_ambiguity() {
        let (_tmp, store) = temp_store();
        // Among 17 images two ids must share their first hex digit.
        let mut by_first: HashMap<char, Vec<String>> = HashMap::new();
        for i in 0..17 {
            let image = TestImage::new(vec![layer("f", format!("{i}").as_bytes())], &["x"]);
            load(&store, &image, &[]);
            by_first
                .entry(image.id().chars().nth(7).unwrap())
                .or_default()
                .push(image.id());
        }
        let (first, ids) = by_first.iter().find(|(_, ids)| ids.len() > 1).unwrap();
        for reference in [first.to_string(), format!("sha256:{first}")] {
            assert!(
                matches!(store.resolve(&reference), Err(Error::AmbiguousId { .. })),
                "{reference}"
            );
        }
        let id = &ids[0];
        let unique = (8..=71)
            .map(|n| &id[7..n])
            .find(|p| ids.iter().filter(|i| i[7..].starts_with(p)).count() == 1)
            .unwrap();
        assert_eq!(store.resolve(unique).unwrap().id, *id);
        assert_eq!(store.resolve(&format!("sha256:{unique}")).unwrap().id, *id);
        assert_eq!(store.resolve(id).unwrap().id, *id);
        assert!(matches!(
            store.resolve("sha256:zz"),
            Err(Error::NotFound(_))
        ));
    }

    #[test]
    fn remove_collects_unreferenced_layers_and_keeps_shared_ones() {
        let (_tmp, store) = temp_store();
        let shared = layer("shared", b"s");
        let small = TestImage::new(vec![shared.clone()], &["a"]);
        let big = TestImage::new(vec![shared.clone(), layer("own", b"o")], &["b"]);
        load(&store, &small, &["small"]);
        load(&store, &big, &["big"]);
        let shared_id = small.config_diff_ids()[0].clone();

        let lines = store.remove("big", false, &|_| false).unwrap();
        assert_eq!(
            lines,
            [
                "Untagged: big:latest".to_string(),
                format!("Deleted: {}", big.id())
            ]
        );
        assert_eq!(names(store.layers_dir()), HashSet::from([shared_id]));
        let small_manifest = store.repositories().unwrap().images[&small.id()].clone();
        let expected_blobs = HashSet::from([
            small_manifest,
            small.id(),
            crate::test_support::sha256(&shared),
        ]);
        assert_eq!(names(store.blobs_dir()), expected_blobs);
        assert_eq!(store.resolve("small").unwrap().layers.len(), 1);

        store.remove(&small.id(), false, &|_| false).unwrap();
        assert!(names(store.layers_dir()).is_empty());
        assert!(names(store.blobs_dir()).is_empty());
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn remove_respects_usage_and_multiple_tags() {
        let (_tmp, store) = temp_store();
        let image = TestImage::new(vec![layer("f", b"1")], &["x"]);
        load(&store, &image, &["one", "two"]);
        let id = image.id();

        let err = store.remove(&id, false, &|_| false).unwrap_err();
        assert!(matches!(err, Error::MultipleTags { .. }), "{err}");
        assert_eq!(
            store.remove("two", false, &|_| true).unwrap(),
            ["Untagged: two:latest"]
        );

        let err = store.remove("one", false, &|used| used == id).unwrap_err();
        assert!(
            err.to_string().contains("use -f or remove the container"),
            "{err}"
        );
        assert_eq!(
            store.remove("one", true, &|used| used == id).unwrap(),
            ["Untagged: one:latest"]
        );
        let rows = store.list().unwrap();
        assert_eq!(
            (rows[0].repository.as_str(), rows[0].tag.as_str()),
            ("<none>", "<none>")
        );
        assert!(store.resolve(&id).unwrap().layers[0].is_dir());

        assert_eq!(
            store.remove(&id, false, &|_| false).unwrap(),
            [format!("Deleted: {id}")]
        );
        assert!(matches!(store.resolve(&id), Err(Error::NotFound(_))));
    }

    #[test]
    fn lists_one_row_per_tag_and_tags_images() {
        let (_tmp, store) = temp_store();
        let image = TestImage::new(vec![layer("f", b"12345")], &["x"]);
        load(&store, &image, &["app:1"]);
        store.tag("app:1", "registry:5000/team/app:prod").unwrap();
        let rows = store.list().unwrap();
        let tags: Vec<_> = rows
            .iter()
            .map(|r| format!("{}:{}", r.repository, r.tag))
            .collect();
        assert_eq!(tags, ["app:1", "registry:5000/team/app:prod"]);
        assert!(rows
            .iter()
            .all(|r| r.id == image.id() && r.size == 5 && r.created.is_some()));
        assert!(matches!(store.tag("missing", "x"), Err(Error::NotFound(_))));
        assert!(matches!(
            store.tag("app:1", "Bad:Name"),
            Err(Error::InvalidReference { .. })
        ));
    }

    #[test]
    fn concurrent_tagging_loses_nothing() {
        let (tmp, store) = temp_store();
        let image = TestImage::new(vec![layer("f", b"1")], &["x"]);
        load(&store, &image, &["base"]);
        let dir = tmp.path().join("images");
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let dir = &dir;
                scope.spawn(move || {
                    let store = Store::open(dir).unwrap();
                    for n in 0..10 {
                        store.tag("base", &format!("t{thread}:{n}")).unwrap();
                    }
                });
            }
        });
        assert_eq!(store.resolve("base").unwrap().repo_tags.len(), 41);
    }

    #[test]
    fn lock_removes_leftovers_of_crashed_operations() {
        let (_tmp, store) = temp_store();
        fs::create_dir_all(store.tmp_dir().join("staging-1-0/3")).unwrap();
        fs::write(store.tmp_dir().join("stray"), b"x").unwrap();
        drop(store.lock().unwrap());
        assert!(snapshot(&store.tmp_dir()).is_empty());
    }
}
