//! `repositories.json`: which names and which images exist.
//!
//! `references` maps each normalized reference to its image's manifest
//! digest; `images` maps every image id (config digest) to its manifest
//! digest, so untagged images stay known. Each image has exactly one
//! manifest: the first one stored wins. The file is replaced atomically and
//! only changed under the store lock.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::digest::{id_prefix, SHA256};
use crate::error::{to_json, Error, IoContext, Result};
use crate::reference::normalize_reference;
use crate::staging::sync_dir;

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Repositories {
    /// Normalized reference ("busybox:latest") -> manifest digest.
    #[serde(default)]
    pub(crate) references: BTreeMap<String, String>,
    /// Image id ("sha256:…" config digest) -> manifest digest.
    #[serde(default)]
    pub(crate) images: BTreeMap<String, String>,
    /// Image id -> "name@sha256:…" digests it was pulled by (Docker's
    /// RepoDigests), so digest-pinned references resolve offline.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) repo_digests: BTreeMap<String, BTreeSet<String>>,
}

/// An image a user-supplied reference resolved to.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    pub(crate) id: String,
    pub(crate) manifest: String,
    /// The normalized tag when the reference was a name rather than an id.
    pub(crate) tag: Option<String>,
}

impl Repositories {
    pub(crate) fn load(path: &Path) -> Result<Repositories> {
        match fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Corrupt(format!("{} is not valid ({e})", path.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Repositories::default()),
            Err(e) => Err(e).context(|| format!("reading {}", path.display())),
        }
    }

    /// Writes a temp file, fsyncs it and renames it over `path`, so readers
    /// and crashes only ever see the old or the new complete file.
    pub(crate) fn save(&self, path: &Path) -> Result<()> {
        let bytes = to_json("the image list", self)?;
        let tmp = path.with_extension("json.tmp");
        let dir = path.parent().unwrap_or(Path::new("."));
        File::create(&tmp)
            .and_then(|mut file| {
                file.write_all(&bytes)?;
                file.sync_all()
            })
            .and_then(|()| fs::rename(&tmp, path))
            .and_then(|()| sync_dir(dir))
            .context(|| format!("writing {}", path.display()))
    }

    /// All tags of image `id`, sorted.
    pub(crate) fn tags(&self, id: &str) -> Vec<String> {
        let Some(manifest) = self.images.get(id) else {
            return Vec::new();
        };
        self.references
            .iter()
            .filter(|(_, m)| *m == manifest)
            .map(|(reference, _)| reference.clone())
            .collect()
    }

    /// Records an image unless its id is already known; returns the
    /// manifest digest the image is stored under.
    pub(crate) fn add_image(&mut self, id: &str, manifest: String) -> String {
        self.images
            .entry(id.to_string())
            .or_insert(manifest)
            .clone()
    }

    /// Points `reference` (normalized) at image `id`, moving the tag if it
    /// named another image.
    pub(crate) fn set_tag(&mut self, reference: String, id: &str) {
        if let Some(manifest) = self.images.get(id) {
            self.references.insert(reference, manifest.clone());
        }
    }

    /// Resolves a name, full id or unique id prefix. A bare hex string is
    /// first tried as a name, as Docker does.
    pub(crate) fn find(&self, reference: &str) -> Result<Found> {
        if reference.contains('@') {
            return self.find_repo_digest(reference);
        }
        match id_prefix(reference) {
            Some((hex, true)) => self.find_id(reference, hex),
            Some((hex, false)) => match normalize_reference(reference) {
                Ok(name) => match self.find_name(name)? {
                    Some(found) => Ok(found),
                    None => self.find_id(reference, hex),
                },
                Err(_) => self.find_id(reference, hex),
            },
            None => self
                .find_name(normalize_reference(reference)?)?
                .ok_or_else(|| Error::NotFound(reference.to_string())),
        }
    }

    /// Resolves "name@sha256:…" through the recorded repo digests.
    fn find_repo_digest(&self, reference: &str) -> Result<Found> {
        let wanted = normalize_repo_digest(reference)?;
        self.repo_digests
            .iter()
            .find(|(_, digests)| digests.contains(&wanted))
            .and_then(|(id, _)| {
                self.images.get(id).map(|manifest| Found {
                    id: id.clone(),
                    manifest: manifest.clone(),
                    tag: None,
                })
            })
            .ok_or_else(|| Error::NotFound(reference.to_string()))
    }

    /// Records that image `id` was pulled as `repo_digest` ("name@sha256:…").
    pub(crate) fn add_repo_digest(&mut self, id: &str, repo_digest: &str) -> Result<()> {
        let normalized = normalize_repo_digest(repo_digest)?;
        self.repo_digests
            .entry(id.to_string())
            .or_default()
            .insert(normalized);
        Ok(())
    }

    /// The repo digests of image `id`.
    pub(crate) fn digests(&self, id: &str) -> Vec<String> {
        self.repo_digests
            .get(id)
            .map(|d| d.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn find_name(&self, name: String) -> Result<Option<Found>> {
        let Some(manifest) = self.references.get(&name) else {
            return Ok(None);
        };
        let id = self
            .images
            .iter()
            .find(|(_, m)| *m == manifest)
            .map(|(id, _)| id.clone())
            .ok_or_else(|| {
                Error::Corrupt(format!(
                    "tag {name:?} points at unknown manifest {manifest}"
                ))
            })?;
        Ok(Some(Found {
            id,
            manifest: manifest.clone(),
            tag: Some(name),
        }))
    }

    fn find_id(&self, reference: &str, hex: &str) -> Result<Found> {
        let mut matches = self
            .images
            .iter()
            .filter(|(id, _)| id.strip_prefix(SHA256).is_some_and(|h| h.starts_with(hex)));
        match (matches.next(), matches.count()) {
            (None, _) => Err(Error::NotFound(reference.to_string())),
            (Some((id, manifest)), 0) => Ok(Found {
                id: id.clone(),
                manifest: manifest.clone(),
                tag: None,
            }),
            (Some(_), others) => Err(Error::AmbiguousId {
                prefix: reference.to_string(),
                count: others + 1,
            }),
        }
    }
}

/// "docker.io/library/busybox:1@sha256:…" -> "busybox@sha256:…": the
/// familiar name without its tag, then the digest.
pub(crate) fn normalize_repo_digest(reference: &str) -> Result<String> {
    let invalid = |reason| Error::InvalidReference {
        reference: reference.to_string(),
        reason,
    };
    let (name, digest) = reference
        .split_once('@')
        .ok_or(invalid("a digest reference is name@sha256:<64 hex digits>"))?;
    if crate::digest::sha256_hex(digest).is_none() {
        return Err(invalid(
            "the digest after '@' must be sha256: and 64 lowercase hex digits",
        ));
    }
    let normalized = normalize_reference(name)?;
    let (name, _tag) = crate::reference::split_tag(&normalized);
    Ok(format!("{name}@{digest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repos() -> Repositories {
        let mut repos = Repositories::default();
        repos.add_image(&format!("sha256:ab{}", "0".repeat(62)), "sha256:m1".into());
        repos.add_image(&format!("sha256:ac{}", "0".repeat(62)), "sha256:m2".into());
        repos.set_tag(
            "busybox:latest".into(),
            &format!("sha256:ab{}", "0".repeat(62)),
        );
        repos
    }

    #[test]
    fn finds_by_name_full_id_and_unique_prefix() {
        let repos = repos();
        let found = repos.find("busybox").unwrap();
        assert_eq!(
            (found.manifest.as_str(), found.tag.as_deref()),
            ("sha256:m1", Some("busybox:latest"))
        );
        assert_eq!(repos.find("ab").unwrap().manifest, "sha256:m1");
        assert_eq!(repos.find("sha256:ac").unwrap().manifest, "sha256:m2");
        assert_eq!(
            repos
                .find(&format!("sha256:ac{}", "0".repeat(62)))
                .unwrap()
                .manifest,
            "sha256:m2"
        );
        assert!(repos.find("ab").unwrap().tag.is_none());
    }

    #[test]
    fn reports_ambiguous_missing_and_invalid_references() {
        let repos = repos();
        assert!(matches!(
            repos.find("a"),
            Err(Error::AmbiguousId { count: 2, .. })
        ));
        assert!(matches!(
            repos.find("sha256:a"),
            Err(Error::AmbiguousId { .. })
        ));
        assert!(matches!(repos.find("ff"), Err(Error::NotFound(_))));
        assert!(matches!(repos.find("alpine"), Err(Error::NotFound(_))));
        assert!(matches!(
            repos.find("Bad Name"),
            Err(Error::InvalidReference { .. })
        ));
        let err = repos.find("alpine").unwrap_err().to_string();
        assert_eq!(err, "image \"alpine\" not found: list images with 'isola images' or load one with 'isola load'");
    }

    #[test]
    fn finds_by_repo_digest() {
        let mut repos = repos();
        let id = format!("sha256:ab{}", "0".repeat(62));
        let digest = format!("sha256:{}", "1".repeat(64));
        repos
            .add_repo_digest(&id, &format!("docker.io/library/busybox:1@{digest}"))
            .unwrap();
        assert_eq!(repos.digests(&id), [format!("busybox@{digest}")]);
        assert_eq!(repos.find(&format!("busybox@{digest}")).unwrap().id, id);
        assert!(matches!(
            repos.find(&format!("alpine@{digest}")),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            repos.find("busybox@sha256:12"),
            Err(Error::InvalidReference { .. })
        ));
    }

    #[test]
    fn saves_atomically_and_loads_back() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("repositories.json");
        assert!(Repositories::load(&path).unwrap().images.is_empty());
        repos().save(&path).unwrap();
        let loaded = Repositories::load(&path).unwrap();
        assert_eq!(loaded.references, repos().references);
        assert_eq!(
            fs::read_dir(tmp.path()).unwrap().count(),
            1,
            "no temp file left behind"
        );
        assert_eq!(
            loaded.tags(&format!("sha256:ab{}", "0".repeat(62))),
            ["busybox:latest"]
        );
    }
}
