//! The control messages. One enum for both directions keeps the JSON
//! `type` tag unique; each variant's doc says who sends it.

use crate::Version;
use serde::{Deserialize, Serialize};

/// Identifies a process whose stdio the channel carries: the container's
/// main process ([`MAIN_SESSION`]) or one `exec`.
pub type SessionId = u32;

/// The session of the container's main process.
pub const MAIN_SESSION: SessionId = 0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Message {
    /// Both ways, first on every connection of a control port, sent by
    /// each side without waiting for the other's: the sender's protocol
    /// version and software. A client's `Hello` on a port that is already
    /// greeted starts a new conversation there (the guest missed a quick
    /// reconnect): the guest ends the port's exec sessions and answers
    /// with its own `Hello`.
    Hello {
        version: Version,
        /// Free text for diagnostics, e.g. "isola-agent 0.1.0".
        #[serde(default)]
        software: String,
    },
    /// Guest, to the client of port 0: the container could not be
    /// started (its exit record is already written). `code` follows
    /// Docker: 127 command not found, 126 not executable, 125 anything else.
    StartFailed { code: i32, message: String },
    /// Client: send signal number `signal` to a session's process
    /// (session 0: the container's main process). Answered by `Ok` or
    /// `Error`.
    Signal { session: SessionId, signal: i32 },
    /// Client (3.1): the user stops or kills the container, so its restart
    /// policy must not start it again; one waiting to restart ends now.
    /// Answered by `Ok`.
    EndRestarts {},
    /// Guest: a request without an answer of its own (`Signal`) was done.
    Ok {},
    /// Client: the terminal of a session (with `tty`) changed size. No
    /// answer; ignored for a session without a terminal.
    Resize {
        session: SessionId,
        rows: u16,
        cols: u16,
    },
    /// Client: start another process in the running container; its I/O
    /// flows on this port only, and it is killed when the client leaves.
    Exec(Box<ExecConfig>),
    /// Guest: an exec session's process runs as guest PID `pid`.
    ExecStarted { session: SessionId, pid: i32 },
    /// Guest: an exec could not be started (codes as in `StartFailed`).
    ExecFailed {
        session: SessionId,
        code: i32,
        message: String,
    },
    /// Guest: a session's process ended, and all its output was sent
    /// before this message. `code` is the exit status, or 128 + signal.
    /// For session 0 (port 0 only) the exit record is already written and
    /// the guest waits up to 10 s for the client's `Shutdown`.
    Exited {
        session: SessionId,
        code: i32,
        /// Whether the guest's OOM killer struck the container's cgroup.
        #[serde(default)]
        oom_killed: bool,
    },
    /// Guest (3.1), to port 0's client: the main process ended with
    /// `code` and its restart policy starts it again. The attached client's
    /// part ends here, as Docker's attached `run` returns at the first
    /// exit: it leaves without `Shutdown`, and the VM goes on.
    Restarting { session: SessionId, code: i32 },
    /// Client: no more stdin for this session (the process sees EOF).
    CloseStdin { session: SessionId },
    /// Client: list the container's processes (for `isola top`).
    ListProcesses {},
    /// Guest: the answer to `ListProcesses`, a table like `ps -ef`.
    Processes {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// Client (3.2): change the limits of the container's cgroup in the
    /// guest (`isola update`); only the limits set change. Answered by
    /// `Ok` or `Error`.
    UpdateLimits {
        limits: Limits,
        /// A new `--restart` policy, from the main process's next end on.
        #[serde(default)]
        restart: Option<RestartPolicy>,
    },
    /// Client (3.2): what the container uses now (`isola stats`).
    GetUsage {},
    /// Guest (3.2): the answer to `GetUsage`, sampled in the guest.
    Usage { usage: Box<Usage> },
    /// Client: kill everything and power off (exit code 137 unless the
    /// container already ended); also the acknowledgement of the main
    /// session's `Exited`.
    Shutdown,
    /// Either way: a request could not be served, or a message was not
    /// understood (the conversation goes on).
    Error { message: String },
}

impl Message {
    /// The variant's name, as in the JSON `type` tag.
    pub fn name(&self) -> &'static str {
        match self {
            Message::Hello { .. } => "Hello",
            Message::StartFailed { .. } => "StartFailed",
            Message::Signal { .. } => "Signal",
            Message::EndRestarts {} => "EndRestarts",
            Message::Ok {} => "Ok",
            Message::Resize { .. } => "Resize",
            Message::Exec(_) => "Exec",
            Message::ExecStarted { .. } => "ExecStarted",
            Message::ExecFailed { .. } => "ExecFailed",
            Message::Exited { .. } => "Exited",
            Message::Restarting { .. } => "Restarting",
            Message::CloseStdin { .. } => "CloseStdin",
            Message::ListProcesses {} => "ListProcesses",
            Message::Processes { .. } => "Processes",
            Message::UpdateLimits { .. } => "UpdateLimits",
            Message::GetUsage {} => "GetUsage",
            Message::Usage { .. } => "Usage",
            Message::Shutdown => "Shutdown",
            Message::Error { .. } => "Error",
        }
    }
}

/// Terminal size in character cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TtySize {
    pub rows: u16,
    pub cols: u16,
}

/// The container's main process and environment, as `docker run` gives it;
/// the guest reads it at boot from [`crate::layout::BootConfig`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// The container's OCI runtime spec, the same the host's runtime would
    /// run (its root, file binds and init are guest paths: the agent
    /// assembles the root from `rootfs` and writes /etc/hostname and
    /// /etc/hosts itself).
    pub spec: Spec,
    /// `-i`: stdin stays open and its data flows as stream 0 of session 0.
    pub open_stdin: bool,
    /// Initial terminal size with `tty`, so the process starts with it.
    #[serde(default)]
    pub tty_size: Option<TtySize>,
    pub rootfs: Rootfs,
    /// The host's wall clock (nanoseconds since the Unix epoch): the guest
    /// has no RTC and sets its clock from this.
    pub time_ns: u64,
    /// The VM has a 9p share under [`crate::layout::SHARES_TAG`] to mount
    /// at [`crate::layout::GUEST_SHARES`] (the spec's binds point there).
    #[serde(default)]
    pub shares: bool,
    /// `--restart` (3.1): the agent starts the process again as it says,
    /// without rebooting the VM, and tells the host on the status port.
    #[serde(default)]
    pub restart: RestartPolicy,
    /// The health check the agent runs (3.1), reported on the status port.
    #[serde(default)]
    pub health: Option<Probe>,
}

pub use isola_runtime_process::health::{Health, Probe};
pub use isola_runtime_process::restart::RestartPolicy;

/// A sample of the container's usage (`isola stats`).
pub use isola_runtime_process::usage::Usage;
/// `--memory`, `--cpus`, `--pids-limit`, applied to a cgroup in the guest.
pub use isola_runtime_process::Limits;
pub use isola_runtime_process::{LinuxSettings, ProcessSpec};
pub use oci_spec::runtime::Spec;

/// Where the container's root comes from: read-only layers overlaid with a
/// writable upper layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rootfs {
    /// Image layers, top-most first (overlayfs `lowerdir` order).
    pub layers: Vec<Layer>,
    pub upper: Upper,
}

/// One read-only image layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Layer {
    /// A virtio-blk disk, found by the serial the host gave it
    /// (`-device virtio-blk-device,serial=...`, at most 20 bytes), since
    /// the guest's `vdX` names depend on probe order.
    Disk { serial: String, fs: Filesystem },
    /// A directory already in the guest (e.g. inside the initramfs).
    Dir { path: String },
}

/// The writable layer on top.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Upper {
    /// A virtio-blk disk with a file system; changes persist on it (in
    /// its `upper/` directory) across VM boots.
    Disk { serial: String, fs: Filesystem },
    /// Guest memory; changes vanish with the VM.
    Tmpfs {
        #[serde(default)]
        size_bytes: Option<u64>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Filesystem {
    Ext4,
    Erofs,
}

impl Filesystem {
    /// The kernel's name for it, as `mount -t` takes it.
    pub fn kernel_name(self) -> &'static str {
        match self {
            Filesystem::Ext4 => "ext4",
            Filesystem::Erofs => "erofs",
        }
    }
}

/// A process to start in the running container (`docker exec`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecConfig {
    /// Chosen by the client; must not be [`MAIN_SESSION`] or in use on
    /// this port (ids are per port: clients on other ports may reuse it).
    pub session: SessionId,
    pub process: ProcessSpec,
    pub tty: bool,
    /// `-i`: stdin data flows; without it the process gets /dev/null.
    pub stdin: bool,
    #[serde(default)]
    pub tty_size: Option<TtySize>,
    /// Instead of `process`, a file operation of the agent's own in the
    /// container's file system (`cp`, `export`): its tar flows on the
    /// session's stdin/stdout, its exit code says how it went.
    #[serde(default)]
    pub fs_op: Option<isola_runtime_process::fsop::FsOp>,
}
