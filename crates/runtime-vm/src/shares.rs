//! The VM's shared directory: each bind and volume of the container is
//! bind-mounted to `shares/<n>` in the container directory, in a mount
//! namespace of the VMM's own, and QEMU serves `shares/` over virtio-9p.
//!
//! One 9p device for any number of mounts keeps the virtio-mmio slot count
//! fixed (microvm has 8). The binds live in the VMM's private mount
//! namespace, so they vanish with QEMU however it ends (even `kill -9`):
//! nothing is left mounted on the host. Read-only mounts are read-only
//! here already, so the guest cannot write them whatever its kernel does.

use crate::{io_err, Error, Result, VmSpec};
use nix::mount::{mount, MsFlags};
use std::path::Path;

/// The shared directory, relative to the VMM's working directory.
pub(crate) const SHARES_DIR: &str = "shares";

/// Makes the shares of `spec` in a new mount namespace of the calling
/// process (the VMM-to-be, just before it execs).
pub(crate) fn stage(spec: &VmSpec) -> Result<()> {
    if spec.shares.is_empty() {
        return Ok(());
    }
    let sys = |what: &str| {
        let what = what.to_string();
        move |e: nix::Error| io_err(what)(std::io::Error::from(e))
    };
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(sys("a mount namespace for the VM"))?;
    isola_runtime_process::make_private().map_err(|e| Error::Tool {
        tool: "mount".into(),
        detail: e.to_string(),
    })?;
    let dir = spec.workdir.join(SHARES_DIR);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
    for (n, share) in spec.shares.iter().enumerate() {
        let at = dir.join(n.to_string());
        let is_dir = std::fs::metadata(&share.source)
            .map_err(io_err(format!("share {}", share.source.display())))?
            .is_dir();
        if is_dir {
            std::fs::create_dir(&at)
        } else {
            std::fs::File::create(&at).map(drop)
        }
        .map_err(io_err(format!("creating {}", at.display())))?;
        bind(&share.source, &at, share.readonly)
            .map_err(sys(&format!("sharing {}", share.source.display())))?;
    }
    Ok(())
}

fn bind(source: &Path, at: &Path, readonly: bool) -> nix::Result<()> {
    mount(
        Some(source),
        at,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )?;
    if readonly {
        mount(
            None::<&str>,
            at,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )?;
    }
    Ok(())
}
