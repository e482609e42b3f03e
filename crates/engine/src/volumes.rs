//! Volumes and the user's mounts: `-v`, `--mount`, `--tmpfs` and the
//! image's `VOLUME`s, parsed the way Docker parses them, and the local
//! volume store (`ROOT/volumes/<name>/_data`, as Docker lays it out).
//!
//! Parsing lives here, not in the CLI, so that the Docker API server gets
//! the same rules from `HostConfig.Binds`/`Mounts`/`Tmpfs`.

use crate::ids::now_rfc3339;
use crate::{io_err, Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

/// What a mount point is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    Bind,
    Volume,
    Tmpfs,
}

/// One of a container's mounts, fixed at create (Docker's `MountPoint`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPoint {
    #[serde(rename = "Type")]
    pub kind: MountType,
    /// The volume's name (volumes only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The host path: a bind's source, a volume's data directory.
    #[serde(default)]
    pub source: PathBuf,
    pub destination: String,
    #[serde(default)]
    pub read_only: bool,
    /// `rprivate`, `rshared`, ... (binds).
    #[serde(default)]
    pub propagation: String,
    /// tmpfs data options (`size=`, `mode=`) and flags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// Fill an empty volume from the image on first use.
    #[serde(default)]
    pub copy_up: bool,
    /// An anonymous volume (removed by `rm -v`).
    #[serde(default)]
    pub anonymous: bool,
    /// `-v` spelling, for `HostConfig.Binds`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub spec: String,
}

impl MountPoint {
    /// Whether the container reaches it through a host path (binds and
    /// volumes; a VM gets these as shares).
    pub fn is_shared(&self) -> bool {
        self.kind != MountType::Tmpfs
    }

    /// The spec's mount options for this mount point.
    pub(crate) fn oci_options(&self) -> Vec<String> {
        let mut o = Vec::new();
        match self.kind {
            MountType::Tmpfs => o.extend(self.options.iter().cloned()),
            _ => {
                o.push("rbind".to_string());
                o.push(self.propagation.clone());
            }
        }
        if self.read_only {
            o.push("ro".into());
        }
        o
    }
}

/// A mount the user asked for, before volumes are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountRequest {
    pub point: MountPoint,
    /// A `-v` bind whose missing host directory Docker creates.
    create_source: bool,
}

impl MountRequest {
    pub(crate) fn create_source(&self) -> bool {
        self.create_source
    }
}

const PROPAGATIONS: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];

fn invalid(spec: &str, why: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("invalid mount {spec:?}: {why}"))
}

/// A container path: absolute, not `/`, no `..`.
fn destination(spec: &str, d: &str) -> Result<String> {
    let p = Path::new(d);
    if !p.is_absolute() {
        return Err(invalid(
            spec,
            format!("the container path {d:?} must be absolute"),
        ));
    }
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(invalid(
            spec,
            format!("the container path {d:?} must not contain '..'"),
        ));
    }
    let clean: PathBuf = p.components().collect();
    if clean == Path::new("/") {
        return Err(invalid(spec, "the container path must not be '/'"));
    }
    Ok(clean.display().to_string())
}

/// Docker's volume name rule.
pub fn validate_volume_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid volume name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed; to mount a host directory, give an absolute path"
        )))
    }
}

/// `-v [SRC:]DST[:OPTS]`.
pub fn parse_volume_flag(spec: &str) -> Result<MountRequest> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [dst] => (None, *dst, None),
        [a, b] if b.starts_with('/') => (Some(*a), *b, None),
        [dst, opts] => (None, *dst, Some(*opts)),
        [src, dst, opts] => (Some(*src), *dst, Some(*opts)),
        _ => return Err(invalid(spec, "use -v [SOURCE:]DESTINATION[:OPTIONS]")),
    };
    if src == Some("") || dst.is_empty() {
        return Err(invalid(spec, "use -v [SOURCE:]DESTINATION[:OPTIONS]"));
    }
    let destination = destination(spec, dst)?;
    let mut point = MountPoint {
        kind: MountType::Volume,
        name: String::new(),
        source: PathBuf::new(),
        destination,
        read_only: false,
        propagation: "rprivate".into(),
        options: Vec::new(),
        copy_up: true,
        anonymous: false,
        spec: spec.to_string(),
    };
    let mut create_source = false;
    match src {
        Some(s) if s.starts_with('/') => {
            point.kind = MountType::Bind;
            point.source = PathBuf::from(s);
            point.copy_up = false;
            create_source = true;
        }
        Some(s) => {
            validate_volume_name(s)?;
            point.name = s.to_string();
        }
        None => point.anonymous = true,
    }
    let mut seen_mode = false;
    for o in opts.unwrap_or("").split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" | "rw" if !seen_mode => {
                seen_mode = true;
                point.read_only = o == "ro";
            }
            "z" | "Z" => {}
            "nocopy" => point.copy_up = false,
            p if PROPAGATIONS.contains(&p) && point.kind == MountType::Bind => {
                point.propagation = p.to_string()
            }
            other => {
                return Err(invalid(
                    spec,
                    format!("unknown option {other:?} (use ro, rw, z, Z, nocopy or a propagation such as rprivate)"),
                ))
            }
        }
    }
    Ok(MountRequest {
        point,
        create_source,
    })
}

fn parse_bool(spec: &str, key: &str, v: Option<&str>) -> Result<bool> {
    match v {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(other) => Err(invalid(spec, format!("{key}={other}: use true or false"))),
    }
}

/// Sizes as Docker's `tmpfs-size` takes them: bytes or a k/m/g suffix.
fn parse_size(spec: &str, v: &str) -> Result<u64> {
    let lower = v.to_ascii_lowercase();
    let (num, mult) = match lower.trim_end_matches('b').chars().last() {
        Some('k') => (&lower[..lower.trim_end_matches('b').len() - 1], 1u64 << 10),
        Some('m') => (&lower[..lower.trim_end_matches('b').len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.trim_end_matches('b').len() - 1], 1 << 30),
        _ => (lower.trim_end_matches('b'), 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .filter(|n| *n > 0)
        .ok_or_else(|| invalid(spec, format!("size {v:?}: use bytes or a k, m or g suffix")))
}

fn parse_mode(spec: &str, v: &str) -> Result<u32> {
    u32::from_str_radix(v, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| invalid(spec, format!("mode {v:?}: use octal, e.g. 1777")))
}

/// `--mount type=bind|volume|tmpfs,source=,target=,...`.
pub fn parse_mount_flag(spec: &str) -> Result<MountRequest> {
    let mut kind = MountType::Volume;
    let mut source = None;
    let mut target = None;
    let mut read_only = false;
    let mut propagation = None;
    let mut nocopy = false;
    let mut size = None;
    let mut mode = None;
    for field in spec.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        let need = |v: Option<&str>| {
            v.filter(|v| !v.is_empty())
                .ok_or_else(|| invalid(spec, format!("{k} needs a value")))
                .map(str::to_string)
        };
        match k.as_str() {
            "type" => {
                kind = match v {
                    Some("bind") => MountType::Bind,
                    Some("volume") => MountType::Volume,
                    Some("tmpfs") => MountType::Tmpfs,
                    other => {
                        return Err(invalid(
                            spec,
                            format!("type {:?}: use bind, volume or tmpfs", other.unwrap_or("")),
                        ))
                    }
                }
            }
            "source" | "src" => source = Some(need(v)?),
            "destination" | "dst" | "target" => target = Some(need(v)?),
            "readonly" | "ro" => read_only = parse_bool(spec, &k, v)?,
            "bind-propagation" => {
                let p = need(v)?;
                if !PROPAGATIONS.contains(&p.as_str()) {
                    return Err(invalid(
                        spec,
                        format!(
                            "bind-propagation {p:?}: use one of {}",
                            PROPAGATIONS.join(", ")
                        ),
                    ));
                }
                propagation = Some(p);
            }
            "volume-nocopy" => nocopy = parse_bool(spec, &k, v)?,
            "tmpfs-size" => size = Some(parse_size(spec, &need(v)?)?),
            "tmpfs-mode" => mode = Some(parse_mode(spec, &need(v)?)?),
            "consistency" | "bind-nonrecursive" => {}
            other => return Err(invalid(spec, format!("unknown field {other:?}"))),
        }
    }
    let target = target.ok_or_else(|| invalid(spec, "target= is required"))?;
    let destination = destination(spec, &target)?;
    let mut point = MountPoint {
        kind,
        name: String::new(),
        source: PathBuf::new(),
        destination,
        read_only,
        propagation: propagation.clone().unwrap_or_else(|| "rprivate".into()),
        options: Vec::new(),
        copy_up: !nocopy,
        anonymous: false,
        spec: String::new(),
    };
    let misplaced = |what: &str| {
        invalid(
            spec,
            format!("{what} does not apply to type={kind:?}").to_lowercase(),
        )
    };
    match kind {
        MountType::Bind => {
            let s = source.ok_or_else(|| invalid(spec, "source= is required for a bind"))?;
            if !s.starts_with('/') {
                return Err(invalid(
                    spec,
                    format!("bind source {s:?} must be an absolute path"),
                ));
            }
            // Unlike -v, --mount never creates the source (Docker's rule).
            if std::fs::symlink_metadata(&s).is_err() {
                return Err(invalid(
                    spec,
                    format!("bind source path does not exist: {s}"),
                ));
            }
            if size.is_some() || mode.is_some() {
                return Err(misplaced("tmpfs-size/tmpfs-mode"));
            }
            point.source = PathBuf::from(s);
            point.copy_up = false;
        }
        MountType::Volume => {
            if propagation.is_some() || size.is_some() || mode.is_some() {
                return Err(misplaced("bind-propagation/tmpfs-size/tmpfs-mode"));
            }
            match source {
                Some(s) => {
                    validate_volume_name(&s)?;
                    point.name = s;
                }
                None => point.anonymous = true,
            }
        }
        MountType::Tmpfs => {
            if source.is_some() || propagation.is_some() {
                return Err(misplaced("source/bind-propagation"));
            }
            point.copy_up = false;
            point.propagation.clear();
            point.options = vec!["nosuid".into(), "nodev".into()];
            if let Some(s) = size {
                point.options.push(format!("size={s}"));
            }
            point
                .options
                .push(format!("mode={:o}", mode.unwrap_or(0o1777)));
        }
    }
    Ok(MountRequest {
        point,
        create_source: false,
    })
}

/// `--tmpfs /path[:opts]` (Docker's defaults: noexec, nosuid, nodev).
pub fn parse_tmpfs_flag(spec: &str) -> Result<MountRequest> {
    let (dst, opts) = spec.split_once(':').unwrap_or((spec, ""));
    let destination = destination(spec, dst)?;
    let mut flags: BTreeMap<&str, bool> =
        [("noexec", true), ("nosuid", true), ("nodev", true)].into();
    let mut data = Vec::new();
    let mut read_only = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => read_only = true,
            "rw" => read_only = false,
            "exec" | "suid" | "dev" => {
                flags.insert(
                    match o {
                        "exec" => "noexec",
                        "suid" => "nosuid",
                        _ => "nodev",
                    },
                    false,
                );
            }
            "noexec" | "nosuid" | "nodev" => {
                flags.insert(o, true);
            }
            o if o.starts_with("size=") => {
                data.push(format!("size={}", parse_size(spec, &o[5..])?))
            }
            o if o.starts_with("mode=") => {
                data.push(format!("mode={:o}", parse_mode(spec, &o[5..])?))
            }
            o if o.starts_with("uid=") || o.starts_with("gid=") || o.starts_with("nr_inodes=") => {
                data.push(o.to_string())
            }
            other => {
                return Err(invalid(
                    spec,
                    format!("unknown tmpfs option {other:?} (use size=, mode=, ro, exec, ...)"),
                ))
            }
        }
    }
    let mut options: Vec<String> = flags
        .iter()
        .filter(|(_, on)| **on)
        .map(|(k, _)| k.to_string())
        .collect();
    options.extend(data);
    Ok(MountRequest {
        point: MountPoint {
            kind: MountType::Tmpfs,
            name: String::new(),
            source: PathBuf::new(),
            destination,
            read_only,
            propagation: String::new(),
            options,
            copy_up: false,
            anonymous: false,
            spec: spec.to_string(),
        },
        create_source: false,
    })
}

/// The user's mounts plus anonymous volumes for the image's `VOLUME`s that
/// no user mount covers, sorted parents first; refuses two mounts on one
/// destination.
pub fn plan(requests: Vec<MountRequest>, image_volumes: &[String]) -> Result<Vec<MountRequest>> {
    let mut out: Vec<MountRequest> = Vec::new();
    for r in requests {
        if out
            .iter()
            .any(|o| o.point.destination == r.point.destination)
        {
            return Err(Error::Invalid(format!(
                "duplicate mount point: {} is the destination of two mounts; give each mount its own path",
                r.point.destination
            )));
        }
        out.push(r);
    }
    for v in image_volumes {
        let Ok(d) = destination(v, v) else { continue };
        if out.iter().any(|o| o.point.destination == d) {
            continue;
        }
        out.push(MountRequest {
            point: MountPoint {
                kind: MountType::Volume,
                name: String::new(),
                source: PathBuf::new(),
                destination: d,
                read_only: false,
                propagation: "rprivate".into(),
                options: Vec::new(),
                copy_up: true,
                anonymous: true,
                spec: String::new(),
            },
            create_source: false,
        });
    }
    out.sort_by_key(|r| Path::new(&r.point.destination).components().count());
    Ok(out)
}

/// A volume as `volume inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    pub driver: String,
    pub mountpoint: PathBuf,
    pub created_at: String,
    pub labels: BTreeMap<String, String>,
    pub scope: String,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Made for one container (image `VOLUME` or `-v /path`).
    #[serde(default, skip_serializing)]
    pub anonymous: bool,
}

/// The local volume store.
pub struct Volumes {
    dir: PathBuf,
}

const META: &str = "volume.json";
const DATA: &str = "_data";

impl Volumes {
    pub(crate) fn new(root: &Path) -> Volumes {
        Volumes {
            dir: root.join("volumes"),
        }
    }

    /// Serialises volume creation and removal against container creation.
    pub(crate) fn lock(&self) -> Result<nix::fcntl::Flock<std::fs::File>> {
        crate::store::secure_dir(&self.dir, crate::store::PRIVATE_DIR)?;
        crate::store::lock_file(&self.dir.join(".lock"))
    }

    pub fn get(&self, name: &str) -> Result<Volume> {
        validate_volume_name(name)?;
        let meta = self.dir.join(name).join(META);
        let data = std::fs::read(&meta).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::NotFound(format!(
                    "no such volume: {name}: list volumes with 'isola volume ls'"
                ))
            } else {
                io_err(format!("reading {}", meta.display()))(e)
            }
        })?;
        serde_json::from_slice(&data)
            .map_err(|e| Error::Invalid(format!("{}: {e}", meta.display())))
    }

    /// Creates volume `name` (a random one if `None`); an existing volume
    /// of that name is returned as it is, as Docker does. Returns whether
    /// it was created. Needs [`Volumes::lock`].
    pub(crate) fn create_locked(
        &self,
        name: Option<&str>,
        labels: BTreeMap<String, String>,
    ) -> Result<(Volume, bool)> {
        let (name, anonymous) = match name {
            Some(n) => {
                validate_volume_name(n)?;
                if let Ok(v) = self.get(n) {
                    return Ok((v, false));
                }
                (n.to_string(), false)
            }
            None => (crate::ids::new_id(), true),
        };
        let dir = self.dir.join(&name);
        let staging = self.dir.join(format!(".new-{name}"));
        let _ = std::fs::remove_dir_all(&staging);
        let vol = Volume {
            name: name.clone(),
            driver: "local".into(),
            mountpoint: dir.join(DATA),
            created_at: now_rfc3339(),
            labels,
            scope: "local".into(),
            options: BTreeMap::new(),
            anonymous,
        };
        let made = (|| {
            crate::store::secure_dir(&staging, crate::store::PRIVATE_DIR)?;
            // The data directory is what containers see: root's 0755, as
            // Docker makes it (copy-up then takes the image's mode).
            std::fs::create_dir(staging.join(DATA)).map_err(io_err("creating the volume"))?;
            let mut meta = serde_json::to_value(&vol).expect("volume serializes");
            meta["Anonymous"] = serde_json::json!(anonymous);
            crate::store::write_json_atomic(&staging.join(META), &meta)?;
            std::fs::rename(&staging, &dir).map_err(io_err("creating the volume"))
        })();
        if made.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        made.map(|()| (vol, true))
    }

    pub fn list(&self) -> Vec<Volume> {
        let mut out: Vec<Volume> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                if name.starts_with('.') {
                    return None;
                }
                let mut v = self.get(&name).ok()?;
                v.anonymous = std::fs::read(e.path().join(META))
                    .ok()
                    .and_then(|d| serde_json::from_slice::<serde_json::Value>(&d).ok())
                    .is_some_and(|j| j["Anonymous"] == true);
                Some(v)
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Deletes a volume's directory (the caller checked it is unused).
    /// It is renamed away first, so a failure half-way never leaves a
    /// volume that looks whole but lost data.
    pub(crate) fn delete_locked(&self, name: &str) -> Result<()> {
        let dir = self.dir.join(name);
        let doomed = self.dir.join(format!(".rm-{name}"));
        std::fs::rename(&dir, &doomed).map_err(io_err(format!("removing volume {name}")))?;
        std::fs::remove_dir_all(&doomed).map_err(io_err(format!("removing volume {name}")))
    }
}

impl crate::Engine {
    /// `volume create [--label K=V] [NAME]`.
    pub fn volume_create(&self, name: Option<&str>, labels: &[String]) -> Result<Volume> {
        let labels = crate::ids::parse_labels(labels)?;
        let _lock = self.volumes.lock()?;
        let (v, new) = self.volumes.create_locked(name, labels)?;
        if new {
            self.object_event("volume", "create", &v.name, "");
        }
        Ok(v)
    }

    pub fn volume_list(&self) -> Vec<Volume> {
        self.volumes.list()
    }

    pub fn volume_inspect(&self, name: &str) -> Result<Volume> {
        self.volumes.get(name)
    }

    /// The containers (names) that mount volume `name`.
    fn volume_users(&self, name: &str) -> Result<Vec<String>> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|c| {
                c.config
                    .mounts
                    .iter()
                    .any(|m| m.kind == MountType::Volume && m.name == name)
            })
            .map(|c| c.name().to_string())
            .collect())
    }

    /// `volume rm`: refused while a container (running or not) uses it.
    pub fn volume_remove(&self, name: &str) -> Result<()> {
        let _lock = self.volumes.lock()?;
        self.volumes.get(name)?;
        let users = self.volume_users(name)?;
        if !users.is_empty() {
            return Err(Error::Conflict(format!(
                "volume {name} is in use by container {}: remove the container first",
                users.join(", ")
            )));
        }
        self.volumes.delete_locked(name)?;
        self.object_event("volume", "destroy", name, "");
        Ok(())
    }

    /// `volume prune [-a]`: unused anonymous volumes (all unused with
    /// `all`, as Docker 23+ does). Returns the names removed.
    pub fn volume_prune(&self, all: bool) -> Result<Vec<String>> {
        let _lock = self.volumes.lock()?;
        let mut removed = Vec::new();
        for v in self.volumes.list() {
            if (all || v.anonymous) && self.volume_users(&v.name)?.is_empty() {
                self.volumes.delete_locked(&v.name)?;
                self.object_event("volume", "destroy", &v.name, "");
                removed.push(v.name);
            }
        }
        Ok(removed)
    }

    /// Removes the anonymous volumes of a deleted container that no other
    /// container uses (`rm -v`, `--rm`).
    pub(crate) fn drop_anonymous_volumes(&self, c: &crate::Container) {
        let Ok(_lock) = self.volumes.lock() else {
            return;
        };
        for m in c.config.mounts.iter().filter(|m| m.anonymous) {
            if self.volume_users(&m.name).is_ok_and(|u| u.is_empty()) {
                let _ = self.volumes.delete_locked(&m.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dash_v_reads_as_docker() {
        let b = parse_volume_flag("/srv/data:/data:ro,rslave")
            .unwrap()
            .point;
        assert_eq!(b.kind, MountType::Bind);
        assert_eq!(b.source, PathBuf::from("/srv/data"));
        assert!(b.read_only);
        assert_eq!(b.propagation, "rslave");
        let v = parse_volume_flag("cache:/var/cache").unwrap().point;
        assert_eq!((v.kind, v.name.as_str()), (MountType::Volume, "cache"));
        assert!(v.copy_up);
        let a = parse_volume_flag("/scratch").unwrap().point;
        assert!(a.anonymous);
        for (bad, needle) in [
            ("a/b:/x", "invalid volume name"),
            ("vol:/x:ro,readonly", "unknown option \"readonly\""),
            ("vol:/x:r0", "unknown option \"r0\""),
            ("vol:relative", "must be absolute"),
            ("vol:/", "must not be '/'"),
            ("vol:/a/../b", "'..'"),
            ("./here:/x", "invalid volume name"),
        ] {
            let e = parse_volume_flag(bad).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn dash_dash_mount_reads_as_docker() {
        let t = parse_mount_flag("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=700")
            .unwrap()
            .point;
        assert_eq!(
            t.options,
            vec!["nosuid", "nodev", "size=1048576", "mode=700"]
        );
        let v = parse_mount_flag("source=data,target=/d,readonly")
            .unwrap()
            .point;
        assert!(v.read_only && v.name == "data");
        for (bad, needle) in [
            (
                "type=bind,src=/definitely/not/here,dst=/x",
                "does not exist",
            ),
            ("type=nfs,dst=/x", "use bind, volume or tmpfs"),
            ("type=volume,src=a,dst=/x,tmpfs-size=1", "does not apply"),
            ("type=volume,src=a", "target= is required"),
            (
                "type=bind,src=/,dst=/x,bind-propagation=bogus",
                "bind-propagation",
            ),
        ] {
            let e = parse_mount_flag(bad).unwrap_err().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn tmpfs_and_plans() {
        let t = parse_tmpfs_flag("/run:size=64k,exec").unwrap().point;
        assert_eq!(t.options, vec!["nodev", "nosuid", "size=65536"]);
        let plan = plan(
            vec![
                parse_volume_flag("v:/a/b").unwrap(),
                parse_volume_flag("/h:/a").unwrap(),
            ],
            &["/a/b".into(), "/data".into()],
        )
        .unwrap();
        let dests: Vec<_> = plan.iter().map(|r| r.point.destination.as_str()).collect();
        assert_eq!(dests, vec!["/a", "/data", "/a/b"]);
        assert!(plan[1].point.anonymous);
        let e = super::plan(
            vec![
                parse_volume_flag("v:/a").unwrap(),
                parse_tmpfs_flag("/a").unwrap(),
            ],
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("duplicate mount point"), "{e}");
    }
}
