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
/// devices (Docker's device allow-list), cpuacct and blkio for accounting
/// (`stats`), freezer (`pause`) and cpuset (`--cpuset-cpus`).
const V1_CONTROLLERS: &[&str] = &[
    "memory", "cpu", "cpuacct", "pids", "devices", "freezer", "blkio", "cpuset",
];
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
    /// `--memory-swap`: memory plus swap in bytes, -1 unlimited (Docker's
    /// default with `--memory` is twice the memory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_swap: Option<i64>,
    /// `--cpu-shares`: the relative CPU weight (Docker's 2..262144).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<u64>,
    /// `--cpuset-cpus`: the CPUs allowed, e.g. `0-1,3`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpuset_cpus: Option<String>,
    /// `--oom-kill-disable` (cgroup v1's memory.oom_control; v2 has no
    /// such switch, as Docker warns there).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub oom_kill_disable: bool,
}

impl Limits {
    /// Memory plus swap as the cgroup takes it: `--memory-swap`, else
    /// Docker's default of twice `--memory`; `None` for unlimited.
    fn memory_and_swap(&self) -> Option<i64> {
        match (self.memory_swap, self.memory_bytes) {
            (Some(s), _) if s < 0 => None,
            (Some(s), _) => Some(s),
            (None, Some(m)) => Some(2 * m as i64),
            (None, None) => None,
        }
    }
}

/// What the kernel accounts for one container's cgroup, read for `stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct CgroupStats {
    /// CPU time of all its processes, in nanoseconds.
    pub cpu_total_ns: u64,
    pub cpu_user_ns: u64,
    pub cpu_system_ns: u64,
    /// Memory charged to it, page cache included.
    pub memory_usage: u64,
    /// Its memory limit (the host's memory when it has none).
    pub memory_limit: u64,
    /// The memory controller's counters (memory.stat), as the kernel names them.
    pub memory_stat: std::collections::BTreeMap<String, u64>,
    pub pids_current: u64,
    /// 0 when unlimited.
    pub pids_limit: u64,
    /// Bytes read from and written to block devices.
    pub io_read_bytes: u64,
    pub io_write_bytes: u64,
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
        for (ctrl, dir) in &self.dirs {
            if ctrl == "cpuset" {
                create_cpuset_dirs(dir)?;
            } else {
                fs::create_dir_all(dir).map_err(|e| cg_err(dir, e))?;
            }
        }
        Ok(())
    }

    fn apply(&self, limits: &Limits, devices: &[devices::Rule]) -> Result<()> {
        match self.version {
            CgroupVersion::V2 => {
                let dir = &self.dirs[0].1;
                Cgroup::write_limits_v2(dir, limits)?;
                // v2 has no devices.allow: the allow-list is a BPF program.
                devices::attach(dir, devices)?;
            }
            CgroupVersion::V1 => {
                self.write_limits_v1(limits)?;
                for (_, dir) in self.dirs.iter().filter(|(c, _)| c == "devices") {
                    write(dir, "devices.deny", "a")?;
                    for rule in devices {
                        write(dir, "devices.allow", &rule.to_string())?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Changes the limits of a live cgroup (`isola update`): only the
    /// limits `limits` sets are written, the others stay as they are.
    pub fn update(&self, limits: &Limits) -> Result<()> {
        match self.version {
            CgroupVersion::V2 => Cgroup::write_limits_v2(&self.dirs[0].1, limits),
            CgroupVersion::V1 => self.write_limits_v1(limits),
        }
    }

    fn write_limits_v2(dir: &Path, limits: &Limits) -> Result<()> {
        if let Some(m) = limits.memory_bytes {
            write(dir, "memory.max", &m.to_string())?;
        }
        if limits.memory_bytes.is_some() || limits.memory_swap.is_some() {
            // v2 counts swap on its own: memory+swap minus memory.
            let swap = match (limits.memory_and_swap(), limits.memory_bytes) {
                (None, _) => "max".to_string(),
                (Some(total), Some(m)) => (total - m as i64).max(0).to_string(),
                (Some(total), None) => total.to_string(),
            };
            write_if_exists(dir, "memory.swap.max", &swap)?;
        }
        if let Some(n) = limits.nano_cpus {
            let quota = n * CFS_PERIOD_US / 1_000_000_000;
            write(dir, "cpu.max", &format!("{quota} {CFS_PERIOD_US}"))?;
        }
        if let Some(shares) = limits.cpu_shares {
            // runc's conversion of v1 shares (2..262144) to v2 weight (1..10000).
            let weight = 1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142;
            write(dir, "cpu.weight", &weight.to_string())?;
        }
        if let Some(cpus) = &limits.cpuset_cpus {
            write(dir, "cpuset.cpus", cpus)?;
        }
        if let Some(p) = limits.pids {
            write(dir, "pids.max", &pids_value(p))?;
        }
        Ok(())
    }

    fn write_limits_v1(&self, limits: &Limits) -> Result<()> {
        for (ctrl, dir) in &self.dirs {
            match ctrl.as_str() {
                "memory" => {
                    let memsw = limits
                        .memory_and_swap()
                        .map_or("-1".into(), |v| v.to_string());
                    let touch_swap = limits.memory_bytes.is_some() || limits.memory_swap.is_some();
                    let mem = limits.memory_bytes.map(|m| m.to_string());
                    // memsw must never be below the memory limit: raise it
                    // first when growing, lower it last when shrinking.
                    let steps = |swap_first: bool| -> Result<()> {
                        if swap_first && touch_swap {
                            write_if_exists(dir, "memory.memsw.limit_in_bytes", &memsw)?;
                        }
                        if let Some(m) = &mem {
                            write(dir, "memory.limit_in_bytes", m)?;
                        }
                        if !swap_first && touch_swap {
                            write_if_exists(dir, "memory.memsw.limit_in_bytes", &memsw)?;
                        }
                        Ok(())
                    };
                    if steps(false).is_err() {
                        steps(true)?;
                    }
                    if limits.oom_kill_disable {
                        write(dir, "memory.oom_control", "1")?;
                    }
                }
                "cpu" => {
                    if let Some(n) = limits.nano_cpus {
                        let quota = n * CFS_PERIOD_US / 1_000_000_000;
                        write(dir, "cpu.cfs_period_us", &CFS_PERIOD_US.to_string())?;
                        write(dir, "cpu.cfs_quota_us", &quota.to_string())?;
                    }
                    if let Some(shares) = limits.cpu_shares {
                        write(dir, "cpu.shares", &shares.to_string())?;
                    }
                }
                "cpuset" => {
                    if let Some(cpus) = &limits.cpuset_cpus {
                        write(dir, "cpuset.cpus", cpus)?;
                    }
                }
                "pids" => {
                    if let Some(p) = limits.pids {
                        write(dir, "pids.max", &pids_value(p))?;
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Freezes every process of the cgroup (`pause`) and returns once the
    /// kernel says they all are: v1's freezer or v2's `cgroup.freeze`.
    pub fn freeze(&self) -> Result<()> {
        self.set_frozen(true)
    }

    /// Thaws a frozen cgroup (`unpause`); a thawed one is left as is.
    pub fn thaw(&self) -> Result<()> {
        self.set_frozen(false)
    }

    /// Whether the cgroup is frozen (or freezing).
    pub fn frozen(&self) -> bool {
        match self.freezer() {
            Some((dir, true)) => {
                fs::read_to_string(dir.join("cgroup.freeze")).is_ok_and(|s| s.trim() == "1")
            }
            Some((dir, false)) => {
                fs::read_to_string(dir.join("freezer.state")).is_ok_and(|s| s.trim() != "THAWED")
            }
            None => false,
        }
    }

    /// The freezer's directory and whether it is v2's.
    fn freezer(&self) -> Option<(&Path, bool)> {
        match self.version {
            CgroupVersion::V2 => Some((self.dirs[0].1.as_path(), true)),
            CgroupVersion::V1 => self
                .dirs
                .iter()
                .find(|(c, _)| c == "freezer")
                .map(|(_, d)| (d.as_path(), false)),
        }
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let Some((dir, v2)) = self.freezer() else {
            return Err(Error::Setup(
                "this host has no cgroup freezer (mount the v1 freezer controller or use cgroup v2)"
                    .into(),
            ));
        };
        let (file, value, done_file, done) = match (v2, frozen) {
            (true, true) => ("cgroup.freeze", "1", "cgroup.events", "frozen 1"),
            (true, false) => ("cgroup.freeze", "0", "cgroup.events", "frozen 0"),
            (false, true) => ("freezer.state", "FROZEN", "freezer.state", "FROZEN"),
            (false, false) => ("freezer.state", "THAWED", "freezer.state", "THAWED"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // v1 may stay FREEZING while a task resists: writing again
            // retries, as runc does.
            write(dir, file, value)?;
            let now = fs::read_to_string(dir.join(done_file)).unwrap_or_default();
            if now.lines().any(|l| l.trim() == done) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                if frozen {
                    let _ = write(dir, file, if v2 { "0" } else { "THAWED" });
                }
                return Err(Error::Setup(format!(
                    "the cgroup {} did not {} within 10 s",
                    dir.display(),
                    if frozen { "freeze" } else { "thaw" }
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Reads what the kernel accounts for the cgroup (`isola stats`).
    pub fn stats(&self) -> CgroupStats {
        let mut s = CgroupStats::default();
        let read = |dir: &Path, f: &str| fs::read_to_string(dir.join(f)).unwrap_or_default();
        let num = |text: String| text.trim().parse::<u64>().unwrap_or(0);
        let keyed = |text: String| -> std::collections::BTreeMap<String, u64> {
            text.lines()
                .filter_map(|l| {
                    let (k, v) = l.split_once(' ')?;
                    Some((k.to_string(), v.trim().parse().ok()?))
                })
                .collect()
        };
        let host_memory = host_memory_bytes();
        match self.version {
            CgroupVersion::V2 => {
                let dir = &self.dirs[0].1;
                let cpu = keyed(read(dir, "cpu.stat"));
                s.cpu_total_ns = cpu.get("usage_usec").copied().unwrap_or(0) * 1000;
                s.cpu_user_ns = cpu.get("user_usec").copied().unwrap_or(0) * 1000;
                s.cpu_system_ns = cpu.get("system_usec").copied().unwrap_or(0) * 1000;
                s.memory_usage = num(read(dir, "memory.current"));
                let max = read(dir, "memory.max");
                s.memory_limit = max.trim().parse().unwrap_or(host_memory).min(host_memory);
                s.memory_stat = keyed(read(dir, "memory.stat"));
                s.pids_current = num(read(dir, "pids.current"));
                s.pids_limit = num(read(dir, "pids.max"));
                for line in read(dir, "io.stat").lines() {
                    for kv in line.split_whitespace().skip(1) {
                        match kv.split_once('=') {
                            Some(("rbytes", v)) => s.io_read_bytes += v.parse().unwrap_or(0),
                            Some(("wbytes", v)) => s.io_write_bytes += v.parse().unwrap_or(0),
                            _ => {}
                        }
                    }
                }
            }
            CgroupVersion::V1 => {
                for (ctrl, dir) in &self.dirs {
                    match ctrl.as_str() {
                        "cpu" | "cpuacct" if dir.join("cpuacct.usage").exists() => {
                            s.cpu_total_ns = num(read(dir, "cpuacct.usage"));
                            // cpuacct.stat is in USER_HZ ticks (100 a second).
                            let ticks = keyed(read(dir, "cpuacct.stat"));
                            s.cpu_user_ns = ticks.get("user").copied().unwrap_or(0) * 10_000_000;
                            s.cpu_system_ns =
                                ticks.get("system").copied().unwrap_or(0) * 10_000_000;
                        }
                        "memory" => {
                            s.memory_usage = num(read(dir, "memory.usage_in_bytes"));
                            s.memory_limit =
                                num(read(dir, "memory.limit_in_bytes")).min(host_memory);
                            s.memory_stat = keyed(read(dir, "memory.stat"));
                        }
                        "pids" => {
                            s.pids_current = num(read(dir, "pids.current"));
                            s.pids_limit = num(read(dir, "pids.max"));
                        }
                        "blkio" => {
                            let mut text = read(dir, "blkio.throttle.io_service_bytes_recursive");
                            if text.trim().is_empty() {
                                text = read(dir, "blkio.throttle.io_service_bytes");
                            }
                            for line in text.lines() {
                                let f: Vec<&str> = line.split_whitespace().collect();
                                if let [_, op, v] = f.as_slice() {
                                    let v: u64 = v.parse().unwrap_or(0);
                                    match *op {
                                        "Read" => s.io_read_bytes += v,
                                        "Write" => s.io_write_bytes += v,
                                        _ => {}
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
        s
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
        // A frozen task cannot die: thaw first (a paused container removed).
        if self.frozen() {
            let _ = self.thaw();
        }
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

/// v1 cpuset directories start with no CPUs and no memory nodes, and a
/// task cannot join one like that: each new level copies its parent's.
fn create_cpuset_dirs(dir: &Path) -> Result<()> {
    let mut missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|p| !p.exists() && p.starts_with(CGROUP_ROOT))
        .collect();
    missing.reverse();
    for d in missing {
        mkdir(d)?;
        let parent = d.parent().unwrap_or(d);
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let v = fs::read_to_string(parent.join(f)).unwrap_or_default();
            if fs::read_to_string(d.join(f))
                .unwrap_or_default()
                .trim()
                .is_empty()
            {
                write(d, f, v.trim())?;
            }
        }
    }
    Ok(())
}

/// The host's RAM in bytes: the limit `stats` shows for a container
/// without one, as Docker does.
fn host_memory_bytes() -> u64 {
    fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(u64::MAX, |kb| kb * 1024)
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
    for ctrl in ["memory", "cpu", "pids", "io", "cpuset"] {
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
            ..Default::default()
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
