//! `cp`, `export`: files in and out of containers with Docker's rules for
//! names (a directory destination receives the source under its own name,
//! `SRC/.` copies a directory's content, a missing destination takes the
//! source's place). The container side runs in the container's own root
//! (see `isola_runtime_process::fsop`); the host side here only builds and
//! unpacks tars on the user's own paths.

use crate::store::Container;
use crate::{io_err, Engine, Error, Result};
use isola_runtime_process::fsop::{self, FsOp};
use std::fs::{self, File};
use std::io::{Read, Seek};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// The host's end of a copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEnd {
    /// `-`: a tar on the CLI's stdin or stdout.
    Stdio,
    Path(PathBuf),
}

fn temp() -> Result<File> {
    tempfile::tempfile().map_err(io_err("creating a temporary file"))
}

/// An absolute container path (Docker takes relative ones from `/`), and
/// whether it asks for a directory's content (`dir/.`).
fn container_path(p: &str) -> (String, bool) {
    let contents = p.ends_with("/.") || p == ".";
    let abs = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    };
    (abs, contents)
}

fn parent_of(p: &str) -> String {
    match Path::new(p).parent() {
        Some(d) if !d.as_os_str().is_empty() => d.display().to_string(),
        _ => "/".into(),
    }
}

impl Engine {
    /// Runs `op` in `c`'s file system with these streams; stderr is kept
    /// for the error message. Ok(exit code) for the codes `fsop` defines.
    fn fs_op(
        &self,
        c: &Container,
        op: FsOp,
        stdin: Option<OwnedFd>,
        stdout: Option<OwnedFd>,
    ) -> Result<i32> {
        let mut err = temp()?;
        let streams = crate::Streams {
            stdin,
            stdout,
            stderr: Some(err.try_clone().map_err(io_err("dup"))?.into()),
        };
        let code = self.backend(c).fs_op(c, &op, streams)?;
        if code == 0 || (matches!(op, FsOp::Stat { .. }) && code == fsop::STAT_OTHER) {
            return Ok(code);
        }
        let mut msg = String::new();
        let _ = err.rewind();
        let _ = err.read_to_string(&mut msg);
        let msg = msg.lines().next().unwrap_or("").trim().to_string();
        if code == fsop::NOT_FOUND && matches!(op, FsOp::Stat { .. }) {
            return Ok(code);
        }
        Err(Error::Invalid(match code {
            fsop::NOT_FOUND => format!("container {}: {msg}", c.name()),
            _ if msg.is_empty() => format!(
                "copying in container {} failed (exit code {code})",
                c.name()
            ),
            _ => format!("container {}: {msg}", c.name()),
        }))
    }

    fn stat_in(&self, c: &Container, path: &str) -> Result<i32> {
        self.fs_op(c, FsOp::Stat { path: path.into() }, None, None)
    }

    /// `cp CONTAINER:SRC DEST`.
    pub fn copy_from(
        &self,
        c: &Container,
        src: &str,
        dest: &HostEnd,
        keep_owners: bool,
    ) -> Result<()> {
        let (src, contents) = container_path(src);
        let archive = FsOp::Archive { path: src.clone() };
        let dest = match dest {
            HostEnd::Stdio => {
                let out = rustix_dup(1)?;
                self.fs_op(c, archive, None, Some(out))?;
                return Ok(());
            }
            HostEnd::Path(p) => p,
        };
        // Check the host side before any work in the container.
        let dest_meta = fs::metadata(dest).ok();
        let parent = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if dest_meta.is_none() && !fs::metadata(&parent).is_ok_and(|m| m.is_dir()) {
            return Err(Error::Invalid(format!(
                "cp: {}: no such directory: create it first",
                parent.display()
            )));
        }
        let mut tar = temp()?;
        self.fs_op(
            c,
            archive,
            None,
            Some(tar.try_clone().map_err(io_err("dup"))?.into()),
        )?;
        tar.rewind().map_err(io_err("rewinding the archive"))?;
        let into = if dest_meta.as_ref().is_some_and(|m| m.is_dir()) {
            dest.clone()
        } else {
            parent.clone()
        };
        let staging = tempfile::Builder::new()
            .prefix(".isola-cp-")
            .tempdir_in(&into)
            .map_err(io_err(format!("writing in {}", into.display())))?;
        fsop::extract(tar, staging.path(), keep_owners)?;
        let top = fs::read_dir(staging.path())
            .map_err(io_err("reading the copy"))?
            .flatten()
            .next()
            .map(|e| e.path())
            .ok_or_else(|| Error::Invalid(format!("cp: {src}: nothing to copy")))?;
        let top_is_dir = fs::symlink_metadata(&top).is_ok_and(|m| m.is_dir());
        let target = match &dest_meta {
            Some(m) if m.is_dir() && contents => dest.clone(),
            Some(m) if m.is_dir() => dest.join(top.file_name().expect("an entry has a name")),
            Some(_) if top_is_dir => {
                return Err(Error::Invalid(format!(
                    "cp: cannot copy directory {src} onto the file {}",
                    dest.display()
                )))
            }
            _ => dest.clone(),
        };
        merge_move(&top, &target)
    }

    /// `cp SRC CONTAINER:DEST`.
    pub fn copy_to(
        &self,
        c: &Container,
        src: &HostEnd,
        dest: &str,
        keep_owners: bool,
    ) -> Result<()> {
        let (dest, _) = container_path(dest);
        let src = match src {
            HostEnd::Stdio => {
                // A tar on stdin goes into the directory `dest` as it is.
                let input = rustix_dup(0)?;
                return self
                    .fs_op(
                        c,
                        FsOp::Extract {
                            dir: dest,
                            keep_owners,
                        },
                        Some(input),
                        None,
                    )
                    .map(drop);
            }
            HostEnd::Path(p) => p,
        };
        let src_meta =
            fs::metadata(src).map_err(|e| Error::Invalid(format!("cp: {}: {e}", src.display())))?;
        let contents = src.to_string_lossy().ends_with("/.");
        let (dir, name) = match self.stat_in(c, &dest)? {
            fsop::STAT_DIR => (
                dest.clone(),
                if contents {
                    PathBuf::from(".")
                } else {
                    PathBuf::from(src.file_name().unwrap_or(src.as_os_str()))
                },
            ),
            fsop::STAT_OTHER if src_meta.is_dir() => {
                return Err(Error::Invalid(format!(
                    "cp: cannot copy directory {} onto the file {dest} in container {}",
                    src.display(),
                    c.name()
                )))
            }
            other => {
                let parent = parent_of(&dest);
                if other == fsop::NOT_FOUND && self.stat_in(c, &parent)? != fsop::STAT_DIR {
                    return Err(Error::Invalid(format!(
                        "cp: {parent}: no such directory in container {}: create it first",
                        c.name()
                    )));
                }
                let name = Path::new(&dest)
                    .file_name()
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("."));
                (parent, name)
            }
        };
        let mut tar = temp()?;
        fsop::archive_named(src, &name, &mut tar)?;
        tar.rewind().map_err(io_err("rewinding the archive"))?;
        self.fs_op(
            c,
            FsOp::Extract { dir, keep_owners },
            Some(tar.into()),
            None,
        )
        .map(drop)
    }

    /// `export`: the container's file system as a tar, to `out`.
    pub fn export(&self, c: &Container, out: OwnedFd) -> Result<()> {
        self.fs_op(c, FsOp::Archive { path: "/".into() }, None, Some(out))
            .map(drop)
    }
}

fn rustix_dup(fd: i32) -> Result<OwnedFd> {
    use std::os::fd::BorrowedFd;
    // SAFETY: 0 and 1 are this process's stdin and stdout, open for its life.
    let b = unsafe { BorrowedFd::borrow_raw(fd) };
    b.try_clone_to_owned().map_err(io_err("dup"))
}

/// Moves `from` to `to`, merging into an existing directory (Docker's cp
/// copies into what is there) and replacing existing files.
fn merge_move(from: &Path, to: &Path) -> Result<()> {
    let from_dir = fs::symlink_metadata(from).is_ok_and(|m| m.is_dir());
    match fs::symlink_metadata(to) {
        Ok(m) if m.is_dir() && from_dir => {
            for e in fs::read_dir(from)
                .map_err(io_err("reading the copy"))?
                .flatten()
            {
                merge_move(&e.path(), &to.join(e.file_name()))?;
            }
            Ok(())
        }
        Ok(m) if m.is_dir() => Err(Error::Invalid(format!(
            "cp: cannot overwrite directory {} with a file",
            to.display()
        ))),
        Ok(_) => {
            fs::remove_file(to).map_err(io_err(format!("replacing {}", to.display())))?;
            fs::rename(from, to).map_err(io_err(format!("writing {}", to.display())))
        }
        Err(_) => fs::rename(from, to).map_err(io_err(format!("writing {}", to.display()))),
    }
}

/// Where the runtimes mount on the container's root: what they create
/// there to mount on is not the container's change (Docker keeps it in
/// an "init layer" that diff and commit leave out).
fn mount_points(c: &Container) -> Vec<String> {
    let standard = [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
        "/sys/fs/cgroup",
        "/etc/hostname",
        "/etc/hosts",
        "/etc/resolv.conf",
        isola_runtime_process::linux::INIT_PATH,
    ];
    standard
        .iter()
        .map(|s| s.to_string())
        .chain(c.config.mounts.iter().map(|m| m.destination.clone()))
        .collect()
}

/// `commit`'s options beyond the container.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// `REPO[:TAG]`.
    pub reference: Option<String>,
    /// `-c` instructions.
    pub changes: Vec<String>,
    pub message: String,
    pub author: String,
}

impl Engine {
    /// `diff`: the container's changes against its image, as Docker lists
    /// them (`A`dded, `C`hanged, `D`eleted), sorted by path.
    pub fn diff(&self, c: &Container) -> Result<Vec<(char, String)>> {
        let mut out = temp()?;
        let op = FsOp::Changes {
            upper: String::new(),
            lowers: Vec::new(),
            skip: mount_points(c),
        };
        self.fs_op(
            c,
            op,
            None,
            Some(out.try_clone().map_err(io_err("dup"))?.into()),
        )?;
        let mut text = String::new();
        out.rewind().map_err(io_err("reading the changes"))?;
        out.read_to_string(&mut text)
            .map_err(io_err("reading the changes"))?;
        Ok(text
            .lines()
            .filter_map(|l| {
                let (k, p) = l.split_once(' ')?;
                Some((k.chars().next()?, p.to_string()))
            })
            .collect())
    }

    /// `commit`: the container's writable layer on its image, with its
    /// configuration (command, environment, ...) as the new image's.
    /// Returns the new image's id.
    pub fn commit(&self, c: &Container, req: CommitRequest) -> Result<String> {
        let mut layer = temp()?;
        let op = FsOp::Layer {
            upper: String::new(),
            skip: mount_points(c),
        };
        self.fs_op(
            c,
            op,
            None,
            Some(layer.try_clone().map_err(io_err("dup"))?.into()),
        )?;
        layer.rewind().map_err(io_err("reading the layer"))?;
        let base = self.images.resolve(&c.config.image_id)?;
        let img = base.config.config().clone().unwrap_or_default();
        let cfg = &c.config.config;
        let mut config = img.clone();
        // HOSTNAME is the container's, set at each create.
        let env = cfg
            .env
            .iter()
            .filter(|e| !e.starts_with("HOSTNAME="))
            .cloned();
        config.set_env(Some(env.collect()));
        config.set_cmd(Some(cfg.cmd.clone()).filter(|v| !v.is_empty()));
        config.set_entrypoint(Some(cfg.entrypoint.clone()).filter(|v| !v.is_empty()));
        config.set_working_dir(Some(cfg.working_dir.clone()).filter(|v| v != "/"));
        config.set_user(Some(cfg.user.clone()).filter(|v| !v.is_empty()));
        let mut labels = img.labels().clone().unwrap_or_default();
        labels.extend(cfg.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        config.set_labels(Some(labels).filter(|l| !l.is_empty()));
        let created_by = format!("isola commit {}", c.name());
        Ok(self.images.commit(
            &c.config.image_id,
            &mut layer,
            isola_image::CommitOptions {
                config,
                changes: req.changes,
                comment: req.message,
                author: req.author,
                created_by,
                reference: req.reference,
            },
        )?)
    }
}
