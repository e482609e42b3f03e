//! What host and guest agree on besides messages: the names of the
//! guest's virtio-serial ports, where the boot configuration sits in the
//! initramfs, and the exit record the guest leaves for the host.
//!
//! The VM runs without any host process beside its hypervisor: the agent
//! starts the container from [`CONFIG_PATH`] at boot, appends its output in
//! Docker's json-file format to the [`LOG_PORT`] (QEMU writes it to the
//! container's log) and its [`ExitRecord`] to the [`EXIT_PORT`]. Clients
//! (the attached CLI, `exec`, `top`, `kill`) come and go on the control
//! ports; port 0 belongs to the client attached to the main process.

use serde::{Deserialize, Serialize};

/// Control port `n` is named `CONTROL_PREFIX` + `n`.
pub const CONTROL_PREFIX: &str = "org.isola.ctl.";
/// How many control ports a VM has.
pub const CONTROL_PORTS: usize = 4;

/// The name of control port `n`.
pub fn control_port(n: usize) -> String {
    format!("{CONTROL_PREFIX}{n}")
}
/// The port whose bytes QEMU appends to the container's json-file log.
pub const LOG_PORT: &str = "org.isola.log";
/// The port whose bytes QEMU writes to the container's exit record.
pub const EXIT_PORT: &str = "org.isola.exit";
/// The port whose bytes QEMU appends to the container's `status.json`:
/// one [`StatusRecord`] per line, the last one current.
pub const STATUS_PORT: &str = "org.isola.status";
/// The boot configuration inside the initramfs (a [`BootConfig`] as JSON).
pub const CONFIG_PATH: &str = "isola/config.json";

/// What the agent reads at boot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootConfig {
    pub container: crate::ContainerConfig,
    /// Start the container only once a client has greeted on port 0, so an
    /// attached CLI sees all of its output.
    #[serde(default)]
    pub wait_for_attach: bool,
}

/// The 9p mount tag of the VM's shared directory: the container's binds
/// and volumes, one entry per mount (`0`, `1`, ...), in the spec's order.
pub const SHARES_TAG: &str = "isola-shares";
/// Where the agent mounts the shares in the guest.
pub const GUEST_SHARES: &str = "/run/isola/shares";

/// Where the initramfs carries tini, the `--init` of VM containers.
pub const GUEST_INIT: &str = "/isola/tini";

/// How the container ended: one JSON line on the [`EXIT_PORT`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// Exit status, or 128 + signal; 126/127 when the command could not run.
    pub code: i32,
    #[serde(default)]
    pub oom_killed: bool,
    /// RFC 3339 with nanoseconds, UTC.
    pub finished_at: String,
    /// Why the command could not start, if it could not.
    #[serde(default)]
    pub error: String,
}

/// What the host cannot see of a running VM container: its restarts and
/// its health. One JSON line on the [`STATUS_PORT`] each time either
/// changes, each a whole snapshot, so the host only reads the last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusRecord {
    /// Restarts done or decided since boot (Docker's `RestartCount`).
    pub restart_count: u32,
    /// The process ended and waits to be started again.
    pub restarting: bool,
    /// The last run's exit status (while `restarting`).
    pub exit_code: i32,
    /// When the current run started (RFC 3339, UTC).
    pub started_at: String,
    /// When the last run ended, if one did.
    #[serde(default)]
    pub finished_at: String,
    #[serde(default)]
    pub health: Option<crate::Health>,
}
