//! Disk usage and cleanup: `system df`, `container prune`, `image prune`,
//! `system prune`, and `history`. Nothing in use is ever removed: prunes
//! go through the same checks as `rm`, `rmi` and `volume rm`.

use crate::store::{Container, Status};
use crate::{Engine, Error, Result};
use std::collections::BTreeMap;
use std::path::Path;

/// Bytes of the regular files under `path`, symlinks not followed, each
/// hard-linked inode counted once.
pub fn dir_size(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&p) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        } else if meta.is_file() && seen.insert((meta.dev(), meta.ino())) {
            total += meta.len();
        }
    }
    total
}

/// What a prune removed.
#[derive(Debug, Clone, Default)]
pub struct Pruned {
    /// Docker's lines: container ids, "Deleted: sha256:…", volume names.
    pub removed: Vec<String>,
    pub reclaimed: u64,
}

/// `--filter until=` and `label=`/`label!=` of the prunes.
#[derive(Debug, Default)]
pub struct PruneFilter {
    until: Option<i64>,
    labels: Vec<(String, Option<String>, bool)>,
}

impl PruneFilter {
    pub fn parse(items: &[String]) -> Result<PruneFilter> {
        let mut f = PruneFilter::default();
        for item in items {
            let (k, v) = item.split_once('=').ok_or_else(|| {
                Error::Invalid(format!("bad format of filter {item:?}: use KEY=VALUE"))
            })?;
            match k {
                "until" => f.until = Some(crate::events::parse_time(v)?),
                "label" | "label!" => {
                    let (lk, lv) = match v.split_once('=') {
                        Some((a, b)) => (a.to_string(), Some(b.to_string())),
                        None => (v.to_string(), None),
                    };
                    f.labels.push((lk, lv, k == "label"));
                }
                _ => {
                    return Err(Error::Invalid(format!(
                        "invalid filter '{k}': prune takes until and label"
                    )))
                }
            }
        }
        Ok(f)
    }

    /// Whether something created at `created` (RFC 3339) with `labels` is kept
    /// for pruning.
    fn matches(&self, created: &str, labels: &BTreeMap<String, String>) -> bool {
        if let Some(until) = self.until {
            let t = humantime::parse_rfc3339_weak(created)
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos() as i64);
            if t > until {
                return false;
            }
        }
        self.labels.iter().all(|(k, v, want)| {
            let has = match v {
                Some(v) => labels.get(k) == Some(v),
                None => labels.contains_key(k),
            };
            has == *want
        })
    }
}

/// One layer of `history`, newest first, as Docker's `HistoryResponseItem`.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryItem {
    /// The image id on the top entry, `<missing>` below (as Docker shows
    /// for layers that are not images of their own).
    pub id: String,
    /// Seconds since the epoch (0 unknown).
    pub created: i64,
    pub created_by: String,
    pub size: u64,
    pub comment: String,
    pub tags: Vec<String>,
}

/// `system df`'s summary of one kind of object.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DiskUsageRow {
    pub total: usize,
    pub active: usize,
    pub size: u64,
    pub reclaimable: u64,
}

impl DiskUsageRow {
    /// Counts one object of `size` bytes, in use or reclaimable.
    fn count(&mut self, size: u64, active: bool) {
        self.total += 1;
        self.size += size;
        if active {
            self.active += 1;
        } else {
            self.reclaimable += size;
        }
    }
}

/// `system df`.
#[derive(Debug, Clone, Default)]
pub struct DiskUsage {
    pub images: DiskUsageRow,
    pub containers: DiskUsageRow,
    pub volumes: DiskUsageRow,
    /// `-v`: (repository:tag, id, size, containers using it).
    pub image_rows: Vec<(String, String, u64, usize)>,
    /// `-v`: (name, id, image, size of its writable layer, status).
    pub container_rows: Vec<(String, String, String, u64, String)>,
    /// `-v`: (name, containers using it, size).
    pub volume_rows: Vec<(String, usize, u64)>,
}

fn stopped(c: &Container) -> bool {
    matches!(
        c.state.status,
        Status::Exited | Status::Created | Status::Dead
    )
}

/// The writable layer of a container (process mode: `upper/`; VM mode:
/// the upper disk image, both in its directory).
fn container_size(c: &Container) -> u64 {
    dir_size(&c.dir.join("upper"))
        + std::fs::metadata(c.dir.join("upper.ext4")).map_or(0, |m| {
            use std::os::unix::fs::MetadataExt;
            m.blocks() * 512 // sparse: what it takes on disk
        })
}

impl Engine {
    /// `container prune`: every stopped container the filter selects.
    pub fn container_prune(&self, filter: &PruneFilter) -> Result<Pruned> {
        let mut out = Pruned::default();
        for c in self.list()? {
            if !stopped(&c) || !filter.matches(&c.config.created, &c.config.config.labels) {
                continue;
            }
            let size = container_size(&c);
            if self.remove(&c, false, false).is_ok() {
                out.removed.push(c.id().to_string());
                out.reclaimed += size;
            }
        }
        Ok(out)
    }

    /// `image prune`: dangling images (untagged), or with `all` every
    /// image no container uses. Images in use are never removed.
    pub fn image_prune(&self, all: bool, filter: &PruneFilter) -> Result<Pruned> {
        let containers = self.list()?;
        let in_use = |id: &str| containers.iter().any(|c| c.config.image_id == id);
        let mut out = Pruned::default();
        let mut seen = std::collections::HashSet::new();
        let images = self.images.list()?;
        for img in &images {
            if !seen.insert(img.id.clone()) || in_use(&img.id) {
                continue;
            }
            let tagged = images.iter().any(|i| i.id == img.id && i.tag != "<none>");
            if tagged && !all {
                continue;
            }
            let created = img
                .created
                .map(|t| humantime::format_rfc3339(t).to_string())
                .unwrap_or_default();
            let labels = self
                .images
                .raw_config(&img.id)
                .ok()
                .and_then(|v| serde_json::from_value(v["config"]["Labels"].clone()).ok())
                .unwrap_or_default();
            if !filter.matches(&created, &labels) {
                continue;
            }
            let before = self.images_bytes();
            if let Ok(lines) = self.images.remove(&img.id, true, &in_use) {
                for l in &lines {
                    let (action, what) = l.split_once(": ").unwrap_or(("", l));
                    let action = if action == "Untagged" {
                        "untag"
                    } else {
                        "delete"
                    };
                    self.object_event("image", action, what, what);
                }
                out.removed.extend(lines);
                out.reclaimed += before.saturating_sub(self.images_bytes());
            }
        }
        Ok(out)
    }

    /// Bytes the image store takes.
    fn images_bytes(&self) -> u64 {
        dir_size(&self.root.join("images"))
    }

    /// `volume prune` with sizes (`system prune --volumes`).
    pub fn volume_prune_sized(&self, all: bool) -> Result<Pruned> {
        let sizes: BTreeMap<String, u64> = self
            .volume_list()
            .into_iter()
            .map(|v| (v.name.clone(), dir_size(&v.mountpoint)))
            .collect();
        let removed = self.volume_prune(all)?;
        let reclaimed = removed.iter().filter_map(|n| sizes.get(n)).sum();
        Ok(Pruned { removed, reclaimed })
    }

    /// `system df`.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let containers = self.list()?;
        let mut du = DiskUsage::default();
        let mut by_id: BTreeMap<String, (u64, Vec<String>)> = BTreeMap::new();
        for img in self.images.list()? {
            let e = by_id
                .entry(img.id.clone())
                .or_insert((img.size, Vec::new()));
            e.1.push(format!("{}:{}", img.repository, img.tag));
        }
        for (id, (size, names)) in &by_id {
            let users = containers
                .iter()
                .filter(|c| c.config.image_id == *id)
                .count();
            du.images.count(*size, users > 0);
            du.image_rows
                .push((names.join(", "), id.clone(), *size, users));
        }
        for c in &containers {
            let size = container_size(c);
            du.containers.count(size, !stopped(c));
            du.container_rows.push((
                c.name().to_string(),
                c.id().to_string(),
                c.config.config.image.clone(),
                size,
                c.status_name().to_string(),
            ));
        }
        for v in self.volume_list() {
            let users = containers
                .iter()
                .filter(|c| c.config.mounts.iter().any(|m| m.name == v.name))
                .count();
            let size = dir_size(&v.mountpoint);
            du.volumes.count(size, users > 0);
            du.volume_rows.push((v.name.clone(), users, size));
        }
        Ok(du)
    }

    /// `history IMAGE`: the image config's history, newest first, with
    /// each layer's unpacked size on the entry that made it.
    pub fn history(&self, reference: &str) -> Result<Vec<HistoryItem>> {
        let image = self.images.resolve(reference)?;
        let config = self.images.raw_config(&image.id)?;
        let mut layers = image.layers.iter();
        let mut items = Vec::new();
        let entries = config["history"].as_array().cloned().unwrap_or_default();
        for h in &entries {
            let empty = h["empty_layer"].as_bool().unwrap_or(false);
            let size = if empty {
                0
            } else {
                layers.next().map_or(0, |l| dir_size(l))
            };
            let created = h["created"]
                .as_str()
                .and_then(|c| humantime::parse_rfc3339_weak(c).ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as i64);
            items.push(HistoryItem {
                id: "<missing>".into(),
                created,
                created_by: h["created_by"].as_str().unwrap_or_default().to_string(),
                size,
                comment: h["comment"].as_str().unwrap_or_default().to_string(),
                tags: Vec::new(),
            });
        }
        // An image without history (imported by an older tool) still has
        // its layers: one entry each, as Docker shows for them.
        if entries.is_empty() {
            let created = config["created"]
                .as_str()
                .and_then(|c| humantime::parse_rfc3339_weak(c).ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_secs() as i64);
            for l in &image.layers {
                items.push(HistoryItem {
                    id: "<missing>".into(),
                    created,
                    size: dir_size(l),
                    ..HistoryItem::default()
                });
            }
        }
        items.reverse();
        if let Some(top) = items.first_mut() {
            top.id = image.id.clone();
            top.tags = image.repo_tags.clone();
        }
        Ok(items)
    }
}
