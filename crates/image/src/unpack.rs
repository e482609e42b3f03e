//! Layer extraction that is safe against hostile tarballs.
//!
//! Layers come from untrusted archives and are unpacked as root, so every
//! entry is checked before anything is written: no absolute or `..` paths,
//! no symlink that climbs above the layer, no hardlink to
//! something outside or absent, and never a write through a symlink. Docker
//! whiteouts become overlayfs whiteouts because each layer directory is used
//! as its own overlayfs lowerdir.
//!
//! Device nodes are kept, as Docker keeps them: root filesystems made by
//! debootstrap and friends carry /dev/null, /dev/console, ... A node under
//! `dev/` is skipped (the container's own /dev, a tmpfs, hides it anyway);
//! one elsewhere is stored. A node never grants a device: the container's
//! device cgroup (process mode) or the guest boundary (VM mode) decides
//! what it may open, whatever nodes its image has.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{makedev, mknod, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use tar::EntryType;

use crate::digest::Hashing;
use crate::error::{Error, IoContext, Result};

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Unpacks an uncompressed layer tar into `dest` (created if missing; it
/// should be a fresh directory) and returns the layer's diff-id, the sha256
/// of the whole uncompressed stream, computed while reading. On error `dest`
/// may hold a partial tree: callers unpack into a temporary directory and
/// delete it on failure.
pub fn unpack_layer(input: impl Read, dest: &Path) -> Result<String> {
    fs::create_dir_all(dest).context(|| format!("creating layer directory {}", dest.display()))?;
    let mut hashing = Hashing::new(input);
    let mut unpacker = Unpacker {
        root: dest,
        dirs: BTreeMap::new(),
    };
    {
        let mut archive = tar::Archive::new(&mut hashing);
        for entry in archive
            .entries()
            .context(|| "reading layer tar".to_string())?
        {
            let mut entry = entry.context(|| "reading layer tar".to_string())?;
            unpacker.unpack(&mut entry)?;
        }
    }
    // The diff-id covers the end-of-archive padding too.
    io::copy(&mut hashing, &mut io::sink()).context(|| "reading layer tar".to_string())?;
    unpacker.finish()?;
    Ok(hashing.finish().1)
}

/// Turns a tar path into a clean relative path (leading `./` and `.`
/// components dropped), or says why it is unsafe.
pub(crate) fn clean_path(raw: &[u8]) -> std::result::Result<PathBuf, &'static str> {
    if raw.starts_with(b"/") {
        return Err("absolute paths are not allowed");
    }
    let mut clean = PathBuf::new();
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return Err("'..' path components are not allowed"),
            _ => clean.push(OsStr::from_bytes(part)),
        }
    }
    Ok(clean)
}

/// Resolves a relative link `target` lexically from the directory holding
/// `link` (a clean relative path); `None` if it climbs above the root.
pub(crate) fn resolve_link(link: &Path, target: &[u8]) -> Option<PathBuf> {
    let mut resolved: Vec<&OsStr> = link
        .parent()
        .map(|p| p.iter().collect())
        .unwrap_or_default();
    for part in target.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                resolved.pop()?;
            }
            _ => resolved.push(OsStr::from_bytes(part)),
        }
    }
    Some(resolved.iter().collect())
}

/// Absolute targets are fine: they resolve inside the container's root at
/// run time. Relative ones must not climb above the layer root.
fn symlink_stays_inside(link: &Path, target: &[u8]) -> bool {
    target.starts_with(b"/") || resolve_link(link, target).is_some()
}

fn refuse(entry: &str, reason: &'static str) -> Error {
    Error::UnsafeEntry {
        entry: entry.to_string(),
        reason,
    }
}

/// Ownership, permissions and mtime of one entry.
#[derive(Clone, Copy)]
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
}

impl Meta {
    fn of(header: &tar::Header, name: &str) -> Result<Meta> {
        let raw = header.as_old();
        let out_of_range = |_| refuse(name, "its uid, gid or mtime is out of range");
        let mode = numeric(header.mode().map(u64::from), &raw.mode, name)?;
        Ok(Meta {
            mode: u32::try_from(mode & 0o7777).map_err(out_of_range)?,
            uid: u32::try_from(numeric(header.uid(), &raw.uid, name)?).map_err(out_of_range)?,
            gid: u32::try_from(numeric(header.gid(), &raw.gid, name)?).map_err(out_of_range)?,
            mtime: i64::try_from(numeric(header.mtime(), &raw.mtime, name)?)
                .map_err(out_of_range)?,
        })
    }
}

/// A numeric header field; blank fields (all NUL or spaces, as some tar
/// writers leave them) read as 0, like GNU tar and Go's archive/tar.
fn numeric(parsed: io::Result<u64>, raw: &[u8], name: &str) -> Result<u64> {
    match parsed {
        Ok(value) => Ok(value),
        Err(_) if raw.iter().all(|&b| b == 0 || b == b' ') => Ok(0),
        Err(_) => Err(refuse(
            name,
            "its header has an unreadable mode, owner or mtime",
        )),
    }
}

struct Unpacker<'a> {
    root: &'a Path,
    /// Directory metadata, applied after all entries so that filling a
    /// directory neither bumps its mtime nor hits its read-only mode. Every
    /// key is a real directory reached through real directories: replacing
    /// a directory drops its subtree from this map.
    dirs: BTreeMap<PathBuf, Meta>,
}

impl Unpacker<'_> {
    fn unpack<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<()> {
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let rel = clean_path(&raw).map_err(|reason| refuse(&name, reason))?;
        let kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            return Ok(());
        }
        if let Some(file_name) = rel.file_name() {
            if file_name.as_bytes().starts_with(WHITEOUT_PREFIX) {
                return self.whiteout(&rel, file_name.as_bytes(), &name);
            }
        }
        let meta = Meta::of(entry.header(), &name)?;
        if rel.as_os_str().is_empty() {
            if !kind.is_dir() {
                return Err(refuse(&name, "the layer root must be a directory"));
            }
            self.dirs.insert(rel, meta);
            return Ok(());
        }
        self.check_parents(&rel, &name, true)?;
        if (kind == EntryType::Char || kind == EntryType::Block) && rel.starts_with("dev") {
            return Ok(());
        }
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        let device = (
            entry.header().device_major().ok().flatten().unwrap_or(0),
            entry.header().device_minor().ok().flatten().unwrap_or(0),
        );
        match (kind, link) {
            (EntryType::Directory, _) => self.directory(rel, meta, &name),
            (EntryType::Regular | EntryType::Continuous, _) => self.file(entry, &rel, meta, &name),
            (EntryType::Symlink, Some(target)) => self.symlink(&rel, &target, meta, &name),
            (EntryType::Link, Some(target)) => self.hardlink(&rel, &target, &name),
            (EntryType::Fifo, _) => self.fifo(&rel, meta, &name),
            (EntryType::Symlink | EntryType::Link, None) => {
                Err(refuse(&name, "link without a target"))
            }
            (EntryType::Char | EntryType::Block, _) => self.device(&rel, kind, device, meta, &name),
            _ => Err(refuse(&name, "unsupported tar entry type")),
        }
    }

    /// Checks that every parent of `rel` is a real directory (never a
    /// symlink). Missing parents are created when `create`, otherwise
    /// reported as `Ok(false)`.
    fn check_parents(&self, rel: &Path, name: &str, create: bool) -> Result<bool> {
        let mut dir = self.root.to_path_buf();
        for component in rel.parent().into_iter().flat_map(Path::iter) {
            dir.push(component);
            match fs::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => {}
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(refuse(
                        name,
                        "a parent directory is a symlink; writing through symlinks is not allowed",
                    ));
                }
                Ok(_) => return Err(refuse(name, "a parent path is not a directory")),
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    fs::DirBuilder::new()
                        .mode(0o755)
                        .create(&dir)
                        .and_then(|()| fs::set_permissions(&dir, Permissions::from_mode(0o755)))
                        .context(|| format!("creating parent directory of {name}"))?;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(e).context(|| format!("checking parents of {name}")),
            }
        }
        Ok(true)
    }

    /// Removes whatever is at `rel` so that a later entry replaces an
    /// earlier one, forgetting pending metadata of a replaced directory tree.
    fn clear(&mut self, rel: &Path, name: &str) -> Result<()> {
        let path = self.root.join(rel);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {
                fs::remove_dir_all(&path).context(|| format!("replacing directory with {name}"))?;
                self.dirs.retain(|dir, _| !dir.starts_with(rel));
            }
            Ok(_) => fs::remove_file(&path).context(|| format!("replacing {name}"))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).context(|| format!("checking {name}")),
        }
        Ok(())
    }

    fn directory(&mut self, rel: PathBuf, meta: Meta, name: &str) -> Result<()> {
        let path = self.root.join(&rel);
        if !fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            self.clear(&rel, name)?;
            fs::DirBuilder::new()
                .mode(0o700)
                .create(&path)
                .context(|| format!("creating directory {name}"))?;
        }
        set_owner(&path, meta, name)?;
        self.dirs.insert(rel, meta);
        Ok(())
    }

    fn file(&mut self, data: &mut impl Read, rel: &Path, meta: Meta, name: &str) -> Result<()> {
        self.clear(rel, name)?;
        let path = self.root.join(rel);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .context(|| format!("creating file {name}"))?;
        io::copy(data, &mut file).context(|| format!("writing file {name}"))?;
        drop(file);
        set_owner(&path, meta, name)?;
        set_mode(&path, meta, name)?;
        set_mtime(&path, meta, name)
    }

    fn symlink(&mut self, rel: &Path, target: &[u8], meta: Meta, name: &str) -> Result<()> {
        if target.is_empty() {
            return Err(refuse(name, "symlink with an empty target"));
        }
        if !symlink_stays_inside(rel, target) {
            return Err(refuse(name, "symlink target climbs above the layer root"));
        }
        self.clear(rel, name)?;
        let path = self.root.join(rel);
        std::os::unix::fs::symlink(OsStr::from_bytes(target), &path)
            .context(|| format!("creating symlink {name}"))?;
        set_owner(&path, meta, name)?;
        set_mtime(&path, meta, name)
    }

    fn hardlink(&mut self, rel: &Path, target: &[u8], name: &str) -> Result<()> {
        let target =
            clean_path(target).map_err(|_| refuse(name, "hardlink target is outside the layer"))?;
        if target.as_os_str().is_empty() || target == rel {
            return Err(refuse(
                name,
                "hardlink points at itself or at the layer root",
            ));
        }
        let missing = || refuse(name, "hardlink target does not exist in the layer");
        if !self.check_parents(&target, name, false)? {
            return Err(missing());
        }
        let target = self.root.join(target);
        let kind = match fs::symlink_metadata(&target) {
            Ok(m) => m.file_type(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing()),
            Err(e) => return Err(e).context(|| format!("checking hardlink target of {name}")),
        };
        if kind.is_dir() {
            return Err(refuse(name, "hardlink target is a directory"));
        }
        if kind.is_char_device() || kind.is_block_device() {
            return Err(refuse(name, "hardlink target is a device node"));
        }
        if kind.is_symlink() {
            // A relative symlink means something else at the link's depth.
            let link =
                fs::read_link(&target).context(|| format!("reading hardlink target of {name}"))?;
            if !symlink_stays_inside(rel, link.as_os_str().as_bytes()) {
                return Err(refuse(
                    name,
                    "hardlinked symlink would climb above the layer root",
                ));
            }
        }
        self.clear(rel, name)?;
        // linkat without AT_SYMLINK_FOLLOW: a symlink target is linked, not followed.
        fs::hard_link(&target, self.root.join(rel)).context(|| format!("creating hardlink {name}"))
    }

    fn device(
        &mut self,
        rel: &Path,
        kind: EntryType,
        (major, minor): (u32, u32),
        meta: Meta,
        name: &str,
    ) -> Result<()> {
        self.clear(rel, name)?;
        let path = self.root.join(rel);
        let sflag = if kind == EntryType::Block {
            nix::sys::stat::SFlag::S_IFBLK
        } else {
            nix::sys::stat::SFlag::S_IFCHR
        };
        let dev = nix::sys::stat::makedev(u64::from(major), u64::from(minor));
        nix::sys::stat::mknod(&path, sflag, Mode::S_IRUSR | Mode::S_IWUSR, dev)
            .context(|| format!("creating device node {name}"))?;
        set_owner(&path, meta, name)?;
        set_mode(&path, meta, name)?;
        set_mtime(&path, meta, name)
    }

    fn fifo(&mut self, rel: &Path, meta: Meta, name: &str) -> Result<()> {
        self.clear(rel, name)?;
        let path = self.root.join(rel);
        nix::unistd::mkfifo(&path, Mode::S_IRUSR | Mode::S_IWUSR)
            .context(|| format!("creating fifo {name}"))?;
        set_owner(&path, meta, name)?;
        set_mode(&path, meta, name)?;
        set_mtime(&path, meta, name)
    }

    /// `.wh.<name>` hides `<name>` from lower layers; `.wh..wh..opq` hides
    /// the whole content of lower layers' copies of its directory.
    fn whiteout(&mut self, rel: &Path, file_name: &[u8], name: &str) -> Result<()> {
        self.check_parents(rel, name, true)?;
        let parent = rel.parent().unwrap_or(Path::new(""));
        if file_name == OPAQUE_MARKER {
            return xattr::set(self.root.join(parent), OPAQUE_XATTR, b"y")
                .context(|| format!("marking the directory of {name} opaque"));
        }
        if file_name.starts_with(WHITEOUT_META_PREFIX) {
            // Other AUFS bookkeeping files have no meaning for overlayfs.
            return Ok(());
        }
        let hidden = &file_name[WHITEOUT_PREFIX.len()..];
        if matches!(hidden, b"" | b"." | b"..") {
            return Err(refuse(name, "whiteout does not name a file"));
        }
        let hidden = parent.join(OsStr::from_bytes(hidden));
        self.clear(&hidden, name)?;
        mknod(
            &self.root.join(hidden),
            SFlag::S_IFCHR,
            Mode::empty(),
            makedev(0, 0),
        )
        .context(|| format!("creating overlayfs whiteout for {name}"))
    }

    /// Applies directory modes and mtimes, children before parents.
    fn finish(self) -> Result<()> {
        for (rel, meta) in self.dirs.iter().rev() {
            let path = self.root.join(rel);
            let name = rel.display().to_string();
            set_mode(&path, *meta, &name)?;
            set_mtime(&path, *meta, &name)?;
        }
        Ok(())
    }
}

fn set_owner(path: &Path, meta: Meta, name: &str) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(meta.uid), Some(meta.gid))
        .context(|| format!("setting owner of {name}"))
}

/// Never called on symlinks: chmod would follow them.
fn set_mode(path: &Path, meta: Meta, name: &str) -> Result<()> {
    fs::set_permissions(path, Permissions::from_mode(meta.mode))
        .context(|| format!("setting mode of {name}"))
}

fn set_mtime(path: &Path, meta: Meta, name: &str) -> Result<()> {
    let time = TimeSpec::new(meta.mtime, 0);
    utimensat(None, path, &time, &time, UtimensatFlags::NoFollowSymlink)
        .context(|| format!("setting mtime of {name}"))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;
    use crate::test_support::{sha256, snapshot, TarBuilder, MTIME};

    fn unpack(tar: &[u8]) -> (tempfile::TempDir, PathBuf, Result<String>) {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("store/layer");
        let result = unpack_layer(tar, &dest);
        (tmp, dest, result)
    }

    #[test]
    fn unpacks_all_supported_entry_types_with_metadata() {
        let mut tar = TarBuilder::new();
        tar.dir("./", 0o755)
            .dir("bin", 0o711)
            .file_owned("bin/tool", b"#!/bin/sh\n", 0o4755, 1000, 100)
            .symlink("bin/sh", "/bin/busybox")
            .symlink("bin/rel", "../etc/conf")
            .hardlink("bin/tool2", "bin/tool")
            .fifo("run.fifo")
            .file("etc/conf", b"x=1", 0o600);
        let bytes = tar.finish();
        let (_tmp, dest, result) = unpack(&bytes);
        assert_eq!(result.unwrap(), sha256(&bytes));

        let tool = fs::metadata(dest.join("bin/tool")).unwrap();
        assert_eq!(fs::read(dest.join("bin/tool")).unwrap(), b"#!/bin/sh\n");
        assert_eq!(
            (tool.mode() & 0o7777, tool.uid(), tool.gid()),
            (0o4755, 1000, 100)
        );
        assert_eq!(tool.mtime(), MTIME);
        assert_eq!(tool.nlink(), 2);
        assert_eq!(
            fs::metadata(dest.join("bin/tool2")).unwrap().ino(),
            tool.ino()
        );
        assert_eq!(
            fs::read_link(dest.join("bin/sh")).unwrap(),
            Path::new("/bin/busybox")
        );
        assert_eq!(
            fs::symlink_metadata(dest.join("bin/sh")).unwrap().mtime(),
            MTIME
        );
        assert!(fs::metadata(dest.join("run.fifo"))
            .unwrap()
            .file_type()
            .is_fifo());
        let bin = fs::metadata(dest.join("bin")).unwrap();
        assert_eq!((bin.mode() & 0o7777, bin.mtime()), (0o711, MTIME));
        // Implicit parent "etc" gets Docker's default mode.
        assert_eq!(
            fs::metadata(dest.join("etc")).unwrap().mode() & 0o7777,
            0o755
        );
    }

    #[test]
    fn blank_numeric_header_fields_read_as_zero() {
        let mut header = tar::Header::new_gnu();
        header.set_size(2);
        header.set_mode(0o640);
        header.set_entry_type(EntryType::Regular);
        let mut builder = tar::Builder::new(Vec::new());
        builder.append_data(&mut header, "f", &b"hi"[..]).unwrap();
        let (_tmp, dest, result) = unpack(&builder.into_inner().unwrap());
        result.unwrap();
        let meta = fs::metadata(dest.join("f")).unwrap();
        assert_eq!(
            (meta.mode() & 0o777, meta.uid(), meta.mtime()),
            (0o640, 0, 0)
        );
    }

    #[test]
    fn later_entries_replace_earlier_ones() {
        let mut tar = TarBuilder::new();
        tar.file("a", b"old", 0o644)
            .file("a", b"new", 0o600)
            .dir("d", 0o755)
            .file("d/inner", b"x", 0o644)
            .file("d", b"now a file", 0o644)
            .symlink("s", "a")
            .dir("s", 0o700);
        let (_tmp, dest, result) = unpack(&tar.finish());
        result.unwrap();
        assert_eq!(fs::read(dest.join("a")).unwrap(), b"new");
        assert_eq!(fs::metadata(dest.join("a")).unwrap().mode() & 0o777, 0o600);
        assert_eq!(fs::read(dest.join("d")).unwrap(), b"now a file");
        assert!(fs::symlink_metadata(dest.join("s")).unwrap().is_dir());
    }

    #[test]
    fn converts_whiteouts_to_overlayfs_format() {
        let mut tar = TarBuilder::new();
        tar.dir("etc", 0o755)
            .file("etc/.wh.removed", b"", 0o644)
            .dir("var/cache", 0o755)
            .file("var/cache/.wh..wh..opq", b"", 0o644)
            .file("var/cache/.wh..wh.plnk", b"", 0o644);
        let (_tmp, dest, result) = unpack(&tar.finish());
        result.unwrap();
        let whiteout = fs::symlink_metadata(dest.join("etc/removed")).unwrap();
        assert!(whiteout.file_type().is_char_device());
        assert_eq!(whiteout.rdev(), 0);
        assert!(!dest.join("etc/.wh.removed").exists());
        assert_eq!(
            xattr::get(dest.join("var/cache"), OPAQUE_XATTR).unwrap(),
            Some(b"y".to_vec())
        );
        assert_eq!(snapshot(&dest.join("var/cache")), Vec::<String>::new());
    }

    fn assert_refused(tar: TarBuilder, entry: &str) {
        let (tmp, _dest, result) = unpack(&tar.finish());
        let err = result.unwrap_err();
        assert!(
            matches!(&err, Error::UnsafeEntry { entry: e, .. } if e == entry),
            "expected refusal of {entry}, got: {err}"
        );
        assert!(err.to_string().contains(entry));
        // Nothing appeared outside the layer directory.
        let outside: Vec<String> = snapshot(tmp.path())
            .into_iter()
            .filter(|p| !p.starts_with("store/layer"))
            .collect();
        assert_eq!(outside, ["store/"]);
    }

    #[test]
    fn refuses_path_traversal() {
        let mut tar = TarBuilder::new();
        tar.file("../evil", b"x", 0o644);
        assert_refused(tar, "../evil");
        let mut tar = TarBuilder::new();
        tar.file("ok/../../evil", b"x", 0o644);
        assert_refused(tar, "ok/../../evil");
        let mut tar = TarBuilder::new();
        tar.file("/abs", b"x", 0o644);
        assert_refused(tar, "/abs");
    }

    #[test]
    fn refuses_escaping_symlinks_but_allows_absolute_ones() {
        let mut tar = TarBuilder::new();
        tar.symlink("link", "../../..");
        assert_refused(tar, "link");
        let mut tar = TarBuilder::new();
        tar.symlink("a/b/link", "../../../x");
        assert_refused(tar, "a/b/link");
        let mut tar = TarBuilder::new();
        tar.symlink("a/b/link", "../../x")
            .symlink("abs", "/../../etc");
        let (_tmp, dest, result) = unpack(&tar.finish());
        result.unwrap();
        assert_eq!(
            fs::read_link(dest.join("a/b/link")).unwrap(),
            Path::new("../../x")
        );
    }

    #[test]
    fn refuses_writing_through_a_symlink_parent() {
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().to_str().unwrap().to_string();
        let mut tar = TarBuilder::new();
        tar.symlink("link", &target)
            .file("link/passwd", b"root::0:0::/:/bin/sh", 0o644);
        assert_refused(tar, "link/passwd");
        assert!(!outside.path().join("passwd").exists());

        // Same with a whiteout and an opaque marker below the symlink.
        for entry in ["link/.wh.passwd", "link/.wh..wh..opq"] {
            let mut tar = TarBuilder::new();
            tar.symlink("link", &target).file(entry, b"", 0o644);
            assert_refused(tar, entry);
        }
        assert_eq!(snapshot(outside.path()), Vec::<String>::new());
    }

    #[test]
    fn refuses_bad_hardlinks() {
        let mut tar = TarBuilder::new();
        tar.hardlink("passwd", "../../etc/passwd");
        assert_refused(tar, "passwd");
        let mut tar = TarBuilder::new();
        tar.hardlink("passwd", "/etc/passwd");
        assert_refused(tar, "passwd");
        let mut tar = TarBuilder::new();
        tar.hardlink("h", "missing");
        assert_refused(tar, "h");
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), b"s").unwrap();
        let mut tar = TarBuilder::new();
        tar.symlink("link", outside.path().to_str().unwrap())
            .hardlink("h", "link/secret");
        assert_refused(tar, "h");
        let mut tar = TarBuilder::new();
        tar.symlink("a/b/up", "../../x").hardlink("up", "a/b/up");
        assert_refused(tar, "up");
    }

    #[test]
    fn keeps_device_nodes_outside_dev_and_refuses_bogus_whiteouts() {
        let tmp = tempfile::tempdir().unwrap();
        let mut tar = TarBuilder::new();
        tar.device("dev/sda", EntryType::Block)
            .device("dev/null", EntryType::Char)
            .device("sda", EntryType::Block);
        unpack_layer(&tar.finish()[..], tmp.path()).unwrap();
        assert!(
            !tmp.path().join("dev/sda").exists(),
            "dev/ nodes are skipped"
        );
        let m = fs::symlink_metadata(tmp.path().join("sda")).unwrap();
        assert!(m.file_type().is_block_device());
        let mut tar = TarBuilder::new();
        tar.file("dir/.wh...", b"", 0o644);
        assert_refused(tar, "dir/.wh...");
    }

    #[test]
    fn cleans_and_resolves_paths_lexically() {
        assert_eq!(clean_path(b"./a//b/./c/").unwrap(), Path::new("a/b/c"));
        assert_eq!(clean_path(b"./").unwrap(), Path::new(""));
        assert!(clean_path(b"a/../b").is_err());
        assert_eq!(
            resolve_link(Path::new("a/b/l"), b"../c").unwrap(),
            Path::new("a/c")
        );
        assert_eq!(
            resolve_link(Path::new("l"), b"./x/../y").unwrap(),
            Path::new("y")
        );
        assert!(resolve_link(Path::new("l"), b"..").is_none());
    }
}
