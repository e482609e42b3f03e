//! Guest disks: one read-only erofs image per image layer, built once per
//! diff-id and shared by all VMs (like the unpacked layer directories of
//! process mode), and one sparse ext4 image per container for its writes.

use crate::{io_err, Error, Result};
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
