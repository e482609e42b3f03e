//! Assembling the container's root from what the host attached: each image
//! layer is a read-only virtio-blk disk (ext4 or erofs) or a directory in
//! the guest, and the writable layer is a disk or tmpfs. The agent mounts
//! them in its own namespace; the process runtime then overlays them in
//! the container's mount namespace exactly as on the host.

use crate::error::{Context, Error, Result};
use crate::system::RUN_DIR;
use isola_proto::{Filesystem, Layer, Upper};
use isola_runtime_process::Rootfs;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long to wait for a disk the host attached to show up in sysfs.
const DISK_WAIT: Duration = Duration::from_secs(5);

/// Mounts made in the agent's namespace, undone in reverse at power-off so
/// a writable disk is left clean.
#[derive(Default)]
pub struct Mounts(Vec<PathBuf>);

impl Mounts {
    fn mount(
        &mut self,
        source: &str,
        target: &Path,
        fstype: &str,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<()> {
        fs::create_dir_all(target).ctx(|| format!("creating {}", target.display()))?;
        mount(Some(source), target, Some(fstype), flags, data)
            .ctx(|| format!("mounting {fstype} {source} on {}", target.display()))?;
        self.0.push(target.to_path_buf());
        Ok(())
    }

    /// Unmounts everything, lazily where something still holds a mount.
    pub fn unmount_all(&mut self) {
        while let Some(target) = self.0.pop() {
            if umount2(&target, MntFlags::empty()).is_err() {
                let _ = umount2(&target, MntFlags::MNT_DETACH);
            }
        }
    }
}

/// Mounts the layers and the upper file system; returns the overlay's parts
/// for the process runtime.
pub fn assemble(
    layers: &[Layer],
    upper: &Upper,
    readonly: bool,
    mounts: &mut Mounts,
) -> Result<Rootfs> {
    if layers.is_empty() {
        return Err(Error::Invalid("the image has no layers".into()));
    }
    let base = Path::new(RUN_DIR);
    let mut lower = Vec::with_capacity(layers.len());
    for (i, layer) in layers.iter().enumerate() {
        match layer {
            Layer::Disk { serial, fs } => {
                let dev = find_disk(serial)?;
                let at = base.join("layers").join(i.to_string());
                mounts.mount(&dev, &at, fs.kernel_name(), MsFlags::MS_RDONLY, None)?;
                lower.push(at);
            }
            Layer::Dir { path } => {
                let p = PathBuf::from(path);
                if !p.is_dir() {
                    return Err(Error::Missing(format!(
                        "layer directory {path} does not exist in the guest"
                    )));
                }
                lower.push(p);
            }
        }
    }
    let upper_mnt = base.join("upper");
    match upper {
        Upper::Disk { serial, fs } => {
            if *fs != Filesystem::Ext4 {
                return Err(Error::Invalid(format!(
                    "the writable layer must be ext4, not {}",
                    fs.kernel_name()
                )));
            }
            let dev = find_disk(serial)?;
            // The host makes the disk with lazy_itable_init: without
            // noinit_itable the kernel would zero its inode tables in the
            // background, costing host CPU and filling the sparse file.
            mounts.mount(
                &dev,
                &upper_mnt,
                "ext4",
                MsFlags::empty(),
                Some("noinit_itable"),
            )?;
        }
        Upper::Tmpfs { size_bytes } => {
            let data = match size_bytes {
                Some(n) => format!("mode=0755,size={n}"),
                None => "mode=0755".to_string(),
            };
            mounts.mount("tmpfs", &upper_mnt, "tmpfs", MsFlags::empty(), Some(&data))?;
        }
    }
    let (upper_dir, work) = (upper_mnt.join("upper"), upper_mnt.join("work"));
    for d in [&upper_dir, &work] {
        fs::create_dir_all(d).ctx(|| format!("creating {}", d.display()))?;
    }
    let target = base.join("rootfs");
    fs::create_dir_all(&target).ctx(|| format!("creating {}", target.display()))?;
    Ok(Rootfs {
        lower,
        upper: upper_dir,
        work,
        target,
        readonly,
    })
}

/// `/dev/vdX` of the virtio-blk disk whose serial is `serial`.
fn find_disk(serial: &str) -> Result<String> {
    let deadline = Instant::now() + DISK_WAIT;
    loop {
        if let Some(name) = disk_by_serial(Path::new("/sys/block"), serial) {
            let dev = format!("/dev/{name}");
            if Path::new(&dev).exists() {
                return Ok(dev);
            }
        }
        if Instant::now() >= deadline {
            return Err(Error::Missing(format!(
                "no disk with serial {serial:?}; attach it with \
                 -device virtio-blk-device,drive=...,serial={serial}"
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn disk_by_serial(sys_block: &Path, serial: &str) -> Option<String> {
    fs::read_dir(sys_block).ok()?.flatten().find_map(|e| {
        let s = fs::read_to_string(e.path().join("serial")).ok()?;
        (s.trim_end() == serial).then(|| e.file_name().to_string_lossy().into_owned())
    })
}

/// Mounts the host's shares (the container's binds and volumes) where the
/// spec's bind sources point. cache=mmap: the page cache only for mmap, so
/// what the host or another container writes is seen at once; access=client:
/// the guest kernel checks permissions as for any local file system, with
/// owners stored as they are (QEMU's passthrough security model).
pub fn mount_shares(mounts: &mut Mounts) -> Result<()> {
    use isola_proto::layout::{GUEST_SHARES, SHARES_TAG};
    mounts.mount(
        SHARES_TAG,
        Path::new(GUEST_SHARES),
        "9p",
        MsFlags::empty(),
        Some("trans=virtio,version=9p2000.L,cache=mmap,access=client,msize=524288"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_disks_by_serial() {
        let dir = tempfile::tempdir().unwrap();
        for (dev, serial) in [("vda", "isola-upper\n"), ("vdb", "isola-l0")] {
            fs::create_dir(dir.path().join(dev)).unwrap();
            fs::write(dir.path().join(dev).join("serial"), serial).unwrap();
        }
        fs::create_dir(dir.path().join("loop0")).unwrap();
        assert_eq!(
            disk_by_serial(dir.path(), "isola-upper").as_deref(),
            Some("vda")
        );
        assert_eq!(
            disk_by_serial(dir.path(), "isola-l0").as_deref(),
            Some("vdb")
        );
        assert_eq!(disk_by_serial(dir.path(), "isola-l1"), None);
    }
}
