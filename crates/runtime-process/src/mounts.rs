//! The container's file system view, built inside its private mount
//! namespace: the overlayfs root, Docker's default mounts and devices,
//! Docker's masked and read-only paths, then pivot_root.

use crate::spawn::ContainerSpec;
use crate::{CgroupVersion, Context, Error, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::unistd::{chdir, pivot_root};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};

/// Paths Docker hides from containers by default.
const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Paths Docker makes read-only by default.
const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Docker's default device nodes: (name, major, minor).
const DEVICES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

const DEV_LINKS: &[(&str, &str)] = &[
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
    ("pts/ptmx", "ptmx"),
];

/// Builds the container's root and switches into it.
pub(crate) fn enter_rootfs(spec: &ContainerSpec) -> Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .ctx(|| "making / private".into())?;
    let root = &spec.rootfs.target;
    mount_overlay(spec)?;

    let nosuid_noexec_nodev = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;
    mount_fs(root, "proc", "/proc", nosuid_noexec_nodev, None)?;
    mount_fs(
        root,
        "tmpfs",
        "/dev",
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?;
    mount_fs(
        root,
        "devpts",
        "/dev/pts",
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
    )?;
    mount_fs(
        root,
        "tmpfs",
        "/dev/shm",
        nosuid_noexec_nodev,
        Some("mode=1777,size=65536k"),
    )?;
    mount_fs(root, "mqueue", "/dev/mqueue", nosuid_noexec_nodev, None)?;
    mount_fs(
        root,
        "sysfs",
        "/sys",
        nosuid_noexec_nodev | MsFlags::MS_RDONLY,
        None,
    )?;
    if CgroupVersion::detect() == CgroupVersion::V2 {
        mount_fs(
            root,
            "cgroup2",
            "/sys/fs/cgroup",
            nosuid_noexec_nodev | MsFlags::MS_RDONLY,
            None,
        )?;
    }
    create_devices(root)?;
    for (src, dst) in &spec.bind_files {
        bind_file(src, root, dst)?;
    }

    pivot(root)?;

    for path in MASKED_PATHS {
        mask(path)?;
    }
    for path in READONLY_PATHS {
        if Path::new(path).exists() {
            bind_readonly(path)?;
        }
    }
    if spec.rootfs.readonly {
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .ctx(|| "remounting the root read-only".into())?;
    }
    Ok(())
}

fn mount_overlay(spec: &ContainerSpec) -> Result<()> {
    let r = &spec.rootfs;
    if r.lower.is_empty() {
        return Err(Error::Setup("the image has no layers".into()));
    }
    let lower: Vec<String> = r.lower.iter().map(|p| p.display().to_string()).collect();
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        r.upper.display(),
        r.work.display()
    );
    mount(
        Some("overlay"),
        &r.target,
        Some("overlay"),
        MsFlags::empty(),
        Some(opts.as_str()),
    )
    .ctx(|| format!("mounting the overlay root at {}", r.target.display()))
}

/// Resolves `inside` (an absolute container path) under `root`, creating
/// missing directories and refusing to pass through symlinks, so an image
/// cannot redirect our mounts onto host paths.
fn safe_path(root: &Path, inside: &str, last_is_dir: bool) -> Result<PathBuf> {
    let mut cur = root.to_path_buf();
    let comps: Vec<Component> = Path::new(inside).components().collect();
    for (i, c) in comps.iter().enumerate() {
        let Component::Normal(name) = c else { continue };
        cur.push(name);
        let last = i + 1 == comps.len();
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(Error::Setup(format!(
                    "{inside} in the image is a symlink; refusing to mount through it"
                )))
            }
            Ok(_) => {}
            Err(_) if last && !last_is_dir => {
                fs::File::create(&cur).map_err(|e| {
                    Error::Setup(format!("creating {inside} in the container: {e}"))
                })?;
            }
            Err(_) => fs::create_dir(&cur)
                .map_err(|e| Error::Setup(format!("creating {inside} in the container: {e}")))?,
        }
    }
    Ok(cur)
}

fn mount_fs(root: &Path, fstype: &str, at: &str, flags: MsFlags, data: Option<&str>) -> Result<()> {
    let target = safe_path(root, at, true)?;
    mount(Some(fstype), &target, Some(fstype), flags, data)
        .ctx(|| format!("mounting {fstype} on {at}"))
}

fn bind_file(src: &Path, root: &Path, at: &str) -> Result<()> {
    let target = safe_path(root, at, false)?;
    mount(
        Some(src),
        &target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .ctx(|| format!("bind-mounting {} on {at}", src.display()))
}

fn create_devices(root: &Path) -> Result<()> {
    let dev = root.join("dev");
    for (name, major, minor) in DEVICES {
        let path = dev.join(name);
        mknod(
            &path,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(*major, *minor),
        )
        .ctx(|| format!("creating /dev/{name}"))?;
        // mknod is subject to the umask; Docker's nodes are 0666.
        nix::sys::stat::fchmodat(
            None,
            &path,
            Mode::from_bits_truncate(0o666),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .ctx(|| format!("chmod /dev/{name}"))?;
    }
    for (target, name) in DEV_LINKS {
        symlink(target, dev.join(name))
            .map_err(|e| Error::Setup(format!("creating /dev/{name}: {e}")))?;
    }
    Ok(())
}

/// pivot_root without a temporary directory: stack the old root under the
/// new one and detach it (the approach runc documents).
fn pivot(root: &Path) -> Result<()> {
    chdir(root).ctx(|| format!("chdir {}", root.display()))?;
    pivot_root(".", ".").ctx(|| "pivot_root".into())?;
    umount2(".", MntFlags::MNT_DETACH).ctx(|| "detaching the old root".into())?;
    chdir("/").ctx(|| "chdir /".into())
}

fn mask(path: &str) -> Result<()> {
    let Ok(meta) = fs::metadata(path) else {
        return Ok(());
    };
    if meta.is_dir() {
        mount(
            Some("tmpfs"),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
    } else {
        mount(
            Some("/dev/null"),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
    }
    .ctx(|| format!("masking {path}"))
}

fn bind_readonly(path: &str) -> Result<()> {
    mount(
        Some(path),
        path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| format!("binding {path}"))?;
    mount(
        None::<&str>,
        path,
        None::<&str>,
        MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV
            | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .ctx(|| format!("making {path} read-only"))
}

/// Binds the container's terminal over /dev/console (after pivot_root).
pub(crate) fn bind_console(pts: &Path) -> Result<()> {
    bind_file(pts, Path::new("/"), "/dev/console")
}
