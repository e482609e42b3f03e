//! The container's view of the kernel beyond namespaces: hidden and
//! read-only paths, device nodes and the device allow-list, sysctls,
//! `/dev/shm`, `/sys` and the optional init, as the OCI runtime spec's
//! `linux` section describes them. The engine decides the values (Docker's
//! defaults are data there); this crate only carries them out, on the host
//! or inside a VM's guest alike.

use crate::devices::{Kind, Rule};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

/// Settings shared by host and guest, see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LinuxSettings {
    /// Paths hidden from the container (/dev/null or an empty tmpfs over them).
    pub masked_paths: Vec<String>,
    /// Paths bound read-only.
    pub readonly_paths: Vec<String>,
    /// Device nodes created in the container's /dev.
    pub devices: Vec<DeviceNode>,
    /// Every device of the kernel we run on, usable (`--privileged`): the
    /// host's in process mode, the guest's in a VM.
    pub all_devices: bool,
    /// Device name prefixes that `all_devices` leaves out (the guest
    /// agent's own channels).
    pub exclude_devices: Vec<String>,
    /// The cgroup device allow-list besides `devices`, in cgroup v1 syntax.
    pub device_rules: Vec<String>,
    /// sysctls set inside the container's own namespaces.
    pub sysctls: BTreeMap<String, String>,
    /// Size of /dev/shm in bytes (Docker's default: 64 MiB).
    pub shm_size: Option<u64>,
    /// /sys mounted writable (`--privileged`).
    pub sys_writable: bool,
    /// An init to run as PID 1 (`--init`): its path in the runtime's own
    /// root, bound read-only into the container at [`INIT_PATH`].
    pub init: Option<PathBuf>,
}

/// Where `--init`'s binary appears in the container, as in Docker.
pub const INIT_PATH: &str = "/sbin/docker-init";

/// A device node: `source` is read in the runtime's own root (so in VM mode
/// it names a device of the guest, never of the host), `path` is where it
/// appears in the container, `access` what the container may do with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceNode {
    pub source: String,
    pub path: String,
    /// `r`, `w`, `m` in any combination.
    pub access: String,
}

/// A device node as found on this kernel.
pub(crate) struct Found {
    pub path: String,
    pub block: bool,
    pub rdev: u64,
    pub mode: u32,
}

impl DeviceNode {
    /// Reads the node's type and numbers from `source`.
    pub(crate) fn find(&self) -> Result<Found> {
        // `c:MAJOR:MINOR` / `b:MAJOR:MINOR`: the numbers an OCI spec gives
        // for a node the runtime's own /dev need not have.
        let numbers: Vec<&str> = self.source.split(':').collect();
        if let [kind @ ("c" | "b"), major, minor] = numbers.as_slice() {
            let num = |n: &str| {
                n.parse::<u64>()
                    .map_err(|_| Error::Setup(format!("device {}: bad number {n:?}", self.path)))
            };
            return Ok(Found {
                path: self.path.clone(),
                block: *kind == "b",
                rdev: nix::sys::stat::makedev(num(major)?, num(minor)?),
                mode: 0o666,
            });
        }
        let meta = std::fs::metadata(&self.source)
            .map_err(|e| Error::Setup(format!("device {}: {e}", self.source)))?;
        let ft = meta.file_type();
        if !ft.is_char_device() && !ft.is_block_device() {
            return Err(Error::Setup(format!(
                "{} is not a device node",
                self.source
            )));
        }
        Ok(Found {
            path: self.path.clone(),
            block: ft.is_block_device(),
            rdev: meta.rdev(),
            mode: meta.mode() & 0o777,
        })
    }
}

impl LinuxSettings {
    /// The device allow-list the cgroup enforces: the rules, the nodes
    /// (with their access), or everything.
    pub fn device_allow_list(&self) -> Result<Vec<Rule>> {
        if self.all_devices {
            return Ok(vec![Rule {
                kind: Kind::Any,
                major: None,
                minor: None,
                access: crate::devices::READ | crate::devices::WRITE | crate::devices::MKNOD,
            }]);
        }
        let mut rules = Vec::new();
        for r in &self.device_rules {
            rules.push(
                Rule::parse(r).ok_or_else(|| Error::Setup(format!("invalid device rule {r:?}")))?,
            );
        }
        // A node without access of its own is granted by the rules above.
        for d in self.devices.iter().filter(|d| !d.access.is_empty()) {
            let f = d.find()?;
            let spec = format!(
                "{} {}:{} {}",
                if f.block { "b" } else { "c" },
                nix::sys::stat::major(f.rdev),
                nix::sys::stat::minor(f.rdev),
                d.access
            );
            rules.push(Rule::parse(&spec).ok_or_else(|| {
                Error::Setup(format!(
                    "invalid access {:?} for device {}",
                    d.access, d.path
                ))
            })?);
        }
        Ok(rules)
    }
}
