//! Protocol versioning: the major version changes on any incompatible
//! change and must match; the minor version only adds optional fields or
//! messages, so peers with different minors still talk.

use crate::{Error, Message, Result};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub major: u16,
    pub minor: u16,
}

/// The version this build speaks.
///
/// - 3.2: `UpdateLimits` and `GetUsage`/`Usage` (`isola update`, `stats`).
/// - 3.1: restart policies and health checks in the boot configuration,
///   `EndRestarts`, and the status port.
/// - 2.0: the guest starts the container from its boot configuration
///   (`CreateContainer` and `Started` are gone), several control ports,
///   `Ok` answers `Signal`.
/// - 1.0: one control port; the host sent `CreateContainer`.
pub const VERSION: Version = Version { major: 3, minor: 2 };

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl Version {
    /// Whether a peer speaking `theirs` can talk to us (`self`).
    pub fn check(self, theirs: Version) -> Result<()> {
        if self.major == theirs.major {
            Ok(())
        } else {
            Err(Error::VersionMismatch { ours: self, theirs })
        }
    }
}

/// Checks that `msg`, the first message of the peer, is a compatible
/// `Hello`, and returns the peer's version.
pub fn check_hello(msg: &Message) -> Result<Version> {
    match msg {
        Message::Hello { version, .. } => VERSION.check(*version).map(|()| *version),
        other => Err(Error::Unexpected {
            expected: "Hello",
            got: other.name(),
        }),
    }
}
