//! Resource limits through cgroups, on cgroup v1 (including the hybrid layout
//! with a controller-less cgroup2 at `/sys/fs/cgroup/unified`) and on pure
//! cgroup v2. Each container gets `isola/<id>` in every hierarchy it uses,
//! and [`Cgroup::remove`] deletes exactly those directories again.

use crate::{devices, Error, Result};
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// v1 controllers we create a directory in: the ones carrying limits, plus
/// devices (Docker's device allow-list) and cpuacct for accounting.
const V1_CONTROLLERS: &[&str] = &["memory", "cpu", "cpuacct", "pids", "devices"];
/// Which cgroup layout the host has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

impl CgroupVersion {
    /// Pure v2 hosts have `cgroup.controllers` at the root of /sys/fs/cgroup.
    pub fn detect() -> CgroupVersion {
        if Path::new(CGROUP_ROOT).join("cgroup.controllers").exists() {
            CgroupVersion::V2
        } else {
            CgroupVersion::V1
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CgroupVersion::V1 => "1",
            CgroupVersion::V2 => "2",
        }
    }
}

/// Limits as the user gave them (`--memory`, `--cpus`, `--pids-limit`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Limits {
    pub memory_bytes: Option<u64>,
    /// CPUs in billionths, like Docker's `NanoCpus`.
    pub nano_cpus: Option<u64>,
    pub pids: Option<i64>,
}

/// One container's cgroup, as a directory per hierarchy.
#[derive(Debug, Clone)]
pub struct Cgroup {
    version: CgroupVersion,
    /// v1: (controller, dir) for each controller; v2: one ("", dir).
    dirs: Vec<(String, PathBuf)>,
}

const CFS_PERIOD_US: u64 = 100_000;

impl Cgroup {
    /// The cgroup of container `name` (e.g. `isola/<id>`), without touching
    /// the file system: use it to add processes to, read or remove a cgroup
    /// created earlier.
    pub fn of(name: &str) -> Cgroup {
        let version = CgroupVersion::detect();
        let mut dirs = Vec::new();
        match version {
            CgroupVersion::V2 => dirs.push((String::new(), Path::new(CGROUP_ROOT).join(name))),
            CgroupVersion::V1 => {
                let mut seen = Vec::new();
                for ctrl in V1_CONTROLLERS {
                    let mount = Path::new(CGROUP_ROOT).join(ctrl);
                    // Co-mounted controllers (cpu,cpuacct) share one directory.
                    let Ok(real) = fs::canonicalize(&mount) else {
                        continue;
                    };
                    if seen.contains(&real) {
                        continue;
                    }
                    seen.push(real);
                    dirs.push((ctrl.to_string(), mount.join(name)));
                }
            }
        }
        Cgroup { version, dirs }
    }

    /// Creates the cgroup, writes the limits and the device allow-list
    /// (everything else is denied). On error, whatever was created is
    /// removed again.
    pub fn create(name: &str, limits: &Limits, devices: &[devices::Rule]) -> Result<Cgroup> {
        let cg = Cgroup::of(name);
        if let Err(e) = cg.create_dirs().and_then(|()| cg.apply(limits, devices)) {
            let _ = cg.remove();
            return Err(e);
        }
        Ok(cg)
    }

    fn create_dirs(&self) -> Result<()> {
        if self.version == CgroupVersion::V2 {
            // Controllers must be enabled in every ancestor's subtree_control.
            let (_, dir) = &self.dirs[0];
            let mut ancestors: Vec<&Path> = dir
                .ancestors()
                .skip(1)
                .take_while(|p| p.starts_with(CGROUP_ROOT))
                .collect();
            ancestors.reverse();
            for parent in ancestors {
                mkdir(parent)?;
                enable_v2_controllers(parent);
            }
        }
        for (_, dir) in &self.dirs {
            fs::create_dir_all(dir).map_err(|e| cg_err(dir, e))?;
        }
        Ok(())
    }

    fn apply(&self, limits: &Limits, devices: &[devices::Rule]) -> Result<()> {
        match self.version {
            CgroupVersion::V2 => {
                let dir = &self.dirs[0].1;
                if let Some(m) = limits.memory_bytes {
                    write(dir, "memory.max", &m.to_string())?;
                    // Docker's default --memory-swap is twice --memory.
                    write_if_exists(dir, "memory.swap.max", &m.to_string())?;
                }
                if let Some(n) = limits.nano_cpus {
                    let quota = n * CFS_PERIOD_US / 1_000_000_000;
                    write(dir, "cpu.max", &format!("{quota} {CFS_PERIOD_US}"))?;
                }
                if let Some(p) = limits.pids {
                    write(dir, "pids.max", &pids_value(p))?;
                }
                // v2 has no devices.allow: the allow-list is a BPF program.
                devices::attach(dir, devices)?;
            }
            CgroupVersion::V1 => {
                for (ctrl, dir) in &self.dirs {
                    match ctrl.as_str() {
                        "memory" => {
                            if let Some(m) = limits.memory_bytes {
                                write(dir, "memory.limit_in_bytes", &m.to_string())?;
                                write_if_exists(
                                    dir,
                                    "memory.memsw.limit_in_bytes",
                                    &(2 * m).to_string(),
                                )?;
                            }
                        }
                        "cpu" => {
                            if let Some(n) = limits.nano_cpus {
                                let quota = n * CFS_PERIOD_US / 1_000_000_000;
                                write(dir, "cpu.cfs_period_us", &CFS_PERIOD_US.to_string())?;
                                write(dir, "cpu.cfs_quota_us", &quota.to_string())?;
                            }
                        }
                        "pids" => {
                            if let Some(p) = limits.pids {
                                write(dir, "pids.max", &pids_value(p))?;
                            }
                        }
                        "devices" => {
                            write(dir, "devices.deny", "a")?;
                            for rule in devices {
                                write(dir, "devices.allow", &rule.to_string())?;
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// Moves process `pid` into every hierarchy of this cgroup.
    pub fn add(&self, pid: i32) -> Result<()> {
        for (_, dir) in &self.dirs {
            write(dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// The host PIDs of every process in the container.
    pub fn procs(&self) -> Vec<i32> {
        // pids (v1) or the unified dir (v2) sees every process of the tree.
        let dir = self
            .dirs
            .iter()
            .find(|(c, _)| c.is_empty() || c == "pids")
            .or(self.dirs.first())
            .map(|(_, d)| d.join("cgroup.procs"));
        let Some(file) = dir else { return Vec::new() };
        fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// Whether the kernel's OOM killer killed a process of this cgroup.
    pub fn oom_killed(&self) -> bool {
        let (dir, file) = match self.version {
            CgroupVersion::V2 => (&self.dirs[0].1, "memory.events"),
            CgroupVersion::V1 => match self.dirs.iter().find(|(c, _)| c == "memory") {
                Some((_, d)) => (d, "memory.oom_control"),
                None => return false,
            },
        };
        fs::read_to_string(dir.join(file))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.strip_prefix("oom_kill "))
            .any(|n| n.trim().parse::<u64>().unwrap_or(0) > 0)
    }

    /// SIGKILLs every process left in the cgroup, then removes its
    /// directories (retrying while the kernel still counts exiting tasks).
    /// Missing directories are fine: removal is idempotent.
    pub fn remove(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        for (_, dir) in &self.dirs {
            loop {
                match fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == ErrorKind::NotFound => break,
                    Err(e) if Instant::now() < deadline => {
                        let _ = e;
                        for pid in self.procs() {
                            let _ = nix::sys::signal::kill(
                                nix::unistd::Pid::from_raw(pid),
                                nix::sys::signal::Signal::SIGKILL,
                            );
                        }
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    Err(e) => return Err(cg_err(dir, e)),
                }
            }
        }
        Ok(())
    }

    /// The directories of this cgroup, for diagnostics and leak checks.
    pub fn dirs(&self) -> impl Iterator<Item = &Path> {
        self.dirs.iter().map(|(_, d)| d.as_path())
    }
}

fn pids_value(p: i64) -> String {
    if p <= 0 {
        "max".to_string()
    } else {
        p.to_string()
    }
}

fn enable_v2_controllers(dir: &Path) {
    let available = fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    for ctrl in ["memory", "cpu", "pids"] {
        if available.split_whitespace().any(|c| c == ctrl) {
            // Fails harmlessly when already enabled or when the parent
            // has processes of its own; the limit write then reports it.
            let _ = fs::write(dir.join("cgroup.subtree_control"), format!("+{ctrl}"));
        }
    }
}

fn mkdir(dir: &Path) -> Result<()> {
    match fs::create_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(cg_err(dir, e)),
    }
}

fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    fs::write(&path, value).map_err(|e| cg_err(&path, e))
}

fn write_if_exists(dir: &Path, file: &str, value: &str) -> Result<()> {
    if dir.join(file).exists() {
        write(dir, file, value)
    } else {
        Ok(())
    }
}

fn cg_err(path: &Path, source: std::io::Error) -> Error {
    Error::Cgroup {
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_limit_and_remove_leave_nothing() {
        let name = format!("isola-test/cg-{}", std::process::id());
        let limits = Limits {
            memory_bytes: Some(64 << 20),
            nano_cpus: Some(500_000_000),
            pids: Some(10),
        };
        let cg = Cgroup::create(&name, &limits, &devices::tests::docker_default()).unwrap();
        for d in cg.dirs() {
            assert!(d.is_dir(), "{} missing", d.display());
        }
        let pids_dir = cg.dirs.iter().find(|(c, _)| c.is_empty() || c == "pids");
        let max = fs::read_to_string(pids_dir.unwrap().1.join("pids.max")).unwrap();
        assert_eq!(max.trim(), "10");
        cg.remove().unwrap();
        for d in cg.dirs() {
            assert!(!d.exists(), "{} left behind", d.display());
        }
        // Idempotent.
        cg.remove().unwrap();
        for d in cg.dirs() {
            let _ = fs::remove_dir(d.parent().unwrap());
        }
    }
}
