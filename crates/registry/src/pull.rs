//! `isola pull`: manifest (choosing from an index), config, then the
//! missing layers in parallel into `downloads/`, resumable; the store
//! verifies and commits them in one step.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use isola_image::{IncomingImage, PreparedLayer, Store};
use oci_client::client::BlobResponse;
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::{Client, Reference};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt;

use crate::client::{connect, credentials, Target};
use crate::error::{cause, transient};
use crate::platform::Platform;
use crate::progress::{human, short, Display, Task};
use crate::{block_on, Error, Options, Result};

pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const ACCEPTED: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];
/// Docker's limit for manifests and the config: anything larger is refused.
const MAX_MANIFEST: usize = 4 << 20;
const MAX_CONFIG: i64 = 8 << 20;
/// Layers downloaded at once, as Docker's default.
const PARALLEL: usize = 3;
const ATTEMPTS: u32 = 5;

/// The result of a pull.
#[derive(Debug)]
pub struct Pulled {
    /// Image id (config digest).
    pub id: String,
    /// The fully qualified reference pulled ("docker.io/library/busybox:latest").
    pub reference: String,
    /// The manifest (or index) digest.
    pub digest: String,
    /// Whether the store already had the image.
    pub up_to_date: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    schema_version: Option<u32>,
    media_type: Option<String>,
    config: Option<OciDescriptor>,
    #[serde(default)]
    layers: Vec<OciDescriptor>,
    manifests: Option<Vec<IndexEntry>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IndexEntry {
    digest: String,
    platform: Option<EntryPlatform>,
}

#[derive(Deserialize)]
struct EntryPlatform {
    os: String,
    architecture: String,
    variant: Option<String>,
}

#[derive(Deserialize)]
struct ConfigRootfs {
    rootfs: Rootfs,
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    variant: Option<String>,
}

#[derive(Deserialize)]
struct Rootfs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

/// Pulls `reference` for `platform` (default: the host's) into `store`.
pub fn pull(
    store: &Store,
    reference: &str,
    platform: Option<&Platform>,
    options: &Options,
) -> Result<Pulled> {
    let target = Target::parse(reference)?;
    let explicit = platform.is_some();
    let platform = platform.cloned().unwrap_or_else(Platform::host);
    let display = Display::new(options.progress);
    let fetched = block_on(fetch(
        store, &target, &platform, explicit, options, &display,
    ))??;
    let qualified = qualified(&target);
    let Fetched::New(fetched) = fetched else {
        let Fetched::UpToDate { id, digest } = fetched else {
            unreachable!()
        };
        display.line(&format!("Digest: {digest}"));
        display.line(&format!("Status: Image is up to date for {qualified}"));
        return Ok(Pulled {
            id,
            reference: qualified,
            digest,
            up_to_date: true,
        });
    };
    let name = target
        .reference
        .digest()
        .is_none()
        .then_some(qualified.as_str());
    let repo_digest = format!("{}@{}", target.repository_name(), fetched.digest);
    let result = store.add_incoming(IncomingImage {
        name,
        repo_digest: Some(&repo_digest),
        manifest: &fetched.manifest,
        config: &fetched.config,
        layers: fetched.layers,
    });
    // The prepared layers are gone with the call: what the store did not
    // take was removed from downloads/ (so a refused blob is fetched anew).
    for lock in fetched.locks {
        lock.release();
    }
    let id = result.map_err(|e| target.error("pulling", e.to_string()))?;
    display.line(&format!("Digest: {}", fetched.digest));
    display.line(&format!("Status: Downloaded newer image for {qualified}"));
    Ok(Pulled {
        id,
        reference: qualified,
        digest: fetched.digest,
        up_to_date: false,
    })
}

/// `pull --all-tags`: every tag of `repository` (which must not name a tag
/// or digest), one after the other; stops at the first failure.
pub fn pull_all_tags(
    store: &Store,
    repository: &str,
    platform: Option<&Platform>,
    options: &Options,
) -> Result<Vec<Pulled>> {
    let target = Target::parse(repository)?;
    if target.reference.digest().is_some()
        || repository
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
    {
        return Err(Error::InvalidReference {
            reference: repository.to_string(),
            reason: "--all-tags takes a repository name without a tag or digest".into(),
        });
    }
    let tags = block_on(async {
        let auth = credentials(&target.registry)?;
        let client = connect(&target, options).await?;
        let mut tags = Vec::new();
        let mut last: Option<String> = None;
        loop {
            let page = client
                .list_tags(&target.reference, &auth, Some(1000), last.as_deref())
                .await
                .map_err(|e| target.error("listing tags of", cause(&e)))?;
            let done = page.tags.len() < 1000;
            last = page.tags.last().cloned();
            tags.extend(page.tags);
            if done || last.is_none() {
                return Ok::<_, Error>(tags);
            }
        }
    })??;
    tags.iter()
        .map(|tag| {
            pull(
                store,
                &format!("{}:{tag}", target.repository_name()),
                platform,
                options,
            )
        })
        .collect()
}

/// "registry/repository:tag" or "registry/repository@digest".
fn qualified(target: &Target) -> String {
    match (target.reference.digest(), target.reference.tag()) {
        (Some(digest), _) => format!("{}@{digest}", target.repository_name()),
        (None, tag) => format!("{}:{}", target.repository_name(), tag.unwrap_or("latest")),
    }
}

enum Fetched {
    UpToDate { id: String, digest: String },
    New(NewImage),
}

struct NewImage {
    digest: String,
    manifest: Vec<u8>,
    config: Vec<u8>,
    layers: Vec<Option<PreparedLayer>>,
    /// The per-blob download locks, held until the image is committed.
    locks: Vec<DownloadLock>,
}

/// An exclusive lock on `downloads/<hex>.lock`: while a pull holds it, no
/// other process downloads or commits that blob.
pub(crate) struct DownloadLock {
    path: PathBuf,
    _lock: nix::fcntl::Flock<std::fs::File>,
}

impl DownloadLock {
    /// Removes the lock file (while still holding the lock: a waiter that
    /// then gets the unlinked file notices and locks the new one).
    fn release(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn fetch(
    store: &Store,
    target: &Target,
    platform: &Platform,
    explicit: bool,
    options: &Options,
    display: &Display,
) -> Result<Fetched> {
    let fail = |e: OciDistributionError| target.error("pulling", cause(&e));
    let auth = credentials(&target.registry)?;
    let client = connect(target, options).await?;
    let reference = &target.reference;
    if let Some(tag) = reference.tag().filter(|_| reference.digest().is_none()) {
        display.line(&format!("{tag}: Pulling from {}", reference.repository()));
    }
    let (top, top_digest) = retry(|| client.pull_manifest_raw(reference, &auth, ACCEPTED))
        .await
        .map_err(fail)?;
    let top = check_manifest(target, &top, &top_digest, reference.digest())?;
    let parsed: Manifest = parse(target, &top)?;
    let (manifest, image_ref) = match &parsed.manifests {
        Some(entries) => {
            let entry = choose(target, entries, platform, parsed.media_type.as_deref())?;
            let image_ref = reference.clone_with_digest(entry.digest.clone());
            let (bytes, digest) = retry(|| client.pull_manifest_raw(&image_ref, &auth, ACCEPTED))
                .await
                .map_err(fail)?;
            let bytes = check_manifest(target, &bytes, &digest, Some(&entry.digest))?;
            (parse::<Manifest>(target, &bytes)?, (bytes, image_ref))
        }
        None => (parsed, (top.clone(), reference.clone())),
    };
    let (manifest_bytes, image_ref) = image_ref;
    if manifest.manifests.is_some() {
        return Err(target.error("pulling", "the index points at another index".into()));
    }
    if manifest.schema_version != Some(2) {
        return Err(target.error(
            "pulling",
            "the manifest is not schema version 2 (schema 1 images are deprecated): push the image again with a current tool".into(),
        ));
    }
    let config_descriptor = manifest
        .config
        .ok_or_else(|| target.error("pulling", "the manifest has no config".into()))?;
    if config_descriptor.size > MAX_CONFIG || config_descriptor.size < 0 {
        return Err(target.error("pulling", "the image config is too large".into()));
    }
    let digest = sha256_of(&top);
    if let Some(name) = reference.digest().is_none().then(|| qualified(target)) {
        if let Ok(image) = store.resolve(&name) {
            if image.id == config_descriptor.digest {
                return Ok(Fetched::UpToDate {
                    id: image.id,
                    digest,
                });
            }
        }
    }
    let mut config = Vec::new();
    let mut attempt = 0;
    loop {
        config.clear();
        match client
            .pull_blob(&image_ref, &config_descriptor, &mut config)
            .await
        {
            Err(e) if transient(&e) && attempt + 1 < ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(backoff(attempt)).await;
            }
            result => break result.map_err(fail)?,
        }
    }
    let rootfs: ConfigRootfs = serde_json::from_slice(&config)
        .map_err(|e| target.error("pulling", format!("the image config is invalid ({e})")))?;
    // A single-platform image asked for with --platform must be that
    // platform, as in Docker (without --platform it is taken as it is).
    if explicit
        && parsed_was_single(&top)
        && platform
            .fit(&rootfs.os, &rootfs.architecture, rootfs.variant.as_deref())
            .is_none()
    {
        let mut have = format!("{}/{}", rootfs.os, rootfs.architecture);
        if let Some(v) = &rootfs.variant {
            have = format!("{have}/{v}");
        }
        return Err(target.error(
            "pulling",
            format!("the image is for {have}, not the requested platform {platform}"),
        ));
    }
    if rootfs.rootfs.diff_ids.len() != manifest.layers.len() {
        return Err(target.error(
            "pulling",
            format!(
                "the manifest has {} layers but the config {} diff-ids",
                manifest.layers.len(),
                rootfs.rootfs.diff_ids.len()
            ),
        ));
    }
    let dir = store.downloads_dir()?;
    let client = &client;
    // Lock the missing blobs one by one in digest order (so that two pulls
    // never wait for each other in a cycle), then download in parallel.
    let mut missing: Vec<&str> = manifest
        .layers
        .iter()
        .zip(&rootfs.rootfs.diff_ids)
        .filter(|(layer, diff_id)| !store.has_layer(&layer.digest, diff_id))
        .map(|(layer, _)| layer.digest.as_str())
        .collect();
    missing.sort_unstable();
    missing.dedup();
    let mut locks = Vec::new();
    for digest in missing {
        locks.push(lock_download(target, &dir, digest).await?);
    }
    // Each distinct blob once, even if the manifest lists it twice.
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<(&OciDescriptor, &String)> = manifest
        .layers
        .iter()
        .zip(&rootfs.rootfs.diff_ids)
        .filter(|(layer, _)| seen.insert(layer.digest.as_str()))
        .collect();
    let jobs = unique.into_iter().map(|(layer, diff_id)| {
        let (image_ref, dir) = (&image_ref, &dir);
        async move {
            // Also when another pull stored it while this one waited.
            if store.has_layer(&layer.digest, diff_id) {
                display.line(&format!("{}: Already exists", short(&layer.digest)));
                return Ok((layer.digest.as_str(), None));
            }
            let (path, task) = download(client, target, image_ref, layer, dir, display).await?;
            // Verified and unpacked now, on a blocking thread, while the
            // other layers keep downloading; the commit only renames.
            task.event("Extracting");
            let (store, digest, diff_id) = (store.clone(), layer.digest.clone(), diff_id.clone());
            let prepared =
                tokio::task::spawn_blocking(move || store.prepare_layer(&path, &digest, &diff_id))
                    .await
                    .map_err(|e| Error::Local(e.to_string()))?;
            match prepared {
                Ok(prepared) => {
                    task.finish("Pull complete");
                    Ok((layer.digest.as_str(), Some(prepared)))
                }
                Err(e) => {
                    task.finish("Failed");
                    Err(target.error("pulling", format!("layer {}: {e}", layer.digest)))
                }
            }
        }
    });
    let mut downloaded: std::collections::HashMap<&str, Option<PreparedLayer>> =
        futures_util::stream::iter(jobs)
            .buffered(PARALLEL)
            .try_collect()
            .await?;
    // A blob listed twice was prepared once: the store adopts it for its
    // first entry and finds it for the others.
    let layers = manifest
        .layers
        .iter()
        .map(|l| downloaded.remove(l.digest.as_str()).flatten())
        .collect();
    Ok(Fetched::New(NewImage {
        digest,
        manifest: manifest_bytes,
        config,
        layers,
        locks,
    }))
}

fn parse<T: for<'de> Deserialize<'de>>(target: &Target, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| target.error("pulling", format!("the manifest is invalid ({e})")))
}

/// Refuses oversize manifests and ones that do not match the digest asked for.
fn check_manifest(
    target: &Target,
    bytes: &[u8],
    _reported: &str,
    expected: Option<&str>,
) -> Result<Vec<u8>> {
    if bytes.len() > MAX_MANIFEST {
        return Err(target.error(
            "pulling",
            format!(
                "the manifest is {} (limit {})",
                human(bytes.len() as u64),
                human(MAX_MANIFEST as u64)
            ),
        ));
    }
    let actual = sha256_of(bytes);
    if let Some(expected) = expected {
        if expected != actual {
            return Err(target.error(
                "pulling",
                format!("manifest digest mismatch: expected {expected}, got {actual}"),
            ));
        }
    }
    Ok(bytes.to_vec())
}

fn choose<'a>(
    target: &Target,
    entries: &'a [IndexEntry],
    platform: &Platform,
    media_type: Option<&str>,
) -> Result<&'a IndexEntry> {
    let _ = media_type;
    let best = entries
        .iter()
        .filter_map(|e| {
            let p = e.platform.as_ref()?;
            Some((
                platform.fit(&p.os, &p.architecture, p.variant.as_deref())?,
                e,
            ))
        })
        .max_by_key(|(fit, _)| *fit);
    match best {
        Some((_, entry)) => Ok(entry),
        None => {
            let available: Vec<String> = entries
                .iter()
                .filter_map(|e| e.platform.as_ref())
                .filter(|p| p.os != "unknown")
                .map(|p| {
                    let mut s = format!("{}/{}", p.os, p.architecture);
                    if let Some(v) = &p.variant {
                        s = format!("{s}/{v}");
                    }
                    s
                })
                .collect();
            Err(target.error(
                "pulling",
                format!(
                    "no manifest for platform {platform} (the image has: {}); choose one with --platform",
                    if available.is_empty() { "none".to_string() } else { available.join(", ") }
                ),
            ))
        }
    }
}

/// Whether the top-level manifest was an image manifest, not an index.
fn parsed_was_single(top: &[u8]) -> bool {
    serde_json::from_slice::<Manifest>(top).is_ok_and(|m| m.manifests.is_none())
}

fn sha256_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Runs a request again after transient failures, with back-off.
async fn retry<T, F, Fut>(mut request: F) -> Result<T, OciDistributionError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, OciDistributionError>>,
{
    let mut attempt = 0;
    loop {
        match request().await {
            Err(e) if transient(&e) && attempt + 1 < ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(backoff(attempt)).await;
            }
            other => return other,
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200 << attempt.min(5))
}

/// How one attempt at a blob ended.
enum Attempt {
    Done,
    /// Worth another try (cut connection, 5xx); the bytes so far are kept.
    Transient(String),
    Fatal(String),
    /// A local write failed (a full disk): keeping the bytes for a resume
    /// would only keep the disk full.
    Discard(String),
}

/// Downloads one layer blob into `dir`, resuming from what an earlier
/// attempt or pull left, and verifies its digest; returns the file.
async fn download(
    client: &Client,
    target: &Target,
    image: &Reference,
    layer: &OciDescriptor,
    dir: &Path,
    display: &Display,
) -> Result<(PathBuf, Task)> {
    let hex = layer
        .digest
        .strip_prefix("sha256:")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            target.error(
                "pulling",
                format!("layer digest {:?} is not a sha256 digest", layer.digest),
            )
        })?;
    let size = u64::try_from(layer.size).map_err(|_| {
        target.error(
            "pulling",
            format!("layer {} has a negative size", layer.digest),
        )
    })?;
    let partial = dir.join(format!("{hex}.partial"));
    let task = display.task(&layer.digest, size, "Downloading");
    let mut hashed = Hashed::default();
    let mut attempt = 0;
    loop {
        match fetch_blob(client, image, layer, size, &partial, &task, &mut hashed).await {
            Attempt::Done => break,
            Attempt::Transient(why) if attempt + 1 < ATTEMPTS => {
                attempt += 1;
                task.event(&format!("Retrying ({why})"));
                tokio::time::sleep(backoff(attempt)).await;
            }
            Attempt::Discard(why) => {
                let _ = tokio::fs::remove_file(&partial).await;
                task.finish("Failed");
                return Err(target.error("pulling", format!("layer {}: {why}", layer.digest)));
            }
            Attempt::Transient(why) | Attempt::Fatal(why) => {
                task.finish("Failed");
                return Err(target.error("pulling", format!("layer {}: {why}", layer.digest)));
            }
        }
    }
    let actual = match hashed.len == size {
        true => format!("sha256:{}", hex::encode(hashed.hasher.finalize())),
        // Only a file left complete by an earlier pull is hashed afresh.
        false => {
            task.event("Verifying");
            let path = partial.clone();
            tokio::task::spawn_blocking(move || hash_file(&path))
                .await
                .map_err(|e| Error::Local(e.to_string()))?
                .map_err(|e| {
                    target.error("pulling", format!("reading {}: {e}", partial.display()))
                })?
        }
    };
    if actual != layer.digest {
        let _ = std::fs::remove_file(&partial);
        task.finish("Failed");
        return Err(target.error(
            "pulling",
            format!(
                "layer digest mismatch: expected {}, got {actual}; nothing was stored",
                layer.digest
            ),
        ));
    }
    task.event("Download complete");
    Ok((partial, task))
}

/// The digest of a download's bytes so far, kept across attempts so a
/// blob is hashed once, as it arrives.
#[derive(Default)]
struct Hashed {
    hasher: Sha256,
    len: u64,
}

async fn fetch_blob(
    client: &Client,
    image: &Reference,
    layer: &OciDescriptor,
    size: u64,
    partial: &Path,
    task: &Task,
    hashed: &mut Hashed,
) -> Attempt {
    let io = |e: std::io::Error| Attempt::Discard(format!("writing {}: {e}", partial.display()));
    let mut file = match tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(partial)
        .await
    {
        Ok(f) => f,
        Err(e) => return io(e),
    };
    let mut offset = match file.metadata().await {
        Ok(m) => m.len(),
        Err(e) => return io(e),
    };
    if offset > size {
        if let Err(e) = file.set_len(0).await {
            return io(e);
        }
        offset = 0;
    }
    if offset == size {
        return Attempt::Done;
    }
    if hashed.len != offset {
        // A download an earlier pull left: hash what it has.
        let path = partial.to_path_buf();
        match tokio::task::spawn_blocking(move || prefix_hasher(&path, offset)).await {
            Ok(Ok(hasher)) => {
                *hashed = Hashed {
                    hasher,
                    len: offset,
                }
            }
            Ok(Err(e)) => return io(e),
            Err(e) => return Attempt::Fatal(e.to_string()),
        }
    }
    let response = if offset > 0 {
        task.event(&format!("Resuming at {}", human(offset)));
        client
            .pull_blob_stream_partial(image, layer, offset, None)
            .await
            .map(|r| match r {
                BlobResponse::Partial(s) => (s, true),
                BlobResponse::Full(s) => (s, false),
            })
    } else {
        client
            .pull_blob_stream(image, layer)
            .await
            .map(|s| (s, true))
    };
    let mut stream = match response {
        Ok((stream, true)) => stream,
        Ok((stream, false)) => {
            // The registry ignored the range: start over.
            if let Err(e) = file.set_len(0).await {
                return io(e);
            }
            offset = 0;
            *hashed = Hashed::default();
            stream
        }
        Err(e) if transient(&e) => return Attempt::Transient(cause(&e)),
        Err(e) => return Attempt::Fatal(cause(&e)),
    };
    let mut written = offset;
    task.set_position(written);
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                let _ = file.flush().await;
                if written == size {
                    // The whole blob arrived and the stream's own digest
                    // check failed: the final verification says so.
                    return Attempt::Done;
                }
                return Attempt::Transient(crate::error::network_cause(&e));
            }
        };
        written += chunk.len() as u64;
        if written > size {
            let _ = file.set_len(0).await;
            return Attempt::Fatal(format!(
                "the registry sent more than the {size} bytes the manifest lists"
            ));
        }
        if let Err(e) = file.write_all(&chunk).await {
            return io(e);
        }
        hashed.hasher.update(&chunk);
        hashed.len += chunk.len() as u64;
        task.set_position(written);
    }
    if let Err(e) = file.flush().await {
        return io(e);
    }
    if written < size {
        return Attempt::Transient(format!(
            "connection closed after {} of {}",
            human(written),
            human(size)
        ));
    }
    Attempt::Done
}

/// Takes the download lock of blob `digest`: one process at a time
/// downloads and commits a blob, so concurrent pulls of the same image never
/// write into the same file or commit a file another is reading.
async fn lock_download(target: &Target, dir: &Path, digest: &str) -> Result<DownloadLock> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let path = dir.join(format!("{hex}.lock"));
    let lock_path = path.clone();
    let lock = tokio::task::spawn_blocking(move || lock_file(&lock_path))
        .await
        .map_err(|e| Error::Local(e.to_string()))?
        .map_err(|e| target.error("pulling", format!("locking a download: {e}")))?;
    Ok(DownloadLock { path, _lock: lock })
}

fn lock_file(path: &Path) -> std::io::Result<nix::fcntl::Flock<std::fs::File>> {
    use std::os::unix::fs::MetadataExt;
    loop {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        let lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, errno)| std::io::Error::from(errno))?;
        // The previous holder may have unlinked the file meanwhile: then
        // this lock guards nothing, and the file at `path` is the one.
        let held = lock.metadata()?;
        match std::fs::metadata(path) {
            Ok(current) if current.ino() == held.ino() && current.dev() == held.dev() => {
                return Ok(lock)
            }
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
    }
}

fn prefix_hasher(path: &Path, len: u64) -> std::io::Result<Sha256> {
    use std::io::Read;
    let mut hasher = Sha256::new();
    let file = std::fs::File::open(path)?;
    std::io::copy(&mut file.take(len), &mut hasher)?;
    Ok(hasher)
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}
