//! `isola save`: one tar that both `docker load` and OCI tools read, laid
//! out like Docker 25+ does: `oci-layout`, `index.json` and `blobs/sha256/`
//! for OCI tools, plus a Docker `manifest.json` pointing into the same blobs.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{Read, Write};

use oci_spec::image::{MediaType, ANNOTATION_REF_NAME};
use serde_json::{json, Map, Value};

use crate::digest::{sha256_hex, Hashing};
use crate::error::{to_json, IoContext, Result};
use crate::reference::{fully_qualified, split_tag, CONTAINERD_NAME_ANNOTATION};
use crate::repositories::Found;
use crate::store::Store;

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

impl Store {
    /// Writes the images `references` name to `out`. An image named by tag
    /// is saved with that tag; one named by id is saved untagged, as in
    /// Docker. Round-trips with `load` (same image ids).
    pub fn save(&self, references: &[String], out: &mut dyn Write) -> Result<()> {
        let repos = self.repositories()?;
        let mut images: Vec<(Found, Vec<String>)> = Vec::new();
        for reference in references {
            let found = repos.find(reference)?;
            let tag = found.tag.clone();
            let position = match images.iter().position(|(image, _)| image.id == found.id) {
                Some(position) => position,
                None => {
                    images.push((found, Vec::new()));
                    images.len() - 1
                }
            };
            let tags = &mut images[position].1;
            tags.extend(tag.filter(|t| !tags.contains(t)));
        }

        let mut tar = tar::Builder::new(out);
        append(&mut tar, "oci-layout", OCI_LAYOUT.len() as u64, OCI_LAYOUT)?;
        let mut written = HashSet::new();
        let mut index = Vec::new();
        let mut docker_manifest = Vec::new();
        for (image, tags) in &images {
            let manifest = self.manifest(&image.manifest)?;
            let config = manifest.config().digest().to_string();
            let layers: Vec<String> = manifest
                .layers()
                .iter()
                .map(|l| l.digest().to_string())
                .collect();
            for digest in [&image.manifest, &config].into_iter().chain(&layers) {
                if written.insert(digest.clone()) {
                    self.append_blob(&mut tar, digest)?;
                }
            }

            let media_type = manifest
                .media_type()
                .clone()
                .unwrap_or(MediaType::ImageManifest);
            let manifest_size = fs::metadata(self.blob_path(&image.manifest)?)
                .context(|| format!("reading blob {}", image.manifest))?
                .len();
            let descriptor = |annotations: Option<Value>| {
                let mut descriptor = json!({
                    "mediaType": media_type.to_string(),
                    "digest": image.manifest,
                    "size": manifest_size,
                });
                if let Some(annotations) = annotations {
                    descriptor["annotations"] = annotations;
                }
                descriptor
            };
            if tags.is_empty() {
                index.push(descriptor(None));
            }
            for tag in tags {
                let mut annotations = Map::new();
                annotations.insert(
                    CONTAINERD_NAME_ANNOTATION.into(),
                    fully_qualified(tag).into(),
                );
                annotations.insert(
                    ANNOTATION_REF_NAME.into(),
                    split_tag(tag).1.unwrap_or_default().into(),
                );
                index.push(descriptor(Some(annotations.into())));
            }
            docker_manifest.push(json!({
                "Config": blob_member(&config),
                "RepoTags": if tags.is_empty() { Value::Null } else { json!(tags) },
                "Layers": layers.iter().map(|l| blob_member(l)).collect::<Vec<_>>(),
            }));
        }
        let index = json!({
            "schemaVersion": 2,
            "mediaType": MediaType::ImageIndex.to_string(),
            "manifests": index,
        });
        for (name, value) in [
            ("index.json", index),
            ("manifest.json", Value::Array(docker_manifest)),
        ] {
            let bytes = to_json("archive index", &value)?;
            append(&mut tar, name, bytes.len() as u64, bytes.as_slice())?;
        }
        tar.into_inner()
            .and_then(|out| out.flush())
            .context(|| "writing the image archive".to_string())
    }

    fn append_blob(&self, tar: &mut tar::Builder<&mut dyn Write>, digest: &str) -> Result<()> {
        let path = self.blob_path(digest)?;
        let file = File::open(&path).context(|| format!("reading blob {digest}"))?;
        let size = file
            .metadata()
            .context(|| format!("reading blob {digest}"))?
            .len();
        // Verify on read: a blob damaged on disk must not leave the store
        // under its old name. The digest is checked as the bytes stream
        // into the archive; a mismatch fails the save, whose partial
        // output the caller discards.
        let mut hashing = Hashing::new(file);
        append(tar, &blob_member(digest), size, &mut hashing)?;
        let (_, actual, _) = hashing.finish();
        if actual != digest {
            return Err(crate::Error::Corrupt(format!(
                "blob {digest} now hashes to {actual}"
            )));
        }
        Ok(())
    }
}

fn blob_member(digest: &str) -> String {
    format!("blobs/sha256/{}", sha256_hex(digest).unwrap_or(digest))
}

/// Adds a regular file with fixed ownership and mtime, so saving the same
/// images twice gives the same archive.
fn append(
    tar: &mut tar::Builder<&mut dyn Write>,
    name: &str,
    size: u64,
    data: impl Read,
) -> Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(size);
    header.set_mtime(0);
    tar.append_data(&mut header, name, data)
        .context(|| format!("writing {name} to the image archive"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{layer, snapshot};

    #[test]
    fn save_then_load_round_trips_ids_tags_and_layers() {
        let tmp = tempfile::tempdir().unwrap();
        let source = Store::open(&tmp.path().join("a")).unwrap();
        let rootfs = tmp.path().join("rootfs.tar");
        fs::write(&rootfs, layer("etc/hostname", b"box")).unwrap();
        let id = source
            .import(&rootfs, "app:1", &["CMD [\"/app\"]".to_string()])
            .unwrap();
        source.tag("app:1", "app:2").unwrap();
        let other = source.import(&rootfs, "other", &[]).unwrap();

        let mut archive = Vec::new();
        let refs = ["app:1", "app:2", other.as_str()].map(String::from);
        source.save(&refs, &mut archive).unwrap();

        // Both layouts are present.
        let mut members = Vec::new();
        for entry in tar::Archive::new(archive.as_slice()).entries().unwrap() {
            members.push(entry.unwrap().path().unwrap().display().to_string());
        }
        for member in ["oci-layout", "index.json", "manifest.json"] {
            assert!(
                members.contains(&member.to_string()),
                "{member} missing: {members:?}"
            );
        }
        assert!(members.contains(&format!("blobs/sha256/{}", &id[7..])));

        let target = Store::open(&tmp.path().join("b")).unwrap();
        let loaded = target.load(&mut archive.as_slice()).unwrap();
        assert_eq!(loaded, ["app:1", "app:2", other.as_str()]);
        let image = target.resolve("app:2").unwrap();
        assert_eq!(image.id, id);
        assert_eq!(image.repo_tags, ["app:1", "app:2"]);
        assert_eq!(
            snapshot(&image.layers[0]),
            snapshot(&source.resolve(&id).unwrap().layers[0])
        );
        assert_eq!(
            target.resolve(&other).unwrap().repo_tags,
            Vec::<String>::new()
        );

        // Saving again from the loaded store gives the same archive.
        let mut again = Vec::new();
        target.save(&refs, &mut again).unwrap();
        assert_eq!(again, archive);
    }

    #[test]
    fn docker_manifest_points_into_blobs() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(tmp.path()).unwrap();
        let rootfs = tmp.path().join("rootfs.tar");
        fs::write(&rootfs, layer("f", b"x")).unwrap();
        let id = store.import(&rootfs, "busybox", &[]).unwrap();
        let mut archive = Vec::new();
        store.save(&["busybox".to_string()], &mut archive).unwrap();

        let mut manifest = None;
        let mut index = None;
        for entry in tar::Archive::new(archive.as_slice()).entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            let mut body = String::new();
            if name.ends_with(".json") {
                entry.read_to_string(&mut body).unwrap();
            }
            match name.as_str() {
                "manifest.json" => manifest = Some(serde_json::from_str::<Value>(&body).unwrap()),
                "index.json" => index = Some(serde_json::from_str::<Value>(&body).unwrap()),
                _ => {}
            }
        }
        let manifest = manifest.unwrap();
        assert_eq!(manifest[0]["Config"], format!("blobs/sha256/{}", &id[7..]));
        assert_eq!(manifest[0]["RepoTags"], json!(["busybox:latest"]));
        assert!(manifest[0]["Layers"][0]
            .as_str()
            .unwrap()
            .starts_with("blobs/sha256/"));
        let annotations = &index.unwrap()["manifests"][0]["annotations"];
        assert_eq!(
            annotations[CONTAINERD_NAME_ANNOTATION],
            "docker.io/library/busybox:latest"
        );
        assert_eq!(annotations[ANNOTATION_REF_NAME], "latest");
    }
}
