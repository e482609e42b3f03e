//! File operations inside a container's file system, for `cp` and
//! `export`: a tar of a path, a tar extracted into a directory, a stat.
//!
//! Each runs in a child process whose root is the container's own: it
//! joins the running container's mount namespace (whose root is the
//! container's root after pivot_root), or, for a stopped container, mounts
//! its root in a private mount namespace and chroots into it. Every path,
//! and every symlink a hostile container planted or swaps in while we
//! work, then resolves inside the container: the engine never resolves a
//! container path on the host, which is what made `docker cp` escape
//! (CVE-2018-15664's symlink-exchange race, CVE-2019-14271). The child runs
//! only this crate's code and the tar crate, with numeric owners: it loads
//! nothing from the container (no NSS modules, no libraries).
//!
//! The tar streams go through the child's stdin and stdout, so the same
//! operation runs on the host (process mode) and in a VM's guest (the
//! agent, on an exec session's streams).

use crate::spawn::{Rootfs, Spawned};
use crate::stdio::Stdio;
use crate::volume::UserMount;
use crate::{Context, Error, Result};
use nix::sched::{setns, unshare, CloneFlags};
use nix::unistd::{chdir, chroot, dup2, fork, ForkResult};
use serde::{Deserialize, Serialize};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// What to do in the container's file system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FsOp {
    /// Writes a tar of `path` to stdout, its entries under `path`'s own
    /// name (`.` for `/`). Stays on `path`'s file system, as Docker's
    /// export does (no /proc, /sys, /dev or volumes of a running
    /// container, unless `path` itself is on one of them).
    Archive { path: String },
    /// Extracts the tar on stdin into the existing directory `dir`;
    /// owners from the archive with `keep_owners`, else root's (Docker's
    /// `cp` without `-a`).
    Extract { dir: String, keep_owners: bool },
    /// Exits with [`STAT_DIR`], [`STAT_OTHER`] or [`NOT_FOUND`] for `path`
    /// (following a final symlink, inside the container).
    Stat { path: String },
    /// Writes the container's writable layer (overlayfs upper directory
    /// `upper`) as an OCI image layer to stdout: whiteouts become `.wh.`
    /// files, opaque directories get `.wh..wh..opq`. Runs chrooted into
    /// `upper`, so nothing the container put there leads outside it.
    /// `skip`: mount points (empty files and directories the runtime made
    /// to mount on, Docker's "init layer"), left out.
    Layer { upper: String, skip: Vec<String> },
    /// Prints Docker's `diff` lines (`A`, `C`, `D` and a path) for the
    /// upper directory against the image's layer directories.
    Changes {
        upper: String,
        lowers: Vec<String>,
        skip: Vec<String>,
    },
}

/// Exit code: done (Stat: a directory).
pub const STAT_DIR: i32 = 0;
/// Exit code of Stat: exists, not a directory.
pub const STAT_OTHER: i32 = 3;
/// Exit code: the path does not exist (message on stderr).
pub const NOT_FOUND: i32 = 2;
/// Exit code: any other failure (message on stderr).
pub const FAILED: i32 = 1;

/// Whose file system.
#[derive(Debug, Clone)]
pub enum FsRoot {
    /// A running container, by its init's PID.
    Running(i32),
    /// A stopped container: its root and mounts, made for the operation.
    Stopped {
        rootfs: Rootfs,
        mounts: Vec<UserMount>,
    },
    /// A directory of the caller's, as root (a writable layer).
    Dir(PathBuf),
    /// The caller's own view (for reading names and types only).
    Here,
}

impl FsOp {
    /// Where the operation runs for a container: `running` (its init) or
    /// `stopped` (how to assemble its root), for the ops on its root; its
    /// upper and lower directories for the ops on its layers. Fills the
    /// layer ops' paths.
    pub fn placed(
        self,
        running: Option<i32>,
        stopped: impl FnOnce() -> Result<FsRoot>,
        upper: &Path,
        lowers: &[PathBuf],
    ) -> Result<(FsRoot, FsOp)> {
        let s = |p: &Path| p.display().to_string();
        Ok(match self {
            FsOp::Layer { skip, .. } => (
                FsRoot::Dir(upper.to_path_buf()),
                FsOp::Layer {
                    upper: "/".into(),
                    skip,
                },
            ),
            FsOp::Changes { skip, .. } => (
                FsRoot::Here,
                FsOp::Changes {
                    upper: s(upper),
                    lowers: lowers.iter().map(|l| s(l)).collect(),
                    skip,
                },
            ),
            op => match running {
                Some(pid) => (FsRoot::Running(pid), op),
                None => (stopped()?, op),
            },
        })
    }
}

/// Starts `op` in a child of the caller; wait for it with
/// [`crate::wait_exit_code`]. `stdio` must be [`Stdio::Fds`].
///
/// Must be called while the calling process has a single thread.
pub fn spawn(root: &FsRoot, op: &FsOp, stdio: Stdio) -> Result<Spawned> {
    let Stdio::Fds {
        stdin,
        stdout,
        stderr,
    } = stdio
    else {
        return Err(Error::Setup("file operations have no terminal".into()));
    };
    let ns = match root {
        FsRoot::Running(pid) => Some(File::open(format!("/proc/{pid}/ns/mnt")).map_err(|e| {
            Error::Setup(format!(
                "the container is not running (mount namespace: {e})"
            ))
        })?),
        _ => None,
    };
    // SAFETY: the caller guarantees a single-threaded process, so the
    // child may allocate; it leaves only through `_exit`.
    match unsafe { fork() }.ctx(|| "fork".into())? {
        ForkResult::Child => {
            for (fd, to) in [(&stdin, 0), (&stdout, 1), (&stderr, 2)] {
                if dup2(fd.as_raw_fd(), to).is_err() {
                    // SAFETY: leaving the forked child.
                    unsafe { libc::_exit(FAILED) };
                }
            }
            let code = match enter(root, ns.as_ref()).and_then(|()| run(op)) {
                Ok(code) => code,
                Err(Error::Setup(m)) => {
                    // The message alone: the engine names the container.
                    let _ = writeln!(std::io::stderr(), "{m}");
                    if m.starts_with("no such") {
                        NOT_FOUND
                    } else {
                        FAILED
                    }
                }
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "{e}");
                    FAILED
                }
            };
            let _ = std::io::stdout().flush();
            // SAFETY: leaving the forked child.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => Ok(Spawned {
            pid: child.as_raw(),
            start_time: crate::sys::process_start_time(child.as_raw()).unwrap_or(0),
            pty_master: None,
        }),
    }
}

/// Makes the container's root this process's root.
fn enter(root: &FsRoot, ns: Option<&File>) -> Result<()> {
    match root {
        FsRoot::Running(_) => {
            let ns = ns.expect("opened for a running container");
            setns(ns, CloneFlags::CLONE_NEWNS).ctx(|| "joining the container's mounts".into())?;
            // setns left us at the namespace's root, which is the
            // container's root since its pivot_root.
            chdir("/").ctx(|| "chdir /".into())
        }
        FsRoot::Stopped { rootfs, mounts } => {
            unshare(CloneFlags::CLONE_NEWNS).ctx(|| "a private mount namespace".into())?;
            crate::mounts::make_private()?;
            crate::mounts::mount_rootfs(rootfs)?;
            crate::volume::mount_all(&rootfs.target, mounts, crate::mounts::safe_path)?;
            chroot(&rootfs.target).ctx(|| "chroot into the container's root".into())?;
            chdir("/").ctx(|| "chdir /".into())
        }
        FsRoot::Dir(dir) => {
            chroot(dir).ctx(|| format!("chroot into {}", dir.display()))?;
            chdir("/").ctx(|| "chdir /".into())
        }
        FsRoot::Here => Ok(()),
    }
}

fn run(op: &FsOp) -> Result<i32> {
    match op {
        FsOp::Stat { path } => Ok(match fs::metadata(path) {
            Ok(m) if m.is_dir() => STAT_DIR,
            Ok(_) => STAT_OTHER,
            Err(_) => NOT_FOUND,
        }),
        FsOp::Archive { path } => {
            archive(Path::new(path), std::io::stdout().lock())?;
            Ok(0)
        }
        FsOp::Layer { upper, skip } => {
            layer(Path::new(upper), skip, std::io::stdout().lock())?;
            Ok(0)
        }
        FsOp::Changes {
            upper,
            lowers,
            skip,
        } => {
            let lowers: Vec<PathBuf> = lowers.iter().map(PathBuf::from).collect();
            let mut out = std::io::stdout().lock();
            for (kind, path) in changes(Path::new(upper), &lowers, skip)? {
                writeln!(out, "{kind} {path}").map_err(io("writing".into()))?;
            }
            Ok(0)
        }
        FsOp::Extract { dir, keep_owners } => {
            let d = Path::new(dir);
            if !fs::metadata(d).is_ok_and(|m| m.is_dir()) {
                return Err(Error::Setup(format!("no such directory: {dir}")));
            }
            // SAFETY: fd 0 is our stdin, owned by nothing else in this
            // process; it is read to the end and the process exits.
            let stdin = unsafe { File::from_raw_fd(0) };
            extract(stdin, d, *keep_owners)?;
            Ok(0)
        }
    }
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |e| {
        // The tar crate wraps the cause ("failed to unpack x"): say it.
        let mut msg = format!("{what}: {e}");
        let mut cause = std::error::Error::source(&e);
        if cause.is_none() {
            cause = e.get_ref().and_then(|inner| inner.source());
        }
        while let Some(c) = cause {
            msg.push_str(&format!(": {c}"));
            cause = c.source();
        }
        Error::Setup(msg)
    }
}

/// A tar of `path` (not following links, not leaving its file system),
/// its entries under `path`'s own name.
pub fn archive(path: &Path, out: impl Write) -> Result<()> {
    let name = match path.file_name() {
        Some(n) => PathBuf::from(n),
        None => PathBuf::from("."),
    };
    archive_named(path, &name, out)
}

/// A tar of `path` with its entries under `name` (`.`: a directory's
/// content without the directory itself).
pub fn archive_named(path: &Path, name: &Path, out: impl Write) -> Result<()> {
    let top = fs::symlink_metadata(path)
        .map_err(|_| Error::Setup(format!("no such file or directory: {}", path.display())))?;
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    append(&mut b, path, name, top.dev())?;
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(io("writing the archive".into()))
}

fn append<W: Write>(b: &mut tar::Builder<W>, path: &Path, name: &Path, dev: u64) -> Result<()> {
    let m = fs::symlink_metadata(path).map_err(io(format!("reading {}", path.display())))?;
    if m.is_dir() {
        if name != Path::new(".") {
            b.append_path_with_name(path, name)
                .map_err(io(format!("archiving {}", path.display())))?;
        }
        let mut entries: Vec<_> = fs::read_dir(path)
            .map_err(io(format!("reading {}", path.display())))?
            .flatten()
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let child = e.path();
            let Ok(cm) = fs::symlink_metadata(&child) else {
                continue; // gone meanwhile
            };
            // Another file system mounted here: its mount point goes in,
            // empty (as /proc in `docker export`). Directories only:
            // overlayfs over layers on different file systems (a VM's erofs
            // and ext4) reports the layers' devices for files.
            if cm.is_dir() && cm.dev() != dev {
                let n = if name == Path::new(".") {
                    PathBuf::from(e.file_name())
                } else {
                    name.join(e.file_name())
                };
                b.append_path_with_name(&child, &n)
                    .map_err(io(format!("archiving {}", child.display())))?;
                continue;
            }
            let child_name = if name == Path::new(".") {
                PathBuf::from(e.file_name())
            } else {
                name.join(e.file_name())
            };
            append(b, &child, &child_name, dev)?;
        }
        Ok(())
    } else if m.file_type().is_socket() {
        Ok(()) // tar has no sockets
    } else {
        b.append_path_with_name(path, name)
            .map_err(io(format!("archiving {}", path.display())))
    }
}

use std::os::unix::fs::FileTypeExt;

/// Extracts a tar into `dir`. Entries that would land outside `dir`
/// (absolute, `..`, or through a link) are refused by the tar crate's
/// checks; device nodes are skipped (an archive never creates devices).
pub fn extract(input: impl Read, dir: &Path, keep_owners: bool) -> Result<()> {
    let mut a = tar::Archive::new(input);
    a.set_preserve_permissions(true);
    a.set_preserve_ownerships(keep_owners);
    a.set_preserve_mtime(true);
    a.set_overwrite(true);
    a.set_unpack_xattrs(false);
    for entry in a.entries().map_err(io("reading the archive".into()))? {
        let mut entry = entry.map_err(io("reading the archive".into()))?;
        let kind = entry.header().entry_type();
        if kind.is_block_special() || kind.is_character_special() {
            continue;
        }
        let path = entry
            .path()
            .map_err(io("reading the archive".into()))?
            .into_owned();
        if path.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(Error::Setup(format!(
                "the archive's entry {} leaves the destination",
                path.display()
            )));
        }
        entry
            .unpack_in(dir)
            .map_err(io(format!("extracting {}", path.display())))?;
    }
    Ok(())
}

/// overlayfs marks deletions with 0:0 character devices.
fn is_whiteout(m: &fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

/// overlayfs marks a directory that hides the layers below as opaque.
fn is_opaque(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(p) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let mut buf = [0u8; 4];
    // SAFETY: NUL-terminated strings and a buffer of the size we pass.
    let n = unsafe {
        libc::lgetxattr(
            p.as_ptr(),
            c"trusted.overlay.opaque".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    n == 1 && buf[0] == b'y'
}

/// Whether `path` (a container path) is a mount point the runtime made:
/// listed in `skip` and empty.
fn is_stub(skip: &[String], shown: &str, m: &fs::Metadata, path: &Path) -> bool {
    skip.iter().any(|s| s == shown)
        && if m.is_dir() {
            fs::read_dir(path).is_ok_and(|mut d| d.next().is_none())
        } else {
            m.is_file() && m.len() == 0
        }
}

/// The writable layer at `upper` as an OCI layer tar.
pub fn layer(upper: &Path, skip: &[String], out: impl Write) -> Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    layer_dir(&mut b, upper, Path::new(""), skip)?;
    b.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(io("writing the layer".into()))
}

fn empty_file<W: Write>(b: &mut tar::Builder<W>, name: &Path) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(0);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    b.append_data(&mut h, name, std::io::empty())
        .map_err(io(format!("archiving {}", name.display())))
}

fn layer_dir<W: Write>(
    b: &mut tar::Builder<W>,
    dir: &Path,
    name: &Path,
    skip: &[String],
) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(io(format!("reading {}", dir.display())))?
        .flatten()
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let rel = name.join(e.file_name());
        let Ok(m) = fs::symlink_metadata(&path) else {
            continue;
        };
        if is_stub(skip, &format!("/{}", rel.display()), &m, &path) {
            continue;
        }
        if is_whiteout(&m) {
            let wh = format!(".wh.{}", e.file_name().to_string_lossy());
            empty_file(b, &name.join(wh))?;
        } else if m.is_dir() {
            b.append_path_with_name(&path, &rel)
                .map_err(io(format!("archiving {}", rel.display())))?;
            if is_opaque(&path) {
                empty_file(b, &rel.join(".wh..wh..opq"))?;
            }
            layer_dir(b, &path, &rel, skip)?;
        } else if !m.file_type().is_socket() {
            b.append_path_with_name(&path, &rel)
                .map_err(io(format!("archiving {}", rel.display())))?;
        }
    }
    Ok(())
}

/// Docker's `diff`: what the upper directory adds (`A`), changes (`C`) and
/// deletes (`D`) against the layers, by container path, sorted.
pub fn changes(upper: &Path, lowers: &[PathBuf], skip: &[String]) -> Result<Vec<(char, String)>> {
    let mut out = Vec::new();
    walk_changes(upper, lowers, Path::new("/"), skip, &mut out)?;
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

fn in_lowers(lowers: &[PathBuf], rel: &Path) -> bool {
    let rel = rel.strip_prefix("/").unwrap_or(rel);
    lowers
        .iter()
        .any(|l| fs::symlink_metadata(l.join(rel)).is_ok())
}

fn walk_changes(
    dir: &Path,
    lowers: &[PathBuf],
    at: &Path,
    skip: &[String],
    out: &mut Vec<(char, String)>,
) -> Result<()> {
    for e in fs::read_dir(dir)
        .map_err(io(format!("reading {}", dir.display())))?
        .flatten()
    {
        let path = e.path();
        let rel = at.join(e.file_name());
        let Ok(m) = fs::symlink_metadata(&path) else {
            continue;
        };
        let shown = rel.display().to_string();
        if is_stub(skip, &shown, &m, &path) && !in_lowers(lowers, &rel) {
            continue;
        }
        if is_whiteout(&m) {
            out.push(('D', shown));
            continue;
        }
        let kind = if in_lowers(lowers, &rel) { 'C' } else { 'A' };
        out.push((kind, shown));
        if m.is_dir() {
            walk_changes(&path, lowers, &rel, skip, out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::require_root;

    /// An upper directory as overlayfs leaves it: a changed file, a
    /// whiteout, an opaque directory and a mount-point stub.
    fn upper(dir: &Path) {
        fs::create_dir_all(dir.join("etc")).unwrap();
        fs::write(dir.join("a"), "changed").unwrap();
        fs::write(dir.join("etc/hosts"), "").unwrap();
        nix::sys::stat::mknod(
            &dir.join("gone"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        fs::create_dir(dir.join("opq")).unwrap();
        fs::write(dir.join("opq/new"), "n").unwrap();
        let p = std::ffi::CString::new(dir.join("opq").as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: NUL-terminated strings and a one-byte value.
        let r = unsafe {
            libc::lsetxattr(
                p.as_ptr(),
                c"trusted.overlay.opaque".as_ptr(),
                b"y".as_ptr().cast(),
                1,
                0,
            )
        };
        assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
    }

    #[test]
    fn the_writable_layer_becomes_an_oci_layer() {
        require_root();
        let tmp = tempfile::tempdir().unwrap();
        let up = tmp.path().join("upper");
        upper(&up);
        let mut tar = Vec::new();
        layer(&up, &["/etc/hosts".into()], &mut tar).unwrap();
        let names: Vec<String> = tar::Archive::new(&tar[..])
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(
            names,
            ["a", "etc", ".wh.gone", "opq", "opq/.wh..wh..opq", "opq/new"]
        );
    }

    #[test]
    fn changes_read_as_docker_diff() {
        require_root();
        let tmp = tempfile::tempdir().unwrap();
        let up = tmp.path().join("upper");
        upper(&up);
        let lower = tmp.path().join("lower");
        fs::create_dir_all(lower.join("etc")).unwrap();
        fs::write(lower.join("a"), "image").unwrap();
        fs::write(lower.join("gone"), "image").unwrap();
        let got = changes(&up, &[lower], &["/etc/hosts".into()]).unwrap();
        let want = [
            ('C', "/a"),
            ('C', "/etc"),
            ('D', "/gone"),
            ('A', "/opq"),
            ('A', "/opq/new"),
        ];
        assert_eq!(
            got,
            want.iter()
                .map(|(k, p)| (*k, p.to_string()))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn archives_do_not_cross_into_other_file_systems() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("d/sub")).unwrap();
        fs::write(tmp.path().join("d/sub/f"), "x").unwrap();
        let mut tar = Vec::new();
        archive(&tmp.path().join("d"), &mut tar).unwrap();
        let out = tmp.path().join("out");
        fs::create_dir(&out).unwrap();
        extract(&tar[..], &out, false).unwrap();
        assert_eq!(fs::read_to_string(out.join("d/sub/f")).unwrap(), "x");
        // A file system mounted inside is left out (a running container's
        // /proc, /sys, volumes), in a mount namespace of a child's own.
        require_root();
        fs::create_dir(tmp.path().join("d/m")).unwrap();
        let d = tmp.path().join("d");
        let code = crate::testing::in_child(|| {
            unshare(CloneFlags::CLONE_NEWNS).unwrap();
            crate::mounts::make_private().unwrap();
            nix::mount::mount(
                Some("tmpfs"),
                &d.join("m"),
                Some("tmpfs"),
                nix::mount::MsFlags::empty(),
                None::<&str>,
            )
            .unwrap();
            fs::write(d.join("m/hidden"), "x").unwrap();
            let mut tar = Vec::new();
            archive(&d, &mut tar).unwrap();
            let names: Vec<String> = tar::Archive::new(&tar[..])
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().display().to_string())
                .collect();
            i32::from(names != ["d", "d/m", "d/sub", "d/sub/f"])
        });
        assert_eq!(code, 0);
    }
}
