//! Builders for the real tarballs and archives the unit tests feed the store.

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use serde_json::json;
use sha2::{Digest, Sha256};
use tar::EntryType;

use crate::compression::decompress;
use crate::store::Store;

/// A fresh store at `<tmp>/images`; the rest of `<tmp>` is free for inputs.
pub(crate) fn temp_store() -> (tempfile::TempDir, Store) {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("images")).unwrap();
    (tmp, store)
}

/// mtime stamped on every test entry.
pub(crate) const MTIME: i64 = 1_600_000_000;

/// Writes tar entries with raw names, so tests can build the hostile paths
/// (`../x`, `/abs`) that the `tar` crate's safe API refuses to produce.
pub(crate) struct TarBuilder(tar::Builder<Vec<u8>>);

impl TarBuilder {
    pub(crate) fn new() -> Self {
        TarBuilder(tar::Builder::new(Vec::new()))
    }

    #[allow(clippy::too_many_arguments)]
    fn entry(
        &mut self,
        kind: EntryType,
        path: &str,
        link: Option<&str>,
        data: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> &mut Self {
        let mut header = tar::Header::new_gnu();
        let old = header.as_old_mut();
        old.name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(link) = link {
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(uid);
        header.set_gid(gid);
        header.set_mtime(MTIME as u64);
        header.set_size(data.len() as u64);
        header.set_cksum();
        self.0.append(&header, data).unwrap();
        self
    }

    pub(crate) fn dir(&mut self, path: &str, mode: u32) -> &mut Self {
        self.entry(EntryType::Directory, path, None, b"", mode, 0, 0)
    }

    pub(crate) fn file(&mut self, path: &str, data: &[u8], mode: u32) -> &mut Self {
        self.entry(EntryType::Regular, path, None, data, mode, 0, 0)
    }

    pub(crate) fn file_owned(
        &mut self,
        path: &str,
        data: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> &mut Self {
        self.entry(EntryType::Regular, path, None, data, mode, uid, gid)
    }

    pub(crate) fn symlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.entry(EntryType::Symlink, path, Some(target), b"", 0o777, 0, 0)
    }

    pub(crate) fn hardlink(&mut self, path: &str, target: &str) -> &mut Self {
        self.entry(EntryType::Link, path, Some(target), b"", 0o644, 0, 0)
    }

    pub(crate) fn fifo(&mut self, path: &str) -> &mut Self {
        self.entry(EntryType::Fifo, path, None, b"", 0o644, 0, 0)
    }

    pub(crate) fn device(&mut self, path: &str, kind: EntryType) -> &mut Self {
        self.entry(kind, path, None, b"", 0o600, 0, 0)
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// A one-file layer tar.
pub(crate) fn layer(path: &str, data: &[u8]) -> Vec<u8> {
    let mut tar = TarBuilder::new();
    tar.file(path, data, 0o644);
    tar.finish()
}

pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

pub(crate) fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 1).unwrap()
}

pub(crate) fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn hex_of(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Every path under `dir`, sorted, marked by type: `d/`, `f (N bytes)`,
/// `l -> target`, `x (special)`. Two equal snapshots mean equal trees.
pub(crate) fn snapshot(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                out.push(format!("{rel}/"));
                walk(root, &path, out);
            } else if meta.is_file() {
                out.push(format!("{rel} ({} bytes)", meta.size()));
            } else if meta.file_type().is_symlink() {
                out.push(format!(
                    "{rel} -> {}",
                    fs::read_link(&path).unwrap().display()
                ));
            } else {
                let rdev = if meta.file_type().is_char_device() {
                    meta.rdev()
                } else {
                    0
                };
                out.push(format!("{rel} (special {rdev})"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// An image as an archive would carry it: config bytes and layer blobs
/// (possibly compressed).
pub(crate) struct TestImage {
    pub(crate) config: Vec<u8>,
    pub(crate) layers: Vec<Vec<u8>>,
}

impl TestImage {
    pub(crate) fn new(layers: Vec<Vec<u8>>, cmd: &[&str]) -> TestImage {
        let diff_ids: Vec<String> = layers
            .iter()
            .map(|blob| {
                let (_, mut reader) = decompress(blob.as_slice()).unwrap();
                let mut tar = Vec::new();
                reader.read_to_end(&mut tar).unwrap();
                sha256(&tar)
            })
            .collect();
        let config = json!({
            "architecture": crate::platform::host_arch().to_string(),
            "os": "linux",
            "created": "2024-01-02T03:04:05Z",
            "config": {"Cmd": cmd, "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": "test"}],
        });
        TestImage {
            config: serde_json::to_vec(&config).unwrap(),
            layers,
        }
    }

    pub(crate) fn id(&self) -> String {
        sha256(&self.config)
    }

    pub(crate) fn config_diff_ids(&self) -> Vec<String> {
        let config: serde_json::Value = serde_json::from_slice(&self.config).unwrap();
        serde_json::from_value(config["rootfs"]["diff_ids"].clone()).unwrap()
    }

    fn manifest(&self) -> Vec<u8> {
        let layers: Vec<_> = self
            .layers
            .iter()
            .map(|l| json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(l), "size": l.len()}))
            .collect();
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": self.id(), "size": self.config.len()},
            "layers": layers,
        }))
        .unwrap()
    }
}

/// A classic `docker save` archive: `<id>.json` configs, `<dir>/layer.tar`
/// layers (a repeated layer becomes a symlink to the first copy, as Docker
/// does) and `manifest.json`.
pub(crate) fn docker_archive(images: &[(&TestImage, &[&str])]) -> Vec<u8> {
    let mut tar = TarBuilder::new();
    let mut layer_dirs: HashMap<String, String> = HashMap::new();
    let mut manifest = Vec::new();
    for (image, tags) in images {
        let config_name = format!("{}.json", hex_of(&image.config));
        tar.file(&config_name, &image.config, 0o644);
        let mut layer_paths = Vec::new();
        for blob in &image.layers {
            let dir = format!("{}{}", layer_dirs.len(), &hex_of(blob)[..8]);
            let path = format!("{dir}/layer.tar");
            match layer_dirs.get(&hex_of(blob)) {
                Some(first) => tar
                    .dir(&dir, 0o755)
                    .symlink(&path, &format!("../{first}/layer.tar")),
                None => tar.dir(&dir, 0o755).file(&path, blob, 0o644),
            };
            layer_dirs.entry(hex_of(blob)).or_insert(dir);
            layer_paths.push(path);
        }
        manifest.push(json!({"Config": config_name, "RepoTags": tags, "Layers": layer_paths}));
    }
    tar.file(
        "manifest.json",
        &serde_json::to_vec(&manifest).unwrap(),
        0o644,
    );
    tar.finish()
}

/// An OCI image-layout archive; each image's index entry carries the given
/// annotations.
pub(crate) fn oci_archive(images: &[(&TestImage, serde_json::Value)]) -> Vec<u8> {
    let mut tar = TarBuilder::new();
    tar.file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#, 0o644);
    let mut index = Vec::new();
    for (image, annotations) in images {
        let manifest = image.manifest();
        for blob in image.layers.iter().chain([&image.config, &manifest]) {
            tar.file(&format!("blobs/sha256/{}", hex_of(blob)), blob, 0o644);
        }
        index.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": sha256(&manifest),
            "size": manifest.len(),
            "annotations": annotations,
        }));
    }
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index});
    tar.file("index.json", &serde_json::to_vec(&index).unwrap(), 0o644);
    tar.finish()
}
