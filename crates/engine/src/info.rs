//! `isola info`: what this host offers — isolation modes (and why one is
//! unavailable), the default and where it comes from, cgroup version, kernel.

use crate::backend::Isolation;
use crate::store::Status;
use crate::{Engine, Result};
use isola_runtime_process::CgroupVersion;
use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IsolationMode {
    pub name: String,
    pub available: bool,
    /// How the mode runs here (e.g. its accelerator), or why it cannot.
    pub reason: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Info {
    pub containers: usize,
    pub containers_running: usize,
    pub images: usize,
    pub default_isolation: String,
    pub default_isolation_source: String,
    pub isolation_rules: Vec<crate::config::IsolationRule>,
    pub isolation_modes: Vec<IsolationMode>,
    pub cgroup_version: String,
    pub kernel_version: String,
    pub operating_system: String,
    pub root_dir: String,
}

impl Engine {
    pub fn info(&self) -> Result<Info> {
        let containers = self.list()?;
        let uname = nix::sys::utsname::uname().ok();
        let os = std::fs::read_to_string("/etc/os-release")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_else(|| "Linux".into());
        Ok(Info {
            containers: containers.len(),
            containers_running: containers
                .iter()
                .filter(|c| c.state.status == Status::Running)
                .count(),
            images: self.images.list()?.len(),
            default_isolation: self.config.default_isolation.as_str().into(),
            default_isolation_source: self.config.default_isolation_source.clone(),
            isolation_rules: self.config.isolation_rules.clone(),
            isolation_modes: [Isolation::Process, Isolation::Vm]
                .into_iter()
                .map(|m| {
                    let a = self.availability(m);
                    IsolationMode {
                        name: m.as_str().into(),
                        available: a.is_ok(),
                        reason: a.unwrap_or_else(|e| e),
                    }
                })
                .collect(),
            cgroup_version: CgroupVersion::detect().as_str().into(),
            kernel_version: uname
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_default(),
            operating_system: os,
            root_dir: self.root.display().to_string(),
        })
    }
}
