//! VM isolation: each container runs in its own micro-VM with its own
//! guest kernel, and the guest agent (`isola-agent`, PID 1 of the guest)
//! runs the container there with the same process runtime as on the host.
//!
//! How a VM container lives, and why:
//! - **The hypervisor process is the container's monitor.** The engine's
//!   monitor prepares the VM and then `exec`s QEMU in place, so the host
//!   shows exactly one process per VM container and `State.Pid` is its PID
//!   (Windows' `vmwp`, Kata's per-sandbox VMM).
//! - **The guest needs no host process to keep going.** The container's
//!   configuration is appended to the initramfs as `/isola/config.json`, so
//!   the agent starts it at boot; its output goes to a virtio-serial port
//!   QEMU appends to the container's json-file log, and its exit status to
//!   a port backed by `exit.json`. When the container ends the agent
//!   reboots and QEMU exits (`-no-reboot`); the engine reads `exit.json`
//!   the next time it looks at the container. A restart policy's restarts
//!   and health-check results go, as whole snapshots, to a third port that
//!   QEMU appends to `status.json`, which the engine reads while it runs.
//! - **Clients talk to the agent over control ports.** Several
//!   virtio-serial ports backed by host Unix sockets (no vhost-vsock on
//!   every host) carry the `isola-proto` protocol: the attached CLI uses
//!   port 0, `exec`, `top`, `kill` and `stop` take any free other port,
//!   reserved with a lock file, since a QEMU socket serves one client.
//! - **Image layers become read-only erofs disks**, built once per layer
//!   diff-id and shared by every VM; each container gets a sparse ext4
//!   disk as its writable layer, so a restarted container keeps its files.
//!   erofs over ext4 for layers: no journal, smaller images, faster mount.

mod accel;
mod client;
mod cpio;
pub use cpio::write_initrd;
mod disks;
mod hypervisor;
mod prepare;
pub mod qmp;
pub mod session;
mod shares;

pub use accel::{detect as detect_accel, Accel};
pub use client::{control_socket, Client, Timeouts};
pub use disks::{image_disk, layer_image, upper_image};
pub use hypervisor::{Console, Disk, Hypervisor, Nic, Qemu, Share, VmSpec};
pub use prepare::{prepare, Plan};

use std::path::PathBuf;

/// Errors of VM isolation; each names the cause and the fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} not found at {path}: {fix}")]
    Missing {
        what: &'static str,
        path: PathBuf,
        fix: &'static str,
    },
    #[error("{tool} failed: {detail}")]
    Tool { tool: String, detail: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("the VM's agent: {0}")]
    Protocol(#[from] isola_proto::Error),
    #[error("the VM is not reachable: {0}")]
    Unreachable(String),
    /// The guest could not run a command (code 126/127 as Docker's, else 125).
    #[error("{message}")]
    CommandFailed { code: i32, message: String },
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// The file names a VM container keeps in its directory.
pub mod files {
    /// Written by QEMU from the agent's exit port.
    pub const EXIT: &str = "exit.json";
    /// Appended to by QEMU from the agent's status port (restarts, health).
    pub const STATUS: &str = "status.json";
    /// The writable layer.
    pub const UPPER: &str = "upper.ext4";
    /// Base initramfs + this container's configuration.
    pub const INITRD: &str = "initrd.img";
    /// QEMU's own stderr (boot failures, panics).
    pub const VMM_LOG: &str = "vmm.log";
    /// The guest's serial console, where a test harness asks for it in a
    /// file (containers keep it in a bounded ring buffer in QEMU).
    pub const CONSOLE: &str = "console.log";
    /// QEMU's pidfile: QEMU deletes it when it exits by itself (guest
    /// power-off, reboot, panic), so one left behind means it was killed.
    pub const PIDFILE: &str = "vmm.pid";
    /// Present once a client has been greeted by the guest's agent: from
    /// then on an agent that does not answer promptly is a hung VM, not a
    /// slow boot.
    pub const BOOTED: &str = "booted";
}
