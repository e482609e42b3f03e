//! The container's file system view, built inside its private mount
//! namespace: the overlayfs root, Docker's default mounts and devices,
//! Docker's masked and read-only paths, then pivot_root.

use crate::linux::{DeviceNode, Found, LinuxSettings, INIT_PATH};
use crate::spawn::ContainerSpec;
use crate::{CgroupVersion, Context, Error, Result};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{mknod, Mode, SFlag};
use nix::unistd::{chdir, pivot_root};
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};

const DEV_LINKS: &[(&str, &str)] = &[
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
    ("pts/ptmx", "ptmx"),
];

/// Builds the container's root and switches into it.
pub(crate) fn enter_rootfs(spec: &ContainerSpec) -> Result<()> {
    make_private()?;
    let root = &spec.rootfs.target;
    mount_rootfs(&spec.rootfs)?;

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
    let shm = format!(
        "mode=1777,size={}k",
        spec.linux.shm_size.unwrap_or(64 << 20).div_ceil(1024)
    );
    mount_fs(root, "tmpfs", "/dev/shm", nosuid_noexec_nodev, Some(&shm))?;
    mount_fs(root, "mqueue", "/dev/mqueue", nosuid_noexec_nodev, None)?;
    let sys_ro = if spec.linux.sys_writable {
        MsFlags::empty()
    } else {
        MsFlags::MS_RDONLY
    };
    mount_fs(root, "sysfs", "/sys", nosuid_noexec_nodev | sys_ro, None)?;
    if CgroupVersion::detect() == CgroupVersion::V2 {
        mount_fs(
            root,
            "cgroup2",
            "/sys/fs/cgroup",
            nosuid_noexec_nodev | MsFlags::MS_RDONLY,
            None,
        )?;
    } else {
        mount_cgroup_v1(root, nosuid_noexec_nodev)?;
    }
    create_devices(root, &spec.linux)?;
    crate::volume::mount_all(root, &spec.mounts, safe_path)?;
    if let Some(init) = &spec.linux.init {
        bind_file(init, root, INIT_PATH)?;
        remount_readonly(&root.join(INIT_PATH.trim_start_matches('/')))?;
    }

    pivot(root)?;

    // sysctls go in before /proc/sys turns read-only; each one names a
    // setting of the container's own namespaces (the engine checks which).
    for (key, value) in &spec.linux.sysctls {
        let path = Path::new("/proc/sys").join(key.replace('.', "/"));
        fs::write(&path, value).map_err(|e| Error::Setup(format!("sysctl {key}={value}: {e}")))?;
    }
    for path in &spec.linux.masked_paths {
        mask(path)?;
    }
    for path in &spec.linux.readonly_paths {
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

/// Stops mount events of this (new) namespace reaching the host's.
pub fn make_private() -> Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .ctx(|| "making / private".into())
}

/// Mounts the overlay root `r` at its target.
pub(crate) fn mount_rootfs(r: &crate::Rootfs) -> Result<()> {
    if r.lower.is_empty() && r.upper.as_os_str().is_empty() {
        // A root prepared by the caller (an OCI bundle's `rootfs`, which
        // containerd mounted): bound onto itself so it is a mount point
        // pivot_root accepts, as runc does.
        return mount(
            Some(&r.target),
            &r.target,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .ctx(|| format!("binding the prepared root {}", r.target.display()));
    }
    if r.lower.is_empty() {
        return Err(Error::Setup("the image has no layers".into()));
    }
    let mut lower: Vec<String> = r.lower.iter().map(|p| p.display().to_string()).collect();
    // mount(2) takes at most one page of options; deep images (64 layers of
    // long store paths) need short names. As Docker's overlay2 does with its
    // `l/` links: symlinks beside the upper dir, named by index, resolved
    // relative to the working directory we mount from.
    let total: usize = lower.iter().map(|l| l.len() + 1).sum();
    if total > 2048 {
        let links = r.work.with_file_name("lower");
        let _ = fs::remove_dir_all(&links);
        fs::create_dir_all(&links).ctx(|| format!("creating {}", links.display()))?;
        for (i, l) in r.lower.iter().enumerate() {
            symlink(l, links.join(i.to_string())).ctx(|| "linking a layer".into())?;
        }
        chdir(&links).ctx(|| format!("entering {}", links.display()))?;
        lower = (0..r.lower.len()).map(|i| i.to_string()).collect();
    }
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
pub(crate) fn safe_path(root: &Path, inside: &str, last_is_dir: bool) -> Result<PathBuf> {
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

/// The host's cgroup v1 layout, read-only, as Docker shows it on v1
/// hosts: a tmpfs at /sys/fs/cgroup with one cgroup mount per hierarchy
/// (`memory`, `cpu,cpuacct`, ..., and the hybrid layout's cgroup2 at
/// `unified`) and the host's symlinks (`cpu` -> `cpu,cpuacct`). The
/// process is already in its cgroup namespace, so each hierarchy's root is
/// the container's own cgroup: `memory/memory.limit_in_bytes` is its limit
/// (what the JVM, Go and Node read).
fn mount_cgroup_v1(root: &Path, flags: MsFlags) -> Result<()> {
    const BASE: &str = "/sys/fs/cgroup";
    mount_fs(root, "tmpfs", BASE, flags, Some("mode=755"))?;
    let base_in = safe_path(root, BASE, true)?;
    let mountinfo = fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::Setup(format!("reading /proc/self/mountinfo: {e}")))?;
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let Some(at) = left.split(' ').nth(4) else {
            continue;
        };
        let mut r = right.split(' ');
        let (fstype, super_opts) = (r.next().unwrap_or(""), r.nth(1).unwrap_or(""));
        let Some(name) = at
            .strip_prefix("/sys/fs/cgroup/")
            .filter(|n| !n.contains('/'))
        else {
            continue;
        };
        let opts: Vec<&str> = super_opts
            .split(',')
            .filter(|o| {
                !matches!(*o, "rw" | "ro" | "xattr" | "clone_children" | "noprefix")
                    && !o.starts_with("release_agent=")
            })
            .collect();
        let data = match fstype {
            "cgroup" => opts.join(","),
            "cgroup2" => String::new(),
            _ => continue,
        };
        fs::create_dir_all(base_in.join(name))
            .map_err(|e| Error::Setup(format!("creating /sys/fs/cgroup/{name}: {e}")))?;
        let at = format!("{BASE}/{name}");
        let mounted = mount_fs(
            root,
            fstype,
            &at,
            flags | MsFlags::MS_RDONLY,
            (!data.is_empty()).then_some(data.as_str()),
        );
        // The hierarchies with the container's limits must be there;
        // others (net_cls, rdma, ...) are shown where the kernel allows.
        if let Err(e) = mounted {
            if opts
                .iter()
                .any(|o| matches!(*o, "memory" | "cpu" | "pids" | "cpuset"))
            {
                return Err(e);
            }
        }
    }
    if let Ok(entries) = fs::read_dir(BASE) {
        for e in entries.flatten() {
            if let Ok(target) = fs::read_link(e.path()) {
                let _ = symlink(target, base_in.join(e.file_name()));
            }
        }
    }
    remount_readonly_fs(&base_in, flags)
}

/// Makes the file system mounted at `target` (a tmpfs) read-only.
fn remount_readonly_fs(target: &Path, flags: MsFlags) -> Result<()> {
    mount(
        None::<&str>,
        target,
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | flags,
        None::<&str>,
    )
    .ctx(|| format!("making {} read-only", target.display()))
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

/// The device nodes of the container's /dev: the listed ones, or (all
/// devices) every node of the kernel we run on.
fn create_devices(root: &Path, linux: &LinuxSettings) -> Result<()> {
    let dev = root.join("dev");
    let mut nodes: Vec<Found> = Vec::new();
    for d in &linux.devices {
        let mut f = d.find()?;
        // Docker's nodes are 0666 whatever the host's mode.
        f.mode = 0o666;
        nodes.push(f);
    }
    if linux.all_devices {
        for e in fs::read_dir("/dev").into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // Links, directories and what devpts and the console provide
            // are made below as for any container.
            let link = e.file_type().map_or(true, |t| t.is_symlink() || t.is_dir());
            let excluded = linux
                .exclude_devices
                .iter()
                .any(|p| name.starts_with(p.as_str()));
            if link || excluded || ["ptmx", "console"].contains(&name.as_str()) {
                continue;
            }
            let node = DeviceNode {
                source: format!("/dev/{name}"),
                path: format!("/dev/{name}"),
                access: "rwm".into(),
            };
            if let Ok(f) = node.find() {
                if !nodes.iter().any(|n| n.path == f.path) {
                    nodes.push(f);
                }
            }
        }
    }
    for n in nodes {
        let path = safe_path(root, &n.path, false)?;
        let _ = fs::remove_file(&path); // safe_path left an empty file
        let kind = if n.block {
            SFlag::S_IFBLK
        } else {
            SFlag::S_IFCHR
        };
        mknod(&path, kind, Mode::from_bits_truncate(n.mode), n.rdev)
            .ctx(|| format!("creating {}", n.path))?;
        // mknod is subject to the umask.
        nix::sys::stat::fchmodat(
            None,
            &path,
            Mode::from_bits_truncate(n.mode),
            nix::sys::stat::FchmodatFlags::FollowSymlink,
        )
        .ctx(|| format!("chmod {}", n.path))?;
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

fn remount_readonly(target: &Path) -> Result<()> {
    mount(
        None::<&str>,
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
        None::<&str>,
    )
    .ctx(|| format!("making {} read-only", target.display()))
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
