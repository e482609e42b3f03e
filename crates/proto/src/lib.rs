//! The protocol between isola's host side (the VM runtime) and `isola-agent`,
//! the PID 1 of each container micro-VM. Both ends speak it over one
//! virtio-serial port, which is a byte stream: this crate frames it.
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
//!   sessions use ids the host picks.
//!
//! # Conversation
//!
//! ```text
//! guest -> host  Hello{version}            (as soon as the host is connected)
//! host  -> guest Hello{version}            (major versions must match)
//! host  -> guest CreateContainer{..}
//! guest -> host  Started{pid} | StartFailed{code, message}
//!       <->      Data, Signal, Resize, CloseStdin, Exec/ExecStarted/ExecFailed,
//!                ListProcesses/Processes, Exited{session != 0}
//! guest -> host  Exited{session: 0, code}  (after all other sessions ended
//!                                           and all output was sent)
//! host  -> guest Shutdown                  (the acknowledgement; the guest
//!                                           then powers off and QEMU exits)
//! ```
//!
//! The host may send `Shutdown` at any time; the guest then kills the
//! container and powers off. Closing the connection means the same.

mod error;
mod frame;
mod io;
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
    ContainerConfig, ExecConfig, Filesystem, Layer, Limits, Message, Rootfs, SessionId, TtySize,
    Upper, MAIN_SESSION,
};
pub use version::{check_hello, Version, VERSION};

#[cfg(test)]
mod tests;
