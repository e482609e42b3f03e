//! Guest disks: one read-only erofs image per image, built once from its
//! layers and shared by all VMs of that image, and one sparse ext4 image per
//! container for its writes.
//!
//! Why one merged disk per image and not one disk per layer: QEMU's microvm
//! without ACPI has 8 virtio-mmio slots (24 with ACPI), and real images have
//! 10-20 layers, some far more. A single image disk keeps the guest's device
//! layout fixed whatever the image (serial console, image, upper, shares,
//! NIC), which VM templates rely on, and boots faster than an overlay of
//! many disks (see bench/RESULTS.md). The price is cache space: images that
//! share base layers do not share their disks.

use crate::{io_err, Error, Result};
use sha2::{Digest, Sha256};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Size of a container's writable disk. Sparse: it costs what is written.
const UPPER_BYTES: u64 = 8 << 30;

fn run(cmd: &mut Command, tool: &str, fix: &'static str) -> Result<()> {
    let out = cmd.output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Missing {
                what: "program",
                path: PathBuf::from(tool),
                fix,
            }
        } else {
            Error::Io {
                context: format!("running {tool}"),
                source: e,
            }
        }
    })?;
    if !out.status.success() {
        return Err(Error::Tool {
            tool: tool.to_string(),
            detail: String::from_utf8_lossy(&out.stderr)
                .trim()
                .replace('\n', " "),
        });
    }
    Ok(())
}

/// The erofs image of the unpacked layer `layer_dir`, cached in `cache`
/// under the layer's name (its diff-id); built on first use, atomically.
pub fn layer_image(cache: &Path, layer_dir: &Path) -> Result<PathBuf> {
    let name = layer_dir
        .file_name()
        .ok_or_else(|| Error::Tool {
            tool: "mkfs.erofs".into(),
            detail: format!("layer directory {} has no name", layer_dir.display()),
        })?
        .to_string_lossy()
        .into_owned();
    let image = cache.join(format!("{name}.erofs"));
    if image.exists() {
        return Ok(image);
    }
    std::fs::create_dir_all(cache).map_err(io_err(format!("creating {}", cache.display())))?;
    let tmp = cache.join(format!(".{name}.{}.tmp", std::process::id()));
    let built = run(
        Command::new("mkfs.erofs")
            .arg("--quiet")
            .arg("-T0")
            .arg(&tmp)
            .arg(layer_dir),
        "mkfs.erofs",
        "apt-get install erofs-utils",
    )
    .and_then(|()| std::fs::rename(&tmp, &image).map_err(io_err("installing the layer image")));
    if built.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    built.map(|()| image)
}

/// The erofs disk of an image whose unpacked layers are `layers` (bottom
/// first), cached in `cache` under the layers' chain; built on first use,
/// atomically. A one-layer image uses its layer's disk as is.
pub fn image_disk(cache: &Path, layers: &[PathBuf]) -> Result<PathBuf> {
    match layers {
        [] => Err(Error::Tool {
            tool: "mkfs.erofs".into(),
            detail: "the image has no layers".into(),
        }),
        [one] => layer_image(cache, one),
        _ => merged_image(cache, layers),
    }
}

fn merged_image(cache: &Path, layers: &[PathBuf]) -> Result<PathBuf> {
    let mut chain = Sha256::new();
    for l in layers {
        chain.update(l.as_os_str().as_bytes());
        chain.update(b"\n");
    }
    let hex: String = chain
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let image = cache.join(format!("image-{hex}.erofs"));
    if image.exists() {
        return Ok(image);
    }
    std::fs::create_dir_all(cache).map_err(io_err(format!("creating {}", cache.display())))?;
    let stage = cache.join(format!(".merge-{hex}.{}", std::process::id()));
    let tmp = stage.with_extension("erofs.tmp");
    let built = build_merged(&stage, &tmp, layers)
        .and_then(|()| std::fs::rename(&tmp, &image).map_err(io_err("installing the image disk")));
    let _ = std::fs::remove_file(&tmp);
    let _ = std::fs::remove_dir_all(&stage);
    built.map(|()| image)
}

/// Mounts the layers as a read-only overlay in a private mount namespace of
/// the `mkfs.erofs` child (so no mount outlives it, even if it is killed)
/// and packs what the overlay shows: whiteouts and opaque directories are
/// applied by the kernel's own overlayfs, not re-implemented here.
fn build_merged(stage: &Path, out: &Path, layers: &[PathBuf]) -> Result<()> {
    let links = stage.join("l");
    let mnt = stage.join("m");
    for d in [&links, &mnt] {
        std::fs::create_dir_all(d).map_err(io_err(format!("creating {}", d.display())))?;
    }
    // Short relative names keep 64+ layers inside mount(2)'s one-page
    // option limit, as Docker's overlay2 `l/` links do.
    let mut names = Vec::new();
    for (i, l) in layers.iter().rev().enumerate() {
        std::os::unix::fs::symlink(l, links.join(i.to_string()))
            .map_err(io_err("linking a layer"))?;
        names.push(i.to_string());
    }
    let cstr = |b: &[u8]| {
        CString::new(b).map_err(|_| Error::Tool {
            tool: "mount".into(),
            detail: "a path contains a NUL byte".into(),
        })
    };
    let links_c = cstr(links.as_os_str().as_bytes())?;
    let mnt_c = cstr(mnt.as_os_str().as_bytes())?;
    let opts_c = cstr(format!("lowerdir={}", names.join(":")).as_bytes())?;
    let overlay_c = cstr(b"overlay")?;
    let root_c = cstr(b"/")?;
    let mut cmd = Command::new("mkfs.erofs");
    cmd.arg("--quiet").arg("-T0").arg(out).arg(&mnt);
    // SAFETY: the closure runs between fork and exec and makes only
    // async-signal-safe system calls on C strings built before the fork.
    unsafe {
        cmd.pre_exec(move || {
            let check = |r: libc::c_int| {
                if r == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            };
            check(libc::unshare(libc::CLONE_NEWNS))?;
            check(libc::mount(
                std::ptr::null(),
                root_c.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ))?;
            check(libc::chdir(links_c.as_ptr()))?;
            check(libc::mount(
                overlay_c.as_ptr(),
                mnt_c.as_ptr(),
                overlay_c.as_ptr(),
                libc::MS_RDONLY,
                opts_c.as_ptr().cast(),
            ))
        });
    }
    run(&mut cmd, "mkfs.erofs", "apt-get install erofs-utils")
}

/// Creates the container's writable disk at `path` (once; a restarted
/// container keeps it). The layout inside (`upper/`, `work/`) is the agent's.
pub fn upper_image(path: &Path) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    let tmp = path.with_extension("tmp");
    let f = std::fs::File::create(&tmp).map_err(io_err(format!("creating {}", tmp.display())))?;
    f.set_len(UPPER_BYTES)
        .map_err(io_err("sizing the writable disk"))?;
    drop(f);
    let made = run(
        Command::new("mkfs.ext4")
            .args([
                "-q",
                "-F",
                "-m",
                "0",
                "-O",
                "^has_journal",
                "-E",
                "lazy_itable_init=1,nodiscard",
            ])
            .arg(&tmp),
        "mkfs.ext4",
        "apt-get install e2fsprogs",
    )
    .and_then(|()| std::fs::rename(&tmp, path).map_err(io_err("installing the writable disk")));
    if made.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    made
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_images_are_cached_and_failures_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let layer = dir.path().join("abc123");
        std::fs::create_dir_all(layer.join("etc")).unwrap();
        std::fs::write(layer.join("etc/hello"), "hi").unwrap();
        let cache = dir.path().join("cache");
        let img = layer_image(&cache, &layer).unwrap();
        let first = std::fs::metadata(&img).unwrap().modified().unwrap();
        assert_eq!(layer_image(&cache, &layer).unwrap(), img);
        assert_eq!(std::fs::metadata(&img).unwrap().modified().unwrap(), first);
        assert!(layer_image(&cache, &dir.path().join("missing")).is_err());
        let names: Vec<_> = std::fs::read_dir(&cache)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn upper_image_is_sparse_ext4() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("upper.ext4");
        upper_image(&p).unwrap();
        let m = std::fs::metadata(&p).unwrap();
        assert_eq!(m.len(), UPPER_BYTES);
        use std::os::unix::fs::MetadataExt;
        assert!(
            m.blocks() * 512 < 64 << 20,
            "not sparse: {} blocks",
            m.blocks()
        );
    }
}
