//! Directory traversal shared by import (tarring a tree) and size accounting.

use std::fs::{self, Metadata};
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

/// Visits every entry below `root` in sorted order without following
/// symlinks, passing its path relative to `root`; sorted so that tarring the
/// same tree twice gives byte-identical output.
pub(crate) fn walk(
    root: &Path,
    visit: &mut dyn FnMut(&Path, &Metadata) -> Result<()>,
) -> Result<()> {
    walk_dir(root, Path::new(""), visit)
}

fn walk_dir(
    root: &Path,
    rel: &Path,
    visit: &mut dyn FnMut(&Path, &Metadata) -> Result<()>,
) -> Result<()> {
    let dir = root.join(rel);
    let mut names = fs::read_dir(&dir)
        .and_then(|entries| {
            entries
                .map(|e| e.map(|e| e.file_name()))
                .collect::<Result<Vec<_>, _>>()
        })
        .context(|| format!("reading directory {}", dir.display()))?;
    names.sort();
    for name in names {
        let child: PathBuf = rel.join(name);
        let path = root.join(&child);
        let meta = fs::symlink_metadata(&path).context(|| format!("reading {}", path.display()))?;
        visit(&child, &meta)?;
        if meta.is_dir() {
            walk_dir(root, &child, visit)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_sorted_without_following_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("b/c")).unwrap();
        fs::write(tmp.path().join("b/c/f"), b"x").unwrap();
        fs::write(tmp.path().join("a"), b"x").unwrap();
        std::os::unix::fs::symlink("/", tmp.path().join("b/root")).unwrap();
        let mut seen = Vec::new();
        walk(tmp.path(), &mut |rel, _| {
            seen.push(rel.display().to_string());
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, ["a", "b", "b/c", "b/c/f", "b/root"]);
    }
}
