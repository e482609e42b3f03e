//! Mounts the user asked for, beyond Docker's standard set: binds of host
//! files and directories (volumes are binds of their data directory) and
//! tmpfs. [`crate::oci::from_spec`] reads them from the spec's `mounts`;
//! [`mount_all`] makes them inside the container's mount namespace, before
//! pivot_root.

use crate::{Context, Error, Result};
use nix::mount::{mount, MsFlags};
use std::fs;
use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// JSON list of destinations whose (empty) source is filled from the
/// image's content at that path on first use: Docker's volume copy-up.
pub const ANNOTATION_COPY_UP: &str = "org.isola.copy-up";

/// What is mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    /// A host (or, in a VM, guest) file or directory; `recursive` for rbind.
    Bind { source: PathBuf, recursive: bool },
    /// A fresh tmpfs with these data options (`size=`, `mode=`).
    Tmpfs { data: String },
}

/// How a bind's mount events propagate (`bind-propagation=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Private,
    Shared,
    Slave,
}

/// One mount of the user's, in the order the spec lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMount {
    pub destination: String,
    pub kind: MountKind,
    pub readonly: bool,
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
    /// `(propagation, recursive)`; binds default to rprivate.
    pub propagation: (Propagation, bool),
    /// Fill an empty source from the image (see [`ANNOTATION_COPY_UP`]).
    pub copy_up: bool,
    /// Access-time flags (`strictatime`, `noatime`, ...; containerd's
    /// default spec mounts /run with `strictatime`).
    pub atime: MsFlags,
}

impl UserMount {
    /// A mount of `kind` with the defaults: read-write, no flags, rprivate.
    fn new(destination: String, kind: MountKind) -> UserMount {
        UserMount {
            destination,
            kind,
            readonly: false,
            nosuid: false,
            nodev: false,
            noexec: false,
            propagation: (Propagation::Private, true),
            copy_up: false,
            atime: MsFlags::empty(),
        }
    }

    /// A plain bind (the engine's /etc/hosts and friends).
    pub fn bind(source: impl Into<PathBuf>, destination: impl Into<String>) -> UserMount {
        UserMount::new(
            destination.into(),
            MountKind::Bind {
                source: source.into(),
                recursive: false,
            },
        )
    }

    /// Reads the OCI mount options this runtime understands; anything else
    /// is refused by name.
    pub fn from_options(
        destination: String,
        typ: &str,
        source: Option<PathBuf>,
        options: &[String],
    ) -> Result<UserMount> {
        let bind = typ == "bind" || options.iter().any(|o| o == "bind" || o == "rbind");
        let mut m = UserMount::new(
            destination.clone(),
            if bind {
                MountKind::Bind {
                    source: source.ok_or_else(|| {
                        Error::Setup(format!("bind mount of {destination} without a source"))
                    })?,
                    recursive: options.iter().any(|o| o == "rbind"),
                }
            } else if typ == "tmpfs" {
                MountKind::Tmpfs {
                    data: String::new(),
                }
            } else {
                return Err(Error::Setup(format!(
                    "unsupported in the OCI spec: a {typ} mount on {destination}"
                )));
            },
        );
        let mut data = Vec::new();
        for o in options {
            match o.as_str() {
                "bind" | "rbind" | "rw" => {}
                "ro" => m.readonly = true,
                "nosuid" => m.nosuid = true,
                "nodev" => m.nodev = true,
                "noexec" => m.noexec = true,
                "suid" | "dev" | "exec" | "atime" | "norelatime" | "nostrictatime" => {}
                "strictatime" => m.atime |= MsFlags::MS_STRICTATIME,
                "noatime" => m.atime |= MsFlags::MS_NOATIME,
                "relatime" => m.atime |= MsFlags::MS_RELATIME,
                "nodiratime" => m.atime |= MsFlags::MS_NODIRATIME,
                "private" => m.propagation = (Propagation::Private, false),
                "rprivate" => m.propagation = (Propagation::Private, true),
                "shared" => m.propagation = (Propagation::Shared, false),
                "rshared" => m.propagation = (Propagation::Shared, true),
                "slave" => m.propagation = (Propagation::Slave, false),
                "rslave" => m.propagation = (Propagation::Slave, true),
                // SELinux relabelling: nothing to do without SELinux.
                "z" | "Z" => {}
                o if !bind
                    && (o.starts_with("size=")
                        || o.starts_with("mode=")
                        || o.starts_with("nr_inodes=")
                        || o.starts_with("uid=")
                        || o.starts_with("gid=")) =>
                {
                    data.push(o.to_string())
                }
                other => {
                    return Err(Error::Setup(format!(
                        "unsupported in the OCI spec: mount option {other:?} on {destination}"
                    )))
                }
            }
        }
        if let MountKind::Tmpfs { data: d } = &mut m.kind {
            *d = data.join(",");
        }
        Ok(m)
    }
}

/// Makes `mounts` under `root` (the container's root before pivot_root),
/// in order. Targets are resolved by `resolve`, which refuses symlinks.
pub(crate) fn mount_all(
    root: &Path,
    mounts: &[UserMount],
    resolve: impl Fn(&Path, &str, bool) -> Result<PathBuf>,
) -> Result<()> {
    for m in mounts {
        match &m.kind {
            MountKind::Bind { source, recursive } => {
                let meta = fs::metadata(source)
                    .ctx(|| format!("bind source {} for {}", source.display(), m.destination))?;
                let is_dir = meta.is_dir();
                if m.copy_up && is_dir {
                    copy_up(root, &m.destination, source)?;
                }
                let target = resolve(root, &m.destination, is_dir)?;
                let mut flags = MsFlags::MS_BIND;
                if *recursive {
                    flags |= MsFlags::MS_REC;
                }
                mount(Some(source), &target, None::<&str>, flags, None::<&str>)
                    .ctx(|| format!("bind-mounting {} on {}", source.display(), m.destination))?;
                let extra = m.flags();
                if !extra.is_empty() {
                    mount(
                        None::<&str>,
                        &target,
                        None::<&str>,
                        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra,
                        None::<&str>,
                    )
                    .ctx(|| format!("making {} read-only", m.destination))?;
                }
                let (kind, rec) = m.propagation;
                let mut p = match kind {
                    Propagation::Private => MsFlags::MS_PRIVATE,
                    Propagation::Shared => MsFlags::MS_SHARED,
                    Propagation::Slave => MsFlags::MS_SLAVE,
                };
                if rec {
                    p |= MsFlags::MS_REC;
                }
                mount(None::<&str>, &target, None::<&str>, p, None::<&str>)
                    .ctx(|| format!("setting the propagation of {}", m.destination))?;
            }
            MountKind::Tmpfs { data } => {
                let target = resolve(root, &m.destination, true)?;
                let data = (!data.is_empty()).then_some(data.as_str());
                mount(Some("tmpfs"), &target, Some("tmpfs"), m.flags(), data)
                    .ctx(|| format!("mounting a tmpfs on {}", m.destination))?;
            }
        }
    }
    Ok(())
}

impl UserMount {
    fn flags(&self) -> MsFlags {
        let mut f = self.atime;
        for (on, flag) in [
            (self.readonly, MsFlags::MS_RDONLY),
            (self.nosuid, MsFlags::MS_NOSUID),
            (self.nodev, MsFlags::MS_NODEV),
            (self.noexec, MsFlags::MS_NOEXEC),
        ] {
            if on {
                f |= flag;
            }
        }
        f
    }
}

/// Docker's copy-up: an empty volume mounted where the image has content
/// starts as a copy of it, owners and modes kept. Symlinks are copied as
/// links, never followed; device nodes and sockets are not copied.
fn copy_up(root: &Path, destination: &str, volume: &Path) -> Result<()> {
    let empty = fs::read_dir(volume)
        .ctx(|| format!("reading {}", volume.display()))?
        .next()
        .is_none();
    if !empty {
        return Ok(());
    }
    // The image's directory, reached without following links: a link in
    // the image where the volume goes has nothing to copy.
    let mut from = root.to_path_buf();
    for part in Path::new(destination).components().skip(1) {
        from.push(part);
        match fs::symlink_metadata(&from) {
            Ok(m) if m.is_dir() => {}
            _ => return Ok(()),
        }
    }
    let m = fs::symlink_metadata(&from).ctx(|| format!("reading {destination}"))?;
    copy_tree(&from, volume)?;
    // The volume's root takes the image directory's owner and mode.
    lchown(volume, Some(m.uid()), Some(m.gid())).ctx(|| format!("chown {}", volume.display()))?;
    fs::set_permissions(volume, fs::Permissions::from_mode(m.mode() & 0o7777))
        .ctx(|| format!("chmod {}", volume.display()))
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for e in fs::read_dir(from).ctx(|| format!("reading {}", from.display()))? {
        let e = e.ctx(|| format!("reading {}", from.display()))?;
        let src = e.path();
        let dst = to.join(e.file_name());
        let m = fs::symlink_metadata(&src).ctx(|| format!("reading {}", src.display()))?;
        let ft = m.file_type();
        if ft.is_symlink() {
            let target = fs::read_link(&src).ctx(|| format!("reading {}", src.display()))?;
            std::os::unix::fs::symlink(target, &dst)
                .ctx(|| format!("creating {}", dst.display()))?;
        } else if ft.is_dir() {
            fs::create_dir(&dst).ctx(|| format!("creating {}", dst.display()))?;
            copy_tree(&src, &dst)?;
        } else if ft.is_file() {
            fs::copy(&src, &dst).ctx(|| format!("copying {}", src.display()))?;
        } else {
            continue;
        }
        lchown(&dst, Some(m.uid()), Some(m.gid())).ctx(|| format!("chown {}", dst.display()))?;
        if !ft.is_symlink() {
            fs::set_permissions(&dst, fs::Permissions::from_mode(m.mode() & 0o7777))
                .ctx(|| format!("chmod {}", dst.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_read_as_docker_writes_them() {
        let m = UserMount::from_options(
            "/data".into(),
            "bind",
            Some("/src".into()),
            &["rbind".into(), "ro".into(), "rslave".into()],
        )
        .unwrap();
        assert!(m.readonly);
        assert_eq!(m.propagation, (Propagation::Slave, true));
        assert_eq!(
            m.kind,
            MountKind::Bind {
                source: "/src".into(),
                recursive: true
            }
        );
        let t = UserMount::from_options(
            "/t".into(),
            "tmpfs",
            None,
            &["nosuid".into(), "size=1m".into(), "mode=1777".into()],
        )
        .unwrap();
        assert_eq!(
            t.kind,
            MountKind::Tmpfs {
                data: "size=1m,mode=1777".into()
            }
        );
        let e = UserMount::from_options("/x".into(), "bind", Some("/s".into()), &["size=1".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"size=1\""), "{e}");
    }

    #[test]
    fn copy_up_fills_only_empty_volumes_and_keeps_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("data/sub")).unwrap();
        fs::write(root.join("data/sub/f"), "image").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("data/link")).unwrap();
        let vol = dir.path().join("vol");
        fs::create_dir(&vol).unwrap();
        copy_up(&root, "/data", &vol).unwrap();
        assert_eq!(fs::read_to_string(vol.join("sub/f")).unwrap(), "image");
        assert_eq!(
            fs::read_link(vol.join("link")).unwrap(),
            PathBuf::from("/etc/passwd")
        );
        fs::write(vol.join("sub/f"), "mine").unwrap();
        copy_up(&root, "/data", &vol).unwrap();
        assert_eq!(fs::read_to_string(vol.join("sub/f")).unwrap(), "mine");
    }
}
