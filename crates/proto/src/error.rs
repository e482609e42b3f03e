//! The one error type of the protocol. Every way a frame can be malformed
//! has its own variant, so a caller (and a test) can tell exactly what went
//! wrong, and nothing in decoding panics.

use crate::Version;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The peer closed the connection cleanly, between two frames.
    #[error("the peer closed the connection")]
    Closed,
    /// The connection ended inside a frame.
    #[error("truncated frame: the connection ended after {got} of {expected} bytes of a frame")]
    Truncated { expected: usize, got: usize },
    /// A length prefix above the limit: corrupt data or a hostile peer.
    #[error(
        "frame length {len} exceeds the limit of {max} bytes (corrupt stream or incompatible peer)"
    )]
    FrameTooLarge { len: usize, max: usize },
    /// A length prefix of 0: every frame has at least a kind byte.
    #[error("empty frame: a frame needs at least its kind byte")]
    EmptyFrame,
    #[error("unknown frame kind {0:#04x} (known: 0x01 control, 0x02 data)")]
    UnknownKind(u8),
    #[error("data frame payload of {0} bytes is shorter than its 5-byte session/stream header")]
    ShortDataFrame(usize),
    #[error("unknown stream id {0} (known: 0 stdin, 1 stdout, 2 stderr)")]
    UnknownStream(u8),
    /// A control payload that is not valid JSON or not a known message.
    #[error("malformed control message: {0}")]
    BadMessage(#[source] serde_json::Error),
    /// A control message too large to fit in one frame.
    #[error("control message of {len} bytes exceeds the frame limit of {max} bytes")]
    MessageTooLarge { len: usize, max: usize },
    #[error("protocol version mismatch: this side speaks {ours}, the peer speaks {theirs}; use an isola-agent from the same isola release as the host")]
    VersionMismatch { ours: Version, theirs: Version },
    /// A valid message that is not allowed at this point of the conversation.
    #[error("protocol error: expected {expected}, got {got}")]
    Unexpected {
        expected: &'static str,
        got: &'static str,
    },
    #[error("i/o on the control channel: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
