//! The protocol between isola's host side and `isola-agent`, the PID 1 of
//! each container micro-VM, over the VM's virtio-serial control ports
//! (byte streams: this crate frames them), plus the [`layout`] both sides
//! agree on besides messages (port names, boot configuration, exit record).
//!
//! # Wire format
//!
//! Every frame is `u32 big-endian length | u8 kind | payload`, where
//! `length` counts the kind byte and the payload and is at most
//! [`MAX_FRAME_LEN`]. The limit is checked before anything is allocated, so
//! a corrupt or hostile length cannot make either side reserve gigabytes.
//!
//! - kind [`KIND_CONTROL`]: the payload is one [`Message`] as JSON
//!   (`{"type": "Hello", ...}`). JSON keeps the control plane debuggable
//!   and lets a newer minor version add optional fields.
//! - kind [`KIND_DATA`]: `u32 big-endian session | u8 stream | bytes`:
//!   raw, binary-safe bytes of one [`Stream`] of one session. Session
//!   [`MAIN_SESSION`] (0) is the container's main process; `exec`
//!   sessions use ids the client picks, unique per port.
//!
//! # Conversation
//!
//! The guest starts the container by itself from its boot configuration;
//! clients come and go on the control ports, one client per port at a
//! time. On every connection:
//!
//! ```text
//! guest  -> client Hello{version}   (as soon as it sees the connection)
//! client -> guest  Hello{version}   (sent at once as well: either order;
//!                                    major versions must match)
//! client -> guest  Signal           -> Ok | Error
//!                  Exec             -> ExecStarted | ExecFailed, then the
//!                                      session's Data and Exited
//!                  ListProcesses    -> Processes
//!                  Resize, CloseStdin, Data(stdin)   (no answer)
//!                  Shutdown         (kill everything, power off)
//! ```
//!
//! Port 0 belongs to the client attached to the main process: it also gets
//! session 0's output as Data (and may send its stdin), `StartFailed` if
//! the container cannot start, and finally `Exited{session: 0}`, which it
//! acknowledges with `Shutdown` once it has read everything; the guest then
//! powers off and QEMU exits. A client that disconnects ends its exec
//! sessions (SIGKILL), never the VM.

mod error;
mod frame;
mod io;
pub mod jsonlog;
pub mod layout;
mod message;
mod version;

pub use error::{Error, Result};
pub use frame::{
    encode_data, encode_frame, encode_message, Decoder, Frame, Stream, DATA_HEADER_LEN,
    KIND_CONTROL, KIND_DATA, MAX_DATA_CHUNK, MAX_FRAME_LEN,
};
pub use io::{FrameReader, FrameWriter};
pub use message::{
    ContainerConfig, ExecConfig, Filesystem, Health, Layer, Limits, LinuxSettings, Message, Probe,
    ProcessSpec, RestartPolicy, Rootfs, SessionId, Spec, TtySize, Upper, MAIN_SESSION,
};
pub use version::{check_hello, Version, VERSION};

#[cfg(test)]
mod tests;
