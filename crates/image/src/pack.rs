//! Turning a directory into a layer tarball for `isola import DIR`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use tar::{EntryType, Header, HeaderMode};

use crate::error::{Error, IoContext, Result};
use crate::walk::walk;

/// Tars `dir` deterministically (sorted names, no symlink following,
/// hardlinks kept as links) so that importing the same tree twice produces
/// the same layer diff-id and the layer is shared.
pub(crate) fn pack_dir(dir: &Path, out: &mut dyn Write) -> Result<()> {
    let mut builder = tar::Builder::new(out);
    let mut first_links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let writing = || format!("writing the layer tarball of {}", dir.display());
    walk(dir, &mut |rel, meta| {
        let kind = meta.file_type();
        if kind.is_socket() {
            // Sockets only exist while their server runs; tar cannot hold them.
            return Ok(());
        }
        if (kind.is_char_device() || kind.is_block_device()) && rel.starts_with("dev") {
            // The container's /dev replaces them (see unpack.rs).
            return Ok(());
        }
        let mut header = Header::new_gnu();
        header.set_metadata_in_mode(meta, HeaderMode::Complete);
        header.set_mode(meta.mode() & 0o7777);
        if kind.is_char_device() || kind.is_block_device() {
            let (major, minor) = (
                nix::sys::stat::major(meta.rdev()),
                nix::sys::stat::minor(meta.rdev()),
            );
            let fits = |n: u64| {
                u32::try_from(n).map_err(|_| Error::Unimportable {
                    path: dir.join(rel).display().to_string(),
                    reason: "its device number does not fit a tar header",
                })
            };
            let (major, minor) = (fits(major)?, fits(minor)?);
            header.set_device_major(major).context(writing)?;
            header.set_device_minor(minor).context(writing)?;
        }
        if kind.is_file() && meta.nlink() > 1 {
            if let Some(first) = first_links.get(&(meta.dev(), meta.ino())) {
                header.set_entry_type(EntryType::Link);
                header.set_size(0);
                return builder
                    .append_link(&mut header, rel, first)
                    .context(writing);
            }
            first_links.insert((meta.dev(), meta.ino()), rel.to_path_buf());
        }
        let path = dir.join(rel);
        if kind.is_symlink() {
            let target =
                fs::read_link(&path).context(|| format!("reading symlink {}", path.display()))?;
            builder.append_link(&mut header, rel, target)
        } else if kind.is_file() {
            let file = File::open(&path).context(|| format!("reading {}", path.display()))?;
            builder.append_data(&mut header, rel, file)
        } else {
            builder.append_data(&mut header, rel, io::empty())
        }
        .context(writing)
    })?;
    builder.finish().context(writing)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use crate::test_support::snapshot;
    use crate::unpack::unpack_layer;

    #[test]
    fn packs_a_tree_that_unpacks_identically_and_reproducibly() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("bin")).unwrap();
        fs::write(src.join("bin/busybox"), b"elf").unwrap();
        fs::set_permissions(src.join("bin/busybox"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::hard_link(src.join("bin/busybox"), src.join("bin/ls")).unwrap();
        std::os::unix::fs::symlink("busybox", src.join("bin/sh")).unwrap();
        nix::unistd::mkfifo(&src.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        std::os::unix::net::UnixListener::bind(src.join("sock")).unwrap();

        let mut first = Vec::new();
        pack_dir(&src, &mut first).unwrap();
        let mut second = Vec::new();
        pack_dir(&src, &mut second).unwrap();
        assert_eq!(first, second);

        let dest = tmp.path().join("dest");
        unpack_layer(first.as_slice(), &dest).unwrap();
        fs::remove_file(src.join("sock")).unwrap();
        assert_eq!(snapshot(&dest), snapshot(&src));
        assert_eq!(fs::metadata(dest.join("bin/ls")).unwrap().nlink(), 2);
        assert_eq!(
            fs::metadata(dest.join("bin/ls")).unwrap().mode() & 0o777,
            0o755
        );
    }

    #[test]
    fn packs_device_nodes_outside_dev() {
        let tmp = tempfile::tempdir().unwrap();
        nix::sys::stat::mknod(
            &tmp.path().join("null"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::S_IRUSR,
            nix::sys::stat::makedev(1, 3),
        )
        .unwrap();
        let mut tar = Vec::new();
        pack_dir(tmp.path(), &mut tar).unwrap();
        let mut a = tar::Archive::new(&tar[..]);
        let e = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap().ends_with("null"))
            .unwrap();
        assert_eq!(e.header().entry_type(), tar::EntryType::Char);
        assert_eq!(e.header().device_major().unwrap(), Some(1));
    }
}
