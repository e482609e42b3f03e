//! `isola load`: images from a `docker save` archive or an OCI image-layout
//! archive (optionally gzip/zstd-compressed as a whole), verified against
//! every digest the archive states before anything is stored.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::path::Path;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType, ANNOTATION_REF_NAME};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::compression::{decompress, Compression};
use crate::digest::{sha256_hex, SHA256};
use crate::error::{Error, IoContext, Result};
use crate::platform::{host_arch, runs_here};
use crate::reference::{normalize_reference, CONTAINERD_NAME_ANNOTATION};
use crate::staging::{StagedFile, Staging};
use crate::store::{parse_config, Store};
use crate::unpack::{clean_path, resolve_link};

/// JSON metadata larger than this is not metadata.
const MAX_JSON: u64 = 64 << 20;
/// Multi-platform indexes nest one level in practice; allow a little more.
const MAX_INDEX_DEPTH: usize = 4;
/// Old `docker save` archives chain `layer.tar` symlinks; bound the chase.
const MAX_LINK_HOPS: usize = 16;
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

impl Store {
    /// Reads a `docker save` archive (`manifest.json`, configs named by
    /// their digest, `<id>/layer.tar` or `blobs/sha256/` layers) or an OCI
    /// image-layout archive (`index.json`, `blobs/sha256/`, names from the
    /// `org.opencontainers.image.ref.name` or `io.containerd.image.name`
    /// annotations) from any reader. Returns the loaded references in
    /// order, or the id of each untagged image.
    pub fn load(&self, input: &mut dyn Read) -> Result<Vec<String>> {
        let _lock = self.lock()?;
        let mut repos = self.repositories()?;
        let mut staging = Staging::new(self)?;
        let archive = Archive::spool(&mut staging, input)?;
        let images = if archive.contains("manifest.json") {
            archive.docker_images()?
        } else if archive.contains("index.json") {
            archive.oci_images()?
        } else {
            return Err(Error::InvalidArchive(
                "it has neither manifest.json (docker save) nor index.json (OCI image layout)"
                    .to_string(),
            ));
        };
        if images.is_empty() {
            return Err(Error::InvalidArchive("it contains no images".to_string()));
        }
        let mut loaded = Vec::new();
        for image in images {
            let id = &image.config.digest;
            if !repos.images.contains_key(id) {
                let manifest = image.stage(&mut staging)?;
                repos.add_image(id, manifest);
            }
            if image.tags.is_empty() {
                loaded.push(id.clone());
            }
            for tag in image.tags {
                repos.set_tag(tag.clone(), id);
                loaded.push(tag);
            }
        }
        staging.commit(&repos)?;
        let mut seen = HashSet::new();
        loaded.retain(|name| seen.insert(name.clone()));
        Ok(loaded)
    }
}

/// One image found in an archive, its files already spooled and verified
/// against the digests the archive names them by.
struct Candidate<'a> {
    config: &'a StagedFile,
    layers: Vec<&'a StagedFile>,
    /// The original manifest (OCI archives); docker archives have none and
    /// get an OCI manifest written for them.
    manifest: Option<&'a StagedFile>,
    tags: Vec<String>,
}

impl Candidate<'_> {
    /// Verifies layers against the config's diff-ids, unpacks them and
    /// queues all blobs; returns the manifest digest.
    fn stage(&self, staging: &mut Staging) -> Result<String> {
        let config = parse_config(&read_json_bytes(self.config, "image config")?).map_err(|e| {
            Error::InvalidArchive(format!(
                "image config {} is invalid: {e}",
                self.config.digest
            ))
        })?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != self.layers.len() {
            return Err(Error::InvalidArchive(format!(
                "image {} has {} layers but its config lists {} diff-ids",
                self.config.digest,
                self.layers.len(),
                diff_ids.len()
            )));
        }
        let mut layers: Vec<(&StagedFile, Compression)> = Vec::new();
        for (layer, diff_id) in self.layers.iter().zip(diff_ids) {
            if sha256_hex(diff_id).is_none() {
                return Err(Error::InvalidArchive(format!(
                    "diff-id {diff_id:?} is not a sha256 digest"
                )));
            }
            let (_, compression) = staging.add_layer(layer, Some(diff_id))?;
            staging.add_blob(layer)?;
            layers.push((layer, compression));
        }
        staging.add_blob(self.config)?;
        match self.manifest {
            Some(manifest) => {
                staging.add_blob(manifest)?;
                Ok(manifest.digest.clone())
            }
            None => staging.add_manifest(self.config, &layers),
        }
    }
}

/// The archive's regular files spooled into staging, by clean path, plus
/// its links (path -> path of the target inside the archive).
struct Archive {
    files: HashMap<String, StagedFile>,
    links: HashMap<String, String>,
}

/// One entry of a `docker save` manifest.json.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

impl Archive {
    /// Copies every file out of the (possibly compressed) tar stream,
    /// hashing as it goes: archive members come in any order and stdin
    /// cannot be rewound.
    fn spool(staging: &mut Staging, input: &mut dyn Read) -> Result<Archive> {
        let (_, reader) = decompress(input)?;
        let mut tar = tar::Archive::new(reader);
        let mut archive = Archive {
            files: HashMap::new(),
            links: HashMap::new(),
        };
        let reading = || "reading the image archive".to_string();
        for entry in tar.entries().context(reading)? {
            let mut entry = entry.context(reading)?;
            let path = archive_path(&entry.path_bytes())?;
            let kind = entry.header().entry_type();
            if kind.is_file() || kind == tar::EntryType::Continuous {
                let file = staging.write_file(|out| {
                    io::copy(&mut entry, out)
                        .map(drop)
                        .context(|| format!("reading {path} from the image archive"))
                })?;
                archive.links.remove(&path);
                archive.files.insert(path, file);
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target = entry.link_name_bytes().unwrap_or_default();
                let resolved = match (kind.is_symlink(), target.starts_with(b"/")) {
                    (true, false) => resolve_link(Path::new(&path), &target),
                    (true, true) => None,
                    // Hardlink targets are relative to the archive root.
                    (false, _) => clean_path(&target).ok(),
                };
                let resolved = resolved
                    .and_then(|p| p.to_str().map(str::to_string))
                    .ok_or_else(|| {
                        Error::InvalidArchive(format!("link {path} points outside the archive"))
                    })?;
                archive.files.remove(&path);
                archive.links.insert(path, resolved);
            }
        }
        Ok(archive)
    }

    fn contains(&self, path: &str) -> bool {
        self.files.contains_key(path) || self.links.contains_key(path)
    }

    /// The file at `path`, following links within the archive.
    fn get(&self, path: &str) -> Result<&StagedFile> {
        let mut current = archive_path(path.as_bytes())?;
        for _ in 0..MAX_LINK_HOPS {
            if let Some(file) = self.files.get(&current) {
                return Ok(file);
            }
            match self.links.get(&current) {
                Some(target) => current = target.clone(),
                None => break,
            }
        }
        Err(Error::InvalidArchive(format!(
            "{path} is referenced but missing from the archive"
        )))
    }

    fn json<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let bytes = read_json_bytes(self.get(path)?, path)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::InvalidArchive(format!("{path} is invalid: {e}")))
    }

    /// The blob a descriptor points at, checked against its digest and size.
    fn blob(&self, descriptor: &Descriptor) -> Result<&StagedFile> {
        let digest = descriptor.digest().to_string();
        let hex = sha256_hex(&digest).ok_or_else(|| {
            Error::InvalidArchive(format!(
                "digest {digest} is not sha256, which is all isola supports"
            ))
        })?;
        let file = self.get(&format!("blobs/sha256/{hex}"))?;
        verify(file, &digest, &format!("blob blobs/sha256/{hex}"))?;
        if file.size != descriptor.size() {
            return Err(Error::InvalidArchive(format!(
                "blob {digest} is {} bytes but its descriptor says {}",
                file.size,
                descriptor.size()
            )));
        }
        Ok(file)
    }

    fn docker_images(&self) -> Result<Vec<Candidate<'_>>> {
        let entries: Vec<DockerManifestEntry> = self.json("manifest.json")?;
        entries
            .iter()
            .map(|entry| {
                let config = self.get(&entry.config)?;
                let expected = named_digest(&entry.config).ok_or_else(|| {
                    Error::InvalidArchive(format!(
                        "config file name {:?} is not a sha256 digest, so the config cannot be verified",
                        entry.config
                    ))
                })?;
                verify(config, &expected, &format!("image config {}", entry.config))?;
                let layers = entry
                    .layers
                    .iter()
                    .map(|path| {
                        let layer = self.get(path)?;
                        match named_digest(path) {
                            Some(expected) => verify(layer, &expected, &format!("layer {path}")).map(|()| layer),
                            None => Ok(layer),
                        }
                    })
                    .collect::<Result<_>>()?;
                let tags = entry
                    .repo_tags
                    .iter()
                    .flatten()
                    .map(|tag| normalize_reference(tag))
                    .collect::<Result<_>>()?;
                Ok(Candidate {
                    config,
                    layers,
                    manifest: None,
                    tags,
                })
            })
            .collect()
    }

    fn oci_images(&self) -> Result<Vec<Candidate<'_>>> {
        let index: ImageIndex = self.json("index.json")?;
        index
            .manifests()
            .iter()
            .map(|descriptor| {
                let (manifest_file, manifest) = self.platform_manifest(descriptor, 0)?;
                Ok(Candidate {
                    config: self.blob(manifest.config())?,
                    layers: manifest
                        .layers()
                        .iter()
                        .map(|l| self.blob(l))
                        .collect::<Result<_>>()?,
                    manifest: Some(manifest_file),
                    tags: oci_reference(descriptor)?.into_iter().collect(),
                })
            })
            .collect()
    }

    /// The image manifest a descriptor leads to, choosing this host's
    /// platform (among those present in the archive) in image indexes.
    fn platform_manifest(
        &self,
        descriptor: &Descriptor,
        depth: usize,
    ) -> Result<(&StagedFile, ImageManifest)> {
        let file = self.blob(descriptor)?;
        let media_type = descriptor.media_type();
        let is_index =
            *media_type == MediaType::ImageIndex || media_type.to_string() == DOCKER_MANIFEST_LIST;
        if !is_index {
            let manifest = serde_json::from_slice(&read_json_bytes(file, "image manifest")?)
                .map_err(|e| {
                    Error::InvalidArchive(format!("image manifest {} is invalid: {e}", file.digest))
                })?;
            return Ok((file, manifest));
        }
        if depth >= MAX_INDEX_DEPTH {
            return Err(Error::InvalidArchive(
                "image indexes are nested too deeply".to_string(),
            ));
        }
        let index: ImageIndex = serde_json::from_slice(&read_json_bytes(file, "image index")?)
            .map_err(|e| {
                Error::InvalidArchive(format!("image index {} is invalid: {e}", file.digest))
            })?;
        let child = index
            .manifests()
            .iter()
            .filter(|m| match m.platform() {
                Some(platform) => runs_here(platform.architecture(), platform.os()),
                None => true,
            })
            .find(|m| {
                sha256_hex(m.digest().as_ref())
                    .is_some_and(|hex| self.contains(&format!("blobs/sha256/{hex}")))
            })
            .ok_or_else(|| {
                Error::InvalidArchive(format!(
                    "image index {} has no linux/{} image in this archive",
                    file.digest,
                    host_arch()
                ))
            })?;
        self.platform_manifest(child, depth + 1)
    }
}

/// An archive member path as a clean relative UTF-8 string.
fn archive_path(raw: &[u8]) -> Result<String> {
    let name = String::from_utf8_lossy(raw);
    clean_path(raw)
        .ok()
        .and_then(|p| p.to_str().map(str::to_string))
        .ok_or_else(|| {
            Error::InvalidArchive(format!("member {name:?} has an unsafe or non-UTF-8 path"))
        })
}

/// `sha256:<hex>` when a member's file name is its digest (`<hex>`,
/// `<hex>.json`), as `docker save` names configs and blobs.
fn named_digest(path: &str) -> Option<String> {
    let name = path.rsplit('/').next()?;
    let hex = name.strip_suffix(".json").unwrap_or(name);
    let digest = format!("{SHA256}{hex}");
    sha256_hex(&digest).is_some().then_some(digest)
}

fn verify(file: &StagedFile, expected: &str, what: &str) -> Result<()> {
    if file.digest == expected {
        Ok(())
    } else {
        Err(Error::DigestMismatch {
            what: what.to_string(),
            expected: expected.to_string(),
            actual: file.digest.clone(),
        })
    }
}

fn read_json_bytes(file: &StagedFile, what: &str) -> Result<Vec<u8>> {
    if file.size > MAX_JSON {
        return Err(Error::InvalidArchive(format!(
            "{what} is too large ({} bytes) to be JSON metadata",
            file.size
        )));
    }
    std::fs::read(&file.path).context(|| format!("reading {what}"))
}

/// The name an OCI index entry gives its image: a full reference in
/// `org.opencontainers.image.ref.name`, else containerd's
/// `io.containerd.image.name` (Docker 25+ puts only the tag in the former).
fn oci_reference(descriptor: &Descriptor) -> Result<Option<String>> {
    let Some(annotations) = descriptor.annotations() else {
        return Ok(None);
    };
    annotations
        .get(ANNOTATION_REF_NAME)
        .filter(|name| name.contains(':') || name.contains('/'))
        .or_else(|| annotations.get(CONTAINERD_NAME_ANNOTATION))
        .map(|name| normalize_reference(name))
        .transpose()
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::FileTypeExt;

    use serde_json::json;

    use super::*;
    use crate::test_support::{
        docker_archive, gzip, layer, oci_archive, sha256, snapshot, temp_store, TarBuilder,
        TestImage,
    };

    fn base_layer() -> Vec<u8> {
        let mut tar = TarBuilder::new();
        tar.dir("etc", 0o755)
            .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n", 0o644)
            .file("etc/old", b"old", 0o644)
            .dir("var/cache", 0o755)
            .file("var/cache/a", b"a", 0o644);
        tar.finish()
    }

    fn top_layer() -> Vec<u8> {
        let mut tar = TarBuilder::new();
        tar.file("etc/.wh.old", b"", 0o644)
            .dir("var/cache", 0o755)
            .file("var/cache/.wh..wh..opq", b"", 0o644)
            .file("var/cache/b", b"b", 0o644);
        tar.finish()
    }

    #[test]
    fn loads_docker_save_archive_with_whiteouts() {
        let (_tmp, store) = temp_store();
        let image = TestImage::new(vec![gzip(&base_layer()), top_layer()], &["sh"]);
        let archive = docker_archive(&[(&image, &["busybox"])]);
        assert_eq!(
            store.load(&mut archive.as_slice()).unwrap(),
            ["busybox:latest"]
        );

        let loaded = store.resolve("busybox").unwrap();
        assert_eq!(loaded.id, image.id());
        assert_eq!(
            loaded
                .config
                .config()
                .as_ref()
                .unwrap()
                .cmd()
                .clone()
                .unwrap(),
            ["sh"]
        );
        let [base, top] = loaded.layers.as_slice() else {
            panic!("two layers expected")
        };
        assert_eq!(
            snapshot(base),
            [
                "etc/",
                "etc/old (3 bytes)",
                "etc/passwd (26 bytes)",
                "var/",
                "var/cache/",
                "var/cache/a (1 bytes)"
            ]
        );
        assert_eq!(
            snapshot(top),
            [
                "etc/",
                "etc/old (special 0)",
                "var/",
                "var/cache/",
                "var/cache/b (1 bytes)"
            ]
        );
        assert!(fs::symlink_metadata(top.join("etc/old"))
            .unwrap()
            .file_type()
            .is_char_device());
        assert_eq!(
            xattr::get(top.join("var/cache"), "trusted.overlay.opaque").unwrap(),
            Some(b"y".to_vec())
        );
        // Layer blobs are kept exactly as received.
        assert_eq!(
            fs::read(store.blob_path(&sha256(&image.layers[0])).unwrap()).unwrap(),
            image.layers[0]
        );
        assert_eq!(fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    }

    #[test]
    fn shares_layers_between_images_and_follows_layer_symlinks() {
        let (_tmp, store) = temp_store();
        let shared = layer("shared", b"s");
        let first = TestImage::new(vec![shared.clone()], &["a"]);
        let second = TestImage::new(vec![shared.clone(), layer("own", b"o")], &["b"]);
        let archive = docker_archive(&[(&first, &["a:1"]), (&second, &["b:1", "b:2"])]);
        assert_eq!(
            store.load(&mut gzip(&archive).as_slice()).unwrap(),
            ["a:1", "b:1", "b:2"]
        );
        assert_eq!(fs::read_dir(store.layers_dir()).unwrap().count(), 2);
        assert_eq!(
            store.resolve("a:1").unwrap().layers[0],
            store.resolve("b:2").unwrap().layers[0]
        );
        // Loading again changes nothing.
        let before = snapshot(store.layers_dir().parent().unwrap());
        store.load(&mut archive.as_slice()).unwrap();
        assert_eq!(snapshot(store.layers_dir().parent().unwrap()), before);
    }

    #[test]
    fn loads_oci_layout_archives_with_their_names() {
        let (_tmp, store) = temp_store();
        let full = TestImage::new(vec![gzip(&layer("a", b"1"))], &["a"]);
        let docker25 = TestImage::new(vec![layer("b", b"2")], &["b"]);
        let untagged = TestImage::new(vec![layer("c", b"3")], &["c"]);
        let archive = oci_archive(&[
            (
                &full,
                json!({"org.opencontainers.image.ref.name": "example.com/team/app:1.0"}),
            ),
            (
                &docker25,
                json!({"org.opencontainers.image.ref.name": "3.19", "io.containerd.image.name": "docker.io/library/alpine:3.19"}),
            ),
            (
                &untagged,
                json!({"org.opencontainers.image.ref.name": "latest"}),
            ),
        ]);
        let loaded = store.load(&mut gzip(&archive).as_slice()).unwrap();
        assert_eq!(
            loaded,
            [
                "example.com/team/app:1.0".to_string(),
                "alpine:3.19".to_string(),
                untagged.id()
            ]
        );
        let app = store.resolve("example.com/team/app:1.0").unwrap();
        assert_eq!(app.id, full.id());
        assert_eq!(fs::read(app.layers[0].join("a")).unwrap(), b"1");
        assert_eq!(store.resolve("alpine:3.19").unwrap().id, docker25.id());
        assert!(store.resolve(&untagged.id()).unwrap().repo_tags.is_empty());
    }

    #[test]
    fn picks_the_host_platform_from_an_image_index() {
        let (_tmp, store) = temp_store();
        let image = TestImage::new(vec![layer("a", b"1")], &["a"]);
        let single = oci_archive(&[(&image, json!({}))]);
        // Rewrite index.json so it points at a multi-platform index blob.
        let mut tar = TarBuilder::new();
        let mut manifest_descriptor = None;
        for entry in tar::Archive::new(single.as_slice()).entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            let mut body = Vec::new();
            entry.read_to_end(&mut body).unwrap();
            if name == "index.json" {
                let index: serde_json::Value = serde_json::from_slice(&body).unwrap();
                manifest_descriptor = Some(index["manifests"][0].clone());
            } else {
                tar.file(&name, &body, 0o644);
            }
        }
        let mut host = manifest_descriptor.unwrap();
        host["platform"] =
            json!({"architecture": crate::platform::host_arch().to_string(), "os": "linux"});
        let mut absent = host.clone();
        absent["digest"] = json!(sha256(b"not in the archive"));
        let mut foreign = host.clone();
        foreign["platform"] = json!({"architecture": "s390x", "os": "linux"});
        let platforms = serde_json::to_vec(&json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [foreign, absent, host]})).unwrap();
        tar.file(
            &format!("blobs/sha256/{}", &sha256(&platforms)[7..]),
            &platforms,
            0o644,
        );
        let index = json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": sha256(&platforms),
            "size": platforms.len(),
            "annotations": {"org.opencontainers.image.ref.name": "multi:1"},
        }]});
        tar.file("index.json", &serde_json::to_vec(&index).unwrap(), 0o644);

        assert_eq!(
            store.load(&mut tar.finish().as_slice()).unwrap(),
            ["multi:1"]
        );
        assert_eq!(store.resolve("multi:1").unwrap().id, image.id());
    }

    /// Loads `archive` into a store that already holds an image and checks
    /// that the load fails with `check` and changes nothing anywhere.
    fn assert_refused(archive: &[u8], check: impl Fn(&Error) -> bool) {
        let (tmp, store) = temp_store();
        let existing = TestImage::new(vec![layer("keep", b"k")], &["k"]);
        store
            .load(&mut docker_archive(&[(&existing, &["keep"])]).as_slice())
            .unwrap();
        let before = snapshot(tmp.path());
        let err = store.load(&mut &archive[..]).unwrap_err();
        assert!(check(&err), "unexpected error: {err}");
        assert_eq!(snapshot(tmp.path()), before);
        assert_eq!(store.resolve("keep").unwrap().id, existing.id());
    }

    #[test]
    fn refuses_tampered_archives_without_storing_anything() {
        let mismatch = |e: &Error| matches!(e, Error::DigestMismatch { .. });
        let image = TestImage::new(vec![layer("a", b"1"), layer("b", b"2")], &["x"]);

        // OCI blob whose content does not match its name and descriptor.
        let archive = oci_archive(&[(&image, json!({"org.opencontainers.image.ref.name": "x:1"}))]);
        let good = &image.layers[1];
        let pos = archive
            .windows(good.len())
            .position(|w| w == good.as_slice())
            .unwrap();
        let mut bad = archive.clone();
        bad[pos + 512] = b'3'; // the file body right after its tar header
        assert_refused(&bad, mismatch);

        // docker save config whose file name is not its digest.
        let mut tar = TarBuilder::new();
        let config_name = format!("{}.json", &image.id()[7..]);
        tar.file(
            &config_name,
            &[image.config.as_slice(), b" "].concat(),
            0o644,
        );
        tar.file("0/layer.tar", &image.layers[0], 0o644);
        tar.file("1/layer.tar", &image.layers[1], 0o644);
        let manifest = json!([{"Config": config_name, "RepoTags": ["x"], "Layers": ["0/layer.tar", "1/layer.tar"]}]);
        tar.file(
            "manifest.json",
            &serde_json::to_vec(&manifest).unwrap(),
            0o644,
        );
        assert_refused(&tar.finish(), mismatch);

        // Layers that do not match the config's diff-ids.
        let swapped = TestImage {
            config: image.config.clone(),
            layers: vec![image.layers[1].clone(), image.layers[0].clone()],
        };
        assert_refused(&docker_archive(&[(&swapped, &["x"])]), mismatch);
    }

    #[test]
    fn refuses_hostile_layers_without_side_effects() {
        let outside = tempfile::tempdir().unwrap();
        let outside_path = outside.path().to_str().unwrap().to_string();
        let hostile = |build: &dyn Fn(&mut TarBuilder)| {
            let mut tar = TarBuilder::new();
            tar.file("innocent", b"fine", 0o644);
            build(&mut tar);
            tar.finish()
        };
        let layers = [
            hostile(&|t| {
                t.file("../evil", b"x", 0o644);
            }),
            hostile(&|t| {
                t.file("/abs", b"x", 0o644);
            }),
            hostile(&|t| {
                t.symlink("link", "../../..");
            }),
            hostile(&|t| {
                t.symlink("link", &outside_path)
                    .file("link/passwd", b"pwned", 0o644);
            }),
            hostile(&|t| {
                t.file("etc/passwd", b"x", 0o644)
                    .hardlink("passwd", "../../etc/passwd");
            }),
        ];
        for bad in layers {
            let image = TestImage::new(vec![layer("base", b"b"), bad], &["x"]);
            assert_refused(&docker_archive(&[(&image, &["evil"])]), |e| {
                matches!(e, Error::UnsafeEntry { .. })
            });
            assert_refused(&oci_archive(&[(&image, json!({}))]), |e| {
                matches!(e, Error::UnsafeEntry { .. })
            });
        }
        assert_eq!(snapshot(outside.path()), Vec::<String>::new());
    }

    #[test]
    fn refuses_malformed_archives() {
        let invalid = |e: &Error| matches!(e, Error::InvalidArchive(_));
        let mut tar = TarBuilder::new();
        tar.file("../manifest.json", b"[]", 0o644);
        assert_refused(&tar.finish(), invalid);
        assert_refused(&layer("hello", b"not an image"), invalid);
        let mut tar = TarBuilder::new();
        tar.file(
            "manifest.json",
            br#"[{"Config":"missing.json","Layers":[]}]"#,
            0o644,
        );
        assert_refused(&tar.finish(), invalid);
        let image = TestImage::new(vec![layer("a", b"1")], &["x"]);
        let dangling = TestImage {
            config: image.config.clone(),
            layers: vec![],
        };
        assert_refused(&docker_archive(&[(&dangling, &["x"])]), invalid);
        assert_eq!(named_digest("abc/layer.tar"), None);
        assert_eq!(
            named_digest(&format!("{}.json", "a".repeat(64))),
            Some(format!("sha256:{}", "a".repeat(64)))
        );
    }
}
